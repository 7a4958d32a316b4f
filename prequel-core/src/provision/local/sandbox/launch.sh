# shellcheck shell=sh
# The first process of a sandboxed instance (provision/local/sandbox/mod.rs). It runs as
# serve's user, before anything of the candidate's exists, and:
#   1. joins the instance's cgroup(s), so everything it becomes and starts is counted, limited
#      and killed with the group;
#   2. as root, mounts the folders the sandbox is made of on a private staging tmpfs (this
#      process runs in a mount namespace of its own), so the sandbox's unprivileged user reaches
#      them without any folder of the data dir being opened to it;
#   3. becomes the sandbox: "$@" is setpriv (as root) and bwrap.
# Inputs, in the environment (bwrap clears it before the candidate's first process):
#   PREQUEL_CGROUP_PROCS   cgroup.procs files, one per line
#   PREQUEL_STAGE          the staging folder (root only; empty otherwise)
#   PREQUEL_STAGE_BINDS    NAME=SOURCE folders to mount at $PREQUEL_STAGE/NAME, one per line
set -eu
IFS='
'
for procs in $PREQUEL_CGROUP_PROCS; do
    printf '%s\n' "$$" >"$procs"
done
if [ -n "${PREQUEL_STAGE:-}" ]; then
    mkdir -p "$PREQUEL_STAGE"
    mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev prequel-stage "$PREQUEL_STAGE"
    for bind in $PREQUEL_STAGE_BINDS; do
        name=${bind%%=*}
        source=${bind#*=}
        mkdir "$PREQUEL_STAGE/$name"
        mount --bind "$source" "$PREQUEL_STAGE/$name"
    done
fi
unset PREQUEL_CGROUP_PROCS PREQUEL_STAGE PREQUEL_STAGE_BINDS
unset IFS
exec "$@"
