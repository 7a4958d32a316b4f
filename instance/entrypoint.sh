#!/usr/bin/env bash
# The candidate's container's entrypoint (runs as the non-root user `coder`, under tini). It
# starts after the task's archiver container is healthy (ECS dependsOn), by which time the
# archiver has unpacked the starter files into the shared workspace volume and handed them to
# `coder`; this container never sees the starter bundle's URL or the archiver's token.
#   execs code-server on 0.0.0.0:8080 with password auth ($PASSWORD, an ECS secret from SSM: the
#   candidate's own login, which the interviewer gives them) and telemetry off. The load
#   balancer's health check is code-server's own /healthz.
# Nothing here prints the password.
set -euo pipefail

log() { printf 'prequel-entrypoint: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

workspace="${PREQUEL_WORKSPACE:-$HOME/workspace}"

[[ -n ${PASSWORD:-} ]] || die "PASSWORD is not set (the task definition's secret from SSM)"
[[ ${#PASSWORD} -ge 12 ]] || die "PASSWORD is too short"
[[ -z ${PREQUEL_CHALLENGE_URL:-} ]] \
  || die "PREQUEL_CHALLENGE_URL reached the candidate's container; it belongs to the archiver"
[[ -z ${PREQUEL_ARCHIVE_TOKEN:-} ]] \
  || die "PREQUEL_ARCHIVE_TOKEN reached the candidate's container; it belongs to the archiver"
[[ -d $workspace ]] || die "the workspace $workspace is missing (the task's shared volume)"
log "interview ${PREQUEL_INTERVIEW_ID:-unknown}, destroyed at ${PREQUEL_DESTROY_AT:-an unknown time}"

exec code-server \
  --bind-addr 0.0.0.0:8080 \
  --auth password \
  --disable-telemetry \
  --disable-update-check \
  --disable-workspace-trust \
  --user-data-dir "$HOME/.local/share/code-server" \
  --extensions-dir "$HOME/.local/share/code-server/extensions" \
  "$workspace"
