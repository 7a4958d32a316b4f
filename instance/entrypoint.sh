#!/usr/bin/env bash
# The interview container's entrypoint (runs as the non-root user `coder`, under tini):
#   1. downloads the starter bundle ($PREQUEL_CHALLENGE_URL, a presigned S3 GET), checks it against
#      $PREQUEL_CHALLENGE_CHECKSUM (prequel-core's bundle_checksum, recomputed from the tar's files;
#      see agent.py) and unpacks it into the workspace — once: a restarted container keeps its work;
#   2. starts the archive agent on $PREQUEL_AGENT_PORT (8081);
#   3. execs code-server on 0.0.0.0:8080 with password auth ($PASSWORD, an ECS secret from SSM) and
#      telemetry off. The load balancer's health check is code-server's own /healthz.
# Nothing here prints the password or the URL.
set -euo pipefail

log() { printf 'prequel-entrypoint: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

readonly agent="${PREQUEL_AGENT:-/opt/prequel/agent.py}"
workspace="${PREQUEL_WORKSPACE:-$HOME/workspace}"
export PREQUEL_WORKSPACE="$workspace"
readonly marker="$HOME/.local/share/prequel/unpacked"

[[ -n ${PASSWORD:-} ]] || die "PASSWORD is not set (the task definition's secret from SSM)"
[[ ${#PASSWORD} -ge 12 ]] || die "PASSWORD is too short"
log "interview ${PREQUEL_INTERVIEW_ID:-unknown}, destroyed at ${PREQUEL_DESTROY_AT:-an unknown time}"

mkdir -p "$workspace" "$(dirname "$marker")"
if [[ -f $marker ]]; then
  log "starter files already unpacked; keeping the workspace as it is"
elif [[ -n ${PREQUEL_CHALLENGE_URL:-} ]]; then
  [[ ${PREQUEL_CHALLENGE_CHECKSUM:-} == sha256:* ]] \
    || die "PREQUEL_CHALLENGE_CHECKSUM must be sha256:<hex>"
  python3 "$agent" unpack "$PREQUEL_CHALLENGE_URL" "$PREQUEL_CHALLENGE_CHECKSUM" "$workspace" \
    || die "the starter bundle could not be used"
  touch "$marker"
else
  log "no PREQUEL_CHALLENGE_URL: starting with an empty workspace"
  touch "$marker"
fi
# The presigned URL has done its job; the candidate's terminals need not see it.
unset PREQUEL_CHALLENGE_URL

python3 "$agent" serve &
log "archive agent started (pid $!)"

exec code-server \
  --bind-addr 0.0.0.0:8080 \
  --auth password \
  --disable-telemetry \
  --disable-update-check \
  --disable-workspace-trust \
  --user-data-dir "$HOME/.local/share/code-server" \
  --extensions-dir "$HOME/.local/share/code-server/extensions" \
  "$workspace"
