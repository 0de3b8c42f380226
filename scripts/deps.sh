#!/bin/sh
# Installs every Debian package outpost needs to build, run and test.
# Used by both set-up commands in the README (run, test).
set -eu
PKGS="
  build-essential meson ninja-build pkg-config
  libevent-dev libssl-dev libunbound-dev libsqlite3-dev libconfig-dev
  libopendkim-dev libjansson-dev libpsl-dev libxml2-dev zlib1g-dev libzip-dev publicsuffix libcmocka-dev libcrypt-dev
  clang libclang-rt-14-dev
  openssl sqlite3 whois swaks iproute2 prometheus chromium rspamd libcurl4-openssl-dev
  mandoc man-db systemd adduser dovecot-imapd
  python3 python3-pytest python3-aiosmtpd python3-dnslib python3-yaml
  python3-dkim python3-nacl libmail-dkim-perl libnet-dns-perl libcryptx-perl
"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends $missing
