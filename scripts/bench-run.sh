#!/usr/bin/env bash
# Benchmark: `ec2-assume-role run` against what users run today, side by side in one run, all
# against a loopback fake STS that adds 30 ms to every call (testkit's `fake sts`) and the
# loopback fake IMDS (testkit's `fake imds`). Prints numbers; asserts nothing.
#   - N = 10, 100, 1000 roles (one per account 000000000001..): ec2-assume-role `run`
#     (release build); a sequential boto3 script that assumes each role and writes the file with
#     configparser (the original user-data script's approach); a shell loop of
#     `aws sts assume-role` + `aws configure set` per role (AWS CLI; N=10 and 100 measured,
#     N=1000 extrapolated linearly from those two unless BENCH_CLI_1000=1); and the floor
#     N x latency / concurrency (16, the default).
#   - cold start of `run` with one role (process start to exit, the file written): median of 20;
#   - binary size (dist/ if it holds a static build, else the host release binary);
#   - the daemon's resident memory with 1,000 profiles (scripts/bench-daemon.sh 1000 10).
# Every process gets loopback endpoints only; nothing may reach 169.254.169.254.
# Usage: scripts/bench-run.sh            (about 20 minutes on 2 cores, mostly the CLI loop)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${EAR_TEST_VENV:-$PWD/.venv}
target=${CARGO_TARGET_DIR:-$PWD/target}
latency_ms=30
concurrency=16
work=$(mktemp -d /tmp/ec2-assume-role-bench-run.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

scripts/test.sh --setup
say "cargo build --release (ec2-assume-role)"
cargo build --release --quiet --bin ec2-assume-role
bin=$target/release/ec2-assume-role
start_fakes "$work" fake "$latency_ms"
imds=$IMDS_URL sts=$STS_URL

# Loopback endpoints only, no ambient credentials or profiles, whatever the caller exported.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds AWS_ENDPOINT_URL_STS=$sts
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
# The CLI and boto3 sign with the instance-profile keys the fake IMDS hands out, given directly
# (as if read from IMDS already), and never look at IMDS themselves.
cli_env=(AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=ASIAIMDSFAKE00000001
    AWS_SECRET_ACCESS_KEY=FakeImdsSecret/NeverLogThis+0000000000001
    AWS_SESSION_TOKEN=FakeImdsSessionToken/NeverLogThis+0000000000000000000001)

ms() { date +%s%N; }
elapsed() { echo $(( ($(ms) - $1) / 1000000 )); }   # milliseconds since $1
role_arn() { printf 'arn:aws:iam::%012d:role/PerformSecurityAudit' "$1"; }
check_written() {   # check_written FILE N WHAT: every profile written, or the number means nothing
    local got; got=$(grep -c '^\[p[0-9]*\]' "$1" 2>/dev/null || true)
    [ "${got:-0}" -eq "$2" ] || { echo "bench-run: $3 wrote $got of $2 profiles" >&2; exit 1; }
}

config() {  # config N HOME: a config with N roles writing into HOME/.aws
    printf '[instance]\nrole_name = "EC2_PerformSecurityAudit"\n'
    printf '[credentials]\nfile = "%s/.aws/credentials"\n' "$2"
    printf '[defaults]\nregion = "us-east-1"\n'
    for i in $(seq "$1"); do
        printf '[[role]]\nprofile = "p%d"\nrole_arn = "%s"\n' "$i" "$(role_arn "$i")"
    done
}

# Best of 3 for ec2-assume-role and boto3 (1 run for boto3 at N=1000), every run listed, so
# that a one-off stall in the fake or the machine shows instead of hiding in one number.
best() {    # best RUNS FUNCTION N: "min all-runs" in milliseconds
    local runs=() i r
    for i in $(seq "$1"); do r=$("$2" "$3"); runs+=("$r"); done
    echo "$(printf '%s\n' "${runs[@]}" | sort -n | head -1) $(IFS=/; echo "${runs[*]}")"
}

ours() {    # ours N: milliseconds for one `run`, into a home without a credentials file
    local home=$work/ours-$1; rm -rf "$home"; mkdir -p "$home"
    config "$1" "$home" > "$work/config-$1.toml"
    local t0; t0=$(ms)
    HOME=$home "$bin" --config "$work/config-$1.toml" --log stderr -q run 2> "$work/ours-$1.log" \
        || { cat "$work/ours-$1.log" >&2; exit 1; }
    elapsed "$t0"
    check_written "$home/.aws/credentials" "$1" "ec2-assume-role run"
}

cat > "$work/boto3_roles.py" <<'PY'
# The original user-data script's approach: assume each role in turn with boto3, then write
# every profile into ~/.aws/credentials with configparser.
import configparser, os, sys
import boto3
n = int(sys.argv[1])
sts = boto3.client("sts")
path = os.path.expanduser("~/.aws/credentials")
os.makedirs(os.path.dirname(path), exist_ok=True)
config = configparser.ConfigParser()
config.read(path)
for i in range(1, n + 1):
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{i:012d}:role/PerformSecurityAudit",
                        RoleSessionName="i-0123456789abcdef0")["Credentials"]
    config[f"p{i}"] = {"aws_access_key_id": c["AccessKeyId"],
                       "aws_secret_access_key": c["SecretAccessKey"],
                       "aws_session_token": c["SessionToken"], "region": "us-east-1"}
with open(path, "w") as f:
    config.write(f)
PY
boto() {    # boto N: milliseconds for the boto3 script
    local home=$work/boto-$1; rm -rf "$home"; mkdir -p "$home"
    local t0; t0=$(ms)
    env HOME="$home" "${cli_env[@]}" "$venv/bin/python" "$work/boto3_roles.py" "$1"
    elapsed "$t0"
    check_written "$home/.aws/credentials" "$1" "the boto3 script"
}

cli() {     # cli N: milliseconds for the AWS CLI loop
    local home=$work/cli-$1; mkdir -p "$home"
    local t0; t0=$(ms)
    (
        export HOME=$home "${cli_env[@]}"
        for i in $(seq "$1"); do
            read -r key secret token < <("$venv/bin/aws" sts assume-role \
                --role-arn "$(role_arn "$i")" --role-session-name i-0123456789abcdef0 \
                --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
            "$venv/bin/aws" configure set aws_access_key_id "$key" --profile "p$i"
            "$venv/bin/aws" configure set aws_secret_access_key "$secret" --profile "p$i"
            "$venv/bin/aws" configure set aws_session_token "$token" --profile "p$i"
            "$venv/bin/aws" configure set region us-east-1 --profile "p$i"
        done
    )
    elapsed "$t0"
    check_written "$home/.aws/credentials" "$1" "the AWS CLI loop"
}

declare -A t_ours t_boto t_cli all_ours all_boto
for n in 10 100 1000; do
    say "N=$n: ec2-assume-role run (3 runs)"
    res=$(best 3 ours "$n"); t_ours[$n]=${res% *} all_ours[$n]=${res#* }
    say "N=$n: boto3 script"
    res=$(best "$([ "$n" -lt 1000 ] && echo 3 || echo 1)" boto "$n")
    t_boto[$n]=${res% *} all_boto[$n]=${res#* }
    if [ "$n" -lt 1000 ] || [ "${BENCH_CLI_1000:-0}" = 1 ]; then
        say "N=$n: AWS CLI loop";     t_cli[$n]=$(cli "$n")
    fi
done
cli_note=measured
if [ -z "${t_cli[1000]:-}" ]; then
    # A straight line through the two measured points: per-role cost plus fixed cost.
    t_cli[1000]=$(( t_cli[10] + (t_cli[100] - t_cli[10]) * 990 / 90 ))
    cli_note="extrapolated linearly from N=10 and N=100"
fi

say "cold start: 20 runs of \`run\` with one role"
mkdir -p "$work/cold"
config 1 "$work/cold" > "$work/config-cold.toml"
cold=()
for _ in $(seq 20); do
    rm -rf "$work/cold/.aws"
    t0=$(ms)
    HOME=$work/cold "$bin" --config "$work/config-cold.toml" --log stderr -q run 2>/dev/null
    cold+=("$(elapsed "$t0")")
    check_written "$work/cold/.aws/credentials" 1 "the cold-start run"
done
cold_median=$(printf '%s\n' "${cold[@]}" | sort -n | sed -n '10,11p' | awk '{s += $1} END {print s / 2}')
cold_range=$(printf '%s\n' "${cold[@]}" | sort -n | sed -n '1p;$p' | paste -sd-)

static=$(find dist -type f -name ec2-assume-role 2>/dev/null | head -1 || true)
if [ -n "$static" ]; then size_of=$static; size_what="static build in dist/"
else size_of=$bin; size_what="host release binary (no dist/; not the static musl build)"; fi
size=$(stat -c %s "$size_of")

say "daemon memory: scripts/bench-daemon.sh 1000 10"
daemon_rss=$(scripts/bench-daemon.sh 1000 10 | grep '^resident memory' | sed 's/^resident memory *//')

floor() { echo $(( $1 * latency_ms / concurrency )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }
echo
echo "STS latency ${latency_ms} ms per call; floor = N x ${latency_ms} ms / ${concurrency}"
printf '| %5s | %10s | %9s | %13s | %10s | %11s | %12s | %12s |\n' N "ours (ms)" "floor (ms)" \
    "ours / floor" "boto3 (ms)" "boto3/ours" "CLI (ms)" "CLI/ours"
printf '|%s|\n' "-------|------------|-----------|---------------|------------|-------------|--------------|--------------"
for n in 10 100 1000; do
    cli_cell=${t_cli[$n]}; [ "$n" = 1000 ] && [ "$cli_note" != measured ] && cli_cell="~${cli_cell}"
    printf '| %5s | %10s | %9s | %13s | %10s | %11s | %12s | %12s |\n' "$n" "${t_ours[$n]}" \
        "$(floor "$n")" "$(ratio "${t_ours[$n]}" "$(floor "$n")")x" "${t_boto[$n]}" \
        "$(ratio "${t_boto[$n]}" "${t_ours[$n]}")x" "$cli_cell" \
        "$(ratio "${t_cli[$n]}" "${t_ours[$n]}")x"
done
echo "CLI loop at N=1000: $cli_note"
for n in 10 100 1000; do
    echo "every run, N=$n (ms)      ours ${all_ours[$n]}; boto3 ${all_boto[$n]}"
done
echo "cold start, 1 role       median ${cold_median} ms of 20 (range ${cold_range} ms)"
echo "binary size              $size bytes ($(ratio "$size" 1048576) MiB), $size_what"
echo "daemon, 1000 profiles    $daemon_rss"
echo "machine                  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
