#!/usr/bin/env bash
# Runs CMD... next to a real systemd-journald, in the caller's private mount namespace, and
# keeps the journal files in OUTDIR (read them with `journalctl -D OUTDIR`). It must never
# touch the host's journal or /run, so it refuses to run outside a private namespace:
#   unshare -m --propagation private scripts/jd.sh OUTDIR CMD...   (as root; wrap in timeout)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: unshare -m --propagation private $0 OUTDIR CMD..." >&2; exit 2; }
out=$1; shift
# unshare execs this script in a new mount namespace while our parent stays in the old one:
# if both are the same (or cannot be read), the mounts below would hit the host. Refuse.
mine=$(readlink /proc/$$/ns/mnt || true)
parents=$(readlink "/proc/$PPID/ns/mnt" || true)
if [ -z "$mine" ] || [ -z "$parents" ] || [ "$mine" = "$parents" ]; then
    echo "$0: not in a private mount namespace; run it under unshare -m --propagation private" >&2
    exit 2
fi
mount -t tmpfs tmpfs /run                  # journald creates /run/systemd/journal/{socket,stdout,dev-log}
if [ -d /var/log/journal ]; then
    mount -t tmpfs tmpfs /var/log/journal  # never write into the host's persistent journal
fi
mkdir -p /run/log/journal
mount --bind "$out" /run/log/journal       # the journal files outlive the namespace
/lib/systemd/systemd-journald &
jpid=$!
# journald syncs its files on SIGTERM; wait for that before the namespace goes away.
trap 'kill $jpid; wait $jpid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
[ -S /run/systemd/journal/socket ] || { echo "$0: systemd-journald did not start" >&2; exit 1; }
"$@"
