#!/usr/bin/env bash
# Property-based API testing with schemathesis (4.x) against the service's own description,
# GET /openapi.json: every documented operation gets generated valid and invalid requests, and
# every answer is checked (no 5xx, statuses and bodies as documented, bad input refused, good
# input accepted, credentials not ignored). Runs on a fresh SQLite database and fails on any
# failure.
#
#   bash .ci/schemathesis.sh                                           # builds the release binary
#   SCHEMATHESIS_BINARY=target/debug/cloudsigma-auth bash .ci/schemathesis.sh   # reuses a build
#   SCHEMATHESIS_MAX_EXAMPLES=500 SCHEMATHESIS_SEED=$RANDOM bash .ci/schemathesis.sh  # longer
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

command -v schemathesis >/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'

binary="${SCHEMATHESIS_BINARY:-}"
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=./target/release/cloudsigma-auth
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$work/auth.db?mode=rwc"
# The run sends thousands of requests from one address and one account within minutes; the
# per-address and per-account limiters would turn most of them into 429s, which hide what the
# operation itself answers. They are tested by the integration suite, not here.
export CLOUDSIGMA_AUTH_BURST_PER_ADDRESS=1000000
export CLOUDSIGMA_AUTH_RATE_PER_MINUTE_PER_ADDRESS=1000000
export CLOUDSIGMA_FAILED_AUTH_BURST_PER_ADDRESS=1000000
export CLOUDSIGMA_FAILED_AUTH_RATE_PER_MINUTE_PER_ADDRESS=1000000
export CLOUDSIGMA_ACCOUNT_BURST=1000000
export CLOUDSIGMA_ACCOUNT_RATE_PER_SECOND=1000000
# A key's highest daily limit depends on the caller's tier and on configuration, so the
# description can only say "from 1"; with the ceiling at the int32 maximum on the tier the run
# uses, every limit the description allows is one the service accepts.
export CLOUDSIGMA_ENTERPRISE_MAX_DAILY_LIMIT=2147483647
CLOUDSIGMA_LISTEN="127.0.0.1:$port" "$binary" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "$base/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
post() { curl -fsS -X POST "$base$1" -H 'Content-Type: application/json' "${@:3}" -d "$2"; }
password="correct horse battery"
# A signed-up user on the enterprise tier (API keys need a paid tier); prints an access token.
user() {
  local email="$1"
  post /v1/auth/sign-up "{\"email\": \"$email\", \"password\": \"$password\"}" >/dev/null
  "$binary" users set-tier "$email" enterprise >/dev/null
  sleep 1.2 # the running server reads tier changes within a second
  post /v1/auth/sign-in "{\"email\": \"$email\", \"password\": \"$password\"}" | json "['data']['accessToken']"
}
jwt=$(user schemathesis@example.com) # only to create the key; the JWT run signs in itself
key=$(post /v1/api-keys '{"name": "schemathesis", "dailyLimit": 1000000}' \
  -H "Authorization: Bearer $jwt" | json "['data']['key']")

examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
run() {
  local label="$1"
  shift
  printf '\n--- schemathesis: %s\n' "$label"
  schemathesis run "$base/openapi.json" --checks all --max-examples "$examples" \
    --workers 1 --seed "${SCHEMATHESIS_SEED:-1}" --no-color --suppress-health-check too_slow,filter_too_much \
    --generation-database none --report junit --report-dir "$work/reports" "$@"
}

failed=0
# The API key first: the JWT run may revoke or rename keys it finds by listing them. (The
# JWT-only operations answer 403 to a key, as described; schemathesis notes that as a warning.)
run "with an API key" -H "Authorization: Bearer $key" || failed=1
# A fresh sign-in session for every request (.ci/schemathesis_auth.py), so that sign-out and
# session revocation, which end sessions, do not leave the rest of the run without a credential.
SCHEMATHESIS_HOOKS=.ci/schemathesis_auth.py SCHEMATHESIS_BASE="$base" \
  SCHEMATHESIS_EMAIL=schemathesis@example.com SCHEMATHESIS_PASSWORD="$password" \
  run "with a JWT (a new session per request)" || failed=1

# An internal error is logged where it becomes a 500; none may happen.
if grep -q 'ERROR' "$work/server.log"; then
  echo "the server logged errors:"
  grep 'ERROR' "$work/server.log" | head -20
  failed=1
fi
kill -TERM $server
wait $server || failed=1
trap 'rm -rf "$work"' EXIT
[ "$failed" = 0 ] || { echo "schemathesis found failures"; exit 1; }
echo "schemathesis: ok"
