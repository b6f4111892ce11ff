#!/usr/bin/env bash
# The release binaries: static, stripped x86_64 and aarch64 musl builds of ec2-assume-role,
# copied to dist/ec2-assume-role-VERSION-ARCH (VERSION from Cargo.toml), the man pages and shell
# completions rendered from the clap definitions and the config's list of keys (docgen/) in
# dist/ec2-assume-role-VERSION-docs.tar.gz (man/*.1, man/ec2-assume-role.toml.5, completions/*,
# config.schema.json), the config's JSON Schema on its own as
# dist/ec2-assume-role-VERSION-config.schema.json (for editors' `#:schema` lines), and
# a CycloneDX SBOM per binary, dist/ec2-assume-role-VERSION-ARCH.cdx.json, and
# dist/SHA256SUMS over all of them (what the RPM and the .deb package).
# The binaries are built by cargo-auditable: each carries the list of the crates it was built
# from (name, version, source, runtime or build-time) in a .dep-v0 section, the form that Amazon
# Inspector, Trivy, Grype and Syft read, and the SBOM is auditable2cdx's rendering of that very
# list. The docs tarball also carries LICENSE and THIRD-PARTY-NOTICES (scripts/licenses.sh).
# Installs what it needs first (Debian packages, rustup targets; quickly when present), then
# refuses any binary that `file` does not call static, and prints each size. It never changes
# the sources, Cargo.toml or Cargo.lock (--locked) and never touches dist/ beyond those files.
# Reproducible: the same commit, Cargo.lock and toolchain give the same SHA256SUMS, wherever
# the repository and CARGO_HOME are (their paths are remapped out of the binaries, and the
# crate-list wrapper is named the same from every checkout: see the build below).
# Usage: scripts/release.sh          (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
# musl-tools: x86_64-linux-musl-gcc for ring's C code; the aarch64 cross gcc links (and
# compiles ring) for aarch64, see .cargo/config.toml; qemu runs that binary in tests.
DEBIAN_PACKAGES=(musl-tools gcc-aarch64-linux-gnu qemu-user-static file)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
die() { printf 'release: %s\n' "$*" >&2; exit 1; }

ensure_debian_packages "${DEBIAN_PACKAGES[@]}" || die "missing Debian packages"
tools=${EAR_DOCS_TOOLS:-$PWD/.tools}
ensure_supply_chain_tools "$tools"
export PATH=$tools/bin:$PATH
case $tools in
    "$PWD"/*) wrapper=/proc/self/cwd/${tools#"$PWD"/}/bin/cargo-auditable ;;
    *) wrapper=$tools/bin/cargo-auditable ;;   # outside the checkout: the same path makes the same binary
esac
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || { say "rustup target add $t"; rustup target add "$t"; }
done

version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Dependency sources live under CARGO_HOME, and their paths end up in panic locations; map
# them (and the checkout, for good measure) to fixed names. The encoded form keeps paths with
# spaces whole. It applies to the --target artifacts only, so host builds keep their cache.
sep=$'\x1f'
# The static-pie relocations (ASLR for a process that holds credentials) packed as RELR
# (binutils >= 2.38 links them, musl >= 1.2.4's start code applies them): about 565 KB of
# .rela.dyn become 9 KB of .relr.dyn, and the binary stays position-independent.
relr="-Clink-arg=-Wl,-z,pack-relative-relocs"
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$cargo_home=/cargo${sep}--remap-path-prefix=$PWD=/build${sep}$relr"

say "ec2-assume-role $version with $(rustc --version)"
mkdir -p dist
rm -f dist/ec2-assume-role-*-x86_64 dist/ec2-assume-role-*-aarch64 dist/ec2-assume-role-*-docs.tar.gz \
    dist/ec2-assume-role-*-config.schema.json dist/ec2-assume-role-*.cdx.json dist/SHA256SUMS
names=()
for t in "${TARGETS[@]}"; do
    arch=${t%%-*}
    say "cargo auditable build --release --locked --target $t"
    start=$SECONDS
    # What `cargo auditable build` does, but for the wrapper's path: cargo mixes the path of
    # RUSTC_WORKSPACE_WRAPPER into our crate's metadata hash, which orders its symbols in the
    # LTO build, and `cargo auditable` gives its own absolute path, so the binary would depend
    # on where the checkout is. Cargo runs the wrapper in the workspace root, where
    # /proc/self/cwd/TOOLS names the same file from every checkout. CARGO_AUDITABLE_ORIG_ARGS
    # is the JSON `cargo auditable` hands its wrapper (cargo-auditable 0.7.7, pinned).
    RUSTC_WORKSPACE_WRAPPER=$wrapper \
        CARGO_AUDITABLE_ORIG_ARGS='{"offline":false,"locked":true,"frozen":false,"config":[]}' \
        cargo build --release --locked --target "$t"
    say "built $t in $((SECONDS - start)) s"
    name=ec2-assume-role-$version-$arch
    cp "$target_dir/$t/release/ec2-assume-role" "dist/$name"
    # x86_64 comes out "static-pie linked", aarch64 "statically linked".
    kind=$(file -b "dist/$name")
    case $kind in
        *'not stripped'* | *dynamically*) die "dist/$name is not static and stripped: $kind" ;;
        *'static-pie linked'*stripped | *'statically linked'*stripped) ;;
        *) die "dist/$name is not static and stripped: $kind" ;;
    esac
    # The crate list embedded by cargo-auditable, as CycloneDX (no time or random serial in it:
    # the same binary gives the same bytes).
    auditable2cdx "dist/$name" > "dist/$name.cdx.json"
    deps=$(readelf -S -W "dist/$name" | awk '$2 == ".dep-v0" { print $6 }')
    [ -n "$deps" ] || die "dist/$name has no .dep-v0 section: cargo auditable did not embed the crate list"
    say "dist/$name carries its crate list in $((16#$deps)) bytes (.dep-v0)"
    names+=("$name" "$name.cdx.json")
done
# A host build (the --target flags above would rebuild its dependencies for nothing): its
# output depends on the sources alone, not on this machine, its date or its environment; the
# tarball's order, owners, modes and times are fixed (the times: the commit's).
docs=ec2-assume-role-$version-docs.tar.gz
say "docgen: man pages, completions and the config schema into dist/$docs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env -u CARGO_ENCODED_RUSTFLAGS cargo run --locked --quiet -p docgen -- "$tmp"
cp LICENSE THIRD-PARTY-NOTICES "$tmp"/
tar --sort=name --mtime="@$(git log -1 --format=%ct 2>/dev/null || echo 0)" --owner=0 --group=0 \
    --numeric-owner --mode=u=rwX,go=rX -C "$tmp" -cf - LICENSE THIRD-PARTY-NOTICES man completions config.schema.json |
    gzip -9n > "dist/$docs"
names+=("$docs")
schema=ec2-assume-role-$version-config.schema.json
cp "$tmp/config.schema.json" "dist/$schema"
names+=("$schema")
(cd dist && sha256sum "${names[@]}" > SHA256SUMS)

for n in "${names[@]}"; do
    printf '%-40s %9d bytes (%s MiB)\n' "dist/$n" "$(stat -c %s "dist/$n")" \
        "$(awk -v b="$(stat -c %s "dist/$n")" 'BEGIN { printf "%.1f", b / 1048576 }')"
done
cat dist/SHA256SUMS
