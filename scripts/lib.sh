# Shared by the scripts beside it: sourced (`. scripts/lib.sh` from the repository root),
# never run. It only defines functions.
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
