#!/usr/bin/env bash
# A/B: two builds of outpost under the same injection load, interleaved.
#
#     sudo bench/ab.sh [-r ROUNDS] [-m MESSAGES] [-s SESSIONS] [-l LENGTH]
#                      [--lat] [--conf LINE] [--keep] [--wait-idle S] REV_A REV_B
#
# On this kind of machine (a 2-CPU VM) the injection rate of one build
# moves by +-7 % from one run to the next, so two builds measured minutes
# apart say little.  This runs them in turns: round 1 A then B, round 2 B
# then A, and so on (ROUNDS, default 3), each run on a fresh empty spool
# with the dead relay of bench/inject.sh (mail is deferred after the 250),
# and prints every run (msg/s, the share of the CPUs left idle, and with
# --lat the acceptance latency), then the median of each build and B's
# change against A.  No Postfix: it compares outpost with itself.
#
# REV_A, REV_B: commits (each a `git archive` export built in the work
# area, release); "." is the working tree's build/ instead.  The load is
# smtp-source -s 20 -m 20000 -l 4096 (one message per connection), or with
# --lat bench/smtp_lat (persistent sessions; latency from "." to 250).
# --conf LINE adds a line to both configs (e.g. 'inbound = { threads = 1; };').
# The exit status says only whether every run ran.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=3
MESSAGES=20000
SESSIONS=20
LENGTH=4096
LAT=0
KEEP=0
WAIT_IDLE=0
CONF_LINE=""
FROM=from@example.com
TO=to@example.net

usage() {
	sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	-r) ROUNDS="${2:?}"; shift ;;
	-m) MESSAGES="${2:?}"; shift ;;
	-s) SESSIONS="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	--lat) LAT=1 ;;
	--conf) CONF_LINE="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	-h|--help) usage ;;
	-*) echo "ab.sh: unknown argument: $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 2 ] || usage
if [ "$(id -u)" -ne 0 ]; then
	echo "ab.sh: outpostd binds as root and drops to its user: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
bench_packages "(for smtp-source)" /usr/sbin/smtp-source cc python3
work_area ab
cc -O2 -Wall -Wextra -std=c11 -pthread -o "$WORK/smtp_lat" "$REPO/bench/smtp_lat.c"

declare -A BINDIR NAME
build_rev() {   # label rev
	if [ "$2" = . ]; then
		REF="" build_outpost
		NAME[$1]="$VERSION (build/)"
	else
		local rev
		rev=$(git -C "$REPO" rev-parse --short "$2^{commit}")
		say "building $rev (git archive) for $1"
		mkdir "$WORK/src-$1"
		git -C "$REPO" archive --format=tar "$rev" | tar -x -C "$WORK/src-$1"
		meson setup "$WORK/build-$1" "$WORK/src-$1" --buildtype=release -Dwerror=false >&2
		ninja -C "$WORK/build-$1" outpostd >&2
		BIN="$WORK/build-$1"
		NAME[$1]="$rev"
	fi
	BINDIR[$1]=$BIN
}
build_rev A "$1"
build_rev B "$2"

PORT=$(free_port)
DEAD_PORT=$(free_port)

one_run() {   # label -> "rate idle% [latency fields]"
	local dir="$WORK/run" c0 c1 t0 t1 out=""
	rm -rf "$dir"
	mkdir -p "$dir"
	chmod 755 "$dir"
	dead_relay_conf "$dir/outpost.conf" "$dir/spool" "$PORT" "$DEAD_PORT" 1 "$CONF_LINE"
	"${BINDIR[$1]}/outpostd" -f -c "$dir/outpost.conf" 2>>"$WORK/outpostd.$1.log" &
	OUTPOSTD_PID=$!
	wait_port "$PORT" outpostd
	sync
	c0=$(cpu_ticks)
	t0=$(now)
	if [ "$LAT" = 1 ]; then
		out=$("$WORK/smtp_lat" -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
			-o "$WORK/latency.txt" "127.0.0.1:$PORT")
	else
		/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
			"127.0.0.1:$PORT"
	fi
	t1=$(now)
	c1=$(cpu_ticks)
	outpost_stop
	python3 -c 'import sys, re
n, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
b0, i0 = map(int, sys.argv[4].split()); b1, i1 = map(int, sys.argv[5].split())
lat = dict(re.findall(r"(\w+)=([\d.]+)", sys.argv[6]))
print("%.0f %.0f%%" % (n / (t1 - t0), 100 * (i1 - i0) / max(1, (b1 - b0) + (i1 - i0))),
      " ".join("%s=%s" % (k, lat[k]) for k in ("p50", "p99", "max") if k in lat))' \
		"$MESSAGES" "$t0" "$t1" "$c0" "$c1" "$out"
}

say "work area $WORK; A = ${NAME[A]}, B = ${NAME[B]}; $ROUNDS rounds"
wait_idle
declare -A RATES
RATES[A]="" RATES[B]=""
echo
echo "A = ${NAME[A]}   B = ${NAME[B]}   load: $([ "$LAT" = 1 ] && echo smtp_lat || echo smtp-source)" \
	"-s $SESSIONS -m $MESSAGES -l $LENGTH, dead relay${CONF_LINE:+, conf: $CONF_LINE}"
for r in $(seq 1 "$ROUNDS"); do
	order="A B"
	[ $((r % 2)) = 0 ] && order="B A"
	for x in $order; do
		res=$(one_run "$x")
		echo "round $r  $x  msg/s $res"
		RATES[$x]="${RATES[$x]} ${res%% *}"
	done
done
python3 -c 'import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print("median msg/s: A %.0f, B %.0f; B against A: %+.1f %%" % (ma, mb, 100 * (mb - ma) / ma))' \
	"${RATES[A]}" "${RATES[B]}"
