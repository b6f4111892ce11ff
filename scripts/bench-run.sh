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
#   - organization size (issue 12): `run` with N = 5000 roles, and with a chain, a hub role
#     (instance credentials) + N spokes with `source_profile = "hub"` (N = 100, 1000, 5000),
#     whose floor is latency + N x latency / concurrency. Only ec2-assume-role: boto3 and the
#     CLI loop are not run at these sizes.
#   - beside each computed floor, two more: whole rounds (ceil(N / 16) x latency, which is
#     what 16 calls at a time can do at best), and a measured one: curl sending the same
#     number of AssumeRole requests, 16 at a time, to the same fake (what the fake, loopback
#     and this machine cost without any client work), best of 3.
#   - cold start of `run` with one role (process start to exit, the file written): median of 20;
#   - binary size (dist/ if it holds a static build, else the host release binary);
#   - the daemon's resident memory with 1,000 profiles (scripts/bench-daemon.sh 1000 10).
# Every process gets loopback endpoints only; nothing may reach 169.254.169.254.
# Usage: scripts/bench-run.sh            (about 25 minutes on 2 cores, mostly the CLI loop)
#        BENCH_QUICK=1 scripts/bench-run.sh   (only ec2-assume-role and the floors, all sizes:
#                                              about 3 minutes)
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

config() {  # config N HOME [chain]: N roles writing into HOME/.aws; chain: + a hub signing them
    printf '[instance]\nrole_name = "EC2_PerformSecurityAudit"\n'
    printf '[credentials]\ncredentials_file = "%s/.aws/credentials"\n' "$2"
    printf '[defaults]\nregion = "us-east-1"\n'
    local chain=${3:-}
    [ "$chain" != chain ] ||
        printf '[[role]]\nprofile = "hub"\nrole_arn = "arn:aws:iam::999999999999:role/Hub"\n'
    for i in $(seq "$1"); do
        # role_arn's format, without a subshell per role (5,000 of them take seconds).
        printf '[[role]]\nprofile = "p%d"\nrole_arn = "arn:aws:iam::%012d:role/PerformSecurityAudit"\n' "$i" "$i"
        [ "$chain" != chain ] || printf 'source_profile = "hub"\n'
    done
}

# Best of 3 for ec2-assume-role and boto3 (1 run for boto3 at N=1000), every run listed, so
# that a one-off stall in the fake or the machine shows instead of hiding in one number.
best() {    # best RUNS FUNCTION ARGS...: "min all-runs" in milliseconds
    local runs=() i r n=$1
    shift
    for i in $(seq "$n"); do r=$("$@"); runs+=("$r"); done
    echo "$(printf '%s\n' "${runs[@]}" | sort -n | head -1) $(IFS=/; echo "${runs[*]}")"
}

ours() {    # ours N [chain]: milliseconds for one `run`, into a home without a credentials file
    local name=$1${2:+-$2} home; home=$work/ours-$name; rm -rf "$home"; mkdir -p "$home"
    config "$1" "$home" "${2:-}" > "$work/config-$name.toml"
    local t0; t0=$(ms)
    HOME=$home "$bin" --config "$work/config-$name.toml" --log stderr -q run 2> "$work/ours-$name.log" \
        || { cat "$work/ours-$name.log" >&2; exit 1; }
    elapsed "$t0"
    check_written "$home/.aws/credentials" "$1" "ec2-assume-role run"
}

# The measured floor: N AssumeRole requests (unsigned; the fake checks no signature) sent by
# curl, 16 at a time over reused connections, to the same fake STS; with chain, one request
# first (the hub). Every answer is counted, or the number means nothing.
curl_floor() {  # curl_floor N [chain]: milliseconds
    local body='Action=AssumeRole&RoleArn=arn:aws:iam::000000000001:role/R&RoleSessionName=bench'
    local t0 got; t0=$(ms)
    if [ "${2:-}" = chain ]; then curl -s -d "$body" "$sts/?hub" > "$work/curl-hub.out"; fi
    curl -s --no-progress-meter -Z --parallel-max "$concurrency" -d "$body" "$sts/?[1-$1]" > "$work/curl.out"
    elapsed "$t0"
    got=$(grep -o '<AccessKeyId>' "$work/curl.out" | wc -l)
    [ "$got" -eq "$1" ] || { echo "bench-run: curl got $got of $1 answers" >&2; exit 1; }
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

declare -A t_ours t_boto t_cli all_ours all_boto t_curl all_curl
quick=${BENCH_QUICK:-0}
have_curl=0; command -v curl > /dev/null && have_curl=1
# Organization size first: flat N=5000, then hub + N spokes. Each case's floor is measured just
# before it, so that a burst of load from elsewhere on the machine touches both alike.
for c in 5000 chain-100 chain-1000 chain-5000; do
    n=${c#chain-} kind=; [ "$c" != "$n" ] && kind=chain
    if [ "$have_curl" = 1 ]; then
        say "$c: measured floor (curl, 3 runs)"
        res=$(best 3 curl_floor "$n" $kind); t_curl[$c]=${res% *} all_curl[$c]=${res#* }
    fi
    say "$c: ec2-assume-role run (3 runs)"
    res=$(best 3 ours "$n" $kind); t_ours[$c]=${res% *} all_ours[$c]=${res#* }
done
for n in 10 100 1000; do
    if [ "$have_curl" = 1 ]; then
        say "N=$n: measured floor (curl, 3 runs)"
        res=$(best 3 curl_floor "$n"); t_curl[$n]=${res% *} all_curl[$n]=${res#* }
    fi
    say "N=$n: ec2-assume-role run (3 runs)"
    res=$(best 3 ours "$n"); t_ours[$n]=${res% *} all_ours[$n]=${res#* }
    [ "$quick" = 1 ] && continue
    say "N=$n: boto3 script"
    res=$(best "$([ "$n" -lt 1000 ] && echo 3 || echo 1)" boto "$n")
    t_boto[$n]=${res% *} all_boto[$n]=${res#* }
    if [ "$n" -lt 1000 ] || [ "${BENCH_CLI_1000:-0}" = 1 ]; then
        say "N=$n: AWS CLI loop";     t_cli[$n]=$(cli "$n")
    fi
done
if [ "$quick" != 1 ]; then
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
fi

floor() {   # floor N [chain]: N x latency / concurrency (+ latency for the hub)
    echo $(( $1 * latency_ms / concurrency + ${2:+latency_ms} + 0 ))
}
rounds() {  # rounds N [chain]: whole rounds of `concurrency` calls (+ one for the hub)
    local rounds=$(( ($1 + concurrency - 1) / concurrency ))
    echo $(( rounds * latency_ms + ${2:+latency_ms} + 0 ))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
[ "$quick" = 1 ] || {
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
}
echo
echo "run against its floors (issue 12): floor = N x ${latency_ms} ms / ${concurrency} (+ ${latency_ms} ms for a hub);"
echo "rounds = ceil(N / ${concurrency}) x ${latency_ms} ms (+ ${latency_ms}); measured = curl, ${concurrency} at a time, same fake"
printf '| %-10s | %9s | %10s | %12s | %11s | %13s | %15s |\n' case "ours (ms)" "floor (ms)" \
    "ours / floor" "rounds (ms)" "measured (ms)" "ours / measured"
printf '|%s|\n' "------------|-----------|------------|--------------|-------------|---------------|-----------------"
for c in 10 100 1000 5000 chain-100 chain-1000 chain-5000; do
    n=${c#chain-} kind=; [ "$c" != "$n" ] && kind=chain
    m=${t_curl[$c]:-n/a} m_ratio=n/a
    [ "$m" = n/a ] || m_ratio="$(ratio2 "${t_ours[$c]}" "$m")x"
    printf '| %-10s | %9s | %10s | %12s | %11s | %13s | %15s |\n' "$c" "${t_ours[$c]}" \
        "$(floor "$n" $kind)" "$(ratio2 "${t_ours[$c]}" "$(floor "$n" $kind)")x" \
        "$(rounds "$n" $kind)" "$m" "$m_ratio"
done
for c in 10 100 1000 5000 chain-100 chain-1000 chain-5000; do
    printf 'every run, %-10s (ms) ours %s; measured floor %s\n' "$c" "${all_ours[$c]}" "${all_curl[$c]:-n/a}"
done
[ "$quick" = 1 ] || {
    echo "cold start, 1 role       median ${cold_median} ms of 20 (range ${cold_range} ms)"
    echo "binary size              $size bytes ($(ratio "$size" 1048576) MiB), $size_what"
    echo "daemon, 1000 profiles    $daemon_rss"
}
echo "machine                  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
