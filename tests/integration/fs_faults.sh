#!/bin/bash
# Test helper for hardening.rs: runs the agent (the remaining arguments) with ~/.aws on a
# tiny tmpfs that is FULL or READ-ONLY, inside the private mount namespace that `unshare -m
# --propagation private` gave it, then copies what the agent left there to OUT so the test
# can inspect it after the namespace is gone. Refuses to mount anything in the host's
# namespace.
set -euo pipefail
mode=$1 aws=$2 out=$3
shift 3
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ] ||
    { echo "fs_faults.sh: not in a private mount namespace; refusing to mount" >&2; exit 99; }
cp "$aws/credentials" "$out/before"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$aws"
cp "$out/before" "$aws/credentials"
chmod 0600 "$aws/credentials"
case $mode in
    full) dd if=/dev/zero of="$aws/filler" bs=4k 2>/dev/null || true ;;
    readonly) mount -o remount,ro "$aws" ;;
esac
rc=0
"$@" || rc=$?
cp "$aws/credentials" "$out/after"
ls -A "$aws" > "$out/listing"
exit "$rc"
