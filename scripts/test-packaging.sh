#!/usr/bin/env bash
# The packaging proof, run by CI: builds the release binaries (scripts/release.sh) and the RPMs
# (packaging/rpm/ec2-assume-role.spec) for x86_64 and aarch64, versions 1.0.0 and 1.0.1, runs
# rpmlint, then installs, edits, upgrades and erases the package with `rpm --root` in a
# scratch Debian root (mmdebstrap: it has the /bin/sh and systemctl the scriptlets need) and
# checks files, modes, the preset, the enable symlink, .rpmnew and .rpmsave, what the
# scriptlets ask of a running systemd, `systemd-analyze verify` (any output fails) and `check`
# with the installed binary and config; the aarch64 binary runs under qemu-aarch64-static.
# It must never touch the host's /usr, /etc or systemd: everything past the build happens in
# the scratch root (rpm and `check` chroot into it), it mounts nothing itself, and it reaches
# only the Debian mirror (apt, mmdebstrap). Needs root (chroot, apt).
# Prints PASS/FAIL lines (setup steps with their time) and `N passed, M failed`; exits 1 on
# any failure. Usage: scripts/test-packaging.sh      (honours CARGO_TARGET_DIR)
# shellcheck disable=SC2317  # the checks are functions that check and step call through "$@"
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(rpm rpmlint mmdebstrap cpio systemd qemu-user-static)
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
check "dist/SHA256SUMS matches both binaries" sums_ok
# 7 MB: issue 12's budget for the static binary with aws-sdk-organizations linked in
# (5.8 MB before it; sizes per crate in docs/benchmarks.md).
for b in "$bin_x86_64" "$bin_aarch64"; do
    size=$(stat -c %s "$b")
    check "$b is under 7 MB ($size bytes)" test "$size" -lt 7000000
done

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
    out=$(rpmlint -r "packaging/rpm/$NAME.rpmlintrc" "packaging/rpm/$NAME.spec" "$rpms"/*/*.rpm 2>&1) || rc=$?
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
check "erased: the binary, unit and preset are gone" gone "/usr/bin/$NAME" "/usr/lib/systemd/system/$UNIT" "$PRESET"
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

nothing_mounted() { ! findmnt -rn -o TARGET | grep -qF "$work"; }
check "nothing is left mounted under $work" nothing_mounted
finish
