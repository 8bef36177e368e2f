#!/bin/sh
# CodeDetect launcher (from user data): OS packages, the image by digest, the agent and Compose plugin out of it, then the agent.
# Any failure of this script signals FAILURE to CloudFormation, so a broken boot fails the deploy at once instead of timing out.
set -eu

: "${CODEDETECT_LAUNCHER_IMAGE:?CODEDETECT_LAUNCHER_IMAGE is not set (repository[:tag]@sha256:…)}"
: "${CODEDETECT_LAUNCHER_REGION:?CODEDETECT_LAUNCHER_REGION is not set}"
STACK="${CODEDETECT_LAUNCHER_STACK:-}"
LOGICAL_ID="${CODEDETECT_LAUNCHER_LOGICAL_ID:-}"
CONFIG="${CODEDETECT_LAUNCHER_CONFIG_FILE:-/etc/codedetect/bootstrap.json}"
INSTALL_DIR="${CODEDETECT_LAUNCHER_INSTALL_DIR:-/opt/codedetect}"
PLUGIN_DIR="${CODEDETECT_LAUNCHER_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
IMDS="${CODEDETECT_LAUNCHER_IMDS:-http://169.254.169.254}"
NODE="${CODEDETECT_LAUNCHER_NODE:-node-24}"
PACKAGES="docker amazon-efs-utils nodejs24"

log() { printf 'codedetect-launcher: %s\n' "$*" >&2; }

signal_failure() {
  if [ -z "$STACK" ] || [ -z "$LOGICAL_ID" ]; then log "no stack to signal"; return 0; fi
  token=$(curl -sS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token") || token=""
  id=$(curl -sS -m 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/instance-id") || id=""
  [ -n "$id" ] || { log "cannot read the instance id from IMDS; no signal sent"; return 0; }
  for attempt in 1 2 3 4 5; do
    if aws cloudformation signal-resource --region "$CODEDETECT_LAUNCHER_REGION" --stack-name "$STACK" \
      --logical-resource-id "$LOGICAL_ID" --unique-id "$id" --status FAILURE; then
      log "signalled FAILURE for $id"; return 0
    fi
    sleep "$attempt"
  done
  log "could not signal FAILURE"
}

on_exit() {
  status=$?
  [ "$status" -eq 0 ] || { log "failed (exit $status)"; signal_failure; }
  [ -z "${WORK:-}" ] || rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP

step() { log "$1"; STEP_STARTED=$(date +%s); }
done_step() { log "done in $(( $(date +%s) - STEP_STARTED )) s"; }

case "$CODEDETECT_LAUNCHER_IMAGE" in
  *@sha256:*) ;;
  *) log "CODEDETECT_LAUNCHER_IMAGE must be repository[:tag]@sha256:<digest>, got $CODEDETECT_LAUNCHER_IMAGE"; exit 2 ;;
esac
DIGEST="${CODEDETECT_LAUNCHER_IMAGE##*@}"
NAME_TAG="${CODEDETECT_LAUNCHER_IMAGE%@*}"
# a colon after the last slash starts the tag (optional); one before it is the registry's port
case "${NAME_TAG##*/}" in
  *:*) REPOSITORY="${NAME_TAG%:*}" ;;
  *) REPOSITORY="$NAME_TAG" ;;
esac
PINNED="$REPOSITORY@$DIGEST"

step "OS packages: $PACKAGES (no update of the rest)"
missing=""
for package in $PACKAGES; do rpm -q "$package" >/dev/null 2>&1 || missing="$missing $package"; done
# shellcheck disable=SC2086 # one word per package
[ -z "$missing" ] || dnf install -y -q --setopt=install_weak_deps=False $missing
systemctl enable --now docker
done_step

REGISTRY="${REPOSITORY%%/*}"
case "$REGISTRY" in
  *.dkr.ecr.*.amazonaws.com)
    step "ECR login to $REGISTRY"
    aws ecr get-login-password --region "$CODEDETECT_LAUNCHER_REGION" | docker login --username AWS --password-stdin "$REGISTRY"
    done_step ;;
esac

step "pull $PINNED"
docker pull -q "$PINNED" >/dev/null
docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$PINNED" | grep -qxF "$PINNED" \
  || { log "the pulled image does not carry $DIGEST"; exit 3; }
done_step

step "copy the agent and the Compose plugin out of $DIGEST"
WORK=$(mktemp -d "${TMPDIR:-/run}/codedetect-launcher.XXXXXX")
container=$(docker create "$PINNED" true)
copied=0
docker cp "$container:/opt/codedetect/agent.mjs" "$WORK/agent.mjs" \
  && docker cp "$container:/opt/codedetect/docker-compose" "$WORK/docker-compose" && copied=1
docker rm "$container" >/dev/null
[ "$copied" -eq 1 ] || { log "the image lacks /opt/codedetect/agent.mjs or /opt/codedetect/docker-compose"; exit 4; }
mkdir -p "$INSTALL_DIR" "$PLUGIN_DIR"
install -m 0644 "$WORK/agent.mjs" "$INSTALL_DIR/agent.mjs"
install -m 0755 "$WORK/docker-compose" "$PLUGIN_DIR/docker-compose"
"$PLUGIN_DIR/docker-compose" version >/dev/null
printf '%s\n' "$PINNED" > "$INSTALL_DIR/agent.source"
done_step

step "agent"
"$NODE" "$INSTALL_DIR/agent.mjs" --config "$CONFIG" --json
done_step
