#!/bin/bash
# EC2 launch user-data that installs ec2-assume-role: it picks the static binary for the
# instance's architecture (`uname -m`: x86_64, or aarch64 on Graviton), so one user-data serves
# a mixed fleet, downloads it from that URL, verifies it against that SHA-256, installs it to
# /usr/bin, writes /etc/ec2-assume-role/config.toml
# (the README's reference story: edit it), writes the profiles once, then installs and starts
# the systemd service that keeps them fresh. Your own commands go at the end: they run only
# once the profiles are written, so they can use them (`aws --profile audit-111111111111 ...`).
# It must never leave a half-set-up machine: an architecture it has no binary for, a failed
# download or checksum stops it before anything is installed, with the reason on stderr (/var/log/cloud-init-output.log) and in
# the journal (`journalctl -t ec2-assume-role-setup`).
set -euo pipefail

# The release binary of each architecture, and its SHA-256 (from SHA256SUMS).
URL_X86_64="https://example.com/ec2-assume-role/releases/0.1.0/ec2-assume-role-0.1.0-x86_64"
SHA256_X86_64="0000000000000000000000000000000000000000000000000000000000000000"
URL_AARCH64="https://example.com/ec2-assume-role/releases/0.1.0/ec2-assume-role-0.1.0-aarch64"
SHA256_AARCH64="0000000000000000000000000000000000000000000000000000000000000000"

BIN=/usr/bin/ec2-assume-role
CONFIG=/etc/ec2-assume-role/config.toml
UNIT=/etc/systemd/system/ec2-assume-role.service

say() {
    local priority=$1
    shift
    echo "ec2-assume-role setup: $*" >&2
    # The journal is best effort: the message is on stderr either way.
    echo "$*" | systemd-cat -t ec2-assume-role-setup -p "$priority" 2>/dev/null || true
}
fail() {
    say err "$*; nothing was installed"
    exit 1
}

arch=$(uname -m)
case $arch in
    x86_64) URL=$URL_X86_64 SHA256=$SHA256_X86_64 ;;
    aarch64) URL=$URL_AARCH64 SHA256=$SHA256_AARCH64 ;;
    *) fail "no ec2-assume-role binary for this architecture ($arch): there are x86_64 and aarch64 ones" ;;
esac
[[ $SHA256 =~ ^[0-9a-f]{64}$ ]] || fail "SHA256 must be 64 lowercase hex digits, not '$SHA256'"

# Download beside the target so that the final mv is an atomic rename on one file system.
tmp=$(mktemp "$(dirname "$BIN")/.ec2-assume-role.XXXXXX")
trap 'rm -f "$tmp"' EXIT
curl --fail --silent --show-error --location --proto '=https,http' \
    --retry 5 --retry-connrefused --connect-timeout 10 --max-time 300 \
    --output "$tmp" "$URL" || fail "downloading $URL failed"
actual=$(sha256sum "$tmp" | cut -d' ' -f1)
[ "$actual" = "$SHA256" ] || fail "checksum mismatch for $URL: expected $SHA256, got $actual"
chmod 0755 "$tmp"
"$tmp" --version >/dev/null || fail "$URL does not run on this machine ($(uname -m))"

# Verified: from here on, install.
install -d -m 0755 "$(dirname "$CONFIG")"
cat > "$CONFIG.tmp" <<'EOF'
# ec2-assume-role: the roles to assume and where their profiles go (see the README).
[instance]
role_name = "EC2_PerformSecurityAudit"   # refuse to run under any other instance role
account_id = "000000000000"

[credentials]
credentials_file = "/home/ec2-user/.aws/credentials"
owner = "ec2-user"

[defaults]
duration_seconds = 3600
role_session_name = "{instance_id}"
region = "us-east-1"

[[role]]
profile = "audit-111111111111"
role_arn = "arn:aws:iam::111111111111:role/PerformSecurityAudit"

[[role]]
profile = "audit-222222222222"
role_arn = "arn:aws:iam::222222222222:role/PerformSecurityAudit"
EOF
chmod 0644 "$CONFIG.tmp"
mv -f "$CONFIG.tmp" "$CONFIG"
mv -f "$tmp" "$BIN"

# A copy of packaging/systemd/ec2-assume-role.service (scripts/test-boot.sh checks it is
# identical).
cat > "$UNIT.tmp" <<'EOF'
# ec2-assume-role.service: keeps the profiles of /etc/ec2-assume-role/config.toml fresh.
# This unit owns when the daemon starts (after the network and clock, before the user-data
# scripts) and what it may touch (users' ~/.aws and its state dir); it must never be
# ordered After=cloud-final.service (multi-user.target -> it -> cloud-final -> multi-user
# is a cycle, and systemd silently drops the job) nor be given more than it needs.
# A credentials file outside /home and /root needs a drop-in: ReadWritePaths=/that/dir
[Unit]
Description=Assume IAM roles and keep their AWS profiles fresh
Documentation=man:ec2-assume-role(1)
Wants=network-online.target
# STS rejects a request signed more than 5 minutes off: wait for the clock where a
# service (chrony, systemd-time-wait-sync) pulls time-sync.target in.
After=network-online.target time-sync.target
# Type=notify: cloud-final (which runs the user-data scripts) waits for READY=1, i.e. for
# the first complete write, so those scripts already find the profiles.
Before=cloud-final.service
# Never give up: a long STS or IMDS outage must not leave the profiles to expire for good.
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/ec2-assume-role daemon
ExecReload=/bin/kill -HUP $MAINPID
# The first write can take the IMDS wait (120 s, then exit 6), [sts] boot_jitter_seconds
# (at most 300 s) and STS retries (60 s); a start that fails lets cloud-final go on,
# and Restart= tries again later. Reading a config from SSM without a kept copy
# (--start-spread, then up to 10 minutes of retries) extends it: EXTEND_TIMEOUT_USEC.
TimeoutStartSec=540
# Pinged at half this period; longer than the slowest single step (a reload's IMDS wait).
WatchdogSec=10min
Restart=on-failure
RestartSec=30
# 4: the config is invalid; 5: this is not the instance role the config names.
# Restarting fixes neither; `systemctl restart` after the fix will.
RestartPreventExitStatus=4 5
# 0755: every user must reach its token file in tokens/ ([endpoint]); the files in it are
# 0600 (the state file root's, each token its owner's).
RuntimeDirectory=ec2-assume-role
RuntimeDirectoryMode=0755
# The discovery cache ([discovery] cache_file, accounts found in AWS Organizations) outlives a
# reboot, so a boot while Organizations is down still writes every profile.
StateDirectory=ec2-assume-role
StateDirectoryMode=0700
UMask=0077

# Hardening. It runs as root because it writes into (and chowns files in) users' homes. Each
# capability is needed (boot test, ~ec2-user 0700): without DAC_OVERRIDE creating ~/.aws
# fails (DAC_READ_SEARCH is not enough), without CHOWN giving it to the owner, without FOWNER
# setting its mode.
CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=no
ReadWritePaths=/home /root
# [daemon] metrics_file in node_exporter's textfile directory (Debian's, Ubuntu's); `-`:
# it may not exist.
ReadWritePaths=-/var/lib/prometheus/node-exporter
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
DevicePolicy=closed
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$UNIT.tmp"
mv -f "$UNIT.tmp" "$UNIT"
systemctl daemon-reload

# Write the profiles now, for the commands below; the service keeps them fresh afterwards.
# The service is started even when this fails: it retries on its own.
status=0
"$BIN" run || status=$?
systemctl enable --now ec2-assume-role.service || status=$?
if [ "$status" -ne 0 ]; then
    say err "ec2-assume-role could not write every profile (exit $status); see journalctl -u ec2-assume-role"
    exit "$status"
fi
say info "installed $("$BIN" --version) from $URL; profiles written; service started"

# Your commands from here on, e.g.:
# aws --profile audit-111111111111 sts get-caller-identity
