#!/usr/bin/env bash
# Puts the built server behind real gateways configured from deploy/ (nginx auth_request and Caddy
# forward_auth) and checks through each of them: identity headers reach the API, rate-limit headers
# reach the client, 401/403/429 come back with their headers, client-sent identity headers never
# reach the API, request bodies pass untouched and are counted once. Then two instances on one
# PostgreSQL database behind nginx: the daily limit holds across both, a revoked key and a
# signed-out token are refused by both, and tokens issued by either verify on both.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=./target/debug/cloudsigma-auth
[ -x "$bin" ] || { echo "FAIL: $bin is missing (cargo build first)"; exit 1; }

if ! command -v nginx >/dev/null || ! command -v caddy >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq nginx caddy || { apt-get update -qq && apt-get install -y -qq nginx caddy; }; } >/dev/null
fi
echo "$(nginx -v 2>&1 | sed 's/.*: //'), caddy $(caddy version | cut -d' ' -f1)"

work=$(mktemp -d)
pids=()
pg_db=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_db" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qAt \
      -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL LOG: until anything answers there
  for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "FAIL: nothing answers at $1" >&2
  cat "$2" >&2 2>/dev/null || true
  exit 1
}

export CLOUDSIGMA_SERVICE_TOKEN="ci-service-token-0123456789abcdef"
export CLOUDSIGMA_TRUSTED_PROXIES=127.0.0.1
export CLOUDSIGMA_ISSUER=http://auth.test

start_service() { # NAME DATABASE_URL [ENV=VALUE...]; sets $addr
  local name=$1 db=$2 port
  shift 2
  port=$(free_port)
  env "$@" CLOUDSIGMA_LISTEN="127.0.0.1:$port" DATABASE_URL="$db" "$bin" serve >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/v1/health" "$work/$name.log"
  addr="127.0.0.1:$port"
}

start_upstream() { # sets $addr
  local port
  port=$(free_port)
  python3 .ci/gateway_upstream.py "$port" >"$work/upstream.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/" "$work/upstream.log"
  addr="127.0.0.1:$port"
}

start_nginx() { # NAME API AUTH...: deploy/nginx/cloudsigma-gateway.conf with these addresses; sets $addr
  local name=$1 api=$2 port dir servers=""
  shift 2
  for a in "$@"; do servers+="server $a; "; done
  port=$(free_port)
  dir="$work/$name"
  mkdir -p "$dir"
  sed -e "s|server 127\.0\.0\.1:8080;|$servers|" \
      -e "s|server 127\.0\.0\.1:9000;|server $api;|" \
      -e "s|listen 8000;|listen 127.0.0.1:$port;|" \
      deploy/nginx/cloudsigma-gateway.conf >"$dir/gateway.conf"
  if ! grep -q "listen 127.0.0.1:$port;" "$dir/gateway.conf" || ! grep -qF "server $api;" "$dir/gateway.conf" \
     || ! grep -qF "$servers" "$dir/gateway.conf"; then
    echo "FAIL: deploy/nginx/cloudsigma-gateway.conf no longer has the placeholders this script replaces"
    exit 1
  fi
  # As root, so that the workers may use the temporary directories inside $work.
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  include $dir/gateway.conf;
}
EOF
  nginx -q -t -p "$dir" -c "$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>>"$dir/error.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/v1/health" "$dir/error.log"
  addr="127.0.0.1:$port"
}

start_caddy() { # API AUTH: deploy/caddy/Caddyfile with these addresses; sets $addr
  local port dir="$work/caddy"
  port=$(free_port)
  mkdir -p "$dir"
  env HOME="$dir" XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" \
    CLOUDSIGMA_GATEWAY_ADDRESS="http://127.0.0.1:$port" CLOUDSIGMA_API="$1" CLOUDSIGMA_AUTH="$2" \
    CLOUDSIGMA_CADDY_ADMIN=off \
    caddy run --config deploy/caddy/Caddyfile --adapter caddyfile >"$dir/caddy.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/v1/health" "$dir/caddy.log"
  addr="127.0.0.1:$port"
}

data() { # FIELD...: prints data.FIELD of a JSON envelope on stdin, space-separated
  python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(*(d[f] for f in sys.argv[1:]))' "$@"
}
sign_up() { # ADDR EMAIL (tier pro, so that it may own API keys)
  curl -fsS -X POST "http://$1/v1/auth/sign-up" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$2\", \"password\": \"correct horse battery\"}" >/dev/null
  "$bin" users set-tier "$2" pro >/dev/null
}
sign_in() { # ADDR EMAIL: prints the access token
  curl -fsS -X POST "http://$1/v1/auth/sign-in" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$2\", \"password\": \"correct horse battery\"}" | data accessToken
}
new_key() { # ADDR JWT BODY: prints "KEY PREFIX"
  curl -fsS -X POST "http://$1/v1/api-keys" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d "$3" | data key prefix
}

# The checks made through a gateway; one "ok:" or "FAIL:" line each, exit status = failures.
cat >"$work/through.py" <<'PY'
import http.client, json, sys

name, gateway, key, prefix, limited, jwt = sys.argv[1:7]
host, port = gateway.rsplit(":", 1)
failures = 0


def check(cond, what, detail=""):
    global failures
    print(f"{'ok' if cond else 'FAIL'}: {name}: {what}" + ("" if cond else f" -- {detail}"))
    failures += 0 if cond else 1


def call(method, path, token=None, headers=(), body=None, chunked=False):
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    if token:
        conn.putheader("Authorization", f"Bearer {token}")
    for k, v in headers:
        conn.putheader(k, v)
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(body), 65536):
            part = body[i:i + 65536]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
    else:
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    seen = None  # what the API behind the gateway received
    if resp.status == 200:
        try:
            seen = json.loads(data)
        except ValueError:
            pass
    return resp.status, resp.headers, data, seen


def hdr(seen, name):
    return (seen or {}).get("headers", {}).get(name, [])


def error_code(data):
    try:
        return json.loads(data)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def desc(status, headers, data):
    return f"{status} {dict(headers)} {data[:300]!r}"


# An API key: the API sees who is calling; the client sees the allowance, counted once per request.
status, headers, data, seen = call("GET", "/v1/usage", key)
user_id = (hdr(seen, "x-cloudsigma-user-id") or [""])[0]
check(status == 200 and seen is not None and seen.get("path") == "/v1/usage",
      "an API-key request reaches the API", desc(status, headers, data))
check(hdr(seen, "x-cloudsigma-auth-method") == ["API_KEY"] and user_id != ""
      and hdr(seen, "x-cloudsigma-key-prefix") == [prefix] and hdr(seen, "x-cloudsigma-tier") == ["pro"]
      and len(hdr(seen, "x-cloudsigma-email")) == 1 and len(hdr(seen, "x-cloudsigma-team-id")) <= 1,
      "the API gets X-Cloudsigma-Auth-Method API_KEY, the user id, tier, email and key prefix",
      json.dumps(seen))
first = headers.get("X-RateLimit-Remaining")
check(headers.get("X-RateLimit-Limit") == "250" and (first or "").isdigit()
      and headers.get("X-RateLimit-Reset") is not None and headers.get("RateLimit-Policy") is not None
      and headers.get("RateLimit") is not None,
      f"the client sees X-RateLimit-Limit 250, X-RateLimit-Remaining {first}, X-RateLimit-Reset, "
      "RateLimit-Policy and RateLimit", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/usage?page=2", key)
second = headers.get("X-RateLimit-Remaining")
check(status == 200 and (first or "").isdigit() and second == str(int(first) - 1),
      f"the next request is counted exactly once (remaining {first} -> {second})", desc(status, headers, data))

# A JWT: same user, auth method JWT, no allowance headers.
status, headers, data, seen = call("GET", "/v1/usage", jwt)
check(status == 200 and hdr(seen, "x-cloudsigma-auth-method") == ["JWT"]
      and hdr(seen, "x-cloudsigma-user-id") == [user_id] and hdr(seen, "x-cloudsigma-key-prefix") in ([], [""]),
      "a JWT request reaches the API as the same user with auth method JWT", desc(status, headers, data))
check(not any(k.lower().startswith(("x-ratelimit", "ratelimit")) for k in headers.keys())
      and not any("{" in v for v in headers.values()),
      "a JWT request gets no rate-limit headers", desc(status, headers, data))

# Refusals keep their status, headers and envelope.
status, headers, data, seen = call("GET", "/v1/usage")
check(status == 401 and (headers.get("WWW-Authenticate") or "").startswith("Bearer")
      and error_code(data) == "Unauthorized",
      "no credential: 401 with WWW-Authenticate: Bearer and the Unauthorized envelope", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/usage", "csk_live_" + "0" * 32)
check(status == 401 and (headers.get("WWW-Authenticate") or "").startswith("Bearer"),
      "an unknown key: 401 with WWW-Authenticate", desc(status, headers, data))
for method in ("GET", "POST"):
    status, headers, data, seen = call(method, "/v1/api-keys", key, body=b"{}" if method == "POST" else None)
    check(status == 403 and error_code(data) == "Forbidden",
          f"an API key on {method} /v1/api-keys: 403 Forbidden", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/api-keys", jwt)
check(status == 200 and seen is not None, "a JWT on /v1/api-keys is let through", desc(status, headers, data))
status, headers, data, seen = call("GET", "/internal/admin", key)
check(status == 403, "a route outside /v1: 403", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/health")
check(status == 200 and seen is not None and seen.get("path") == "/v1/health"
      and hdr(seen, "x-cloudsigma-user-id") in ([], [""]),
      "/v1/health is public and carries no identity", desc(status, headers, data))

statuses = []
for _ in range(4):
    status, headers, data, seen = call("GET", "/v1/usage", limited)
    statuses.append(status)
retry_after = headers.get("Retry-After") or ""
check(statuses == [200, 200, 200, 429] and retry_after.isdigit() and int(retry_after) > 0
      and error_code(data) == "RateLimitExceeded" and headers.get("X-RateLimit-Remaining") == "0"
      and headers.get("X-RateLimit-Limit") == "3",
      f"a key with dailyLimit 3: 200, 200, 200, then 429 with Retry-After {retry_after} and X-RateLimit-*",
      f"{statuses} " + desc(status, headers, data))

# Identity headers sent by the client never reach the API.
evil = [("X-Cloudsigma-User-Id", "evil"), ("X-CloudSigma-Auth-Method", "evil"), ("x-cloudsigma-tier", "evil"),
        ("X-Cloudsigma-Email", "evil"), ("X-Cloudsigma-Team-Id", "evil"), ("X-Cloudsigma-Key-Prefix", "evil"),
        ("X-Cloudsigma-User_Id", "evil")]
for label, token, path in (("API key", key, "/v1/usage"), ("JWT", jwt, "/v1/usage"), ("public route", None, "/v1/health")):
    status, headers, data, seen = call("GET", path, token, headers=evil)
    smuggled = [k for k, vs in (seen or {}).get("headers", {}).items() if any("evil" in v for v in vs)]
    check(status == 200 and seen is not None and not smuggled
          and (token is None or hdr(seen, "x-cloudsigma-user-id") == [user_id]),
          f"client-sent X-Cloudsigma-* headers never reach the API ({label})",
          f"smuggled {smuggled} " + desc(status, headers, data))

# The original method and URI come from the gateway, never from the client.
spoof = [("X-Original-URI", "/v1/health"), ("X-Original-Method", "GET"),
         ("X-Forwarded-Uri", "/v1/health"), ("X-Forwarded-Method", "GET")]
status, headers, data, seen = call("GET", "/v1/usage", headers=spoof)
check(status == 401, "a client-sent X-Original-URI / X-Forwarded-Uri naming a public route is ignored",
      desc(status, headers, data))
status, headers, data, seen = call("DELETE", "/v1/api-keys/" + prefix, key,
                                   headers=[("X-Original-URI", "/v1/usage"), ("X-Forwarded-Uri", "/v1/usage")])
check(status == 403, "a client-sent X-Original-URI does not let an API key manage keys", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/usage?next=/v1/health")
check(status == 401, "the query string does not change the route judged", desc(status, headers, data))

# Paths that the API may resolve to /v1/api-keys are not let through for an API key.
for path in ("/v1/usage/../api-keys", "/v1/usage/%2e%2e/api-keys", "/v1/health/../api-keys"):
    status, headers, data, seen = call("GET", path, key)
    check(status in (400, 401, 403, 404), f"an API key on {path} is refused", desc(status, headers, data))
status, headers, data, seen = call("GET", "/v1/health/../usage")
check(status in (400, 401, 403, 404), "no credential on /v1/health/../usage is refused", desc(status, headers, data))

# Bodies go to the API whole; the check never takes them.
body = bytes(range(256)) * 4096
for chunked in (False, True):
    status, headers, data, seen = call("POST", "/v1/usage", key, headers=[("Content-Type", "application/octet-stream")],
                                       body=body, chunked=chunked)
    check(status == 200 and seen is not None and seen.get("bodyBytes") == len(body)
          and hdr(seen, "x-cloudsigma-auth-method") == ["API_KEY"],
          f"a 1 MiB POST body ({'chunked' if chunked else 'Content-Length'}) reaches the API whole: "
          f"{(seen or {}).get('bodyBytes')} bytes", desc(status, headers, data))

sys.exit(min(failures, 100))
PY

failures=0
passed=0
through() { # NAME GATEWAY KEY PREFIX LIMITED_KEY JWT
  local out rc=0
  out=$(python3 "$work/through.py" "$@") || rc=$?
  echo "$out"
  failures=$((failures + rc))
  passed=$((passed + $(grep -c '^ok:' <<<"$out" || true)))
}
result() { # COND-STATUS MESSAGE
  if [ "$1" = 0 ]; then echo "ok: $2"; passed=$((passed + 1)); else echo "FAIL: $2"; failures=$((failures + 1)); fi
}

echo "== one instance (SQLite) behind nginx and Caddy"
start_service auth "sqlite://$work/auth.db?mode=rwc"; auth=$addr
start_upstream; api=$addr
start_nginx nginx "$api" "$auth"; nginx_addr=$addr
start_caddy "$api" "$auth"; caddy_addr=$addr

export DATABASE_URL="sqlite://$work/auth.db?mode=rwc"
sign_up "$auth" gateway@example.com
jwt=$(sign_in "$auth" gateway@example.com)
for gw in nginx caddy; do
  read -r key prefix <<<"$(new_key "$auth" "$jwt" '{"name": "gateway '"$gw"'"}')"
  read -r limited _ <<<"$(new_key "$auth" "$jwt" '{"name": "limited '"$gw"'", "dailyLimit": 3}')"
  gateway_addr="${gw}_addr"
  through "$gw" "${!gateway_addr}" "$key" "$prefix" "$limited" "$jwt"
done

echo "== two instances on one PostgreSQL database behind nginx"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "FAIL: PostgreSQL does not answer at 127.0.0.1:5432"
  exit 1
fi
pg_db="ci_gateways_$(date +%s)_$$"
psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt -c "CREATE DATABASE $pg_db" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pg_db"
# The per-account burst limiter would refuse part of a 300-request burst before the daily count.
burst=(CLOUDSIGMA_ACCOUNT_BURST=1000 CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND=1000)
start_service auth-a "$DATABASE_URL" "${burst[@]}"; a=$addr
start_service auth-b "$DATABASE_URL" "${burst[@]}"; b=$addr
start_nginx nginx-pair "$api" "$a" "$b"; pair=$addr

sign_up "$a" pair@example.com
jwt_a=$(sign_in "$a" pair@example.com)
jwt_b=$(sign_in "$b" pair@example.com)
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
verified=$(for t in "$jwt_a" "$jwt_b"; do for i in "$a" "$b"; do
  code "http://$i/authz/check/v1/usage" -H "Authorization: Bearer $t"; echo -n ' '; done; done)
result "$([ "$verified" = "200 200 200 200 " ] && echo 0 || echo 1)" \
  "tokens issued by instance A and by instance B verify on both (A's on A, B; B's on A, B: $verified)"

read -r key _ <<<"$(new_key "$b" "$jwt_a" '{"name": "burst"}')"
counts=$(python3 - "$pair" "$key" <<'PY'
import collections, http.client, sys
from concurrent.futures import ThreadPoolExecutor

host, port = sys.argv[1].rsplit(":", 1)

def one(_):
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/v1/usage", headers={"Authorization": f"Bearer {sys.argv[2]}"})
        status = conn.getresponse().status
        conn.close()
        return status
    except Exception as e:
        return type(e).__name__

with ThreadPoolExecutor(300) as pool:
    counts = collections.Counter(pool.map(one, range(300)))
print(" ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=str)))
PY
)
result "$([ "$counts" = "200=250 429=50" ] && echo 0 || echo 1)" \
  "300 concurrent requests with a fresh 250/day key through nginx over both instances: $counts"

read -r key prefix <<<"$(new_key "$a" "$jwt_a" '{"name": "revoked"}')"
before=$(for _ in 1 2 3 4; do echo -n "$(code "http://$pair/v1/usage" -H "Authorization: Bearer $key") "; done)
curl -fsS -X DELETE "http://$a/v1/api-keys/$prefix" -H "Authorization: Bearer $jwt_a" >/dev/null
after=$(for _ in 1 2 3 4; do echo -n "$(code "http://$pair/v1/usage" -H "Authorization: Bearer $key") "; done)
result "$([ "$before" = "200 200 200 200 " ] && [ "$after" = "401 401 401 401 " ] && echo 0 || echo 1)" \
  "a key revoked on instance A is refused through nginx on both instances at once (before: $before; after: $after)"

jwt_s=$(sign_in "$a" pair@example.com)
warm=$(code "http://$b/authz/check/v1/usage" -H "Authorization: Bearer $jwt_s")
curl -fsS -X POST "http://$a/v1/auth/sign-out" -H "Authorization: Bearer $jwt_s" \
  -H 'Content-Type: application/json' -d '{}' >/dev/null
waited=$(python3 - "$b" "$jwt_s" <<'PY'
import http.client, sys, time

host, port = sys.argv[1].rsplit(":", 1)
start = time.monotonic()
while time.monotonic() - start < 3:
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/authz/check/v1/usage", headers={"Authorization": f"Bearer {sys.argv[2]}"})
    status = conn.getresponse().status
    conn.close()
    if status == 401:
        print(round((time.monotonic() - start) * 1000))
        sys.exit()
    time.sleep(0.005)
print("never")
PY
)
result "$([ "$warm" = 200 ] && [ "$waited" != never ] && [ "$waited" -le 1000 ] && echo 0 || echo 1)" \
  "a JWT signed out on instance A is refused by instance B after ${waited} ms (limit 1000 ms)"

echo "gateways: $passed passed, $failures failed"
[ "$failures" = 0 ]
