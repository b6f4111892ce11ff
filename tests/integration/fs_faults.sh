#!/bin/bash
# Test helper for security/files.rs and users/per_user.rs: runs the agent (the remaining arguments)
# with ~/.aws on a tiny tmpfs that is FULL or READ-ONLY, inside the private mount namespace that
# `unshare -m --propagation private` gave it, then copies what the agent left there to OUT so the
# test can inspect it after the namespace is gone. Mode DAEMON-FULL runs the agent (a daemon) in the
# background instead: once it has written, the disk fills for 10 s and is freed again, OUT/during
# gets the file as it was while full, and the daemon is stopped once it has written new keys (or
# after 30 s). Refuses to mount anything in the host's namespace.
set -euo pipefail
mode=$1 aws=$2 out=$3
shift 3
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ] ||
    { echo "fs_faults.sh: not in a private mount namespace; refusing to mount" >&2; exit 99; }
cp "$aws/credentials" "$out/before"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$aws"
cp "$out/before" "$aws/credentials"
chmod 0600 "$aws/credentials"
fill() { dd if=/dev/zero of="$aws/filler" bs=4k 2>/dev/null || true; }
keys() { grep aws_access_key_id "$aws/credentials" || true; }
# The AWS config file is written after the credentials file: the disk may only fill once both
# are (a first round that fails exits the daemon, which is not what this mode tests).
regions() { grep -c '^region' "$aws/config" 2>/dev/null || true; }
rc=0
case $mode in
    full) fill ;;
    readonly) mount -o remount,ro "$aws" ;;
esac
if [ "$mode" = daemon-full ]; then
    "$@" & agent=$!
    for _ in $(seq 300); do
        [ "$(keys | wc -l)" -ge 3 ] && [ "$(regions)" -ge 2 ] && break
        sleep 0.1
    done
    fill
    written=$(keys)
    sleep 10
    cp "$aws/credentials" "$out/during"
    rm -f "$aws/filler"
    for _ in $(seq 300); do [ "$(keys)" != "$written" ] && break; sleep 0.1; done
    kill -TERM "$agent"
    wait "$agent" || rc=$?
else
    "$@" || rc=$?
fi
cp "$aws/credentials" "$out/after"
ls -A "$aws" > "$out/listing"
exit "$rc"
