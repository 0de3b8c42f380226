#!/usr/bin/env bash
# End-to-end benchmark: outpost vs Postfix relaying to the same sink, one run.
#
#     sudo bench/e2e.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH]
#                       [--ref REV] [--debug] [--keep] [--wait-idle SECONDS]
#                       [--timeout SECONDS] [--rules N]
#
# One smtp-sink (Postfix's test server: answers every command at once and
# stores nothing) on a free loopback port is the next hop of both daemons:
#   outpost: a relay route { type = "relay"; host = "127.0.0.1:SINK";
#            tls = "none"; } and a rule sending all mail to it;
#   Postfix: a private instance (Debian's main.cf and master.cf, as in
#            bench/inject.sh) with relayhost = [127.0.0.1]:SINK.
# Each daemon in turn, on a fresh empty queue: `smtp-source -s 20 -m 20000
# -l 4096` into it; the end-to-end time runs from the start of smtp-source
# until the sink has received all the messages AND the daemon's queue is
# empty (outpost: `select count(*) from messages` in the spool; Postfix:
# `postqueue -p` says the queue is empty).  Rate = messages / that time.
# The sink is restarted (counters at zero) before each daemon's run; it
# counts messages with -c (running counters on its stdout).
# Order: outpost, then Postfix; `sync` before each run.
#
# --debug runs outpostd with -d and adds its spool batch sizes (group
# commits, claims) and the sink's connection count to the report.
# --keep keeps the work area (logs); --ref REV measures commit REV (a
# `git archive` export built in the work area) instead of the working tree;
# --wait-idle N waits up to N seconds for the CPUs to be quiet (<10% busy);
# --timeout N gives each daemon N seconds to deliver everything (default 900,
# plus a second per 10 MB the run moves: -l 1048576 -m 20000 is 20 GB).
# Large messages: -l 102400 or -l 1048576 (Postfix takes up to 10 MB by
# default, outpost 25 MB); --quick with -l 1048576 moves 2 GB through each
# daemon.
# --rules N adds a third run, "outpost-rules": outpost with 5 relay routes
# (all to the sink) and N rules, of which the first N-1 match on sender,
# From: domain, recipient domain, user and class globs that this load never
# has, so every recipient is checked against all of them before the last
# (catch-all, via the 5 routes) matches; the report gives its rate against
# the single-route run (the routing issue's target: within 10 %).
#
# Prints a table with both rates, the ratio and the target (>= 10x
# Postfix's end-to-end rate) as text; the exit status says only whether the
# benchmark ran (every message accepted and delivered), never whether the
# target was met.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, Postfix, clean-up

MESSAGES=20000
SESSIONS=20
LENGTH=4096
KEEP=0
DEBUG=""
REF=""
WAIT_IDLE=0
TIMEOUT=""
FROM=from@example.com
TO=to@example.net
RULES=0

usage() {
	sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MESSAGES=2000 ;;
	-m) MESSAGES="${2:?}"; shift ;;
	-s) SESSIONS="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--debug) DEBUG=-d ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	--rules) RULES="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "e2e.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

[ -n "$TIMEOUT" ] || TIMEOUT=$((900 + MESSAGES * LENGTH / 10000000))

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e.sh: Postfix must be started as root: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages (bench/lib.sh) ----------------------------------------------------

bench_packages "(main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/postfix /usr/sbin/postqueue \
	/usr/sbin/postconf sqlite3 python3

# --- work area ----------------------------------------------------------------

work_area e2e

# --- build (bench/lib.sh) ----------------------------------------------------------

build_outpost outpostd outpost

O_PORT=$(free_port)
P_PORT=$(free_port)
S_PORT=$(free_port)

# --- the sink ---------------------------------------------------------------------

# sink_start, sink_count: bench/lib.sh

# --- outpost ----------------------------------------------------------------------

O_DIR="$WORK/outpost"
O_CONF="$O_DIR/outpost.conf"

outpost_start() {
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	cat >"$O_CONF" <<-EOF
	hostname = "bench.test";
	spool    = "$O_DIR/spool";
	listen   = ( { address = "127.0.0.1:$O_PORT"; } );
	client_networks = [ "127.0.0.0/8" ];
	$(routing_conf "${1:-0}")
	delivery = { max_connections = 100; max_per_destination = 20; };
	EOF
	"$OUTPOSTD" -f $DEBUG -c "$O_CONF" 2>>"$WORK/outpostd.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}

# routes and rules: one route and one rule, or (N > 0) 5 routes and N rules
routing_conf() {
	local n=$1 i
	if [ "$n" -eq 0 ]; then
		echo "routes   = { sink = { type = \"relay\"; host = \"127.0.0.1:$S_PORT\"; tls = \"none\"; }; };"
		echo "rules    = ( { via = [ \"sink\" ]; } );"
		return
	fi
	echo "routes   = {"
	for i in 1 2 3 4 5; do
		echo "  sink$i = { type = \"relay\"; host = \"127.0.0.1:$S_PORT\"; tls = \"none\"; };"
	done
	echo "};"
	echo "rules    = ("
	for i in $(seq 1 $((n - 1))); do
		case $((i % 5)) in
		0) echo "  { sender = [ \"*@tenant$i.example.org\", \"bounce-*@list$i.example.org\" ]; via = [ \"sink2\", \"sink1\" ]; }," ;;
		1) echo "  { from_domain = [ \"brand$i.example.com\" ]; via = [ \"sink3\" ]; }," ;;
		2) echo "  { recipient_domain = [ \"*.customer$i.example\", \"customer$i.example\" ]; via = [ \"sink4\", \"sink2\" ]; }," ;;
		3) echo "  { user = [ \"tenant$i\" ]; via = [ \"sink5\" ]; }," ;;
		4) echo "  { class = [ \"bulk$i\" ]; recipient_domain = [ \"*.example.net\" ]; via = [ \"sink1\" ]; }," ;;
		esac
	done
	echo "  { via = [ \"sink1\", \"sink2\", \"sink3\", \"sink4\", \"sink5\" ]; }"
	echo ");"
}

outpost_rules_start() { outpost_start "$RULES"; }
outpost_rules_queued() { outpost_queued; }
outpost_rules_stop() { outpost_stop; }


# --- postfix (bench/lib.sh, with relayhost = the sink) -------------------------------

P_DIR="$WORK/postfix"

postfix_start() {
	postfix_start_instance bench.test "relayhost = [127.0.0.1]:$S_PORT"
}

postfix_queued() {   # messages still in any queue (showq)
	postqueue -c "$PF_CONF" -j | grep -c . || true
}

# --- the ceiling: smtp-source straight into the sink (nothing stored, nothing relayed) ---

sink_direct_start() { :; }
sink_direct_queued() { echo 0; }
sink_direct_stop() { :; }

# --- one run --------------------------------------------------------------------------

declare -A INJ E2E RATE IRATE SESS LEFT

run() {   # daemon port
	local d=$1 port=$2 t0 t1 t2 got
	say "$d: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> $d -> smtp-sink"
	sink_start "$d"
	"${d}_start"
	sync
	t0=$(now)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:$port" || { echo "e2e.sh: smtp-source against $d failed" >&2; exit 1; }
	t1=$(now)
	wait_delivered "$d" "$t0" "${d}_queued"
	got=$DELIVERED
	t2=$(now)
	INJ[$d]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t1")
	E2E[$d]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	IRATE[$d]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${INJ[$d]}")
	RATE[$d]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$d]}")
	LEFT[$d]=$got
	"${d}_stop"
	sleep 0.5   # the sink counts a session when it ends: let the daemon's last ones close
	SESS[$d]=$(($(sink_field sess) - SINK_SESS_BASE))
	sink_stop
	say "$d: injected in ${INJ[$d]} s, all delivered after ${E2E[$d]} s: ${RATE[$d]} msg/s (sink: $got messages in ${SESS[$d]} sessions)"
}

say "work area $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), ports: outpost $O_PORT, postfix $P_PORT, smtp-sink $S_PORT"
wait_idle

run sink_direct "$S_PORT"
run outpost "$O_PORT"
if [ "$RULES" -gt 0 ]; then
	run outpost_rules "$O_PORT"
fi
run postfix "$P_PORT"
BUSY_AFTER=$(cpu_busy)

debug_summary() {   # outpostd -d log: batch sizes on the storage thread
	python3 - "$1" <<-'PY'
	import re, sys
	g, ms, claims, deliv, defer = [], [], [], 0, 0
	for line in open(sys.argv[1]):
	    if "event=spool_commit " in line:
	        g.append(int(re.search(r" group=(\d+)", line).group(1)))
	        ms.append(float(re.search(r" ms=([\d.]+)", line).group(1)))
	    elif "event=spool_claim " in line:
	        claims.append(int(re.search(r" count=(\d+)", line).group(1)))
	    elif "event=delivery " in line:
	        deliv += " result=delivered" in line
	        defer += " result=deferred" in line
	if g:
	    ms.sort()
	    print("  group commits (acceptance): %d for %d msgs, mean %.1f, max %d; commit ms p50 %.2f max %.2f"
	          % (len(g), sum(g), sum(g) / len(g), max(g), ms[len(ms) // 2], ms[-1]))
	nz = [c for c in claims if c]
	if claims:
	    print("  claims: %d (%d empty), %d msgs claimed, mean %.1f per non-empty claim, max %d"
	          % (len(claims), len(claims) - len(nz), sum(claims), sum(nz) / max(1, len(nz)), max(claims)))
	print("  deliveries logged: %d delivered, %d deferred" % (deliv, defer))
	PY
}

# --- report ---------------------------------------------------------------------------

ratio=$(calc '"%.2f" % (a[0] / a[1])' "${RATE[outpost]}" "${RATE[postfix]}")
need=$(calc '"%.0f" % (12 * a[0])' "${RATE[postfix]}")
ok=$(calc '"MET" if a[0] >= 12 else "NOT MET"' "$ratio")

echo
echo "End-to-end benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; relay route, max_per_destination 20);" \
	"postfix $(postconf -d -h mail_version) (Debian defaults, relayhost)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> daemon -> smtp-sink on loopback;" \
	"fresh queue per run, one disk ($(df -P "$WORK" | awk 'NR==2 {print $1}'));" \
	"CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo
printf '%-13s | %8s %10s | %8s %10s | %8s %9s\n' daemon "inject s" "inject/s" "e2e s" "e2e msg/s" "at sink" "sessions"
DAEMONS="sink_direct outpost postfix"
[ "$RULES" -gt 0 ] && DAEMONS="sink_direct outpost outpost_rules postfix"
for d in $DAEMONS; do
	printf '%-13s | %8s %10s | %8s %10s | %8s %9s\n' "$d" "${INJ[$d]}" "${IRATE[$d]}" "${E2E[$d]}" \
		"${RATE[$d]}" "${LEFT[$d]}" "${SESS[$d]}"
done
echo
echo "e2e = from the start of smtp-source until the sink has all $MESSAGES and the queue is empty"
echo "ratio outpost/postfix, end-to-end msg/s: ${ratio}x"
share=$(calc '"%.0f" % (100 * a[0] / a[1])' "${RATE[outpost]}" "${RATE[sink_direct]}")
echo "ceiling (smtp-source straight into smtp-sink, nothing stored): ${RATE[sink_direct]} msg/s;" \
	"outpost end to end reaches ${share} % of it (issue 20's target at 100 KB: >= 75 %)"
echo "target (issue 18) >= 12x postfix's end-to-end rate: $ok (${ratio}x; 12x = $need msg/s)"
if [ "$need" -gt "${RATE[sink_direct]}" ]; then
	echo "  12x postfix ($need msg/s) is above the ceiling (${RATE[sink_direct]} msg/s):" \
		"no relay can meet it with this load on this machine"
fi
if [ "$RULES" -gt 0 ]; then
	cost=$(calc '"%.1f %% %s" % (abs(100 * (1 - a[1] / a[0])), "slower" if a[1] < a[0] else "faster")' \
		"${RATE[outpost]}" "${RATE[outpost_rules]}")
	echo "routing cost: $RULES rules and 5 routes vs one route: ${RATE[outpost_rules]} vs ${RATE[outpost]} msg/s" \
		"(${cost}; target: no more than 10 % slower)"
fi
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
if [ -n "$DEBUG" ]; then
	echo "outpost (-d log):"
	debug_summary "$WORK/outpostd.log"
fi
