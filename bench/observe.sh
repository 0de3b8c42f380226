#!/usr/bin/env bash
# Observability benchmark: what metrics, statistics and webhooks cost, one run.
#
#     sudo bench/observe.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH]
#                           [-n QUEUED] [--routes N] [--no-bigqueue] [--ref REV]
#                           [--keep] [--wait-idle SECONDS] [--timeout SECONDS]
#
# Targets (issue 13): end-to-end throughput with metrics, statistics and a
# webhook for every delivery on is at least 90 % of it with all of them
# off; GET /metrics answers in under 10 ms with 100 routes and 1,000,000
# queued messages.
#
# 1. Throughput, as bench/e2e.sh measures it: one smtp-sink (Postfix's test
#    server) on a free loopback port is the next hop of outpostd (a relay
#    route, tls = "none"); `smtp-source -s 20 -m 20000 -l 4096` into it; the
#    end-to-end time runs from the start of smtp-source until the sink has
#    every message and the spool is empty.  Two runs, each on a fresh spool
#    and a freshly started sink:
#      off: no HTTP listener, no webhook;
#      on:  http = { listen } scraped by this script (GET /metrics every
#           second, GET /api/v1/stats, i.e. `outpost stats`, every 5 s) and
#           webhooks = ( { events = [ "delivered" ]; } ) to a Python receiver
#           on loopback (answers 200 at once, counts, checks nothing).
#    The statistics in the spool (per-minute rollups and raw events, written
#    in the storage thread's transactions) and the in-memory counters have no
#    switch: both runs pay for them; "off" is outpost without anyone
#    looking.  The report gives both rates, on/off as a percentage, how long
#    the webhooks took to reach the receiver (all MESSAGES "delivered"
#    events), the scrapes' times during the load, and whether the receiver
#    got every event.
# 2. /metrics with a big queue: bench/bigqueue.sh --metrics-only (its seed
#    and clone to QUEUED messages, default 1,000,000; then outpostd with N
#    relay routes, default 100, all to a dead port, churning, while 200
#    scrapes are timed).  --no-bigqueue skips it.
#
# --quick: 2,000 messages, -s 10, and bigqueue.sh --quick (100,000 queued,
# unless -n says otherwise).
# --keep keeps the work area (logs); --ref REV measures commit REV (a
# `git archive` export built in the work area; phase 2 is then given
# --ref too); --wait-idle N waits up to N seconds for quiet CPUs;
# --timeout N gives each run N seconds (default 900).
# The exit status says only whether the benchmark ran (every message
# delivered), never whether a target was met.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, sink, clean-up

MESSAGES=20000
SESSIONS=20
LENGTH=4096
QUEUED=1000000
QUEUED_SET=0
ROUTES=100
BIGQUEUE=1
QUICK=0
KEEP=0
REF=""
WAIT_IDLE=0
TIMEOUT=900
FROM=from@example.com
TO=to@example.net
SECRET=observe-bench-secret-0123456789

usage() {
	sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MESSAGES=2000; SESSIONS=10; QUICK=1 ;;
	-m) MESSAGES="${2:?}"; shift ;;
	-s) SESSIONS="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	-n) QUEUED="${2:?}"; QUEUED_SET=1; shift ;;
	--routes) ROUTES="${2:?}"; shift ;;
	--no-bigqueue) BIGQUEUE=0 ;;
	--keep) KEEP=1 ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "observe.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "observe.sh: runs smtp-sink as postfix and installs packages: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages, work area, build (bench/lib.sh) -----------------------------------------

bench_packages "(for smtp-source/smtp-sink; main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-source /usr/sbin/smtp-sink sqlite3 python3
work_area observe
build_outpost outpostd outpost

O_PORT=$(free_port)
S_PORT=$(free_port)
H_PORT=$(free_port)   # outpostd's HTTP listener (on)
W_PORT=$(free_port)   # the webhook receiver
O_DIR="$WORK/outpost"
RECEIVER_PID=""
SCRAPER_PID=""

# --- the webhook receiver: counts POSTs, answers 200; GET / says the count -------------------

receiver_start() {
	python3 - "$W_PORT" <<-'PY' &
	import sys, threading
	from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
	n, lock = [0], threading.Lock()
	class H(BaseHTTPRequestHandler):
	    protocol_version = "HTTP/1.1"
	    def reply(self, body):
	        self.send_response(200)
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body)
	    def do_POST(self):
	        self.rfile.read(int(self.headers.get("Content-Length", 0)))
	        with lock:
	            n[0] += 1
	        self.reply(b"")
	    def do_GET(self):
	        with lock:
	            self.reply(b"%d" % n[0])
	    def log_message(self, *a):
	        pass
	ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
	PY
	RECEIVER_PID=$!
	wait_port "$W_PORT" "the webhook receiver"
}

receiver_count() {
	python3 -c 'import sys, urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=10).read().decode())' "$W_PORT"
}

# --- the scraper: GET /metrics every second, /api/v1/stats every 5 s; times in a file --------

scraper_start() {
	python3 - "$H_PORT" "$WORK/scrapes.txt" <<-'PY' &
	import sys, time, urllib.request
	base, out, i = "http://127.0.0.1:%s" % sys.argv[1], open(sys.argv[2], "w"), 0
	while True:
	    for path in ["/metrics"] + (["/api/v1/stats"] if i % 5 == 0 else []):
	        t0 = time.perf_counter()
	        try:
	            urllib.request.urlopen(base + path, timeout=30).read()
	            out.write("%s %.3f\n" % (path, (time.perf_counter() - t0) * 1000))
	        except OSError as e:
	            out.write("%s error %s\n" % (path, e))
	        out.flush()
	    i += 1
	    time.sleep(1)
	PY
	SCRAPER_PID=$!
}

stop_pid() {   # pid: SIGTERM and wait
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

observe_cleanup() {
	local rc=$?
	stop_pid "$SCRAPER_PID"
	stop_pid "$RECEIVER_PID"
	(exit "$rc")
	cleanup
}
trap observe_cleanup EXIT

# --- outpost -------------------------------------------------------------------------------

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
			echo "http     = { listen = \"127.0.0.1:$H_PORT\"; };"
			echo "webhooks = ( { url = \"http://127.0.0.1:$W_PORT/hook\"; events = [ \"delivered\" ];" \
				"secret_file = \"$O_DIR/webhook.secret\"; } );"
		fi
	} >"$O_DIR/outpost.conf"
	echo "$SECRET" >"$O_DIR/webhook.secret"
	chmod 600 "$O_DIR/webhook.secret"
	"$OUTPOSTD" -f -c "$O_DIR/outpost.conf" 2>"$WORK/outpostd.$1.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
	[ "$1" = off ] || wait_port "$H_PORT" "outpostd's http listener"
}

# --- one run -----------------------------------------------------------------------------

declare -A INJ E2E RATE
HOOK_SECS="?"
HOOK_GOT=0

run() {   # off|on
	local m=$1 t0 t1 t2 deadline
	say "$m: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd (observing $m) -> smtp-sink"
	sink_start "$m"
	[ "$m" = off ] || receiver_start
	outpost_start "$m"
	[ "$m" = off ] || scraper_start
	sync
	t0=$(now)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:$O_PORT" || { echo "observe.sh: smtp-source ($m) failed" >&2; exit 1; }
	t1=$(now)
	wait_delivered "$m" "$t0" outpost_queued
	t2=$(now)
	INJ[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t1")
	E2E[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	RATE[$m]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$m]}")
	if [ "$m" = on ]; then
		stop_pid "$SCRAPER_PID"
		SCRAPER_PID=""
		# the webhooks go on after the mail: wait for the last "delivered" event
		deadline=$(calc '"%.0f" % (a[0] + a[1])' "$t0" "$TIMEOUT")
		while :; do
			HOOK_GOT=$(receiver_count)
			[ "$HOOK_GOT" -ge "$MESSAGES" ] && break
			[ "$(date +%s)" -lt "$deadline" ] || break
			sleep 0.2
		done
		HOOK_SECS=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$(now)")
		stop_pid "$RECEIVER_PID"
		RECEIVER_PID=""
	fi
	outpost_stop
	sink_stop
	say "$m: injected in ${INJ[$m]} s, all delivered after ${E2E[$m]} s: ${RATE[$m]} msg/s"
}

# p50 p99 max count errors of one path's times in the scraper's file
scrape_times() {
	python3 - "$WORK/scrapes.txt" "$1" <<-'PY'
	import sys
	ts, errors = [], 0
	for line in open(sys.argv[1]):
	    f = line.split()
	    if f[0] != sys.argv[2]:
	        continue
	    if f[1] == "error":
	        errors += 1
	    else:
	        ts.append(float(f[1]))
	ts.sort()
	pick = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))] if ts else 0
	print("%.2f %.2f %.2f %d %d" % (pick(0.5), pick(0.99), ts[-1] if ts else 0, len(ts), errors))
	PY
}

say "work area $WORK, ports: outpost $O_PORT (http $H_PORT), smtp-sink $S_PORT, webhook receiver $W_PORT"
wait_idle
run off
run on
BUSY_AFTER=$(cpu_busy)
read -r M50 M99 MMAX MN MERR <<<"$(scrape_times /metrics)"
read -r A50 A99 AMAX AN AERR <<<"$(scrape_times /api/v1/stats)"
HOOK_FAILED=$(grep -c " event=webhook_failed " "$WORK/outpostd.on.log" || true)

# --- 2. /metrics with a big queue (bench/bigqueue.sh) ------------------------------------------

BIG_REPORT=""
if [ "$BIGQUEUE" = 1 ]; then
	args=(--metrics-only --routes "$ROUTES")
	[ "$QUICK" = 0 ] || args+=(--quick)
	[ "$QUEUED_SET" = 0 ] || args+=(-n "$QUEUED")   # else bigqueue.sh's own (1,000,000; --quick 100,000)
	[ -z "$REF" ] || args+=(--ref "$REF")
	say "bigqueue.sh ${args[*]}"
	BIG_REPORT=$("$REPO/bench/bigqueue.sh" "${args[@]}")
fi

# --- report ------------------------------------------------------------------------------------

echo
echo "Observability benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; relay route to smtp-sink)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd -> smtp-sink on loopback;" \
	"fresh spool per run; CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo "on: HTTP listener, GET /metrics every 1 s and /api/v1/stats every 5 s, a webhook for every delivery"
echo "    (the spool's statistics and the in-memory counters have no switch: on in both runs)"
echo
printf '%-4s | %8s | %8s %10s\n' run "inject s" "e2e s" "e2e msg/s"
for m in off on; do
	printf '%-4s | %8s | %8s %10s\n' "$m" "${INJ[$m]}" "${E2E[$m]}" "${RATE[$m]}"
done
echo
pct=$(calc '"%.1f" % (100 * a[0] / a[1])' "${RATE[on]}" "${RATE[off]}")
echo "end to end, observing on / off: ${pct} % (${RATE[on]} vs ${RATE[off]} msg/s)"
echo "target >= 90 %: $(calc '"MET" if a[0] >= 90 else "NOT MET"' "$pct")"
echo "webhooks: $HOOK_GOT of $MESSAGES \"delivered\" events at the receiver ${HOOK_SECS} s after the start" \
	"(mail: ${E2E[on]} s); $HOOK_FAILED failed POSTs retried"
echo "scrapes during the load: GET /metrics p50 $M50 ms, p99 $M99 ms, max $MMAX ms ($MN, $MERR errors);" \
	"GET /api/v1/stats p50 $A50 ms, p99 $A99 ms, max $AMAX ms ($AN, $AERR errors)"
if [ "$HOOK_GOT" -lt "$MESSAGES" ]; then
	echo "WARNING: the receiver did not get every event within the timeout"
fi
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
if [ -n "$BIG_REPORT" ]; then
	echo
	printf '%s\n' "$BIG_REPORT" | sed -n '/^Big-queue/,$p'
fi
