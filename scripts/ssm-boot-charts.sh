#!/usr/bin/env bash
# The SSM boot burst's charts in docs/: 10,000 instances booting within a minute with their
# config in SSM Parameter Store (examples/fleet_sim.rs, 3 h simulated, seed 1), drawn over the
# first 20 minutes: GetParameter and AssumeRole calls per second, each with its quota.
#   docs/ssm-boot-before.svg       the agent before the kept copy (--ssm-before)
#   docs/ssm-boot-after.svg        today's agent, a brand-new fleet (no kept copy anywhere)
#   docs/ssm-boot-after-kept.svg   today's agent, the fleet rebooting with its kept copies
# The numbers each prints are those of docs/benchmarks.md ("The SSM boot burst").
# Usage: scripts/ssm-boot-charts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --example fleet_sim
sim=target/release/examples/fleet_sim
chart() {
    local name=$1
    shift
    echo "== docs/$name.svg: fleet_sim --ssm-reload 900 $*"
    # Exit 1 means a budget was exceeded: the chart is drawn all the same.
    "$sim" --ssm-reload 900 "$@" --svg "docs/$name.svg" || [ $? -eq 1 ]
}
chart ssm-boot-before --ssm-before
chart ssm-boot-after
chart ssm-boot-after-kept --ssm-kept 1
