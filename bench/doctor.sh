#!/usr/bin/env bash
# outpost doctor: the time of one full run (no Postfix counterpart).
#
#     bench/doctor.sh [--runs N] [--bin DIR]
#
# The DNS world is the integration test's (bench/doctor_world.py): a dnslib
# server on loopback that answers every lookup at once, and an aiosmtpd MX
# with STARTTLS.  The config has one mx route with 3 source addresses and a
# DKIM key; the doctor checks good.example.org against them: SPF for each
# address plus the whole-record probe, DKIM, DMARC, PTR and its forward
# lookup per address, 8 IP blocklists + DNSWL per address, 2 domain
# blocklists, MX + SMTP probe with EHLO, MTA-STS and TLS-RPT (about 50
# lookups).  The doctor is run N times (default 5); the first run is cold
# (libunbound starts empty, the server's Python code is cold), the others
# warm.  Prints each run's wall-clock time and the median of the warm runs.
# --bin: a build directory with `outpost` (default: a release build made in
# a temporary directory from the working tree).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=5
BIN=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--bin) BIN=$(cd "$2" && pwd); shift 2 ;;
	*) echo "usage: $ME [--runs N] [--bin DIR]" >&2; exit 2 ;;
	esac
done
[ "$RUNS" -ge 2 ] || { echo "$ME: --runs wants 2 or more" >&2; exit 2; }

TMP=$(mktemp -d /tmp/outpost-doctor.XXXXXX)
WORLD_PID=""
cleanup() {
	[ -n "$WORLD_PID" ] && kill "$WORLD_PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "$BIN" ]; then
	say "release build in $TMP/build"
	meson setup "$TMP/build" --buildtype=release >/dev/null
	ninja -C "$TMP/build" outpost >/dev/null
	BIN=$TMP/build
fi

mkfifo "$TMP/hold"
mkdir "$TMP/world"
/usr/bin/python3 bench/doctor_world.py "$TMP/world" <"$TMP/hold" >"$TMP/world.out" 2>"$TMP/world.log" &
WORLD_PID=$!
exec 3>"$TMP/hold"                      # the world runs until this closes
for _ in $(seq 100); do
	[ -s "$TMP/world.out" ] && break
	sleep 0.1
done
CONF=$(head -1 "$TMP/world.out")
[ -n "$CONF" ] || { echo "$ME: the DNS world did not start:" >&2; cat "$TMP/world.log" >&2; exit 1; }

times=()
for i in $(seq "$RUNS"); do
	t0=$(now)
	"$BIN/outpost" -c "$CONF" doctor good.example.org --json >"$TMP/report.json" \
		|| [ $? -le 2 ]       # 1 and 2 are reports (warnings, failures) too
	t1=$(now)
	times+=("$(calc "a[1] - a[0]" "$t0" "$t1")")
	printf 'run %d: %.3f s (%s findings)\n' "$i" "${times[-1]}" \
		"$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$TMP/report.json")"
done
printf 'warm median of %d runs: %.3f s (target < 2 s)\n' "$((RUNS - 1))" \
	"$(calc "sorted(a)[len(a) // 2]" "${times[@]:1}")"
exec 3>&-
wait "$WORLD_PID" || true
WORLD_PID=""
