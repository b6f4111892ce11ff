#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what the tests need (quickly when it
# is already there), then cargo fmt --check, clippy with warnings as errors, every cargo test,
# the license policy and notices (scripts/licenses.sh), the docs' links (scripts/docs.sh), the packaging proof (release binaries, RPM) and the boot
# tests (nspawn + cloud-init).
# Tests reach only loopback; the journald test needs root (for unshare -m), as CI has.
# `scripts/test.sh --setup` installs and stops there (scripts/demo.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so that a new release never changes a test's outcome unannounced.
PY_PACKAGES=('moto[server]==5.2.5' 'awscli==1.46.3' 'boto3==1.44.5' 'cfn-lint==1.58.0' 'prometheus_client==0.26.0' 'jsonschema==4.26.0' 'cyclonedx-python-lib[json-validation]==11.12.0')   # prometheus_client: the metrics tests' parser; jsonschema: the config schema's validator; cyclonedx: the SBOMs' (scripts/check-sbom.py)
# The AWS SDK for JavaScript v3, a real client; and taplo (the TOML toolkit behind Even Better
# TOML; taplo 0.9.0 built for Node), whose `taplo check` validates the example configs against
# the config's JSON Schema (tests/integration/configuration/schema.rs) in seconds of npm
# install, where cargo install taplo-cli takes 15-20 minutes on 2 cores.
NODE_PACKAGES=('@aws-sdk/client-sts@3.1177.0' '@taplo/cli@0.7.0')
DEBIAN_PACKAGES=(python3-venv util-linux systemd shellcheck strace wrk)   # venv; unshare; journald; scripts; execve trace; endpoint flood
# promtool (checks the metrics and the alert rule in docs/operations.md) from Debian's prometheus package,
# extracted, not installed: installing would set up a Prometheus server.
PROMTOOL_VERSION=2.42.0
venv=${EAR_TEST_VENV:-$PWD/.venv}
node_dir=${EAR_TEST_NODE:-$PWD/.node}
promtool_dir=${EAR_TEST_PROMTOOL_DIR:-$PWD/.promtool}

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_debian_packages "${DEBIAN_PACKAGES[@]}"

if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    say "creating the venv $venv"
    python3 -m venv "$venv"
fi
# pip's own check is slow; compare the pinned versions with what is installed first.
want=$(printf '%s\n' "${PY_PACKAGES[@]}" | sed 's/\[.*\]//' | sort)
have=$("$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | sort)
if [ -n "$(comm -23 <(echo "$want") <(echo "$have"))" ] || [ ! -x "$venv/bin/moto_server" ]; then
    say "pip install ${PY_PACKAGES[*]}"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
for pkg in "${NODE_PACKAGES[@]}"; do
    name=${pkg%@*}
    installed=$(node -p "require('$node_dir/node_modules/$name/package.json').version" 2>/dev/null || true)
    if [ "$installed" != "${pkg##*@}" ]; then
        say "npm install $pkg into $node_dir"
        npm install --prefix "$node_dir" --no-audit --no-fund --silent "$pkg"
    fi
done

if ! "$promtool_dir/usr/bin/promtool" --version 2>&1 | grep -q "version $PROMTOOL_VERSION+"; then
    say "promtool $PROMTOOL_VERSION from Debian's prometheus package into $promtool_dir"
    deb=$(mktemp -d)
    (cd "$deb" && { apt-get download -qq prometheus 2>/dev/null ||
        { apt-get update -qq && apt-get download -qq prometheus; }; })
    case $(dpkg-deb -f "$deb"/prometheus_*.deb Version) in
        "$PROMTOOL_VERSION"+*) ;;
        *) echo "test.sh: Debian's prometheus is not $PROMTOOL_VERSION; update PROMTOOL_VERSION" >&2; exit 1 ;;
    esac
    rm -rf "$promtool_dir" && mkdir -p "$promtool_dir"
    dpkg-deb --fsys-tarfile "$deb"/prometheus_*.deb | tar -x -C "$promtool_dir" ./usr/bin/promtool
    rm -rf "$deb"
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    say "rustup component add rustfmt clippy"
    rustup component add rustfmt clippy
fi

[ "${1:-}" = --setup ] && exit 0

say "shellcheck"
shellcheck -S style scripts/*.sh tests/integration/*.sh .ci/run cloud-init/user-data.sh packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm
# --workspace / --all: testkit/ (the fakes) too.
say "cargo fmt --all --check"
cargo fmt --all --check
say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
say "cargo test --workspace"
EAR_TEST_VENV=$venv EAR_TEST_NODE=$node_dir EAR_TEST_PROMTOOL=$promtool_dir/usr/bin/promtool \
    EAR_TEST_TAPLO=$node_dir/node_modules/.bin/taplo cargo test --workspace
say "config schema: docs/config.schema.json and the man page are what src/config/keys.rs gives (docgen config-docs --check)"
cargo run --quiet -p docgen -- config-docs --check
say "licenses: deny.toml holds (cargo-deny, offline), THIRD-PARTY-NOTICES is what cargo-about renders, the RPM's License: (scripts/licenses.sh)"
scripts/licenses.sh
say "docs: the mdBook from docs/ and README.md, every internal link and anchor checked (scripts/docs.sh)"
scripts/docs.sh
say "packaging: static musl binaries, man pages, RPM and .deb install/upgrade/remove, unit checks (scripts/test-packaging.sh)"
scripts/test-packaging.sh
say "boot: systemd + cloud-init in systemd-nspawn, four ways (scripts/test-boot.sh)"
scripts/test-boot.sh
