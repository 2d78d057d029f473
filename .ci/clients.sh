#!/usr/bin/env bash
# Starts the built server on a fresh SQLite file and checks it with real clients:
# curl, grpcurl (reflection v1alpha) and the Python examples of the README.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr="127.0.0.1:$port"
export CLOUDSIGMA_SERVICE_TOKEN="ci-service-token"
DATABASE_URL="sqlite://$work/auth.db?mode=rwc" CLOUDSIGMA_LISTEN="$addr" \
  ./target/debug/cloudsigma-auth serve >"$work/server.log" 2>&1 &
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
grpcurl -plaintext "$addr" grpc.health.v1.Health/Check | tee /dev/stderr | grep -q '"SERVING"'

if [ -f .ci/clients.py ]; then
  echo "python clients"
  python3 .ci/clients.py "$addr"
fi

echo "SIGTERM stops the server with exit 0"
kill -TERM $server
wait $server
trap 'rm -rf "$work"' EXIT
echo "real clients: ok"
