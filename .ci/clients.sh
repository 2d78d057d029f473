#!/usr/bin/env bash
# Starts the built server on a fresh SQLite file and checks it with real clients:
# curl, grpcurl (reflection v1alpha) and the Python examples of the README.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr="127.0.0.1:$port"
export CLOUDSIGMA_SERVICE_TOKEN="ci-service-token-0123456789abcdef"
export DATABASE_URL="sqlite://$work/auth.db?mode=rwc"
CLOUDSIGMA_LISTEN="$addr" ./target/debug/cloudsigma-auth serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://$addr/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done

echo "curl /v1/health"
health=$(curl -fsS "http://$addr/v1/health")
echo "$health"
[ "$health" = '{"success":true,"data":{"status":"ok"}}' ]

echo "grpcurl list"
services=$(grpcurl -plaintext "$addr" list)
echo "$services"
for s in cloudsigma.v1.AuthService cloudsigma.v1.ApiKeyService cloudsigma.v1.UsageService \
         grpc.health.v1.Health grpc.reflection.v1alpha.ServerReflection; do
  grep -qx "$s" <<<"$services" || { echo "missing $s"; exit 1; }
done

echo "grpcurl grpc.health.v1.Health/Check"
# (tee /dev/stderr would truncate a log file that stderr points at; echo instead)
health=$(grpcurl -plaintext "$addr" grpc.health.v1.Health/Check)
echo "$health"
grep -q '"SERVING"' <<<"$health"

if [ -f .ci/clients.py ]; then
  echo "python clients"
  python3 .ci/clients.py "$addr"
fi

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "API keys with curl (README examples)"
curl -fsS -X POST "http://$addr/v1/auth/sign-up" -H 'Content-Type: application/json' \
  -d '{"email": "ci-keys@example.com", "password": "correct horse battery"}' >/dev/null
./target/debug/cloudsigma-auth users set-tier ci-keys@example.com pro
jwt=$(curl -fsS -X POST "http://$addr/v1/auth/sign-in" -H 'Content-Type: application/json' \
  -d '{"email": "ci-keys@example.com", "password": "correct horse battery"}' | json "['data']['accessToken']")
created=$(curl -fsS -X POST "http://$addr/v1/api-keys" -H "Authorization: Bearer $jwt" \
  -H 'Content-Type: application/json' -d '{"name": "CI Pipeline"}')
key=$(json "['data']['key']" <<<"$created")
prefix=$(json "['data']['prefix']" <<<"$created")
[[ "$key" =~ ^csk_live_[0-9a-f]{32}$ ]] || { echo "bad key format"; exit 1; }
listed=$(curl -fsS "http://$addr/v1/api-keys" -H "Authorization: Bearer $jwt")
echo "$listed"
[ "$(json "['data']['keys'][0]['prefix']" <<<"$listed")" = "$prefix" ]
grep -q "$key" <<<"$listed" && { echo "the list shows the key"; exit 1; }

echo "requests: /v1/usage with the API key"
python3 - "$addr" "$key" <<'PY'
import sys

import requests

addr, key = sys.argv[1], sys.argv[2]
usage = requests.get(f"http://{addr}/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()
print(usage)
assert usage["success"] is True and usage["data"]["tier"] == "pro", usage
PY

echo "grpcurl ListApiKeys with a JWT in metadata"
listed=$(grpcurl -plaintext -H "authorization: Bearer $jwt" "$addr" cloudsigma.v1.ApiKeyService/ListApiKeys)
echo "$listed"
grep -q '"usedToday": 1' <<<"$listed"

echo "curl revoke, then the key is refused"
curl -fsS -X DELETE "http://$addr/v1/api-keys/$prefix" -H "Authorization: Bearer $jwt" \
  | grep -q '"API key revoked"'
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v1/usage" -H "Authorization: Bearer $key")
[ "$code" = 401 ] || { echo "revoked key answered $code"; exit 1; }

echo "SIGTERM stops the server with exit 0"
kill -TERM $server
wait $server
trap 'rm -rf "$work"' EXIT

echo "external issuer: tokens minted by PyJWT, JWKS served by Python"
python3 .ci/external_issuer.py ./target/debug/cloudsigma-auth

echo "real clients: ok"
