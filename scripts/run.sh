#!/bin/sh
# The run command: installs what it needs, builds outpost, and runs outpostd
# in the foreground on the embedded default (examples/local.conf): SMTP on
# 127.0.0.1:2525 for loopback clients only, the SQLite spool in ./spool,
# delivery straight to each recipient's MX hosts.
#
# On first run it makes a DKIM key for your domain in ./spool/dkim (the
# domain: $OUTPOST_DOMAIN, else the domain of `hostname -f`) and prints the
# DNS record to publish; the config it runs (./spool/run.conf) is
# examples/local.conf plus that key.  Then check the domain with
# `outpost doctor` (the command is printed).
#
# OUTPOST_BIN_DIR=DIR runs the programs already built there (no apt, no build).
set -eu
cd "$(dirname "$0")/.."
top=$PWD
if [ -n "${OUTPOST_BIN_DIR:-}" ]; then
	bin=$OUTPOST_BIN_DIR
else
	scripts/deps.sh
	[ -f build/build.ninja ] || meson setup build --buildtype=release
	ninja -C build outpostd outpost outpost-postdrop
	bin=build
fi
state=$top/spool
mkdir -p "$state/dkim"
chmod 700 "$state"

domain=${OUTPOST_DOMAIN:-}
if [ -z "$domain" ]; then
	fqdn=$(hostname -f 2>/dev/null || hostname)
	case $fqdn in *.*) domain=${fqdn#*.} ;; esac
fi
selector=outpost
conf=$state/run.conf
{
	echo "# Written by scripts/run.sh: examples/local.conf plus the DKIM key it made."
	echo "# Paths in local.conf resolve against this file's directory (spool/),"
	echo "# which, like examples/, is one level below the checkout."
	echo "@include \"$top/examples/local.conf\""
	[ -z "$domain" ] || echo "dkim = ( { domain = \"$domain\"; selector = \"$selector\"; key = \"dkim/$selector.pem\"; } );"
} > "$conf"

if [ -z "$domain" ]; then
	echo "run.sh: no domain for DKIM (hostname -f has none): set OUTPOST_DOMAIN=example.com to sign mail"
elif [ ! -f "$state/dkim/$selector.pem" ]; then
	echo "run.sh: first run: a DKIM key for $domain; publish this TXT record so receivers can verify:"
	"$bin/outpost" dkim keygen --domain "$domain" --selector "$selector" --out "$state/dkim/$selector.pem" |
		sed -n 's/^publish: /    /p'
else
	echo "run.sh: signing mail from $domain with $state/dkim/$selector.pem (outpost -c $conf dkim show: is it published?)"
fi
echo "run.sh: what receivers will think of your mail: $bin/outpost -c $conf doctor ${domain:-YOUR-DOMAIN}"
echo "run.sh: SMTP on 127.0.0.1:2525 (loopback only); delivering straight to MX hosts"
exec "$bin/outpostd" -f -c "$conf" "$@"
