#!/usr/bin/env bash
# Outbound scanning benchmark: outpost end to end with rspamd scanning on vs off, one run.
#
#     sudo bench/scan.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH] [--rspamd-workers N]
#                        [--ref REV] [--keep] [--wait-idle SECONDS] [--timeout SECONDS]
#
# One smtp-sink (Postfix's test server) on a free loopback port is the next
# hop of outpostd (a relay route, tls = "none", as in bench/e2e.sh).  One
# rspamd (Debian's package) is started by this script on another free
# loopback port with the integration tests' minimal config
# (tests/integration/rspamd/: one normal worker, no redis, no DNS, GTUBE and
# the test rules), its own database and log in the work area;
# --rspamd-workers N sets that worker's count (default 1, as the tests have).
# Two runs, each on a fresh spool and a freshly started sink:
#   off: outpostd without a scanner;
#   on:  the same with scanner = { type = "rspamd"; url = "http://127.0.0.1:PORT";
#        timeout = "5s"; on_error = "accept"; }.
# The load of each run is bench/smtp_lat (persistent sessions, no
# pipelining; -s 20 -m 10000 -l 4096 by default, --quick 1,000 with -s 10):
# it measures every SMTP transaction (MAIL to the reply after ".") and the
# acceptance alone ("." to its 250), which is where the scan sits.  The
# end-to-end time runs from the start of smtp_lat until the sink has every
# message and the spool is empty.  The report gives, per run, the injection
# and end-to-end rates and the transaction and acceptance latencies (p50,
# p99); scanning on vs off as a ratio of end-to-end rates; the latency the
# scan added (the difference of the p50s and of the p99s, and the scans' own
# times from outpostd's event=scan ms= lines); and rspamd's share of the
# CPUs over the "on" run: the utime + stime of all rspamd processes (its
# process group, from /proc/PID/stat) over the run's wall time times the
# number of CPUs, and as a part of all CPU time used meanwhile (/proc/stat).
# Scans that failed (event=scan_error; on_error = "accept" queued the
# message unscanned) are counted: any at all make the "on" figures too good,
# and the report says so.  The exit status says only whether the benchmark
# ran (every message accepted and delivered), never what the figures were.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, sink, clean-up

MESSAGES=10000
SESSIONS=20
LENGTH=4096
KEEP=0
REF=""
WAIT_IDLE=0
TIMEOUT=900
WORKERS=1
FROM=from@example.com
TO=to@example.net

usage() {
	sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MESSAGES=1000; SESSIONS=10 ;;
	-m) MESSAGES="${2:?}"; shift ;;
	-s) SESSIONS="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	--rspamd-workers) WORKERS="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "scan.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "scan.sh: installs packages and runs smtp-sink as postfix: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages, work area, build (bench/lib.sh) --------------------------------------

bench_packages "(for its smtp-sink; main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-sink rspamd curl sqlite3 python3 cc
work_area scan
build_outpost outpostd outpost
cc -O2 -Wall -Wextra -std=c11 -pthread -o "$WORK/smtp_lat" "$REPO/bench/smtp_lat.c"

O_PORT=$(free_port)
S_PORT=$(free_port)
R_PORT=$(free_port)
O_DIR="$WORK/outpost"
R_DIR="$WORK/rspamd"
RSPAMD_PID=""

# --- rspamd: the tests' minimal config, in its own process group -----------------------

rspamd_start() {
	mkdir -p "$R_DIR/db" "$R_DIR/tmp"
	sed -e "s|@DIR@|$R_DIR|g" -e "s|@PORT@|$R_PORT|g" \
		-e "s|\(worker \"normal\" {.*count = \)1;|\1$WORKERS;|" \
		"$REPO/tests/integration/rspamd/rspamd.conf.in" >"$R_DIR/rspamd.conf"
	grep -q "count = $WORKERS;" "$R_DIR/rspamd.conf" ||
		{ echo "scan.sh: cannot set the worker count in rspamd.conf" >&2; exit 1; }
	cp "$REPO/tests/integration/rspamd/outpost_rules.lua" "$R_DIR/"
	chmod -R a+rwX "$R_DIR"   # rspamd drops to its own user when started as root
	# -i: rspamd refuses to run as root otherwise (it still drops privileges)
	setsid rspamd -f -i -c "$R_DIR/rspamd.conf" >"$R_DIR/rspamd.out" 2>&1 &
	RSPAMD_PID=$!
	local _
	for _ in $(seq 1 300); do
		if curl -s -o /dev/null -w '%{http_code}' --data-binary $'Subject: ping\r\n\r\nping\r\n' \
			"http://127.0.0.1:$R_PORT/checkv2" 2>/dev/null | grep -q 200; then
			return 0
		fi
		kill -0 "$RSPAMD_PID" 2>/dev/null || break
		sleep 0.2
	done
	echo "scan.sh: rspamd did not answer on 127.0.0.1:$R_PORT:" >&2
	tail -n 20 "$R_DIR/rspamd.out" >&2
	exit 1
}

# Stops rspamd: SIGTERM to its process group (started by setsid above), then waits.
rspamd_stop() {
	[ -n "$RSPAMD_PID" ] || return 0
	kill -TERM -- "-$RSPAMD_PID" 2>/dev/null || true
	wait "$RSPAMD_PID" 2>/dev/null || true
	RSPAMD_PID=""
}

# CPU seconds (utime + stime, with those of waited-for children) of every
# process in rspamd's process group.
rspamd_cpu() {
	python3 - "$RSPAMD_PID" <<-'PY'
	import os, sys
	pgid, hz, total = int(sys.argv[1]), os.sysconf("SC_CLK_TCK"), 0
	for p in os.listdir("/proc"):
	    if not p.isdigit():
	        continue
	    try:
	        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
	    except OSError:
	        continue
	    if int(f[2]) == pgid:   # pgrp; fields after the name start with state
	        total += sum(int(x) for x in f[11:15])   # utime stime cutime cstime
	print("%.2f" % (total / hz))
	PY
}

# CPU seconds all CPUs spent busy so far (/proc/stat: all but idle and iowait).
cpus_busy() {
	python3 -c '
import os
v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
print("%.2f" % ((sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")))'
}

scan_cleanup() {
	local rc=$?
	rspamd_stop
	(exit "$rc")
	cleanup
}
trap scan_cleanup EXIT

# --- outpost ---------------------------------------------------------------------------

outpost_start() {   # off|on
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	{
		echo "hostname = \"bench.test\";"
		echo "spool    = \"$O_DIR/spool\";"
		echo "listen   = ( { address = \"127.0.0.1:$O_PORT\"; } );"
		echo "client_networks = [ \"127.0.0.0/8\" ];"
		echo "routes   = { sink = { type = \"relay\"; host = \"127.0.0.1:$S_PORT\"; tls = \"none\"; }; };"
		echo "rules    = ( { via = [ \"sink\" ]; } );"
		echo "delivery = { max_connections = 100; max_per_destination = 20; };"
		if [ "$1" = on ]; then
			echo "scanner  = { type = \"rspamd\"; url = \"http://127.0.0.1:$R_PORT\"; timeout = \"5s\"; on_error = \"accept\"; };"
		fi
	} >"$O_DIR/outpost.conf"
	"$OUTPOSTD" -f -c "$O_DIR/outpost.conf" 2>"$WORK/outpostd.$1.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}

# --- one run ---------------------------------------------------------------------------

declare -A INJ E2E RATE IRATE LAT
RSPAMD_CPU=0
ALL_CPU=0
WALL_ON=0

# field NAME LINE: the value of NAME= in smtp_lat's key=value line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run() {   # off|on
	local m=$1 t0 t1 t2 out c0 c1 b0 b1
	say "$m: smtp_lat -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd (scanning $m) -> smtp-sink"
	sink_start "$m"
	outpost_start "$m"
	sync
	[ "$m" = on ] && { c0=$(rspamd_cpu); b0=$(cpus_busy); }
	t0=$(now)
	out=$("$WORK/smtp_lat" -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:$O_PORT") || { echo "scan.sh: smtp_lat ($m) failed: $out" >&2; exit 1; }
	t1=$(now)
	wait_delivered "$m" "$t0" outpost_queued
	t2=$(now)
	if [ "$m" = on ]; then
		c1=$(rspamd_cpu)
		b1=$(cpus_busy)
		RSPAMD_CPU=$(calc '"%.2f" % (a[1] - a[0])' "$c0" "$c1")
		ALL_CPU=$(calc '"%.2f" % (a[1] - a[0])' "$b0" "$b1")
		WALL_ON=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	fi
	INJ[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t1")
	E2E[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	IRATE[$m]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${INJ[$m]}")
	RATE[$m]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$m]}")
	LAT[$m.p50]=$(field p50 "$out")
	LAT[$m.p99]=$(field p99 "$out")
	LAT[$m.txn_p50]=$(field txn_p50 "$out")
	LAT[$m.txn_p99]=$(field txn_p99 "$out")
	outpost_stop
	sink_stop
	say "$m: injected in ${INJ[$m]} s, all delivered after ${E2E[$m]} s: ${RATE[$m]} msg/s;" \
		"transaction p50 ${LAT[$m.txn_p50]} ms p99 ${LAT[$m.txn_p99]} ms"
}

# p50 p99 count of the scans' own times (event=scan ... ms=N) in outpostd's log
scan_times() {
	python3 - "$1" <<-'PY'
	import re, sys
	ms = sorted(float(m.group(1)) for m in (re.search(r" event=scan .* ms=([0-9.]+)", l) for l in open(sys.argv[1])) if m)
	pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else 0
	print("%.2f %.2f %d" % (pick(0.5), pick(0.99), len(ms)))
	PY
}

say "work area $WORK, ports: outpost $O_PORT, smtp-sink $S_PORT, rspamd $R_PORT"
rspamd_start
say "rspamd $(rspamd --version 2>/dev/null | head -n1 | grep -o '[0-9][0-9.]*' | head -n1) answering on 127.0.0.1:$R_PORT ($WORKERS normal worker(s))"
wait_idle

run off
run on
BUSY_AFTER=$(cpu_busy)
read -r S50 S99 NSCANS <<<"$(scan_times "$WORK/outpostd.on.log")"
NERR=$(grep -c " event=scan_error " "$WORK/outpostd.on.log" || true)

# --- report ----------------------------------------------------------------------------

NCPU=$(nproc)
echo
echo "Scanning benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $NCPU CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; relay route to smtp-sink); rspamd $(rspamd --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n1)" \
	"(tests/integration/rspamd config, $WORKERS normal worker(s), same machine)"
echo "load: smtp_lat -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd -> smtp-sink on loopback;" \
	"fresh spool per run; CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo
printf '%-9s | %8s %9s | %8s %10s | %9s %9s | %9s %9s\n' scanning "inject s" "inject/s" "e2e s" "e2e msg/s" \
	"txn p50" "txn p99" "'.' p50" "'.' p99"
for m in off on; do
	printf '%-9s | %8s %9s | %8s %10s | %9s %9s | %9s %9s\n' "$m" "${INJ[$m]}" "${IRATE[$m]}" "${E2E[$m]}" \
		"${RATE[$m]}" "${LAT[$m.txn_p50]}" "${LAT[$m.txn_p99]}" "${LAT[$m.p50]}" "${LAT[$m.p99]}"
done
echo "(latencies in ms: txn = MAIL to the reply after '.', '.' = the final dot to its 250, where the scan sits)"
echo
echo "end to end, scanning on / off: $(calc '"%.1f %%" % (100 * a[0] / a[1])' "${RATE[on]}" "${RATE[off]}")" \
	"(${RATE[on]} vs ${RATE[off]} msg/s)"
echo "latency the scan added to the SMTP transaction: p50 $(calc '"%+.2f" % (a[0] - a[1])' "${LAT[on.txn_p50]}" "${LAT[off.txn_p50]}") ms," \
	"p99 $(calc '"%+.2f" % (a[0] - a[1])' "${LAT[on.txn_p99]}" "${LAT[off.txn_p99]}") ms"
echo "the scans themselves (outpostd's event=scan ms=, $NSCANS scans): p50 $S50 ms, p99 $S99 ms"
echo "rspamd's CPU over the 'on' run (${WALL_ON} s): ${RSPAMD_CPU} CPU-s =" \
	"$(calc '"%.0f %%" % (100 * a[0] / (a[1] * a[2]))' "$RSPAMD_CPU" "$WALL_ON" "$NCPU") of the $NCPU CPUs," \
	"$(calc '"%.0f %%" % (100 * a[0] / max(a[1], 0.01))' "$RSPAMD_CPU" "$ALL_CPU") of all CPU time used meanwhile (${ALL_CPU} CPU-s)"
if [ "$NERR" -gt 0 ]; then
	echo "WARNING: $NERR scans failed (on_error = accept queued them unscanned): the 'on' figures are too good"
fi
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
