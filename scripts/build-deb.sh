#!/usr/bin/env bash
# The .deb of ec2-assume-role for Debian and Ubuntu (amd64, arm64): stages the static musl
# binary that scripts/release.sh built, the systemd unit, the example config (a conffile), the
# man pages, shell completions and config JSON Schema (docgen/, in dist/), the README, a DEP-5 copyright and a
# changelog, with the maintainer scripts of packaging/deb/ (debhelper's dh_installsystemd
# snippets), and builds it with dpkg-deb. It never compiles anything and never changes the
# binary's bytes (it ships as SHA256SUMS lists it), and writes only its OUT/*.deb.
# Usage: scripts/build-deb.sh VERSION ARCH SRC OUT
#   VERSION: the upstream version (the package is VERSION-1); ARCH: amd64 or arm64;
#   SRC: what the RPM's _sourcedir holds: ec2-assume-role-VERSION-{x86_64,aarch64},
#   ec2-assume-role-VERSION-docs.tar.gz, config.toml, ec2-assume-role.service, README.md;
#   OUT: where ec2-assume-role_VERSION-1_ARCH.deb goes (its path is printed).
# Maintainer: $DEB_MAINTAINER, else the last commit's author. Reproducible: every timestamp is
# $SOURCE_DATE_EPOCH, else the last commit's time.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }
[ $# -eq 4 ] || die "usage: scripts/build-deb.sh VERSION amd64|arm64 SRC OUT"
version=$1 arch=$2 src=$3 out=$4
case $arch in
    amd64) cpu=x86_64 ;;
    arm64) cpu=aarch64 ;;
    *) die "ARCH must be amd64 or arm64, not $arch" ;;
esac
NAME=ec2-assume-role
bin=$src/$NAME-$version-$cpu
docs=$src/$NAME-$version-docs.tar.gz
for f in "$bin" "$docs" "$src/config.toml" "$src/$NAME.service" "$src/README.md"; do
    [ -f "$f" ] || die "missing $f"
done
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
mkdir -p "$tmp/docs" "$stage"
tar -xzf "$docs" -C "$tmp/docs"
doc=$stage/usr/share/doc/$NAME
d() { install -d -m 0755 "$stage/$1"; }
f() { install -D -m "$1" "$2" "$stage/$3"; }
f 0755 "$bin" usr/bin/$NAME
# Debian 12's debhelper and lintian put units in /lib (merged /usr makes it /usr/lib too).
f 0644 "$src/$NAME.service" lib/systemd/system/$NAME.service
f 0644 "$src/config.toml" etc/$NAME/config.toml
d usr/share/man/man1
for page in "$tmp"/docs/man/*.1; do
    gzip -9n < "$page" > "$stage/usr/share/man/man1/${page##*/}.gz"
done
d usr/share/man/man5
gzip -9n < "$tmp/docs/man/$NAME.toml.5" > "$stage/usr/share/man/man5/$NAME.toml.5.gz"
# Where the example config's `#:schema` line points editors (Taplo, Even Better TOML).
f 0644 "$tmp/docs/config.schema.json" "usr/share/$NAME/config.schema.json"
f 0644 "$tmp/docs/completions/$NAME.bash" usr/share/bash-completion/completions/$NAME
f 0644 "$tmp/docs/completions/_$NAME" usr/share/zsh/vendor-completions/_$NAME
f 0644 "$tmp/docs/completions/$NAME.fish" usr/share/fish/vendor_completions.d/$NAME.fish
f 0644 packaging/deb/copyright "usr/share/doc/$NAME/copyright"
f 0644 packaging/deb/lintian-overrides usr/share/lintian/overrides/$NAME
gzip -9n < "$src/README.md" > "$doc/README.md.gz"
# The crates linked into the binary and their licenses' texts, named by the copyright file.
gzip -9n < "$tmp/docs/THIRD-PARTY-NOTICES" > "$doc/THIRD-PARTY-NOTICES.gz"
# One entry: the history is git's (the RPM has no %changelog for the same reason).
{
    printf '%s (%s-1) unstable; urgency=medium\n\n' "$NAME" "$version"
    printf '  * Release %s: the static musl binaries of scripts/release.sh.\n\n' "$version"
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc"/*.gz "$stage"/usr/share/man/man1/*.gz "$stage"/usr/share/man/man5/*.gz

d DEBIAN
for s in postinst prerm postrm; do f 0755 "packaging/deb/$s" "DEBIAN/$s"; done
echo "/etc/$NAME/config.toml" > "$stage/DEBIAN/conffiles"
# As dh_md5sums: every file but the conffiles (dpkg tracks those itself).
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\n' |
    LC_ALL=C sort | xargs -d '\n' md5sum) > "$stage/DEBIAN/md5sums"
# As dpkg-gencontrol: KiB per file, rounded up, and one per directory.
size=$(cd "$stage" && find . -path ./DEBIAN -prune -o -mindepth 1 -printf '%y %s\n' |
    awk '$1 == "d" { n += 1; next } { n += int(($2 + 1023) / 1024) } END { print n }')
cat > "$stage/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $version-1
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Section: admin
Priority: optional
Description: Keeps cross-account AWS role credentials fresh on an EC2 instance
 ec2-assume-role reads a TOML file listing IAM roles, verifies through IMDSv2
 only that the instance runs under the expected instance role, assumes every
 role with STS using the instance-profile credentials, and writes each as a
 named profile in a user's ~/.aws/credentials (and its region in ~/.aws/config),
 leaving every other byte of those files alone. Its service keeps the profiles
 fresh.
CONTROL
chmod 0644 "$stage"/DEBIAN/{control,conffiles,md5sums}
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$out/${NAME}_$version-1_$arch.deb
dpkg-deb --build --root-owner-group -Zxz "$stage" "$deb" >/dev/null
echo "$deb"
