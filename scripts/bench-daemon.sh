#!/usr/bin/env bash
# Benchmark: an idle `ec2-assume-role daemon` with N roles (default 100) against the loopback
# fakes (testkit's `fake imds` and moto's STS). Prints numbers; asserts nothing.
#   - resident memory (VmRSS, VmHWM) after the first complete write;
#   - wakeups while idle: context switches of all its threads over a window, per hour;
#   - STS calls per role per hour at the default schedule (from the daemon's own state file:
#     3600 / (next_refresh - last_refresh)), against a cron job every five minutes (12).
# Usage: scripts/bench-daemon.sh [ROLES] [IDLE_SECONDS]
#        BENCH_DAEMON_STS=fake scripts/bench-daemon.sh 5000 10   (testkit's fake STS, no added
#        latency, instead of moto, which slows down as it keeps every session: 5,000 roles take
#        it minutes; the fake's session tokens are shorter than moto's and AWS's)
#        BENCH_DAEMON_METRICS=1 ...   (with [daemon] metrics_file, and its size printed)
set -euo pipefail
cd "$(dirname "$0")/.."
roles=${1:-100}
idle=${2:-60}
venv=${EAR_TEST_VENV:-$PWD/.venv}
work=$(mktemp -d /tmp/ec2-assume-role-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

scripts/test.sh --setup
cargo build --release --quiet --bin ec2-assume-role
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ec2-assume-role
case ${BENCH_DAEMON_STS:-moto} in
moto) start_fakes "$work" moto "$venv" ;;
fake) start_fakes "$work" fake 0 ;;
*) echo "bench-daemon: BENCH_DAEMON_STS is moto or fake" >&2; exit 2 ;;
esac

metrics=
[ "${BENCH_DAEMON_METRICS:-0}" = 1 ] && metrics="metrics_file = \"$work/metrics/ec2-assume-role.prom\""
bench_config "$work" "$roles" "$metrics" > "$work/config.toml"
mkdir -p "$work/home"

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
HOME=$work/home AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS_URL \
    AWS_ENDPOINT_URL=$STS_URL AWS_ENDPOINT_URL_STS=$STS_URL \
    "$bin" --config "$work/config.toml" --log stderr -q daemon 2> "$work/daemon.log" &
daemon=$!; pids+=("$daemon")
# 30 s, and 60 ms more per role: moto answers 50 to 150 AssumeRole calls a second.
for _ in $(seq $((300 + roles * 6 / 10))); do [ -s "$work/state.json" ] && break; sleep 0.1; done
[ -s "$work/state.json" ] || { echo "bench: the daemon wrote no state" >&2; cat "$work/daemon.log" >&2; exit 1; }
sleep 2

switches() { cat /proc/"$daemon"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
rss=$(awk '/VmRSS/ {print $2}' /proc/"$daemon"/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$daemon"/status)
threads=$(awk '/^Threads:/ {print $2}' /proc/"$daemon"/status)
before=$(switches); sleep "$idle"; after=$(switches)
per_hour=$(( (after - before) * 3600 / idle ))

python3 - "$work/state.json" "$roles" "$rss" "$hwm" "$threads" "$idle" "$((after - before))" "$per_hour" \
    "${BENCH_DAEMON_STS:-moto}" "$(stat -c %s "$work/home/.aws/credentials")" "$(stat -c %s "$work/state.json")" \
    "$(stat -c %s "$work/metrics/ec2-assume-role.prom" 2>/dev/null || echo none)" <<'PY'
import json, sys
from datetime import datetime
state, roles, rss, hwm, threads, idle, sw, per_hour = sys.argv[1:9]
p = json.load(open(state))["profiles"]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
intervals = [(t(v["next_refresh"]) - t(v["last_refresh"])).total_seconds() for v in p.values()]
mean = sum(intervals) / len(intervals)
print(f"roles                         {roles} (profiles tracked: {len(p)}), STS: {sys.argv[9]}")
print(f"resident memory               {int(rss)/1024:.1f} MiB (peak {int(hwm)/1024:.1f} MiB), {threads} threads")
print(f"files                         credentials {sys.argv[10]} bytes, state {sys.argv[11]} bytes, metrics {sys.argv[12]} bytes")
print(f"wakeups while idle            {sw} context switches in {idle} s = {per_hour} per hour")
print(f"refresh interval (default)    mean {mean/60:.1f} min, min {min(intervals)/60:.1f}, max {max(intervals)/60:.1f} (1 h credentials)")
print(f"STS calls per role per hour   {3600/mean:.2f} (daemon) vs 12 (cron every 5 minutes)")
# Refresh wakeups: the daemon wakes at the earliest due time and takes every role due within
# its batch window (60 s for 1 h credentials), so count those groups over one cycle.
times, wakes = sorted(t(v["next_refresh"]) for v in p.values()), 0
while times:
    first = times[0]
    times = [x for x in times if (x - first).total_seconds() > 60]
    wakes += 1
print(f"refresh wakeups per hour      {wakes * 3600 / mean:.0f} ({wakes} per {mean/60:.0f}-minute cycle; none in between)")
PY
