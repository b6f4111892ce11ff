#!/usr/bin/env bash
# Quick start: the real job on this machine, with nothing leaving it. Builds ec2-assume-role,
# starts a fake IMDSv2 (testkit's `fake imds`) and moto (as STS) on loopback, writes the
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
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

step "Building (cargo build --release); the AWS CLI and moto go into $venv"
cargo build --release --quiet --bin ec2-assume-role
scripts/test.sh --setup   # the venv with moto and the AWS CLI, as the tests use it
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ec2-assume-role

step "Starting a fake IMDSv2 and moto's STS on loopback"
start_fakes "$work" moto "$venv"
echo "IMDS  $IMDS_URL"
echo "STS   $STS_URL"

# Every endpoint on loopback; no ambient credentials; a throwaway home.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export HOME=$work/home AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS_URL
export AWS_ENDPOINT_URL=$STS_URL AWS_ENDPOINT_URL_STS=$STS_URL
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
