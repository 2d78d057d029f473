#!/bin/sh
# nginx of docker-compose.yml: installs deploy/nginx/cloudsigma-gateway.conf with its placeholder
# addresses replaced, as .ci/gateways.sh does: the check goes to both instances of the compose
# file, and allowed requests to CLOUDSIGMA_API (by default 127.0.0.1:9000, the stand-in API of
# deploy/compose/nginx.conf, which is mounted beside it). Then runs nginx in the foreground.
set -eu
src=/etc/cloudsigma/cloudsigma-gateway.conf
out=/etc/nginx/conf.d/cloudsigma-gateway.conf
instances='server auth-a:8080; server auth-b:8080;'
api="server ${CLOUDSIGMA_API:-127.0.0.1:9000};"
sed -e "s|server 127\.0\.0\.1:8080;|$instances|" \
    -e "s|server 127\.0\.0\.1:9000;|$api|" \
    "$src" >"$out"
if ! grep -qF "$instances" "$out" || ! grep -qF "$api" "$out"; then
    echo "cloudsigma-gateway.conf no longer has the placeholders 'server 127.0.0.1:8080;' and" \
        "'server 127.0.0.1:9000;' that this script replaces" >&2
    exit 1
fi
exec nginx -g 'daemon off;'
