#!/usr/bin/env bash
# Blocklist/DNS monitor benchmark: end-to-end throughput with the monitor on vs off, one run.
#
#     sudo bench/monitor.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH] [--sources N]
#                           [--domains N] [--interval DURATION] [--ref REV] [--keep]
#                           [--wait-idle SECONDS] [--timeout SECONDS]
#
# Target (issue 14): end-to-end throughput with the monitor running is at
# least 95 % of it without.
#
# One smtp-sink (Postfix's test server) on a free loopback port is the next
# hop of outpostd (a relay route, tls = "none", as in bench/e2e.sh); the load
# is `smtp-source -s 20 -m 20000 -l 4096`; the end-to-end time runs from the
# start of smtp-source until the sink has every message and the spool is
# empty.  The config of both runs also has an mx route `watched` that no
# rule uses, with N source addresses (--sources, default 50: 203.0.113.1..N,
# RFC 5737, nothing is sent from them), and N DKIM keys' domains (--domains,
# default 5: d1..dN.bench.example.org, one ed25519 key made by `outpost dkim
# keygen`; the load's mail is From: example.com, so nothing is signed), and
# resolver = a DNS server this script starts on loopback
# (bench/monitor_dns.py, dnslib): PTR and A for every source, SOA, SPF,
# DKIM and DMARC for every domain, every blocklist's RFC 5782 test points,
# NXDOMAIN for anything else, all with TTL 0 so that libunbound caches
# nothing and every lookup of the monitor is a query (the worst case).
# Two runs, each on a fresh spool and a freshly started sink:
#   off: that config;
#   on:  the same with monitor = { interval = "10s"; budget = 1000; }
#        (--interval); the load starts when the monitor's second run does
#        (the first is not spread over the interval: it is the start's
#        burst, not the steady cost this measures; from the second on its
#        lookups go one every interval / (lookups per run + 1), so a load
#        shorter than the interval still runs beside them all along).
# The report gives both rates, on/off as a percentage against the target,
# the monitor's runs during the load and its DNS queries: per run as the
# daemon logged them (event=monitor_run queries=N), the formula of the
# README ("The monitor", DNS cost) for these sources and domains, and the
# queries the DNS server answered during the "on" load.
#
# --quick: 2,000 messages, -s 10, 10 sources, 2 domains, interval 5s.
# --keep keeps the work area (logs); --ref REV measures commit REV (a
# `git archive` export built in the work area); --wait-idle N waits up to N
# seconds for quiet CPUs; --timeout N gives each run N seconds (default 900).
# The exit status says only whether the benchmark ran (every message
# delivered, the monitor ran), never whether the target was met.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, sink, clean-up

MESSAGES=20000
SESSIONS=20
LENGTH=4096
SOURCES=50
DOMAINS=5
INTERVAL=10s
KEEP=0
REF=""
WAIT_IDLE=0
TIMEOUT=900
FROM=from@example.com
TO=to@example.net
PY=/usr/bin/python3   # Debian's, with python3-dnslib (scripts/deps.sh)

usage() {
	sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MESSAGES=2000; SESSIONS=10; SOURCES=10; DOMAINS=2; INTERVAL=5s ;;
	-m) MESSAGES="${2:?}"; shift ;;
	-s) SESSIONS="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	--sources) SOURCES="${2:?}"; shift ;;
	--domains) DOMAINS="${2:?}"; shift ;;
	--interval) INTERVAL="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "monitor.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "monitor.sh: runs smtp-sink as postfix and installs packages: run sudo $0" >&2
	exit 2
fi
if [ "$SOURCES" -lt 1 ] || [ "$SOURCES" -gt 254 ] || [ "$DOMAINS" -lt 1 ]; then
	echo "monitor.sh: --sources 1 to 254, --domains 1 or more" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages, work area, build (bench/lib.sh) -----------------------------------------

bench_packages "(for smtp-source/smtp-sink; main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-source /usr/sbin/smtp-sink sqlite3 python3
$PY -c 'import dnslib' 2>/dev/null || { echo "monitor.sh: python3-dnslib missing (scripts/deps.sh)" >&2; exit 1; }
work_area monitor
build_outpost outpostd outpost

O_PORT=$(free_port)
S_PORT=$(free_port)
D_PORT=$(free_port)   # the DNS server (UDP; a free TCP port number is free enough on loopback)
O_DIR="$WORK/outpost"
DNS_PID=""

monitor_cleanup() {
	local rc=$?
	if [ -n "$DNS_PID" ]; then
		kill -TERM "$DNS_PID" 2>/dev/null || true
		wait "$DNS_PID" 2>/dev/null || true
	fi
	(exit "$rc")
	cleanup
}
trap monitor_cleanup EXIT

# --- the DKIM key and the DNS world ------------------------------------------------------

mkdir -m 700 "$WORK/keys"
out=$("$OUTPOST" dkim keygen --domain d1.bench.example.org --selector bm --type ed25519 --out "$WORK/keys/bm.pem")
DKIM_TXT=$(printf '%s\n' "$out" | sed -n 's/^publish: [^ ]*\. IN TXT "\(.*\)"$/\1/p')
[ -n "$DKIM_TXT" ] || { echo "monitor.sh: no publish line from outpost dkim keygen: $out" >&2; exit 1; }
# outpostd checks that its keys belong to the user it runs as (outpost, when it exists)
! id outpost >/dev/null 2>&1 || chown -R outpost "$WORK/keys"

$PY "$REPO/bench/monitor_dns.py" "$D_PORT" "$SOURCES" "$DOMAINS" "$DKIM_TXT" 2>"$WORK/dns.log" &
DNS_PID=$!
dns_count() { $PY "$REPO/bench/monitor_dns.py" --count "$D_PORT"; }
for _ in $(seq 1 50); do
	dns_count >/dev/null 2>&1 && break
	sleep 0.1
done
dns_count >/dev/null || { echo "monitor.sh: the DNS server does not answer:" >&2; cat "$WORK/dns.log" >&2; exit 1; }

# The README's formula (The monitor, DNS cost) for these sources and domains:
# test points 2 x 9 + 2 x 2, 9 lists per source, 2 per domain (budget 1000
# covers them all), 5 per domain (SOA, SPF TXT, the SPF probe, DKIM, DMARC),
# 3 per source (PTR, A, its SPF evaluation).
FORMULA=$((22 + 9 * SOURCES + 2 * DOMAINS + 5 * DOMAINS + 3 * SOURCES))
case "$INTERVAL" in   # seconds, for the rate the formula gives
*s) INTERVAL_SECS=${INTERVAL%s} ;;
*m) INTERVAL_SECS=$((${INTERVAL%m} * 60)) ;;
*) echo "monitor.sh: --interval in seconds or minutes (10s, 2m)" >&2; exit 2 ;;
esac

# --- outpost ---------------------------------------------------------------------------------

outpost_start() {   # off|on
	local i src="" dkim=""
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	for i in $(seq 1 "$SOURCES"); do
		src="$src${src:+, }{ address = \"203.0.113.$i\"; helo = \"m$i.bench.example.org\"; }"
	done
	for i in $(seq 1 "$DOMAINS"); do
		dkim="$dkim${dkim:+, }{ domain = \"d$i.bench.example.org\"; selector = \"bm\"; key = \"$WORK/keys/bm.pem\"; }"
	done
	{
		echo "hostname = \"bench.test\";"
		echo "spool    = \"$O_DIR/spool\";"
		echo "listen   = ( { address = \"127.0.0.1:$O_PORT\"; } );"
		echo "client_networks = [ \"127.0.0.0/8\" ];"
		echo "resolver = \"127.0.0.1@$D_PORT\";"
		echo "routes   = { sink = { type = \"relay\"; host = \"127.0.0.1:$S_PORT\"; tls = \"none\"; };"
		echo "             watched = { type = \"mx\"; source = ( $src ); }; };"
		echo "rules    = ( { via = [ \"sink\" ]; } );"
		echo "delivery = { max_connections = 100; max_per_destination = 20; };"
		echo "dkim     = ( $dkim );"
		[ "$1" = off ] || echo "monitor  = { interval = \"$INTERVAL\"; budget = 1000; };"
	} >"$O_DIR/outpost.conf"
	"$OUTPOSTD" -f -c "$O_DIR/outpost.conf" 2>"$WORK/outpostd.$1.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}

# Waits (up to 120 s each) for the monitor's first run to end, then for the
# second to start (its first query at the DNS server): from then on its
# lookups go one by one, spread over the whole interval.
wait_steady() {
	local _ c
	for _ in $(seq 1 1200); do
		grep -q " event=monitor_run " "$WORK/outpostd.on.log" && break
		sleep 0.1
	done
	grep -q " event=monitor_run " "$WORK/outpostd.on.log" || {
		echo "monitor.sh: the monitor did not finish a run in 120 s:" >&2
		tail -n 20 "$WORK/outpostd.on.log" >&2
		exit 1
	}
	c=$(dns_count)
	for _ in $(seq 1 1200); do
		[ "$(dns_count)" = "$c" ] || return 0
		sleep 0.1
	done
	echo "monitor.sh: the monitor's second run did not start in 120 s" >&2
	exit 1
}

# --- one run -----------------------------------------------------------------------------------

declare -A INJ E2E RATE
RUNS_BEFORE=0
RUNS_DURING=0
DNS_DURING=0
ON_SECS=0

monitor_runs() { grep -c " event=monitor_run " "$WORK/outpostd.on.log" || true; }

run() {   # off|on
	local m=$1 t0 t1 t2 d0=0
	say "$m: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd (monitor $m) -> smtp-sink"
	sink_start "$m"
	outpost_start "$m"
	if [ "$m" = on ]; then
		wait_steady
		RUNS_BEFORE=$(monitor_runs)
		d0=$(dns_count)
	fi
	sync
	t0=$(now)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:$O_PORT" || { echo "monitor.sh: smtp-source ($m) failed" >&2; exit 1; }
	t1=$(now)
	wait_delivered "$m" "$t0" outpost_queued
	t2=$(now)
	if [ "$m" = on ]; then
		DNS_DURING=$(($(dns_count) - d0))
		RUNS_DURING=$(($(monitor_runs) - RUNS_BEFORE))
		ON_SECS=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	fi
	INJ[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t1")
	E2E[$m]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	RATE[$m]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$m]}")
	outpost_stop
	sink_stop
	say "$m: injected in ${INJ[$m]} s, all delivered after ${E2E[$m]} s: ${RATE[$m]} msg/s"
}

say "work area $WORK, ports: outpost $O_PORT, smtp-sink $S_PORT, DNS $D_PORT;" \
	"$SOURCES sources, $DOMAINS domains, interval $INTERVAL"
wait_idle
run off
run on
BUSY_AFTER=$(cpu_busy)
# queries per run as the daemon counted them (event=monitor_run ... queries=N)
PER_RUN=$(grep -o " event=monitor_run .*queries=[0-9]*" "$WORK/outpostd.on.log" | sed 's/.*queries=//' |
	sort -u | paste -sd, -)
ERRORS=$(grep -c "level=error\|event=monitor_error" "$WORK/outpostd.on.log" || true)

# --- report ------------------------------------------------------------------------------------

echo
echo "Monitor benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; relay route to smtp-sink)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> outpostd -> smtp-sink on loopback;" \
	"fresh spool per run; CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo "on: monitor = { interval = \"$INTERVAL\"; budget = 1000; } watching $SOURCES source addresses and" \
	"$DOMAINS sending domains (DNS on loopback, TTL 0: nothing cached)"
echo
printf '%-7s | %8s | %8s %10s\n' monitor "inject s" "e2e s" "e2e msg/s"
for m in off on; do
	printf '%-7s | %8s | %8s %10s\n' "$m" "${INJ[$m]}" "${E2E[$m]}" "${RATE[$m]}"
done
echo
pct=$(calc '"%.1f" % (100 * a[0] / a[1])' "${RATE[on]}" "${RATE[off]}")
echo "end to end, monitor on / off: ${pct} % (${RATE[on]} vs ${RATE[off]} msg/s)"
echo "target >= 95 %: $(calc '"MET" if a[0] >= 95 else "NOT MET"' "$pct")"
echo "monitor: DNS lookups per run as logged: $PER_RUN (README formula: $FORMULA);" \
	"$RUNS_DURING runs ended during the ${ON_SECS} s load;" \
	"the DNS server answered $DNS_DURING queries meanwhile" \
	"($(calc '"%.1f" % (a[0] / max(a[1], 0.01))' "$DNS_DURING" "$ON_SECS") a second;" \
	"spread over the interval: $(calc '"%.1f" % (a[0] / a[1])' "$FORMULA" "$INTERVAL_SECS") a second)"
if [ "$ERRORS" -gt 0 ]; then
	echo "WARNING: $ERRORS error lines in outpostd's log ($WORK/outpostd.on.log; --keep keeps it)"
fi
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
