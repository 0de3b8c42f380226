#!/usr/bin/env bash
# Fan-out benchmark (issue 21): a newsletter to many domains on few MX hosts,
# outpost vs Postfix, side by side in one run.
#
#     sudo bench/fanout.sh [--domains N] [--mx M] [-m MESSAGES] [-s SESSIONS]
#                          [-l LENGTH] [--ref REV] [--keep] [--wait-idle SECONDS]
#                          [--timeout SECONDS]
#
# MESSAGES messages (default 5000), one recipient each, u<i>@d<i mod N>.bench.example.org,
# over N recipient domains (default 500) whose MX hosts are M hosts
# (default 1): domain i has the single MX mx<i mod M>.bench.example.org (not .test:
# libunbound answers NXDOMAIN for .test itself, RFC 6761), which is
# 127.0.1.<j+1>, where one smtp-sink per MX host listens on port 25 and
# stores nothing.  DNS: bench/fanout_dns.py (dnslib) on 127.0.53.1:53, the
# resolver of both daemons (outpost: resolver = "127.0.53.1@53"; Postfix:
# the resolv.conf of its chroot, the queue directory).
#   outpost: one mx route (tls = "none", port 25) and one rule;
#   Postfix: a private instance (Debian's main.cf and master.cf, as in
#            bench/e2e.sh), no relayhost: it looks up the MX itself.
# The load comes from bench/fanout_inject.py (Python smtplib, SESSIONS
# sessions in parallel, default 20; smtp-source cannot spread recipients
# over domains), the same for both.  End-to-end time: from the start of
# injection until the sinks have every message and the daemon's queue is
# empty.  The report gives both rates, the ratio, and the sessions the
# sinks saw (how well connections are shared between domains).
# Examples: --domains 500 --mx 1 (issue 21: >= 5x Postfix, >= 80 % of
# outpost's rate with --domains 1), --domains 5000 --mx 5.
# The exit status says only whether the benchmark ran.
set -euo pipefail
# shellcheck disable=SC2034   # KEEP, REF, WAIT_IDLE are read by bench/lib.sh
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, Postfix, clean-up

MESSAGES=5000
SESSIONS=20
LENGTH=4096
DOMAINS=500
MXS=1
KEEP=0
REF=""
WAIT_IDLE=0
TIMEOUT=900
DNS_ADDR=127.0.53.1
PY=/usr/bin/python3   # Debian's, with python3-dnslib (scripts/deps.sh)

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

posint() {   # NAME VALUE: VALUE must be a positive integer
	[[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "fanout.sh: $1 wants a positive integer, not '$2'" >&2; usage; }
}

while [ $# -gt 0 ]; do
	case "$1" in
	--domains) DOMAINS="${2:?}"; posint --domains "$DOMAINS"; shift ;;
	--mx) MXS="${2:?}"; posint --mx "$MXS"; shift ;;
	-m) MESSAGES="${2:?}"; posint -m "$MESSAGES"; shift ;;
	-s) SESSIONS="${2:?}"; posint -s "$SESSIONS"; shift ;;
	-l) LENGTH="${2:?}"; posint -l "$LENGTH"; shift ;;
	--keep) KEEP=1 ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "fanout.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
[ "$MXS" -le 250 ] || { echo "fanout.sh: --mx is at most 250 (127.0.1.1-250)" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
	echo "fanout.sh: Postfix must be started as root, and the sinks listen on port 25: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

bench_packages "(main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-sink /usr/sbin/postfix /usr/sbin/postqueue /usr/sbin/postconf sqlite3 python3
$PY -c 'import dnslib' 2>/dev/null || { echo "fanout.sh: python3-dnslib missing (scripts/deps.sh)" >&2; exit 1; }

work_area fanout
DNS_PID=""
declare -a SINK_PIDS=()
fanout_cleanup() {
	local rc=$? p
	for p in "${SINK_PIDS[@]}" $DNS_PID; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	(exit "$rc")
	cleanup
}
trap fanout_cleanup EXIT

build_outpost outpostd outpost
O_PORT=$(free_port)
P_PORT=$(free_port)

# wait_addr ADDR PORT WHAT: waits up to 10 s until ADDR:PORT accepts a connection.
wait_addr() {
	local _
	for _ in $(seq 1 100); do
		python3 -c 'import socket,sys; socket.create_connection((sys.argv[1],int(sys.argv[2])),1).close()' \
			"$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "fanout.sh: $3 is not listening on $1:$2" >&2
	exit 1
}

# --- DNS and the sinks --------------------------------------------------------------

$PY bench/fanout_dns.py "$DNS_ADDR" 53 "$DOMAINS" "$MXS" 2>"$WORK/dns.log" &
DNS_PID=$!
sleep 1
kill -0 "$DNS_PID" 2>/dev/null || { echo "fanout.sh: the DNS server did not start:" >&2; cat "$WORK/dns.log" >&2; exit 1; }

# sinks_start NAME: one smtp-sink per MX host; sinks_field sess|mesg: their sum.
sinks_start() {
	local j
	SINK_PIDS=()
	for j in $(seq 1 "$MXS"); do
		: >"$WORK/sink.$1.$j.out"
		/usr/sbin/smtp-sink -c -u postfix "127.0.1.$j:25" 256 >"$WORK/sink.$1.$j.out" &
		SINK_PIDS+=($!)
		wait_addr "127.0.1.$j" 25 "smtp-sink $j"
	done
	SINKS_NAME=$1
	SINKS_MESG0=$(sinks_field mesg)
	SINKS_SESS0=$(sinks_field sess)
}

sinks_count() { echo $(($(sinks_field mesg) - SINKS_MESG0)); }

sinks_field() {
	local j v sum=0
	for j in $(seq 1 "$MXS"); do
		v=$(tail -c 200 "$WORK/sink.$SINKS_NAME.$j.out" | tr '\r' '\n' | grep -o "$1=[0-9]*" | tail -n1 | cut -d= -f2) || true
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

sinks_stop() {
	local p
	for p in "${SINK_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SINK_PIDS=()
}

# --- the daemons ----------------------------------------------------------------------

O_DIR="$WORK/outpost"
outpost_start() {
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	cat >"$O_DIR/outpost.conf" <<-EOF
	hostname = "bench.example.org";
	spool    = "$O_DIR/spool";
	listen   = ( { address = "127.0.0.1:$O_PORT"; } );
	client_networks = [ "127.0.0.0/8" ];
	resolver = "$DNS_ADDR@53";
	routes   = { direct = { type = "mx"; tls = "none"; }; };
	rules    = ( { via = [ "direct" ]; } );
	delivery = { max_connections = 100; max_per_destination = 20; };
	EOF
	"$OUTPOSTD" -f -c "$O_DIR/outpost.conf" 2>>"$WORK/outpostd.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}

P_DIR="$WORK/postfix"
postfix_start() {
	postfix_start_instance bench.example.org "smtp_tls_security_level = none"
	# its smtp client runs chrooted in the queue directory: our DNS there
	echo "nameserver $DNS_ADDR" >"$P_DIR/queue/etc/resolv.conf"
	postfix -c "$PF_CONF" reload >&2 2>&1
}
postfix_queued() { postqueue -c "$PF_CONF" -j | grep -c . || true; }

# --- one run --------------------------------------------------------------------------

declare -A E2E RATE SESS GOT
run() {   # daemon port
	local d=$1 port=$2 t0 t2 got
	say "$d: $MESSAGES messages to $DOMAINS domains on $MXS MX hosts, $SESSIONS sessions"
	sinks_start "$d"
	"${d}_start"
	sync
	t0=$(now)
	$PY bench/fanout_inject.py 127.0.0.1 "$port" "$MESSAGES" "$SESSIONS" "$LENGTH" "$DOMAINS" ||
		{ echo "fanout.sh: injection into $d failed" >&2; exit 1; }
	wait_delivered "$d" "$t0" "${d}_queued" sinks_count
	got=$DELIVERED
	t2=$(now)
	E2E[$d]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	RATE[$d]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$d]}")
	GOT[$d]=$got
	"${d}_stop"
	sleep 0.5   # a sink counts a session when it ends
	SESS[$d]=$(($(sinks_field sess) - SINKS_SESS0))
	sinks_stop
	say "$d: all delivered after ${E2E[$d]} s: ${RATE[$d]} msg/s over ${SESS[$d]} sessions"
}

say "work area $WORK, ports: outpost $O_PORT, postfix $P_PORT; DNS $DNS_ADDR:53; sinks 127.0.1.1-$MXS:25"
wait_idle
run outpost "$O_PORT"
run postfix "$P_PORT"
BUSY_AFTER=$(cpu_busy)

ratio=$(calc '"%.2f" % (a[0] / a[1])' "${RATE[outpost]}" "${RATE[postfix]}")
echo
echo "Fan-out benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; mx route, max_per_destination 20);" \
	"postfix $(postconf -d -h mail_version) (Debian defaults, MX lookups)"
echo "load: $MESSAGES messages of ~$LENGTH octets, 1 recipient each, $DOMAINS domains on $MXS MX hosts," \
	"$SESSIONS injecting sessions; CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo
printf '%-8s | %8s %10s | %8s %9s\n' daemon "e2e s" "e2e msg/s" "at sinks" "sessions"
for d in outpost postfix; do
	printf '%-8s | %8s %10s | %8s %9s\n' "$d" "${E2E[$d]}" "${RATE[$d]}" "${GOT[$d]}" "${SESS[$d]}"
done
echo
echo "ratio outpost/postfix, end-to-end msg/s: ${ratio}x (issue 21's target for 500 domains on one MX: >= 5x)"
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
