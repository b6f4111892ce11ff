#!/usr/bin/env bash
# Benchmark: the daemon's credential endpoint ([endpoint]) with N profiles (default 1,000),
# against the loopback fakes (testkit's fake IMDS and fake STS). Prints numbers; asserts
# nothing.
#   - requests/s and p50/p99 latency at 1, 16 and 256 concurrent clients (wrk, from Debian's
#     packages, keep-alive connections, 10 s each), for one profile's credentials;
#   - the same against the floor: `fake floor`, hyper on two tokio workers answering the same
#     number of bytes with nothing else to do (no routing, no token, no lock);
#   - the daemon's resident memory with the endpoint on, before and after the load.
# wrk, the daemon and the floor share this machine's cores, as they would on an instance.
# Usage: scripts/bench-endpoint.sh [PROFILES] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
profiles=${1:-1000}
seconds=${2:-10}
work=$(mktemp -d /tmp/ec2-assume-role-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_debian_packages wrk curl
cargo build --release --quiet --bin ec2-assume-role
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/ec2-assume-role
start_fakes "$work" fake 0

port=$(free_port)
{
    bench_config "$work" "$profiles"
    # 256 clients at once: above the default cap of 64, which would close the rest at accept.
    # One client on purpose: its rate limit raised out of the way of the throughput measured.
    printf '[endpoint]\nlisten = ["127.0.0.1:%s"]\ntoken_dir = "%s/tokens"\nmax_connections = 512\nrate_per_second = 100000\nburst = 100000\n' "$port" "$work"
} > "$work/config.toml"
mkdir -p "$work/home"

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
HOME=$work/home AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS_URL \
    AWS_ENDPOINT_URL=$STS_URL AWS_ENDPOINT_URL_STS=$STS_URL \
    "$bin" --config "$work/config.toml" --log stderr -q daemon 2> "$work/daemon.log" &
daemon=$!; pids+=("$daemon")
for _ in $(seq 600); do [ -s "$work/state.json" ] && break; sleep 0.1; done
[ -s "$work/state.json" ] || { echo "bench: the daemon wrote no state" >&2; cat "$work/daemon.log" >&2; exit 1; }
token=$(cat "$work"/tokens/*.token)
url=http://127.0.0.1:$port/v1/credentials/p1
bytes=$(curl -s -H "Authorization: $token" "$url" | wc -c)
[ "$bytes" -gt 0 ] || { echo "bench: the endpoint served nothing" >&2; exit 1; }
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/"$daemon"/status; }
rss_before=$(rss)

"$target/release/fake" floor "$bytes" > "$work/floor.url" & pids+=($!)
for _ in $(seq 100); do [ -s "$work/floor.url" ] && listening "$(cat "$work/floor.url")" && break; sleep 0.1; done
floor_url=$(cat "$work/floor.url")/v1/credentials/p1

# wrk's summary: requests/s, p50 and p99 (its --latency distribution), socket errors.
load() {
    local clients=$1 url=$2 threads=2
    [ "$clients" -lt 2 ] && threads=1
    wrk -t"$threads" -c"$clients" -d"${seconds}s" --latency -H "Authorization: $token" "$url" |
        awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
             /Socket errors/ {err=$0} /Non-2xx/ {non=$NF}
             END {printf "%s %s %s %s\n", rps, p50, p99, (err non == "" ? "-" : err " non-2xx " non)}'
}
printf '%-8s %-38s %-38s\n' clients "endpoint: req/s p50 p99" "floor: req/s p50 p99"
for clients in 1 16 256; do
    read -r e_rps e_50 e_99 e_err <<<"$(load "$clients" "$url")"
    read -r f_rps f_50 f_99 _ <<<"$(load "$clients" "$floor_url")"
    printf '%-8s %-38s %-38s %s\n' "$clients" "$e_rps $e_50 $e_99" "$f_rps $f_50 $f_99" \
        "$(awk -v e="$e_rps" -v f="$f_rps" 'BEGIN {printf "endpoint/floor %.2f", e / f}')"
    [ "$e_err" = - ] || echo "         endpoint errors: $e_err"
done
echo "profiles                $profiles; body $bytes bytes"
echo "daemon resident memory  $rss_before MiB with the endpoint on, $(rss) MiB after the load"
