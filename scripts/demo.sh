#!/usr/bin/env bash
# Quick start: the real job on this machine, with nothing leaving it. Builds ec2-assume-role,
# starts a fake IMDSv2 (examples/fake_imds.rs) and moto (as STS) on loopback, writes the
# reference config into a temporary home, runs `ec2-assume-role run`, shows the files it wrote
# (secrets masked), then lets the real AWS CLI use both profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${EAR_TEST_VENV:-$PWD/.venv}
work=$(mktemp -d /tmp/ec2-assume-role-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building (cargo build --release); the AWS CLI and moto go into $venv"
cargo build --release --quiet --bin ec2-assume-role --example fake_imds
scripts/test.sh --setup   # the venv with moto and the AWS CLI, as the tests use it
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ec2-assume-role

step "Starting a fake IMDSv2 and moto's STS on loopback"
cargo run --release --quiet --example fake_imds > "$work/imds.url" & pids+=($!)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -s "$work/imds.url" ] && (: > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
imds=$(cat "$work/imds.url")
[ -n "$imds" ] || { echo "demo: the fake IMDS did not start" >&2; exit 1; }
echo "IMDS  $imds"
echo "STS   http://127.0.0.1:$port"

# Every endpoint on loopback; no ambient credentials; a throwaway home.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export HOME=$work/home AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ENDPOINT_URL_STS=http://127.0.0.1:$port
mkdir -p "$HOME"

step "The config ($work/config.toml)"
sed "s#CREDENTIALS_FILE#$HOME/.aws/credentials#" testdata/reference.toml > "$work/config.toml"
cat "$work/config.toml"

step "ec2-assume-role run"
"$bin" --config "$work/config.toml" --log stderr run

step "$HOME/.aws/credentials (secrets masked)"
sed -E 's/^(aws_access_key_id|aws_secret_access_key|aws_session_token) = (.{4}).*/\1 = \2…(masked)/' "$HOME/.aws/credentials"
step "$HOME/.aws/config"
cat "$HOME/.aws/config"

export AWS_EC2_METADATA_DISABLED=true   # the CLI uses the profiles, never IMDS
for account in 111111111111 222222222222; do
    step "aws --profile audit-$account sts get-caller-identity"
    "$venv/bin/aws" --profile "audit-$account" sts get-caller-identity
done
