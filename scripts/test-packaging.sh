#!/usr/bin/env bash
# The packaging proof, run by CI: builds the release binaries, man pages and completions
# (scripts/release.sh), the RPMs (packaging/rpm/ec2-assume-role.spec) for x86_64 and aarch64
# and the .debs (scripts/build-deb.sh) for amd64 and arm64, versions 1.0.0 and 1.0.1, runs
# rpmlint and lintian, then installs, edits, upgrades and erases the RPM with `rpm --root`,
# and installs, edits, upgrades, removes and purges the .deb with `dpkg --root`, each in a
# scratch Debian root (mmdebstrap: it has the /bin/sh, systemctl and deb-systemd-helper the
# scriptlets need) and checks files, modes, the preset, the enable symlink, .rpmnew,
# .rpmsave and .dpkg-dist, what the scriptlets ask of a running systemd, `systemd-analyze
# verify` (any output fails), `check` with the installed binary and config, the man page
# and the bash, zsh and fish completions; the aarch64 binary runs under qemu-aarch64-static.
# It must never touch the host's /usr, /etc or systemd: everything past the build happens in
# the scratch root (rpm and `check` chroot into it), it mounts nothing itself, and it reaches
# only the Debian mirror (apt, mmdebstrap). Needs root (chroot, apt).
# Prints PASS/FAIL lines (setup steps with their time) and `N passed, M failed`; exits 1 on
# any failure. Usage: scripts/test-packaging.sh      (honours CARGO_TARGET_DIR)
# shellcheck disable=SC2317  # the checks are functions that check and step call through "$@"
set -euo pipefail
cd "$(dirname "$0")/.."

# zsh, fish: to load the completions the packages ship.
DEBIAN_PACKAGES=(rpm rpmlint lintian mmdebstrap cpio systemd qemu-user-static zsh fish)
NAME=ec2-assume-role
UNIT=$NAME.service
CONFIG=/etc/$NAME/config.toml
PRESET=/usr/lib/systemd/system-preset/80-$NAME.preset

passed=0 failed=0
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# step DESCRIPTION COMMAND...: a check that later ones build on, timed; failing ends the run.
step() {
    local d=$1 start=$SECONDS before=$failed
    shift
    check "$d" "$@"
    printf '      %s: %d s\n' "$d" $((SECONDS - start))
    [ "$failed" -eq "$before" ] || finish
}

work=$(mktemp -d "/tmp/$NAME-packaging.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
rpms=$work/rpmbuild/RPMS
RPM=(rpm --force-debian --root "$root" --dbpath /var/lib/rpm)
# The root's rpmdb knows nothing of its Debian systemd, which the package Requires.
RPM_CHANGE=("${RPM[@]}" --nodeps)

ensure_debian_packages "${DEBIAN_PACKAGES[@]}"

# --- release binaries --------------------------------------------------------------------
step "scripts/release.sh builds both static binaries" scripts/release.sh
version=$(sed -n "s/^[0-9a-f]*  $NAME-\(.*\)-x86_64\$/\1/p" dist/SHA256SUMS)
bin_x86_64=dist/$NAME-$version-x86_64
bin_aarch64=dist/$NAME-$version-aarch64
sums_ok() { (cd dist && sha256sum --quiet -c SHA256SUMS); }
check "dist/SHA256SUMS matches both binaries, the docs tarball and the config schema" sums_ok
# What the packages must install: the docs tarball's man pages, completions and schema.
docs=$work/docs
mkdir -p "$docs"
tar -xzf "dist/$NAME-$version-docs.tar.gz" -C "$docs"
check "dist's config schema is the docs tarball's and the committed docs/config.schema.json" \
    cmp -s "dist/$NAME-$version-config.schema.json" "$docs/config.schema.json"
check "the committed docs/config.schema.json is what docgen renders" \
    cmp -s docs/config.schema.json "$docs/config.schema.json"
check "the committed docs/$NAME.toml.5 is what docgen renders" \
    cmp -s "docs/$NAME.toml.5" "$docs/man/$NAME.toml.5"
# 7 MB: issue 12's budget for the static binary with aws-sdk-organizations linked in
# (5.8 MB before it; sizes per crate in docs/benchmarks.md).
for b in "$bin_x86_64" "$bin_aarch64"; do
    size=$(stat -c %s "$b")
    check "$b is under 7 MB ($size bytes)" test "$size" -lt 7000000
done
# The x86_64 binary stays position-independent (ASLR) with its relocations packed (RELR).
pie_relr() { readelf -d "$bin_x86_64" | grep -q 'Flags: NOW PIE' && readelf -d "$bin_x86_64" | grep -q '(RELR)'; }
check "$bin_x86_64 is position-independent, its relocations packed as RELR" pie_relr

# --- what the binaries contain: the crate list in them, their SBOMs, the notices ------------
tools=${EAR_DOCS_TOOLS:-$PWD/.tools}
venv=${EAR_TEST_VENV:-$PWD/.venv}
sboms_summed() { grep -q "  $NAME-$version-x86_64.cdx.json\$" dist/SHA256SUMS && grep -q "  $NAME-$version-aarch64.cdx.json\$" dist/SHA256SUMS; }
check "dist/SHA256SUMS covers both SBOMs" sboms_summed
# contents ARCH: the crate list read back from the binary (rust-audit-info) against Cargo.lock,
# the SBOM (validated) and THIRD-PARTY-NOTICES (scripts/check-sbom.py); its findings are printed.
contents() {
    local b=dist/$NAME-$version-$1
    "$tools/bin/rust-audit-info" "$b" > "$work/audit-$1.json" &&
        "$venv/bin/python" scripts/check-sbom.py "$1-unknown-linux-musl" "$work/audit-$1.json" \
            "$b.cdx.json" THIRD-PARTY-NOTICES > "$work/contents-$1"
}
# sbom_again ARCH: the SBOM is what auditable2cdx renders from the binary now (no time, no
# random serial: the release stays reproducible).
sbom_again() { "$tools/bin/auditable2cdx" "dist/$NAME-$version-$1" | cmp -s - "dist/$NAME-$version-$1.cdx.json"; }
for arch in x86_64 aarch64; do
    check "$arch: the crate list in the binary holds every linked crate of Cargo.lock; its SBOM validates and names the same; THIRD-PARTY-NOTICES covers them" contents "$arch"
    sed 's/^/      /' "$work/contents-$arch" 2>/dev/null || true
    check "$arch: the SBOM is rendered from the binary the same way twice" sbom_again "$arch"
done
# The notices and LICENSE travel with the docs tarball, so with both packages.
tarball_licenses() { cmp -s LICENSE "$docs/LICENSE" && cmp -s THIRD-PARTY-NOTICES "$docs/THIRD-PARTY-NOTICES"; }
check "the docs tarball carries LICENSE and THIRD-PARTY-NOTICES, the repository's" tarball_licenses

# --- RPMs --------------------------------------------------------------------------------
# Two releases from the same binaries. 1.0.1's example config gains a line, as a new release's
# example would: rpm writes .rpmnew only when the packaged config changed as well as the
# file on disk.
build_rpms() {
    local ver src arch
    for ver in 1.0.0 1.0.1; do
        src=$work/src-$ver
        mkdir -p "$src"
        cp packaging/config.toml "packaging/systemd/$UNIT" README.md "$src/"
        cp "dist/$NAME-$version-docs.tar.gz" "$src/$NAME-$ver-docs.tar.gz"
        [ "$ver" = 1.0.0 ] || printf '# The example as shipped in %s.\n' "$ver" >> "$src/config.toml"
        for arch in x86_64 aarch64; do
            cp "dist/$NAME-$version-$arch" "$src/$NAME-$ver-$arch"
            rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" --define "_sourcedir $src" \
                --define "ver $ver" --target "$arch" "packaging/rpm/$NAME.spec" || return 1
        done
    done
}
step "rpmbuild 1.0.0 and 1.0.1 for x86_64 and aarch64" build_rpms
rpm_arch_is() { [ "$(rpm -qp --qf '%{ARCH}' "$rpms/$1/$NAME-$2-1.$1.rpm" 2>/dev/null)" = "$1" ]; }
for arch in x86_64 aarch64; do
    for ver in 1.0.0 1.0.1; do
        check "$NAME-$ver-1.$arch.rpm is built for $arch" rpm_arch_is "$arch" "$ver"
    done
done

lint() {
    local out rc=0
    out=$(rpmlint -c packaging/rpm/rpmlint.toml -r "packaging/rpm/$NAME.rpmlintrc" "packaging/rpm/$NAME.spec" "$rpms"/*/*.rpm 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/     rpmlint: /'
    [ "$rc" -eq 0 ] && grep -q ' 0 errors, 0 warnings' <<<"$out"
}
step "rpmlint: 0 errors, 0 warnings (spec and the 4 RPMs)" lint

# The aarch64 package's binary, as a user gets it, under user-mode emulation (this machine
# has no binfmt_misc).
a64=$work/aarch64/usr/bin/$NAME
mkdir -p "$work/aarch64"
(cd "$work/aarch64" && rpm2cpio "$rpms/aarch64/$NAME-1.0.0-1.aarch64.rpm" | cpio -idm --quiet)
check "the aarch64 RPM carries dist's aarch64 binary" cmp -s "$a64" "$bin_aarch64"
a64_version() { [ "$(qemu-aarch64-static "$a64" --version)" = "$NAME $version" ]; }
check "aarch64: --version prints '$NAME $version' under qemu" a64_version

# --- the scratch root --------------------------------------------------------------------
# Debian with systemd: the shell and systemctl that rpm's chrooted scriptlets call. Like
# Amazon Linux, it disables every service that no preset enables, and it has ec2-user (the
# example config's owner, which `check` looks up).
make_root() {
    local mirror=http://deb.debian.org/debian
    [ -f /etc/apt/sources.list.d/debian.sources ] && mirror=/etc/apt/sources.list.d/debian.sources
    mmdebstrap --quiet --variant=minbase --include=systemd,procps bookworm "$root" "$mirror" &&
        echo 'disable *' > "$root/usr/lib/systemd/system-preset/99-default-disable.preset" &&
        echo 'ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash' >> "$root/etc/passwd" &&
        echo 'ec2-user:x:1000:' >> "$root/etc/group" &&
        cp /usr/bin/qemu-aarch64-static "$root/usr/local/bin/" &&
        cp "$a64" "$root/usr/local/bin/$NAME-aarch64" &&
        cp packaging/config.toml "$root/tmp/config.toml"
}
step "mmdebstrap a scratch root" make_root
# The .deb's tests get a root of their own, with Debian's presets: deb-systemd-helper
# enables through `systemctl preset`, and Debian and Ubuntu have no 'disable *'.
deb_root() {
    cp -a "$root" "$work/debroot" &&
        rm "$work/debroot/usr/lib/systemd/system-preset/99-default-disable.preset"
}
step "copy the scratch root for the .deb (Debian's presets)" deb_root
check "aarch64: check --config packaging/config.toml passes under qemu" \
    chroot "$root" qemu-aarch64-static "/usr/local/bin/$NAME-aarch64" --log stderr check --config /tmp/config.toml

# `systemctl preset` puts the enable symlink where the unit's [Install] section says.
wanted_by=$(sed -n 's/^WantedBy=//p' "packaging/systemd/$UNIT")
enabled() {
    local t
    for t in $wanted_by; do
        # Debian's systemctl links to /lib/systemd/system, Amazon Linux's to /usr/lib/...
        [ "$root$(readlink "$root/etc/systemd/system/$t.wants/$UNIT")" -ef "$root/usr/lib/systemd/system/$UNIT" ] || return 1
    done
    [ "$(systemctl --root="$root" is-enabled "$UNIT" 2>&1)" = enabled ]
}
not_enabled() {
    local t
    for t in $wanted_by; do
        [ ! -L "$root/etc/systemd/system/$t.wants/$UNIT" ] || return 1
    done
}
# is PATH MODE [SAME-AS]: a root-owned file or directory in the root with this mode (and content).
is() {
    [ "$(stat -c '%a %U:%G' "$root$1")" = "$2 root:root" ] && { [ $# -lt 3 ] || cmp -s "$root$1" "$3"; }
}
rpm_says() { [ "$("${RPM[@]}" "${@:2}" 2>&1)" = "$1" ]; }
verify_quiet() {
    local out
    out=$(systemd-analyze verify --root="$root" --man=no "$UNIT" 2>&1) && [ -z "$out" ] && return 0
    printf '     systemd-analyze: %s\n' "$out"
    return 1
}
gone() {
    local p
    for p in "$@"; do [ ! -e "$root$p" ] || return 1; done
}

# --- install, edit, upgrade, erase as in an image build: no systemd runs in the root -------
step "rpm -i 1.0.0 (x86_64) into the root" "${RPM_CHANGE[@]}" -i "$rpms/x86_64/$NAME-1.0.0-1.x86_64.rpm"
check "installed: rpm -V finds nothing changed" rpm_says "" -V --nodeps "$NAME"
check "installed: /usr/bin/$NAME 0755, dist's x86_64 binary" is "/usr/bin/$NAME" 755 "$bin_x86_64"
check "installed: the unit 0644, packaging/systemd/$UNIT" is "/usr/lib/systemd/system/$UNIT" 644 "packaging/systemd/$UNIT"
echo "enable $UNIT" > "$work/preset"
check "installed: the preset 0644, 'enable $UNIT'" is "$PRESET" 644 "$work/preset"
check "installed: /etc/$NAME 0755" is "/etc/$NAME" 755
check "installed: $CONFIG 0644, packaging/config.toml" is "$CONFIG" 644 packaging/config.toml
check "installed: $CONFIG is the only %config file" rpm_says "$CONFIG" -qc "$NAME"
check "installed: the preset enabled the service despite 'disable *' ($wanted_by)" enabled
check "installed: the installed binary accepts the installed config (chrooted check)" \
    chroot "$root" "$NAME" --log stderr check
check "installed: systemd-analyze verify --root on the unit prints nothing" verify_quiet
# man_installed: every page of dist/man, gzipped into ROOT/usr/share/man/man1 (commands) and
# man5 (the config file).
man_installed() {
    local page section
    for page in "$docs"/man/*.[15]; do
        section=man${page##*.}
        is "/usr/share/man/$section/${page##*/}.gz" 644 || return 1
        zcat "$root/usr/share/man/$section/${page##*/}.gz" | cmp -s - "$page" || return 1
    done
    [ -f "$root/usr/share/man/man5/$NAME.toml.5.gz" ]
}
check "installed: the man pages of the docs tarball ($(find "$docs/man" -name '*.[15]' | wc -l), $NAME.toml(5) too), 0644" man_installed
# schema_installed: the JSON Schema where the example config's #:schema line points.
schema_installed() {
    is "/usr/share/$NAME/config.schema.json" 644 "$docs/config.schema.json" &&
        [ "$(head -n 1 "$root$CONFIG")" = "#:schema /usr/share/$NAME/config.schema.json" ]
}
check "installed: the config schema, 0644, named by the config's #:schema line" schema_installed
rpm_licenses() {
    is "/usr/share/licenses/$NAME/LICENSE" 644 LICENSE &&
        is "/usr/share/licenses/$NAME/THIRD-PARTY-NOTICES" 644 THIRD-PARTY-NOTICES
}
check "installed: %license LICENSE and THIRD-PARTY-NOTICES in /usr/share/licenses/$NAME, 0644" rpm_licenses
license_tag() { [ "$("${RPM[@]}" -q --qf '%{LICENSE}' "$NAME")" = "$(sed -n 's/^License: *//p' "packaging/rpm/$NAME.spec")" ]; }
check "installed: rpm -q --qf %{LICENSE} is the spec's SPDX expression" license_tag
# completions_installed ZSH_DIR: dist's completions where each shell looks for them (zsh's
# directory differs: site-functions on Amazon Linux, vendor-completions on Debian).
completions_installed() {
    is "/usr/share/bash-completion/completions/$NAME" 644 "$docs/completions/$NAME.bash" &&
        is "$1/_$NAME" 644 "$docs/completions/_$NAME" &&
        is "/usr/share/fish/vendor_completions.d/$NAME.fish" 644 "$docs/completions/$NAME.fish"
}
check "installed: completions for bash, zsh and fish" completions_installed /usr/share/zsh/site-functions

printf '# edited by the admin\n' >> "$root$CONFIG"
cp "$root$CONFIG" "$work/edited.toml"
step "rpm -U 1.0.1 over the edited config" "${RPM_CHANGE[@]}" -U "$rpms/x86_64/$NAME-1.0.1-1.x86_64.rpm"
check "upgraded: rpm -q says 1.0.1" rpm_says "$NAME-1.0.1-1.x86_64" -q "$NAME"
check "upgraded: the edited config survived" cmp -s "$root$CONFIG" "$work/edited.toml"
check "upgraded: config.toml.rpmnew is 1.0.1's example" cmp -s "$root$CONFIG.rpmnew" "$work/src-1.0.1/config.toml"
check "upgraded: the service is still enabled" enabled

step "rpm -e" "${RPM_CHANGE[@]}" -e "$NAME"
check "erased: rpm -q finds no $NAME" rpm_says "package $NAME is not installed" -q "$NAME"
check "erased: the edited config is kept as config.toml.rpmsave" cmp -s "$root$CONFIG.rpmsave" "$work/edited.toml"
check "erased: the binary, unit, preset, config page and schema are gone" gone "/usr/bin/$NAME" \
    "/usr/lib/systemd/system/$UNIT" "$PRESET" "/usr/share/man/man5/$NAME.toml.5.gz" "/usr/share/$NAME/config.schema.json"
check "erased: the enable symlink is gone" not_enabled

# --- the same on a running instance (/run/systemd/system exists): a stand-in systemctl
# records what the scriptlets ask of systemd, which the real one would need a running
# systemd for.
mkdir -p "$root/run/systemd/system"
mv "$root/usr/bin/systemctl" "$root/usr/bin/systemctl.real"
printf '#!/bin/sh\necho "$*" >> /systemctl.log\n' > "$root/usr/bin/systemctl"
chmod 0755 "$root/usr/bin/systemctl"
# asks EXPECTED COMMAND...: runs rpm, then compares the recorded systemctl calls.
asks() {
    local want=$1 got
    shift
    rm -f "$root/systemctl.log"
    "$@" >/dev/null 2>&1 || return 1
    got=$(cat "$root/systemctl.log" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    printf '     systemctl calls: %s\n' "${got//$'\n'/; }"
    return 1
}
check "live install: preset, daemon-reload" asks "-q --no-reload preset $UNIT"$'\n'"daemon-reload" \
    "${RPM_CHANGE[@]}" -ivh "$rpms/x86_64/$NAME-1.0.0-1.x86_64.rpm"
check "live upgrade: daemon-reload twice, try-restart; no preset (the admin's choice stays)" \
    asks "daemon-reload"$'\n'"daemon-reload"$'\n'"try-restart $UNIT" \
    "${RPM_CHANGE[@]}" -Uvh "$rpms/x86_64/$NAME-1.0.1-1.x86_64.rpm"
check "live erase: disable --now, daemon-reload" asks "-q --no-reload disable --now $UNIT"$'\n'"daemon-reload" \
    "${RPM_CHANGE[@]}" -e "$NAME"

# --- the .deb ----------------------------------------------------------------------------
# The same two releases, amd64 and arm64, from the same binaries and the RPMs' sources.
debs=$work/debs
build_debs() {
    local ver arch
    for ver in 1.0.0 1.0.1; do
        for arch in amd64 arm64; do
            scripts/build-deb.sh "$ver" "$arch" "$work/src-$ver" "$debs" >/dev/null || return 1
        done
    done
}
step "scripts/build-deb.sh 1.0.0 and 1.0.1 for amd64 and arm64" build_debs
deb_arch_is() { [ "$(dpkg-deb -f "$debs/${NAME}_$2-1_$1.deb" Architecture)" = "$1" ]; }
for arch in amd64 arm64; do
    for ver in 1.0.0 1.0.1; do
        check "${NAME}_$ver-1_$arch.deb is built for $arch" deb_arch_is "$arch" "$ver"
    done
done
deb_reproducible() {
    scripts/build-deb.sh 1.0.0 amd64 "$work/src-1.0.0" "$work/debs-again" >/dev/null &&
        cmp "$debs/${NAME}_1.0.0-1_amd64.deb" "$work/debs-again/${NAME}_1.0.0-1_amd64.deb"
}
check "build-deb.sh is reproducible: a second build is the same bytes" deb_reproducible
# Every tag, info and pedantic ones too; the overrides in packaging/deb/lintian-overrides each
# say why. Any line of output but an override's fails.
deb_lint() {
    local out
    out=$(lintian --pedantic --display-info --show-overrides "$debs"/*.deb 2>&1 | grep -v '^running with root privileges' || true)
    printf '%s\n' "$out" | sed 's/^/     lintian: /'
    ! grep -v '^[NO]: ' <<<"$out" | grep -q .
}
step "lintian (pedantic, info): nothing but explained overrides (the 4 .debs)" deb_lint
a64deb=$work/arm64-deb
dpkg-deb -x "$debs/${NAME}_1.0.0-1_arm64.deb" "$a64deb"
check "the arm64 .deb carries dist's aarch64 binary" cmp -s "$a64deb/usr/bin/$NAME" "$bin_aarch64"

root=$work/debroot
DPKG=(dpkg --root="$root")
deb_status() { [ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status} ${Version}' "$NAME" 2>&1)" = "$1" ]; }
deb_conffiles() { [ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' "$NAME" | awk 'NF {print $1}')" = "$CONFIG" ]; }
deb_verify() { [ -z "$("${DPKG[@]}" --verify "$NAME" 2>&1)" ]; }
docs_installed() {
    is "/usr/share/doc/$NAME/copyright" 644 packaging/deb/copyright &&
        is "/usr/share/doc/$NAME/THIRD-PARTY-NOTICES.gz" 644 &&
        zcat "$root/usr/share/doc/$NAME/THIRD-PARTY-NOTICES.gz" | cmp -s - THIRD-PARTY-NOTICES &&
        zcat "$root/usr/share/doc/$NAME/README.md.gz" | cmp -s - README.md &&
        zcat "$root/usr/share/doc/$NAME/changelog.Debian.gz" | grep -q "^$NAME ($1-1) "
}

step "dpkg --root -i 1.0.0 (amd64) into a root" "${DPKG[@]}" -i "$debs/${NAME}_1.0.0-1_amd64.deb"
check "deb installed: dpkg says install ok installed 1.0.0-1" deb_status "install ok installed 1.0.0-1"
check "deb installed: dpkg --verify (md5sums) finds nothing changed" deb_verify
check "deb installed: /usr/bin/$NAME 0755, dist's x86_64 binary" is "/usr/bin/$NAME" 755 "$bin_x86_64"
check "deb installed: the unit 0644 in /lib/systemd/system, packaging/systemd/$UNIT" is "/lib/systemd/system/$UNIT" 644 "packaging/systemd/$UNIT"
check "deb installed: $CONFIG 0644, packaging/config.toml" is "$CONFIG" 644 packaging/config.toml
check "deb installed: $CONFIG is the only conffile" deb_conffiles
check "deb installed: no preset (Debian enables on install)" gone "$PRESET"
check "deb installed: postinst enabled the service ($wanted_by)" enabled
check "deb installed: the man pages of the docs tarball, 0644" man_installed
check "deb installed: the config schema, 0644, named by the config's #:schema line" schema_installed
check "deb installed: completions for bash, zsh (vendor-completions) and fish" completions_installed /usr/share/zsh/vendor-completions
check "deb installed: copyright, THIRD-PARTY-NOTICES.gz, README.md.gz, changelog.Debian.gz (1.0.0-1)" docs_installed 1.0.0
check "deb installed: the installed binary accepts the installed config (chrooted check)" \
    chroot "$root" "$NAME" --log stderr check
check "deb installed: systemd-analyze verify --root on the unit prints nothing" verify_quiet
# The completions, loaded by the shells themselves from where the package put them.
bash_completes() {
    local got
    # shellcheck disable=SC2016  # expanded by the inner bash
    got=$(bash -c '. "$1"; fn=$(complete -p ec2-assume-role | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
        COMP_WORDS=(ec2-assume-role cr); COMP_CWORD=1; COMP_LINE="ec2-assume-role cr"; COMP_POINT=${#COMP_LINE}
        "$fn" ec2-assume-role cr ec2-assume-role; printf "%s\n" "${COMPREPLY[@]}"' _ "$root/usr/share/bash-completion/completions/$NAME")
    echo "bash completes 'ec2-assume-role cr' to: $got"
    [ "$got" = credential-process ]
}
fish_completes() {
    local got
    got=$(fish -c "source $root/usr/share/fish/vendor_completions.d/$NAME.fish; complete -C 'ec2-assume-role da'" | cut -f1)
    echo "fish completes 'ec2-assume-role da' to: $got"
    [ "$got" = daemon ]
}
check "deb installed: bash completes 'ec2-assume-role cr' to credential-process" bash_completes
check "deb installed: fish completes 'ec2-assume-role da' to daemon" fish_completes
check "deb installed: zsh parses _$NAME (zsh -n)" zsh -n "$root/usr/share/zsh/vendor-completions/_$NAME"

# An edited conffile and a new example: dpkg would ask, so the upgrade says what unattended
# installs say (--force-confdef --force-confold: keep the admin's file, and put the new
# example beside it as .dpkg-dist).
printf '# edited by the admin\n' >> "$root$CONFIG"
cp "$root$CONFIG" "$work/deb-edited.toml"
step "dpkg -i 1.0.1 --force-confdef --force-confold over the edited config" \
    "${DPKG[@]}" --force-confdef --force-confold -i "$debs/${NAME}_1.0.1-1_amd64.deb"
check "deb upgraded: dpkg says 1.0.1-1" deb_status "install ok installed 1.0.1-1"
check "deb upgraded: the edited config survived" cmp -s "$root$CONFIG" "$work/deb-edited.toml"
check "deb upgraded: config.toml.dpkg-dist is 1.0.1's example" cmp -s "$root$CONFIG.dpkg-dist" "$work/src-1.0.1/config.toml"
check "deb upgraded: the service is still enabled" enabled

# The state the service leaves (StateDirectory=), which only a purge removes.
mkdir -p "$root/var/lib/$NAME" && echo '{}' > "$root/var/lib/$NAME/discovery.json"
step "dpkg -r (remove)" "${DPKG[@]}" -r "$NAME"
check "deb removed: dpkg says deinstall ok config-files" deb_status "deinstall ok config-files 1.0.1-1"
check "deb removed: the edited config is kept, as it was" cmp -s "$root$CONFIG" "$work/deb-edited.toml"
check "deb removed: the binary, unit, man page and completions are gone" gone "/usr/bin/$NAME" \
    "/lib/systemd/system/$UNIT" "/usr/share/man/man1/$NAME.1.gz" "/usr/share/man/man5/$NAME.toml.5.gz" \
    "/usr/share/$NAME/config.schema.json" "/usr/share/bash-completion/completions/$NAME"
check "deb removed: the state directory is kept" test -f "$root/var/lib/$NAME/discovery.json"
step "dpkg -P (purge)" "${DPKG[@]}" -P "$NAME"
check "deb purged: dpkg knows no $NAME" deb_status "dpkg-query: no packages found matching $NAME"
check "deb purged: the config, its .dpkg-dist and /etc/$NAME are gone" gone "$CONFIG" "$CONFIG.dpkg-dist" "/etc/$NAME"
check "deb purged: the state directory /var/lib/$NAME is gone" gone "/var/lib/$NAME"
check "deb purged: the enable symlink and deb-systemd-helper's state are gone" not_enabled
check "deb purged: deb-systemd-helper's state is gone" \
    gone "/var/lib/systemd/deb-systemd-helper-enabled/$UNIT.dsh-also"

# arm64 into this amd64 root (dpkg must be told), its binary under qemu with the packaged config.
step "dpkg -i --force-architecture the arm64 1.0.0" "${DPKG[@]}" --force-architecture -i "$debs/${NAME}_1.0.0-1_arm64.deb"
check "deb arm64: the installed aarch64 binary accepts the installed config under qemu" \
    chroot "$root" qemu-aarch64-static "/usr/bin/$NAME" --log stderr check
check "deb arm64: the service is enabled" enabled
step "deb arm64: dpkg -P" "${DPKG[@]}" -P "$NAME"

# The same on a running system: the stand-in systemctl records what the scripts ask of
# systemd. deb-systemd-invoke asks first whether the unit is enabled (the real one answers,
# offline) and active (no: nothing runs it here); deb-systemd-helper's offline
# `--root=/ preset` goes to the real one too.
mkdir -p "$root/run/systemd/system"
mv "$root/usr/bin/systemctl" "$root/usr/bin/systemctl.real"
cat > "$root/usr/bin/systemctl" <<'STANDIN'
#!/bin/sh
case " $* " in
*" is-enabled "*) exec /usr/bin/systemctl.real --root=/ "$@" ;;
*" is-active "*) exit 3 ;;
*" --version "* | *" --root="*) exec /usr/bin/systemctl.real "$@" ;;
esac
echo "$*" >> /systemctl.log
STANDIN
chmod 0755 "$root/usr/bin/systemctl"
check "deb live install: daemon-reload, start" asks "--system daemon-reload"$'\n'"--quiet --system start $UNIT" \
    "${DPKG[@]}" -i "$debs/${NAME}_1.0.0-1_amd64.deb"
check "deb live upgrade: daemon-reload, restart (no stop before)" \
    asks "--system daemon-reload"$'\n'"--quiet --system restart $UNIT" \
    "${DPKG[@]}" --force-confdef --force-confold -i "$debs/${NAME}_1.0.1-1_amd64.deb"
check "deb live remove: stop, daemon-reload" asks "stop $UNIT"$'\n'"--system daemon-reload" \
    "${DPKG[@]}" -r "$NAME"
check "deb live purge: daemon-reload (deb-systemd-helper, for the enable symlink it removed)" \
    asks "daemon-reload" "${DPKG[@]}" -P "$NAME"

nothing_mounted() { ! findmnt -rn -o TARGET | grep -qF "$work"; }
check "nothing is left mounted under $work" nothing_mounted
finish
