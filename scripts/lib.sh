# Shared by the scripts beside it: sourced (`. scripts/lib.sh` from the repository root),
# never run. It only defines functions: messages, Debian packages, the PASS/FAIL harness of
# the test scripts, and starting the loopback fakes. Nothing here may start a process that
# listens beyond 127.0.0.1 or give a process an endpoint off loopback.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*" >&2; }

# Installs those of the Debian packages "$@" that are missing; quick when none is.
ensure_debian_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "needs the Debian packages ${missing[*]}; run as root to install them" >&2
        return 1
    fi
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_cargo_tool DIR CRATE VERSION [cargo install flags...]: CRATE at VERSION, built from
# crates.io with its own Cargo.lock (--locked), in DIR/bin; quick when cargo's record of DIR
# says it is there. The tools' builds share CARGO_TARGET_DIR=target-tools, so each reuses what
# the others compiled (cargo-deny, cargo-about and the cargo-auditable tools take about 5
# minutes together on 2 cores, once).
ensure_cargo_tool() {
    local dir=$1 crate=$2 version=$3
    shift 3
    cargo install --list --root "$dir" 2>/dev/null | grep -qx "$crate v$version:" && return 0
    say "cargo install $crate $version into $dir"
    CARGO_TARGET_DIR=$PWD/target-tools cargo install --quiet --locked --root "$dir" \
        --version "$version" "$@" "$crate"
}

# ensure_supply_chain_tools DIR: the pinned tools behind the license policy, the notices, the
# dependency list embedded in the release binaries and their SBOM, in DIR/bin.
ensure_supply_chain_tools() {
    ensure_cargo_tool "$1" cargo-deny 0.20.2                     # deny.toml (scripts/licenses.sh)
    ensure_cargo_tool "$1" cargo-about 0.9.3 --features cli      # THIRD-PARTY-NOTICES
    ensure_cargo_tool "$1" cargo-auditable 0.7.7                 # the list in the binaries
    ensure_cargo_tool "$1" auditable2cdx 0.1.0                   # that list as CycloneDX
    ensure_cargo_tool "$1" rust-audit-info 0.5.4                 # reads it back (the tests)
}

# --- the PASS/FAIL harness (test-boot.sh, test-packaging.sh) ------------------------------
# The caller sets passed=0 failed=0; check counts into them.

# check NAME COMMAND...: one PASS or FAIL line for COMMAND's exit status; on a failure, the
# last 30 lines of its output (stdout and stderr), indented.
check() {
    local name=$1 out
    shift
    out=$(mktemp)
    if "$@" >"$out" 2>&1; then
        printf 'PASS  %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        tail -n 30 "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
    rm -f "$out"
}

# finish: prints `N passed, M failed` and exits 0 when nothing failed, else 1.
finish() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}

# --- the loopback fakes (demo.sh, bench-daemon.sh, bench-run.sh, test-boot.sh) -------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# listening URL: whether something accepts connections on URL's loopback port.
listening() { (: > "/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; }

# start_fakes WORK moto VENV | start_fakes WORK fake LATENCY_MS
# Builds testkit's fakes (release), then starts the fake IMDSv2 and an STS on free loopback
# ports in the background, their pids appended to the caller's `pids` array (for its cleanup
# trap), waits until both listen, and sets IMDS_URL and STS_URL. The STS is moto_server from
# the venv VENV (which also serves SSM; its log goes to WORK/moto.log), or testkit's fake STS
# answering every call after LATENCY_MS. Fails unless both URLs are on 127.0.0.1.
# shellcheck disable=SC2034  # IMDS_URL and STS_URL are the caller's
start_fakes() {
    local work=$1 sts=$2 target=${CARGO_TARGET_DIR:-$PWD/target} port
    say "cargo build --release -p testkit --bin fake (the fake IMDS and STS)"
    cargo build --release --quiet -p testkit --bin fake
    "$target/release/fake" imds > "$work/imds.url" & pids+=($!)
    case $sts in
    moto)
        port=$(free_port)
        "$3/bin/moto_server" -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 & pids+=($!)
        echo "http://127.0.0.1:$port" > "$work/sts.url" ;;
    fake)
        "$target/release/fake" sts "$3" > "$work/sts.url" & pids+=($!) ;;
    *)
        echo "start_fakes: STS must be moto or fake, not $sts" >&2; return 2 ;;
    esac
    for _ in $(seq 100); do
        [ -s "$work/imds.url" ] && listening "$(cat "$work/imds.url")" &&
            listening "$(cat "$work/sts.url")" && break
        sleep 0.1
    done
    IMDS_URL=$(cat "$work/imds.url") STS_URL=$(cat "$work/sts.url")
    case "$IMDS_URL $STS_URL" in "http://127.0.0.1:"*" http://127.0.0.1:"*) ;; *)
        echo "start_fakes: the fakes did not start on loopback (IMDS '$IMDS_URL', STS '$STS_URL')" >&2
        return 1 ;;
    esac
}

# bench_config WORK ROLES [DAEMON_LINE]: the benchmarks' config on stdout: the reference instance
# role, the credentials file in WORK/home, the state file in WORK (and DAEMON_LINE in [daemon]),
# and ROLES roles p1.. in accounts 1..
bench_config() {
    printf '[instance]\nrole_name = "EC2_PerformSecurityAudit"\n'
    printf '[credentials]\ncredentials_file = "%s/home/.aws/credentials"\n' "$1"
    printf '[daemon]\nstate_file = "%s/state.json"\n%s\n' "$1" "${3:-}"
    for i in $(seq "$2"); do
        printf '[[role]]\nprofile = "p%d"\nrole_arn = "arn:aws:iam::%012d:role/PerformSecurityAudit"\n' "$i" "$i"
    done
}
