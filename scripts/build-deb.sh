#!/bin/sh
# Builds the Debian package from this tree: a release build with
# prefix /usr installed into a staging directory, the packaged default
# config as a conffile (/etc/outpost/outpost.conf), and the maintainer
# scripts of dist/debian (postinst creates the outpost user, the spool
# and maildrop with their owners and modes, and makes outpost-postdrop
# setgid outpost).  Prints the path of the .deb.
#     scripts/build-deb.sh [OUTDIR]        (default: the checkout)
set -eu
cd "$(dirname "$0")/.."
top=$PWD
out=${1:-$top}
B=build-deb
[ -f $B/build.ninja ] || meson setup $B --buildtype=release --prefix=/usr --sysconfdir=/etc \
	--libexecdir=libexec >/dev/null
# only what is installed (the tests are built and run by scripts/test.sh)
if ! ninja -C $B outpostd outpost outpost-postdrop > $B/build-deb.log 2>&1; then
	cat $B/build-deb.log >&2
	exit 1
fi
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" meson install -C $B --no-rebuild --quiet
install -d -m 0755 "$stage/etc/outpost" "$stage/DEBIAN"
install -m 0644 dist/outpost.conf "$stage/etc/outpost/outpost.conf"
install -m 0755 dist/debian/postinst dist/debian/prerm dist/debian/postrm "$stage/DEBIAN/"
echo /etc/outpost/outpost.conf > "$stage/DEBIAN/conffiles"
gzip -9n "$stage"/usr/share/man/man*/*.[0-9]

# Depends: the packages of the shared libraries the programs load
deps=$(for f in "$stage/usr/sbin/outpostd" "$stage/usr/bin/outpost"; do ldd "$f"; done |
	awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
		real=$(readlink -f "$lib")
		dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true
	done | cut -d: -f1 | sort -u | while read -r p; do
		printf '%s (>= %s), ' "$p" "$(dpkg-query -W -f='${Version}' "$p")"
	done)
version=$(meson introspect $B --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: outpost
Version: $version
Architecture: $arch
Maintainer: outpost developers <outpost@localhost>
Installed-Size: $(du -sk "$stage" | cut -f1)
Depends: ${deps}adduser, passwd
Provides: mail-transport-agent
Conflicts: mail-transport-agent
Replaces: mail-transport-agent
Section: mail
Priority: optional
Description: outbound mail relay with a durable SQLite queue
 outpost queues mail from local programs (SMTP, submission, sendmail)
 durably, signs it with DKIM and delivers it straight to the recipients'
 MX hosts or through relay providers, with per-receiver limits, retries,
 route failover and bounces.
CONTROL
deb="$out/outpost_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
