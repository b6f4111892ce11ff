#!/usr/bin/env bash
# The dependency policy and the third-party notices, from Cargo.lock, without network (the
# crates' sources are fetched first when missing: `cargo fetch`, crates.io only):
#   1. cargo-deny checks deny.toml: every crate's license on the allow-list, every crate from
#      crates.io, nothing banned or duplicated; then proves the check bites, by running it once
#      more with MIT taken off the list, which must fail and name a crate.
#   2. cargo-about renders THIRD-PARTY-NOTICES (about.toml, about.hbs): the crates linked into
#      the shipped musl binaries, each with the license it is used under and that license's
#      text with its copyright lines. The committed file must be what it renders.
#   3. The RPM's License: tag, and the .deb's copyright file, must give the SPDX expression of
#      what the binary contains: ours and every license the notices name, joined with AND.
# The tools (pinned) are installed into .tools/ first, when missing.
# Usage: scripts/licenses.sh           check; exit 1 naming what is out of date or refused
#        scripts/licenses.sh --write   render THIRD-PARTY-NOTICES anew (after Cargo.lock changed)
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${EAR_DOCS_TOOLS:-$PWD/.tools}
notices=THIRD-PARTY-NOTICES
spec=packaging/rpm/ec2-assume-role.spec

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
die() { printf 'licenses: %s\n' "$*" >&2; exit 1; }

ensure_supply_chain_tools "$tools"
export PATH=$tools/bin:$PATH
cargo fetch --locked --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The three lists of licenses (deny.toml's policy, cargo-about's preference order, rpmlint's
# valid names) are one list written for three tools: they must name the same licenses.
python3 - deny.toml about.toml packaging/rpm/rpmlint.toml <<'EOF' || die "the license lists differ (above)"
import sys, tomllib
lists = {
    "deny.toml [licenses] allow": tomllib.load(open(sys.argv[1], "rb"))["licenses"]["allow"],
    "about.toml accepted": tomllib.load(open(sys.argv[2], "rb"))["accepted"],
    "rpmlint.toml ValidLicenses": tomllib.load(open(sys.argv[3], "rb"))["ValidLicenses"],
}
if len({frozenset(names) for names in lists.values()}) != 1:
    for name, names in lists.items():
        print(f"{name}: {sorted(names)}", file=sys.stderr)
    sys.exit(1)
EOF

say "cargo deny check licenses bans sources (deny.toml)"
cargo deny --offline --locked --log-level error check licenses bans sources ||
    die "deny.toml refuses a crate (above); see the comments in deny.toml"
sed 's/"MIT", //' deny.toml > "$tmp/deny.toml"
cmp -s deny.toml "$tmp/deny.toml" && die "deny.toml's allow-list has no \"MIT\", to take off for the self-test"
if cargo deny --offline --locked --config "$tmp/deny.toml" --log-level error check licenses \
    > "$tmp/refused" 2>&1; then
    die "with MIT off the allow-list, cargo deny still passed: the check does not bite"
fi
grep -q 'rejected: license is not explicitly allowed' "$tmp/refused" ||
    die "with MIT off the allow-list, cargo deny failed for another reason: $(tail -5 "$tmp/refused")"
say "the policy bites: with MIT off the list, $(grep -c 'rejected: license' "$tmp/refused") crates are refused"

say "cargo about generate: $notices"
cargo about -L error generate --frozen about.hbs -o "$tmp/$notices"
if [ "${1:-}" = --write ]; then
    cp "$tmp/$notices" "$notices"
    say "wrote $notices"
elif ! cmp -s "$tmp/$notices" "$notices"; then
    diff -u "$notices" "$tmp/$notices" | head -40 >&2 || true
    die "$notices is not what Cargo.lock gives: run scripts/licenses.sh --write and commit it"
fi
crates=$(awk '/^Crates:$/ { on = 1; next } on && /^$/ { exit } on { n++ } END { print n + 0 }' "$tmp/$notices")

# The licenses the notices name, in their "Licenses:" list ("    MIT License (MIT): 36 crates").
expression=$( { echo Apache-2.0
    awk '/^Licenses:$/ { on = 1; next } on && /^$/ { exit } on' "$tmp/$notices" |
        sed -n 's/.*(\([A-Za-z0-9.+-]*\)): [0-9]* crates$/\1/p'; } | sort -u | paste -sd' ' | sed 's/ / AND /g')
tag=$(sed -n 's/^License: *//p' "$spec")
[ "$tag" = "$expression" ] ||
    die "$spec says License: $tag, but the binary contains $expression"
tr '\n' ' ' < packaging/deb/copyright | tr -s ' ' | grep -qF "the binary is under $expression." ||
    die "packaging/deb/copyright's Comment must say: the binary is under $expression."
say "$crates crates in $notices; the binary is $expression"
