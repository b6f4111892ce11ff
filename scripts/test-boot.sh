#!/usr/bin/env bash
# The boot test (issue 5): boots a Debian bookworm container with real systemd and cloud-init
# (systemd-nspawn, NoCloud seed) four ways: the bash user-data (cloud-init/user-data.sh),
# the #cloud-config (cloud-init/cloud-config.yaml), the RPM installed with `rpm --root`, and
# the .deb that a user-data downloads and installs with dpkg (then `man ec2-assume-role` must
# show the exit codes). Before the boots, both user-data files run in a chroot that says it
# is aarch64, then riscv64 (a stand-in `uname`): the first must fetch the aarch64 binary, the
# second stop before any download. The release's binaries and .deb (scripts/release.sh,
# scripts/build-deb.sh) are served by a local HTTP server; the fake IMDSv2 and moto (as STS) run on the
# host's loopback, which the container shares (cloud-init's network config is disabled). It
# then proves from each container's journal and files that the profiles were written, that
# user-data commands could use them, and that the unit ran before cloud-final with no
# ordering cycle. Prints PASS/FAIL per check and `N passed, M failed`; exits 1 on a failure.
# It must never touch the host's /run, /etc, /usr or journal, nor reach beyond loopback (every
# endpoint variable in the container points at a loopback fake): every mount happens in
# `--in-namespace` mode, which refuses to run outside `unshare -m --propagation private`.
# Run as root: scripts/test-boot.sh   (the Debian rootfs is cached in target/boot-rootfs/;
# EAR_BOOT_KEEP=1 keeps the work directory, with each root and console, for a post-mortem)
# shellcheck disable=SC2317  # the checks are functions that check (scripts/lib.sh) calls through "$@"
set -euo pipefail

SUITE=bookworm
# procps: /bin/kill for ExecReload; curl: the user-data's download; man-db: `man`.
PACKAGES=systemd,systemd-sysv,dbus,cloud-init,procps,curl,man-db
ROLE_ASSUMED=c710c1bb6f6f49b388c44f7c07d37158
PROFILES=(audit-111111111111 audit-222222222222)

# Mount namespace mode: a private /run for nspawn, then the boot; nspawn's exit code is the
# verdict unit's. Refuses unless its mount namespace differs from both its parent's and the
# caller's (passed in; /proc/1 is no reference here: it cannot be read from a new namespace).
if [ "${1:-}" = --in-namespace ]; then
    root=$2
    callers=${3:-}
    mine=$(readlink "/proc/$$/ns/mnt" || true)
    parents=$(readlink "/proc/$PPID/ns/mnt" || true)
    if [ -z "$mine" ] || [ -z "$parents" ] || [ -z "$callers" ] ||
        [ "$mine" = "$parents" ] || [ "$mine" = "$callers" ]; then
        echo "$0: not in a private mount namespace; refusing to mount anything" >&2
        echo "usage: unshare -m --propagation private $0 --in-namespace ROOT CALLERS_MNT_NS" >&2
        exit 2
    fi
    mount -t tmpfs tmpfs /run
    # --register=no --keep-unit: the host has no systemd/dbus. --link-journal=no: never
    # the host's /var/log/journal. read-only console: the cycle messages appear only there.
    exec systemd-nspawn -q -D "$root" -b --register=no --keep-unit --link-journal=no \
        --console=read-only --timezone=off
fi

cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "$0: run as root (apt-get, mmdebstrap, nspawn)" >&2; exit 2; }
repo=$PWD
work=$(mktemp -d /tmp/ec2-assume-role-boot.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${EAR_BOOT_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
elapsed() { echo "$(($(date +%s%N) / 1000000 - $1))ms"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- prerequisites ----------------------------------------------------------------------
ensure_debian_packages systemd-container mmdebstrap shellcheck rpm python3
scripts/test.sh --setup   # the venv with moto
venv=${EAR_TEST_VENV:-$repo/.venv}

# The release, as users get it: quick when scripts/test-packaging.sh just built it.
say "scripts/release.sh (the binaries and docs served to the boots)"
scripts/release.sh > "$work/release.log" 2>&1 || { cat "$work/release.log"; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
bin=$repo/dist/ec2-assume-role-$version-x86_64
bin_a64=$repo/dist/ec2-assume-role-$version-aarch64
say "serving $bin and $bin_a64"

# --- the rootfs, cached by its mmdebstrap arguments -------------------------------------
# ec2-user with a 0700 home, as on Amazon Linux; cloud-init: NoCloud only (never the EC2
# datasource, which would probe 169.254.169.254), no network config (the network is the
# host's), no locale (minbase has none).
# shellcheck disable=SC2016  # the hooks' $1 is mmdebstrap's, not ours
mmdebstrap_args=(--variant=minbase --include="$PACKAGES"
    --customize-hook='chroot "$1" useradd -m -s /bin/bash ec2-user'
    --customize-hook='chmod 0700 "$1/home/ec2-user"'
    --customize-hook='printf "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\nlocale: false\n" > "$1/etc/cloud/cloud.cfg.d/99-boot-test.cfg"'
    "$SUITE")
key=$(printf '%s\n' "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
base=$repo/target/boot-rootfs/$key
if [ ! -d "$base" ]; then
    say "mmdebstrap $SUITE ($PACKAGES) into $base"
    start=$(now_ms)
    rm -rf "$base.tmp"
    mkdir -p "$(dirname "$base")"
    mmdebstrap --quiet "${mmdebstrap_args[@]}" "$base.tmp" /etc/apt/sources.list.d/debian.sources
    mv "$base.tmp" "$base"
    say "rootfs built in $(elapsed "$start")"
fi

# --- fakes and the HTTP server on loopback ----------------------------------------------
start_fakes "$work" moto "$venv"
imds=$IMDS_URL
mkdir -p "$work/www"
cp "$bin" "$bin_a64" "$work/www/"
# The .deb, built as scripts/build-deb.sh says (scripts/test-packaging.sh checks its own).
debsrc=$work/debsrc
mkdir -p "$debsrc"
cp "$bin" "dist/ec2-assume-role-$version-docs.tar.gz" packaging/config.toml README.md \
    packaging/systemd/ec2-assume-role.service "$debsrc/"
deb=$(scripts/build-deb.sh "$version" amd64 "$debsrc" "$work/www")
www_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$www_port" > "$work/www.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do listening "http://127.0.0.1:$www_port" && break; sleep 0.1; done
url=http://127.0.0.1:$www_port/${bin##*/}
sha=$(sha256sum "$bin" | cut -d' ' -f1)
url_a64=http://127.0.0.1:$www_port/${bin_a64##*/}
sha_a64=$(sha256sum "$bin_a64" | cut -d' ' -f1)
deb_url=http://127.0.0.1:$www_port/${deb##*/}
deb_sha=$(sha256sum "$deb" | cut -d' ' -f1)
zeros=$(printf '%064d' 0)

# --- checks that need no boot -----------------------------------------------------------
unit=packaging/systemd/ec2-assume-role.service
# The heredoc between `cat > "$NAME.tmp" <<'EOF'` and EOF in cloud-init/user-data.sh.
heredoc() { awk -v start="cat > \"\$$1.tmp\" <<'EOF'" '$0 == start {on=1; next} on && /^EOF$/ {exit} on' cloud-init/user-data.sh; }
check "user-data.sh: shellcheck clean" shellcheck -S style cloud-init/user-data.sh
check "user-data.sh: its unit is $unit" diff <(heredoc UNIT) "$unit"

# A scratch copy for the offline checks: cloud-init and python3-yaml are in the rootfs, so
# the host needs neither (installing cloud-init would put its units into the host's /lib).
scratch=$work/scratch
cp -a "$base" "$scratch"
cp cloud-init/cloud-config.yaml "$scratch/tmp/cloud-config.yaml"
check "cloud-config.yaml: cloud-init schema valid" chroot "$scratch" cloud-init schema -c /tmp/cloud-config.yaml
written() {   # written PATH: write_files content for PATH in cloud-config.yaml
    chroot "$scratch" python3 -c 'import sys, yaml
for f in yaml.safe_load(open("/tmp/cloud-config.yaml"))["write_files"]:
    if f["path"] == sys.argv[1]: sys.stdout.write(f["content"])' "$1"
}
check "cloud-config.yaml: its unit is $unit" diff <(written /etc/systemd/system/ec2-assume-role.service) "$unit"
check "cloud-config.yaml: its config is user-data.sh's" diff <(written /etc/ec2-assume-role/config.toml) <(heredoc CONFIG)

# seed FILE [X86_64_URL X86_64_SHA256 AARCH64_URL AARCH64_SHA256]: FILE with each
# architecture's URL and SHA-256 set, by default to the served binaries'.
seed() {
    sed -E "s#^( *)URL_X86_64=\".*\"#\1URL_X86_64=\"${2:-$url}\"#; s#^( *)SHA256_X86_64=\".*\"#\1SHA256_X86_64=\"${3:-$sha}\"#
        s#^( *)URL_AARCH64=\".*\"#\1URL_AARCH64=\"${4:-$url_a64}\"#; s#^( *)SHA256_AARCH64=\".*\"#\1SHA256_AARCH64=\"${5:-$sha_a64}\"#" "$1"
}
# The install script of a user-data: user-data.sh itself, or the cloud-config's runcmd script.
install_script() {
    case $1 in
    bash) cat cloud-init/user-data.sh ;;
    cloud-config) chroot "$scratch" python3 -c 'import yaml
print(yaml.safe_load(open("/tmp/cloud-config.yaml"))["runcmd"][1][-1])' ;;
    esac
}
requests() { grep -c '"GET ' "$work/www.log" || true; }
# A wrong architecture, download or checksum must leave nothing installed: run the script in
# a chroot (it shares the host's loopback, so it reaches the HTTP server) whose stand-in
# `uname` (first on PATH) says MACHINE.
nothing_installed() {   # nothing_installed KIND MACHINE EXPECTED_MESSAGE [seed's URLs and SHA256s]
    local kind=$1 machine=$2 expected=$3
    shift 3
    rm -f "$scratch/usr/bin/ec2-assume-role" "$scratch/etc/systemd/system/ec2-assume-role.service"
    # shellcheck disable=SC2016  # the stand-in's own $1 and $@
    printf '#!/bin/sh\n[ "$1" = -m ] && { echo %s; exit 0; }\nexec /usr/bin/uname "$@"\n' "$machine" > "$scratch/usr/local/bin/uname"
    chmod 0755 "$scratch/usr/local/bin/uname"
    seed <(install_script "$kind") "$@" > "$scratch/tmp/user-data"
    if chroot "$scratch" /bin/bash -euo pipefail /tmp/user-data 2>"$work/ud.err"; then
        echo "the user-data succeeded"; return 1
    fi
    cat "$work/ud.err"
    grep -qF "$expected" "$work/ud.err" && grep -q 'nothing was installed' "$work/ud.err" || return 1
    local leftovers="" f
    for f in "$scratch"/usr/bin/{ec2-assume-role,.ec2-assume-role.*} "$scratch"/etc/ec2-assume-role \
        "$scratch"/etc/systemd/system/ec2-assume-role.service; do
        [ -e "$f" ] && leftovers+=" ${f#"$scratch"}"
    done
    [ -z "$leftovers" ] || { echo "left behind: $leftovers"; return 1; }
}
check "user-data.sh: a checksum mismatch installs nothing" \
    nothing_installed bash x86_64 "checksum mismatch for $url" "$url" "$zeros"
check "user-data.sh: a failed download installs nothing" \
    nothing_installed bash x86_64 "downloading $url.missing failed" "$url.missing"
# aarch64 (Graviton): the aarch64 URL, checked against the aarch64 SHA-256, which here is
# wrong, so that the message shows which file it fetched whether or not this machine could
# run it; the x86_64 URL is missing.
for kind in bash cloud-config; do
    check "$kind: on aarch64 it fetches the aarch64 binary and checks the aarch64 SHA-256" \
        nothing_installed "$kind" aarch64 "checksum mismatch for $url_a64: expected $zeros, got $sha_a64" \
        "$url.missing" "$sha" "$url_a64" "$zeros"
    before=$(requests)
    check "$kind: on riscv64 it stops with a clear message before anything is installed" \
        nothing_installed "$kind" riscv64 "no ec2-assume-role binary for this architecture (riscv64): there are x86_64 and aarch64 ones"
    check "$kind: on riscv64 it downloaded nothing" test "$(requests)" = "$before"
done
rm -f "$scratch/usr/local/bin/uname"

# --- the boots --------------------------------------------------------------------------
# Prepare ROOT for a boot: every endpoint the SDK could use points at a loopback fake, for
# every unit (the service, and cloud-final running the user-data); a verdict unit after
# cloud-final records the order and state, tries a reload, then ends the container.
prepare() {
    local root=$1
    mkdir -p "$root/etc/systemd/system.conf.d"
    cat > "$root/etc/systemd/system.conf.d/90-boot-test-endpoints.conf" <<EOF
[Manager]
DefaultEnvironment=AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds AWS_ENDPOINT_URL_STS=$STS_URL AWS_ENDPOINT_URL=$STS_URL
EOF
    cat > "$root/usr/local/sbin/boot-check" <<'EOF'
#!/bin/sh
out=/var/tmp/boot-test
mkdir -p "$out"
systemctl show -p ActiveState -p UnitFileState -p NRestarts -p ActiveEnterTimestampMonotonic ec2-assume-role.service > "$out/agent.show"
systemctl show -p InactiveExitTimestampMonotonic -p Result cloud-final.service > "$out/cloud-final.show"
systemctl reload ec2-assume-role.service && sleep 1
systemctl show -p ActiveState -p NRestarts ec2-assume-role.service > "$out/after-reload.show"
EOF
    chmod 0755 "$root/usr/local/sbin/boot-check"
    cat > "$root/etc/systemd/system/boot-check.service" <<'EOF'
[Unit]
Description=Boot test verdict
After=cloud-final.service ec2-assume-role.service
SuccessAction=exit
FailureAction=exit
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/boot-check
EOF
    # In cloud-init.target (enabled by cloud-init's generator), which may come after
    # cloud-final without a cycle; multi-user.target may not.
    mkdir -p "$root/etc/systemd/system/cloud-init.target.wants"
    ln -sf /etc/systemd/system/boot-check.service "$root/etc/systemd/system/cloud-init.target.wants/"
    mkdir -p "$root/var/lib/cloud/seed/nocloud"
    printf 'instance-id: iid-boot-test\nlocal-hostname: boot-test\n' > "$root/var/lib/cloud/seed/nocloud/meta-data"
}

boot() {   # boot NAME ROOT: boots it; the console goes to $work/NAME.console
    local name=$1 root=$2 start rc=0
    rm -rf "$root/var/tmp/boot-test"
    start=$(now_ms)
    timeout -k 10 180 unshare -m --propagation private "$repo/scripts/test-boot.sh" --in-namespace "$root" "$(readlink /proc/$$/ns/mnt)" \
        > "$work/$name.console" 2>&1 < /dev/null || rc=$?
    say "boot $name: $(elapsed "$start"), exit $rc"
    check "$name: the container booted and the verdict unit ended it (exit 0)" test "$rc" = 0
}

# The user-data's own commands after the agent: can they use the profiles already?
# shellcheck disable=SC2016  # expanded in the container, not here
USE_PROFILES='mkdir -p /var/tmp/boot-test; rc=0; ec2-assume-role status --json > /var/tmp/boot-test/status.json || rc=$?; echo "$rc" > /var/tmp/boot-test/status.rc'

journal() { journalctl -D "$1/var/log/journal" --no-pager "${@:2}"; }
profiles_logged() {   # every profile has a ROLE_ASSUMED entry from the unit
    local root=$1 got
    got=$(journal "$root" -u ec2-assume-role.service -o json "MESSAGE_ID=$ROLE_ASSUMED" \
        | python3 -c 'import json, sys; print(" ".join(sorted({json.loads(l).get("PROFILE", "") for l in sys.stdin})))')
    echo "profiles written by the unit: $got"
    [ "$got" = "${PROFILES[*]}" ]
}
credentials_hold_both() {
    local f=$1/home/ec2-user/.aws/credentials p uid
    for p in "${PROFILES[@]}"; do grep -qx "\[$p\]" "$f" || { echo "no [$p] in $f"; return 1; }; done
    # The container's ec2-user, by uid: the host's names differ.
    uid=$(awk -F: '$1 == "ec2-user" {print $3}' "$1/etc/passwd")
    [ "$(stat -c '%a %u' "$f" "$(dirname "$f")" | tr '\n' ' ')" = "600 $uid 700 $uid " ] \
        || { stat -c '%n %a %u' "$f" "$(dirname "$f")"; echo "ec2-user is uid $uid"; return 1; }
    for p in "${PROFILES[@]}"; do grep -qx "\[profile $p\]" "$1/home/ec2-user/.aws/config" || return 1; done
}
userdata_used_profiles() {
    local d=$1/var/tmp/boot-test
    cat "$d/status.rc" 2>/dev/null || { echo "the user-data command did not run"; return 1; }
    [ "$(cat "$d/status.rc")" = 0 ] || return 1
    python3 - "$d/status.json" "${PROFILES[@]}" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
ok = {p["profile"] for p in s["profiles"] if p["present"] and not p["expired"]}
print("status --json in the user-data: ok =", s["ok"], "fresh:", sorted(ok))
sys.exit(0 if s["ok"] and ok == set(sys.argv[2:]) else 1)
EOF
}
prop() { sed -n "s/^$2=//p" "$1"; }
agent_before_cloud_final() {
    local d=$1/var/tmp/boot-test ready start
    ready=$(prop "$d/agent.show" ActiveEnterTimestampMonotonic)
    start=$(prop "$d/cloud-final.show" InactiveExitTimestampMonotonic)
    echo "agent ready at ${ready}us, cloud-final started at ${start}us (monotonic)"
    [ "${ready:-0}" -gt 0 ] && [ "${start:-0}" -gt 0 ] && [ "$ready" -le "$start" ]
}
agent_running() {
    local d=$1/var/tmp/boot-test
    cat "$d/agent.show" "$d/after-reload.show"
    [ "$(prop "$d/agent.show" UnitFileState)" = enabled ] &&
        [ "$(prop "$d/after-reload.show" ActiveState)" = active ] &&
        [ "$(prop "$d/after-reload.show" NRestarts)" = 0 ] &&
        journal "$1" -u ec2-assume-role.service -o cat | grep -q '^Reloaded '
}
no_cycle() {   # neither the console (which did show the unit) nor the journal reports a cycle
    grep -q 'ec2-assume-role' "$work/$2.console" || { echo "the console shows nothing of the unit"; return 1; }
    ! grep -i 'ordering cycle' "$work/$2.console" && ! journal "$1" -o cat | grep -i 'ordering cycle'
}
# Offline: with cloud-init.target enabled as its generator does at boot, default.target's
# transaction has no cycle and the installed unit verifies without a word.
offline_verify() {
    local root=$1 out
    out=$(systemd-analyze verify --man=no --root="$root" ec2-assume-role.service 2>&1) || { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
    ln -sf /lib/systemd/system/cloud-init.target "$root/etc/systemd/system/multi-user.target.wants/"
    out=$(systemd-analyze verify --man=no --root="$root" default.target 2>&1 || true)
    rm -f "$root/etc/systemd/system/multi-user.target.wants/cloud-init.target"
    ! grep -i 'ordering cycle' <<<"$out"
}
common_checks() {   # common_checks NAME ROOT
    check "$1: journalctl -u ec2-assume-role shows both profiles written" profiles_logged "$2"
    check "$1: the credentials file holds both profiles (0600, ec2-user)" credentials_hold_both "$2"
    check "$1: a user-data command after the agent used the profiles" userdata_used_profiles "$2"
    check "$1: the service is enabled, survives a reload, never restarted" agent_running "$2"
    check "$1: no ordering cycle (console and journal)" no_cycle "$2" "$1"
}

# 1. bash user-data; then a second boot, where the enabled unit must come before cloud-final.
root=$work/bash
cp -a "$base" "$root"
prepare "$root"
{ seed cloud-init/user-data.sh; echo "$USE_PROFILES"; } > "$root/var/lib/cloud/seed/nocloud/user-data"
boot bash "$root"
common_checks bash "$root"
check "bash: the setup logged its success to the journal" \
    sh -c "journalctl -D '$root/var/log/journal' --no-pager -o cat -t ec2-assume-role-setup | grep 'installed ec2-assume-role'"
check "bash: the installed unit verifies offline; no ordering cycle" offline_verify "$root"
boot bash-reboot "$root"
check "bash-reboot: the unit was ready before cloud-final started" agent_before_cloud_final "$root"
check "bash-reboot: no ordering cycle (console and journal)" no_cycle "$root" bash-reboot

# 1b. bash user-data with a wrong SHA256: the boot goes on, the reason is in the journal,
# and nothing is installed.
root=$work/bad-checksum
cp -a "$base" "$root"
prepare "$root"
{ seed cloud-init/user-data.sh "$url" "$zeros"; echo "$USE_PROFILES"; } > "$root/var/lib/cloud/seed/nocloud/user-data"
boot bad-checksum "$root"
check "bad-checksum: the journal says why and that nothing was installed" \
    sh -c "journalctl -D '$root/var/log/journal' --no-pager -o cat -t ec2-assume-role-setup | grep 'checksum mismatch.*nothing was installed'"
check "bad-checksum: no binary, no unit, no config; later user-data lines did not run" \
    sh -c "! ls -d '$root'/usr/bin/*ec2-assume-role* '$root'/etc/ec2-assume-role '$root'/etc/systemd/system/ec2-assume-role.service '$root'/var/tmp/boot-test/status.rc 2>/dev/null"

# 2. #cloud-config
root=$work/cloud-config
cp -a "$base" "$root"
prepare "$root"
{ seed cloud-init/cloud-config.yaml; printf '  - %s\n' "$USE_PROFILES"; } > "$root/var/lib/cloud/seed/nocloud/user-data"
boot cloud-config "$root"
common_checks cloud-config "$root"
boot cloud-config-reboot "$root"
check "cloud-config-reboot: the unit was ready before cloud-final started" agent_before_cloud_final "$root"

# 3. The RPM, installed into the root before the first boot (an AMI bake); its preset and
# scriptlets must leave the service enabled. The admin's config is the reference story's.
# Built here from the served binary, as packaging/rpm/ec2-assume-role.spec says
# (scripts/test-packaging.sh builds and checks its own, in a directory of its own).
build_rpm() {
    local src=$work/rpmsrc
    mkdir -p "$src"
    cp "$bin" "$src/ec2-assume-role-$version-x86_64"
    cp packaging/config.toml README.md "$unit" "dist/ec2-assume-role-$version-docs.tar.gz" "$src/"
    rpmbuild -bb --quiet --define "_sourcedir $src" --define "_topdir $work/rpmbuild" \
        --define "ver $version" --target x86_64 packaging/rpm/ec2-assume-role.spec
}
check "rpm: rpmbuild packaging/rpm/ec2-assume-role.spec" build_rpm
rpm_file=$(find "$work/rpmbuild/RPMS" -name 'ec2-assume-role-*.x86_64.rpm' 2>/dev/null | head -1 || true)
if [ -n "$rpm_file" ]; then
    say "installing $rpm_file"
    root=$work/rpm
    cp -a "$base" "$root"
    prepare "$root"
    check "rpm: rpm --root -ivh installs it" \
        rpm --force-debian --root "$root" --dbpath /var/lib/rpm -ivh --nodeps "$rpm_file"
    heredoc CONFIG > "$root/etc/ec2-assume-role/config.toml"
    { echo '#!/bin/bash'; echo "$USE_PROFILES"; } > "$root/var/lib/cloud/seed/nocloud/user-data"
    check "rpm: the preset left the service enabled" \
        test -L "$root/etc/systemd/system/multi-user.target.wants/ec2-assume-role.service"
    boot rpm "$root"
    common_checks rpm "$root"
    check "rpm: the unit was ready before cloud-final started" agent_before_cloud_final "$root"
fi

# 4. The .deb, downloaded and installed by a bash user-data as a Debian or Ubuntu fleet would:
# the admin's config first, so dpkg (told to keep it) starts the service with it; the
# postinst starts it, and the user-data's next commands find the profiles.
# This boot's config also turns the credential endpoint on (on the loopback the container shares
# with the host), and the user-data asks it for a profile with ec2-user's token, so that the
# README's `journalctl -u ec2-assume-role PROFILE=... STATUS=200` finds that answer.
root=$work/deb
cp -a "$base" "$root"
prepare "$root"
endpoint_port=$(free_port)
deb_config() { heredoc CONFIG; printf '\n[endpoint]\nlisten = ["127.0.0.1:%s"]\n' "$endpoint_port"; }
{
    echo '#!/bin/bash'
    echo 'set -euo pipefail'
    echo "curl --fail --silent --show-error --output /tmp/ec2-assume-role.deb '$deb_url'"
    echo "echo '$deb_sha  /tmp/ec2-assume-role.deb' | sha256sum --check --quiet"
    echo 'mkdir -p /etc/ec2-assume-role'
    echo "cat > /etc/ec2-assume-role/config.toml <<'EOF'"
    deb_config
    echo 'EOF'
    echo 'DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold -i /tmp/ec2-assume-role.deb'
    echo "$USE_PROFILES"
    echo 'man ec2-assume-role > /var/tmp/boot-test/man.txt 2>&1'
    echo "rc=0; curl --fail --silent --show-error -H \"Authorization: \$(cat /run/ec2-assume-role/tokens/ec2-user.token)\" http://127.0.0.1:$endpoint_port/v1/credentials/${PROFILES[0]} > /var/tmp/boot-test/endpoint.json || rc=\$?; echo \"\$rc\" > /var/tmp/boot-test/endpoint.rc"
} > "$root/var/lib/cloud/seed/nocloud/user-data"
boot deb "$root"
common_checks deb "$root"
check "deb: dpkg says install ok installed $version-1" test \
    "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status} ${Version}' ec2-assume-role 2>&1)" = "install ok installed $version-1"
check "deb: the admin's config was kept (the example is beside it as .dpkg-dist)" \
    sh -c "cmp '$root/etc/ec2-assume-role/config.toml' - && cmp '$root/etc/ec2-assume-role/config.toml.dpkg-dist' packaging/config.toml" < <(deb_config)
# endpoint_audited ROOT: the user-data got the profile from the endpoint, and the README's
# journalctl line (on this container's journal) shows that answer with its owner and peer.
endpoint_audited() {
    local d=$1/var/tmp/boot-test got
    [ "$(cat "$d/endpoint.rc" 2>/dev/null)" = 0 ] || { echo "curl of the endpoint: exit $(cat "$d/endpoint.rc" 2>/dev/null)"; return 1; }
    grep -q '"AccessKeyId"' "$d/endpoint.json" || { echo "the endpoint's answer has no AccessKeyId"; return 1; }
    got=$(journal "$1" -u ec2-assume-role "PROFILE=${PROFILES[0]}" STATUS=200 --since today -o json |
        python3 -c 'import json, sys; print(" ".join(sorted({(lambda e: e.get("OWNER", "") + "@" + e.get("PEER", ""))(json.loads(l)) for l in sys.stdin})))')
    echo "journalctl -u ec2-assume-role PROFILE=${PROFILES[0]} STATUS=200 --since today: $got"
    # The same query without the unit match must find nothing more (-u narrows, it does not widen).
    [ "$(journal "$1" "PROFILE=${PROFILES[0]}" STATUS=200 --since today -o cat | wc -l)" = \
        "$(journal "$1" -u ec2-assume-role "PROFILE=${PROFILES[0]}" STATUS=200 --since today -o cat | wc -l)" ] &&
        [ "$(journal "$1" -u ec2-assume-role "PROFILE=${PROFILES[0]}" STATUS=403 -o cat | wc -l)" = 0 ] &&
        [[ $got == ec2-user@127.0.0.1* ]]
}
check "deb: the README's journalctl line shows who got ${PROFILES[0]} from the endpoint" endpoint_audited "$root"
man_shows_exit_codes() {
    local f=$1/var/tmp/boot-test/man.txt code
    [ -s "$f" ] || { echo "no output from man ec2-assume-role"; cat "$f" 2>/dev/null; return 1; }
    sed -n '/^EXIT STATUS/,/^SEE ALSO/p' "$f"
    grep -q '^EXIT STATUS' "$f" || return 1
    for code in 0 1 2 3 4 5 6 7 8; do grep -Eq "^ +$code +[a-zA-Z]" "$f" || { echo "no exit code $code"; return 1; }; done
    # man justifies its lines, so words may be apart by more than one space.
    grep -Eq 'the +config +file +is +invalid' "$f"
}
check "deb: man ec2-assume-role in the container shows the exit codes" man_shows_exit_codes "$root"

score=$(systemd-analyze security --offline=true --root="$work/bash" ec2-assume-role.service 2>/dev/null \
    | sed -n 's/.*Overall exposure level for ec2-assume-role.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure: ${score:-unknown}"
check "systemd-analyze security exposure is at most 3.0" python3 -c "import sys; sys.exit(not float('${score:-99}') <= 3.0)"

finish
