#!/usr/bin/env bash
# The real AWS Cognito SDKs against the service's Cognito user-pool API: boto3, the AWS SDK for
# JavaScript v3, amazon-cognito-identity-js (SRP) and Amplify v6, with every token checked by
# aws-jwt-verify's CognitoJwtVerifier and used on the service's REST API. Starts the release
# binary on a fresh SQLite file with SRP on, an app client without a secret and one with.
#
#   bash .ci/cognito.sh                   # builds the release binary if it is missing
#   COGNITO_TRACE=1 bash .ci/cognito.sh   # prints every request and answer (secrets redacted)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# GetTokensFromRefreshToken is in botocore from 1.38.0 on.
python3 -m pip install --quiet --disable-pip-version-check 'boto3>=1.38' 2>&1 |
  grep -v "Running pip as the 'root' user" || true
# npm ci starts from scratch every time; a tree installed from this very lock file is kept.
if ! cmp -s .ci/cognito/package-lock.json .ci/cognito/node_modules/.installed-lock.json; then
  (cd .ci/cognito && npm ci --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.installed-lock.json)
fi

binary=./target/release/cloudsigma-auth
[ -x "$binary" ] || cargo build --release --quiet

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
pool=eu-west-1_AbC123xyz
export DATABASE_URL="sqlite://$work/auth.db?mode=rwc"
export CLOUDSIGMA_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/$pool"
export CLOUDSIGMA_COGNITO_POOL_ID="$pool"
export CLOUDSIGMA_COGNITO_SRP=on
client_secret="ci-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export CLOUDSIGMA_APP_CLIENTS="webclient1,botoclient:$client_secret"
# Each suite signs in a few dozen times from one address within seconds; the per-address
# limiters are tested by the integration suite, not here.
export CLOUDSIGMA_AUTH_BURST_PER_ADDRESS=100000
export CLOUDSIGMA_AUTH_RATE_PER_MINUTE_PER_ADDRESS=100000
export CLOUDSIGMA_FAILED_AUTH_BURST_PER_ADDRESS=100000
export CLOUDSIGMA_FAILED_AUTH_RATE_PER_MINUTE_PER_ADDRESS=100000
# No SDK may look for AWS credentials or configuration anywhere but here.
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
# The machines have Node 20; the pinned SDK v3 works on it and would only warn about later ones.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

CLOUDSIGMA_LISTEN="127.0.0.1:$port" "$binary" serve >"$work/server.log" 2>&1 &
server=$!
failed=0
finish() {
  local rc=$?
  kill $server 2>/dev/null || true
  if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
    echo "--- server log"
    cat "$work/server.log"
  fi
  rm -rf "$work"
}
trap finish EXIT
for _ in $(seq 1 100); do curl -fsS "$base/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/v1/health" >/dev/null || { failed=1; echo "the server did not start"; exit 1; }

export COGNITO_BASE="$base" COGNITO_POOL_ID="$pool" CLOUDSIGMA_BINARY="$binary"
export COGNITO_CLIENT_ID=webclient1 COGNITO_SECRET_CLIENT_ID=botoclient COGNITO_CLIENT_SECRET="$client_secret"

suite() {
  local label="$1"
  shift
  printf '\n--- %s\n' "$label"
  local start=$SECONDS
  if "$@"; then
    echo "($label: $((SECONDS - start)) s)"
  else
    failed=1
    echo "$label FAILED"
  fi
}
suite "boto3" python3 .ci/cognito_boto3.py
suite "AWS SDK for JavaScript v3" node .ci/cognito/sdk-v3.mjs
suite "amazon-cognito-identity-js" node .ci/cognito/identity-js.mjs
suite "Amplify v6" node .ci/cognito/amplify.mjs

# An internal error is logged where it becomes a 500; none may happen.
if grep -q 'ERROR' "$work/server.log"; then
  echo "the server logged errors"
  failed=1
fi
kill -TERM $server
wait $server || { echo "the server did not stop cleanly"; failed=1; }
[ "$failed" = 0 ] || { echo "Cognito SDKs: FAILED"; exit 1; }
echo "Cognito SDKs: ok"
