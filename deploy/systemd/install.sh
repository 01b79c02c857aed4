#!/usr/bin/env bash
# Installs gno-server.service on this host (as root). Safe to run again: it replaces the unit and
# the sysusers entry, and never touches a node's options, join codes or secret once they exist.
# The programs come first, from a release build:
#   cmake --preset release && cmake --build --preset release && cmake --install build/release
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }
[[ -x /usr/local/bin/gno-server ]] ||
    echo "install.sh: /usr/local/bin/gno-server is missing; install the release build" >&2
[[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]] ||
    echo "install.sh: the default soundfont is missing; apt-get install fluid-soundfont-gm" >&2

install -D -m 0644 "$here/gno.conf" /etc/sysusers.d/gno.conf
systemd-sysusers /etc/sysusers.d/gno.conf

install -d -m 0755 /etc/gno
[[ -e /etc/gno/gno-server.env ]] || install -m 0644 "$here/gno-server.env" /etc/gno/gno-server.env

# 32 random bytes as 64 hex digits, the form --udp-secret-file reads. Only root reads the file;
# systemd hands the node its own copy (LoadCredential=).
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
if [[ ! -e /etc/gno/udp-secret ]]; then
    (umask 077 && random_hex 32 >/etc/gno/udp-secret)
fi
# One code per role, kept across restarts (without the file the node makes new ones each start).
# Read by systemd as root, so only root may read it.
if [[ ! -e /etc/gno/join-codes.env ]]; then
    (
        umask 077
        cat >/etc/gno/join-codes.env <<EOF
# Join codes of this node: --join-code ROLE:CODE[:PROGRAM[:MAX]], repeat for more (e.g. one
# performer code per section, each with its GM program). Restart the node after editing.
GNO_JOIN_ARGS="--join-code conductor:$(random_hex 6) --join-code performer:$(random_hex 6) --join-code ops:$(random_hex 6) --join-code listener:$(random_hex 6)"
EOF
    )
    echo "install.sh: join codes written to /etc/gno/join-codes.env"
fi

install -D -m 0644 "$here/gno-server.service" /etc/systemd/system/gno-server.service
systemctl daemon-reload
echo "install.sh: installed; start with: systemctl enable --now gno-server"
