#!/usr/bin/env bash
# Fuzz campaign: runs each cargo-fuzz target in fuzz/ (credfile: the credentials-file
# transform; config: the config parser) for SECONDS (default 60) and prints, per target, the
# executions, the time, the corpus size and the findings. Not part of CI (scripts/test.sh):
# the same invariants run there as proptest properties on every `cargo test`.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 for the nightly campaign
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpora
# (fuzz/corpus/TARGET) persist between runs and are seeded from tests/corpus/credentials and
# fuzz/seeds; a finding lands in fuzz/artifacts/TARGET and makes the script exit 1. Replay
# one with: cd fuzz && cargo +nightly fuzz run -s none -a TARGET artifacts/TARGET/crash-...
# Pure in-memory targets: nothing touches the network; files are written only under fuzz/
# and the cargo target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(credfile config)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/fuzz

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "needs the nightly toolchain and cargo-fuzz:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

# Seeds: every odd credentials file (before and after the transform). The credfile target
# reads its first byte as the plan, so each file goes in with a few plans: write both
# reference profiles (0x0c), all four with `dev` configured (0x7c), the config-file kind
# (0x0d), replace_unmanaged (0x0e).
seed() {
    local target=$1 dir=fuzz/corpus/$1 f flags
    mkdir -p "$dir" "fuzz/artifacts/$target"
    for f in tests/corpus/credentials/*.ini tests/corpus/credentials/*.expected; do
        if [ "$target" = credfile ]; then
            for flags in 0c 7c 0d 0e; do
                { printf '%b' "\\x$flags"; cat "$f"; } >"$dir/seed-$flags-$(basename "$f")"
            done
        else
            cp "$f" "$dir/seed-$(basename "$f")"
        fi
    done
    # fuzz/seeds/TARGET: hand-written inputs and every past finding, kept as regressions.
    cp fuzz/seeds/"$target"/* "$dir/"
    if [ "$target" = config ]; then
        cp testdata/reference.toml packaging/config.toml "$dir/"
    fi
}

# Sanitizer none: the code under test is safe Rust, so ASan would only slow it down; debug
# assertions (-a) stay on, and overflow checks with them. Lines up to 16 KB: longer ones are
# in the corpus test, and bigger inputs only slow every mutation.
say "cargo fuzz build (nightly, release, debug assertions)"
for target in "${targets[@]}"; do
    (cd fuzz && cargo +nightly fuzz build -s none -a "$target")
done

summary=()
found=0
for target in "${targets[@]}"; do
    seed "$target"
    log=fuzz/artifacts/$target/last-run.log
    say "fuzzing $target for ${seconds}s (log: $log)"
    start=$(date +%s)
    touch "fuzz/artifacts/$target/.started"
    status=0
    (cd fuzz && cargo +nightly fuzz run -s none -a "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -dict="$target.dict" \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/") >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    execs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    findings=$(find "fuzz/artifacts/$target" -type f -newer "fuzz/artifacts/$target/.started" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
        found=1
        grep -m 5 -E 'panicked|ERROR|SUMMARY' "$log" >&2 || true
    fi
    summary+=("$(printf '%-9s %14s %8s %10s %8s %9s' "$target" "${execs:-?}" "${elapsed}s" \
        "${rate:-?}/s" "$corpus" "$findings")")
done

printf '%-9s %14s %8s %10s %8s %9s\n' target executions time rate corpus findings
printf '%s\n' "${summary[@]}"
exit "$found"
