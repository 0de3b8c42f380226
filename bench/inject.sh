#!/usr/bin/env bash
# Injection benchmark: outpost vs Postfix, side by side in one run.
#
#     sudo bench/inject.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH]
#                          [--postfix-park relay|hold|defer] [--ref REV] [--debug] [--keep]
#                          [--wait-idle SECONDS]
#
# Same load against each server, each listening on its own free loopback
# port, each with a fresh, empty queue in one temporary directory (one disk):
#   1. smtp-source -s 20 -m 20000 -l 4096 (Postfix's load tool: one message
#      per connection), timed by wall clock -> msg/s; then the queue is
#      counted, so every message was really accepted; the machine's CPU
#      time over the run (/proc/stat) and smtp-source's own (rusage) give
#      the CPU per message of the client and of the rest (the server and
#      the kernel's work for it), and the share left idle;
#   2. bench/smtp_lat with the same numbers (persistent sessions, one
#      message at a time each) -> rate, and acceptance latency per message:
#      from writing the final "." line to reading the 250.
# Servers: outpostd, Postfix, smtp-sink (Postfix's test server, which
# stores nothing: the ceiling that client, kernel and loopback allow here),
# and bench/durable_sink (writes each message to a file and says 250 after
# a group fdatasync, nothing else: the most a server that keeps what it
# acknowledges can reach here).  Order: smtp-source against sink, durable,
# outpost, postfix; then smtp_lat against the same four.  Each server is started afresh on an empty queue
# before its run and stopped after it; `sync` runs before every run.
#
# outpostd: the release build, default settings (SQLite WAL,
# synchronous=FULL, group commit), log at info level to a file.
# Postfix: Debian's package with Debian's main.cf/master.cf; a private
# instance (own config, queue and data directories) whose smtpd listens on
# the bench port, with mynetworks = 127.0.0.0/8.  cleanup(8) fsyncs the
# queue file before smtpd says 250, as outpost commits (fsync) first.
#
# Mail for example.net must stay queued, on both sides the same way.
# --postfix-park relay (default): both relay everything to a loopback port
# where nothing listens (Postfix: relayhost = [127.0.0.1]:PORT; outpost: a
# relay route and a rule), so after the 250 each queue manager takes the
# message, fails to connect and defers it.  --postfix-park hold: Postfix
# puts every message on hold at acceptance (smtpd_data_restrictions =
# check_client_access static:HOLD) and does nothing after the 250;
# --postfix-park defer: defer_transports = smtp.  outpost has neither hold
# nor defer_transports and always gets the dead relay, except builds from
# before delivery existed, which do nothing after the 250 anyway.
#
# --debug runs outpostd with -d (about ten more log lines per message) and
# adds its group-commit sizes and commit times to the report;
# --keep keeps the work area (daemon logs, latency samples).  --ref REV
# measures commit REV (a `git archive` export built in the work area)
# instead of the working tree.  --wait-idle N waits up to N seconds for
# other work to leave the CPUs (under 10% busy) before the runs start.
#
# Prints a table with the ratio and whether the targets (>= 10x Postfix's
# rate, outpost p99 < 20 ms) were met; the exit status says only whether
# the benchmark ran (every message accepted), never whether a target was met.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, Postfix, clean-up

MESSAGES=20000
SESSIONS=20
LENGTH=4096
PARK=relay
KEEP=0
DEBUG=""
REF=""
WAIT_IDLE=0
FROM=from@example.com
TO=to@example.net

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
	--postfix-park) PARK="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--debug) DEBUG=-d ;;
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "inject.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
case "$PARK" in relay|hold|defer) ;; *) echo "inject.sh: --postfix-park relay|hold|defer" >&2; exit 2 ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "inject.sh: Postfix must be started as root: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages ---------------------------------------------------------------

bench_packages "(main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-source /usr/sbin/postfix /usr/sbin/postqueue /usr/sbin/postconf cc python3

# --- work area ----------------------------------------------------------------

work_area bench

# --- build ------------------------------------------------------------------

# shellcheck disable=SC2119   # no targets: all of build/, as scripts/run.sh builds it
build_outpost

cc -O2 -Wall -Wextra -std=c11 -pthread -o "$WORK/smtp_lat" "$REPO/bench/smtp_lat.c"
cc -O2 -Wall -Wextra -std=c11 -pthread -o "$WORK/durable_sink" "$REPO/bench/durable_sink.c"

# --- outpost ----------------------------------------------------------------

O_PORT=$(free_port)
O_DIR="$WORK/outpost"
O_CONF="$O_DIR/outpost.conf"

# The next hop that is down: a loopback port where nothing listens.  Both
# daemons (with --postfix-park relay) relay all mail there, so after the
# 250 each one's queue manager takes the message, fails to connect and
# defers it: the same route on both sides, and nothing leaves.
DEAD_PORT=$(free_port)

outpost_conf() {   # file spool
	dead_relay_conf "$1" "$2" "$O_PORT" "$DEAD_PORT" "$O_ROUTES"
}

# Builds from before delivery (no routes in the config) keep every message
# without doing anything after the 250; later ones get the dead relay.
mkdir -p "$WORK/probe"
O_ROUTES=1
outpost_conf "$WORK/probe/outpost.conf" "$WORK/probe/spool"
if ! "$OUTPOST" -c "$WORK/probe/outpost.conf" check-config >/dev/null 2>&1; then
	O_ROUTES=0
	outpost_conf "$WORK/probe/outpost.conf" "$WORK/probe/spool"
	"$OUTPOST" -c "$WORK/probe/outpost.conf" check-config >&2
fi
if [ "$O_ROUTES" = 1 ]; then
	O_PARK="relay to 127.0.0.1:$DEAD_PORT (down): deferred after the 250"
else
	O_PARK="no delivery in this build: nothing runs after the 250"
fi

outpost_start() {   # a fresh spool every time
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	outpost_conf "$O_CONF" "$O_DIR/spool"
	"$OUTPOSTD" -f $DEBUG -c "$O_CONF" 2>>"$WORK/outpostd.$1.log" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}

outpost_count() {   # messages in the spool, through the admin CLI
	"$OUTPOST" -c "$O_CONF" queue list --json | python3 -c '
import json, sys
q = json.load(sys.stdin)
ok = [m for m in q if m["sender"] == sys.argv[1] and m["size"] >= int(sys.argv[2])
      and [r["address"] for r in m["recipients"]] == [sys.argv[3]]]
print(len(ok) if len(ok) == len(q) else "%d (of which only %d are bench messages)" % (len(q), len(ok)))
' "$FROM" "$LENGTH" "$TO"
}

# --- postfix ------------------------------------------------------------------

P_PORT=$(free_port)
P_DIR="$WORK/postfix"

postfix_start() {   # a fresh private instance every time
	local park
	case "$PARK" in
	relay) park="relayhost = [127.0.0.1]:$DEAD_PORT" ;;
	hold) park="smtpd_data_restrictions = check_client_access static:HOLD" ;;
	defer) park="defer_transports = smtp" ;;
	esac
	postfix_start_instance bench.localdomain "$park"
}

postfix_count() {   # messages in any queue, through postqueue (showq)
	# With --postfix-park relay or defer the queue manager is still moving
	# messages from incoming and active to deferred, and showq, which scans one
	# directory after another, can then list a message twice: wait until
	# nothing is left to move (up to two minutes), and count distinct ids.
	local i out
	for i in $(seq 1 120); do
		out=$(postqueue -c "$PF_CONF" -j | python3 -c '
import json, sys
q = [json.loads(l) for l in sys.stdin if l.strip()]
ids = {m["queue_id"]: m for m in q}
ok = [m for m in ids.values() if m["sender"] == sys.argv[1] and m["message_size"] >= int(sys.argv[2])]
where = {}
for m in ids.values():
    where[m["queue_name"]] = where.get(m["queue_name"], 0) + 1
moving = where.get("incoming", 0) + where.get("active", 0)
print(len(ok) if len(ok) == len(ids) else "%d (of which only %d are bench messages)" % (len(ids), len(ok)),
      " ".join("%s=%d" % kv for kv in sorted(where.items())), "moving" if moving else "")
' "$FROM" "$LENGTH")
		case "$out" in *moving) sleep 1 ;; *) break ;; esac
	done
	echo "${out% moving}"
}

# --- smtp-sink: the ceiling ----------------------------------------------------

# Postfix's test server: answers every command at once and stores nothing,
# so what the load tools reach against it is the most that client, kernel
# and loopback allow on this machine, with no daemon work at all.
S_PORT=$(free_port)

sink_start() {
	/usr/sbin/smtp-sink -u postfix "127.0.0.1:$S_PORT" 256 &
	SINK_PID=$!
	wait_port "$S_PORT" smtp-sink
}

# --- durable_sink: the ceiling for a server that syncs before its 250 --------

D_PORT=$(free_port)

durable_start() {   # its ring file on the same disk as the queues
	"$WORK/durable_sink" "127.0.0.1:$D_PORT" "$WORK/durable.ring" >"$WORK/durable.$1.out" &
	DURABLE_PID=$!
	DURABLE_OUT="$WORK/durable.$1.out"
	wait_port "$D_PORT" durable_sink
}

durable_stop() {   # it prints messages=N syncs=M as it exits
	kill -TERM "$DURABLE_PID" 2>/dev/null || true
	wait "$DURABLE_PID" 2>/dev/null || true
	rm -f "$WORK/durable.ring"
}

durable_count() { grep -o 'messages=[0-9]*' "$DURABLE_OUT" | cut -d= -f2; }

# --- runs -------------------------------------------------------------------

declare -A PORT=([outpost]=$O_PORT [postfix]=$P_PORT [sink]=$S_PORT [durable]=$D_PORT)
declare -A SECS RATE COUNT LAT WHERE CPU

run_source() {   # daemon
	local t0 t1 c0 c1
	sync
	c0=$(cpu_ticks)
	t0=$(now)
	cpu_of "$WORK/client_cpu.$1" /usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" \
		-f "$FROM" -t "$TO" "127.0.0.1:${PORT[$1]}" ||
		{ echo "inject.sh: smtp-source against $1 failed" >&2; exit 1; }
	t1=$(now)
	c1=$(cpu_ticks)
	# per message: the machine's busy CPU, the client's share, the rest
	# (the server and the kernel's work for it), and how idle the CPUs were
	CPU[$1]=$(python3 -c 'import os, sys
b0, i0 = map(int, sys.argv[1].split()); b1, i1 = map(int, sys.argv[2].split())
hz = os.sysconf("SC_CLK_TCK"); n = int(sys.argv[4])
busy = (b1 - b0) / hz; client = float(open(sys.argv[3]).read())
print("%.0f %.0f %.0f %.0f%%" % (busy / n * 1e6, client / n * 1e6, max(busy - client, 0) / n * 1e6,
                                100 * (i1 - i0) / max(1, (b1 - b0) + (i1 - i0))))' "$c0" "$c1" "$WORK/client_cpu.$1" "$MESSAGES")
	SECS[$1]=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
	RATE[$1]=$(python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / float(sys.argv[2])))' "$MESSAGES" "${SECS[$1]}")
}

run_lat() {   # daemon
	local out
	sync
	out=$("$WORK/smtp_lat" -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		-o "$WORK/latency.$1.txt" "127.0.0.1:${PORT[$1]}") ||
		{ echo "inject.sh: smtp_lat against $1 failed: $out" >&2; exit 1; }
	LAT[$1]=$out
}

check_count() {   # daemon count-line
	local n=${2%% *}
	if [ "$n" != "$MESSAGES" ]; then
		echo "inject.sh: $1 holds '$2' messages, expected $MESSAGES" >&2
		exit 1
	fi
}

field() {   # key line: the value of key=value in line
	grep -oE "(^| )$1=[^ ]*" <<<"$2" | head -n1 | cut -d= -f2
}

bench() {   # tool daemon: fresh daemon, one load run, count what was queued, stop
	local n="n/a"
	say "$2: $([ "$1" = source ] && echo smtp-source || echo smtp_lat) -s $SESSIONS -m $MESSAGES -l $LENGTH"
	"$2_start" "$1"
	if [ "$1" = source ]; then run_source "$2"; else run_lat "$2"; fi
	case "$2" in
	outpost) n=$(outpost_count) ;;
	postfix) n=$(postfix_count); [ "$1" = source ] && WHERE[postfix]=${n#* } ;;
	esac
	"$2_stop"
	[ "$2" = durable ] && n=$(durable_count)
	[ "$2" = sink ] || check_count "$2" "$n"
	[ "$1" = source ] && COUNT[$2]=${n%% *}
	return 0
}

say "work area $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), ports: outpost $O_PORT, postfix $P_PORT," \
	"smtp-sink $S_PORT, durable_sink $D_PORT"
wait_idle

for tool in source lat; do
	for daemon in sink durable outpost postfix; do
		bench "$tool" "$daemon"
	done
done

commit_summary() {   # outpostd -d log: group commit sizes and commit times
	python3 - "$1" <<-'PY'
	import re, sys
	g, ms = [], []
	for line in open(sys.argv[1]):
	    if "event=spool_commit " in line:
	        g.append(int(re.search(r" group=(\d+)", line).group(1)))
	        ms.append(float(re.search(r" ms=([\d.]+)", line).group(1)))
	if not g:
	    print("no spool_commit lines"); sys.exit()
	ms.sort()
	pick = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
	print("%d commits for %d msgs: mean group %.1f, max %d, groups of 1: %d; "
	      "commit ms p50 %.2f p99 %.2f max %.2f; storage thread busy %.1f s"
	      % (len(g), sum(g), sum(g) / len(g), max(g), g.count(1), pick(.5), pick(.99), ms[-1], sum(ms) / 1e3))
	PY
}

BUSY_AFTER=$(cpu_busy)

# --- report -------------------------------------------------------------------

ratio=$(calc '"%.2f" % (a[0] / a[1])' "${RATE[outpost]}" "${RATE[postfix]}")
lat_ratio=$(calc '"%.2f" % (a[0] / a[1])' "$(field rate "${LAT[outpost]}")" "$(field rate "${LAT[postfix]}")")
share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "${RATE[outpost]}" "${RATE[sink]}")
lat_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "$(field rate "${LAT[outpost]}")" "$(field rate "${LAT[sink]}")")
d_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "${RATE[durable]}" "${RATE[sink]}")
d_lat_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "$(field rate "${LAT[durable]}")" "$(field rate "${LAT[sink]}")")
od_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "${RATE[outpost]}" "${RATE[durable]}")
od_lat_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "$(field rate "${LAT[outpost]}")" "$(field rate "${LAT[durable]}")")
need=$(calc '"%.0f" % (10 * a[0])' "${RATE[postfix]}")
p99=$(field p99 "${LAT[outpost]}")
rate_ok=$(calc '"MET" if a[0] >= 10 else "NOT MET"' "$ratio")
p99_ok=$(calc '"MET" if a[0] < 20 else "NOT MET"' "$p99")
reachable=$(calc '"yes" if a[0] >= a[1] else "no"' "${RATE[sink]}" "$need")

echo
echo "Injection benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE);" \
	"postfix $(postconf -d -h mail_version) (Debian defaults); smtp-sink = stores nothing;" \
	"durable = bench/durable_sink: write + group fdatasync, nothing else"
case "$PARK" in
relay) P_PARK="relayhost [127.0.0.1]:$DEAD_PORT (down): deferred after the 250" ;;
hold) P_PARK="HOLD at acceptance: nothing runs after the 250" ;;
defer) P_PARK="defer_transports = smtp: deferred after the 250" ;;
esac
echo "mail stays queued: outpost: $O_PARK; postfix: $P_PARK"
echo "load: -s $SESSIONS -m $MESSAGES -l $LENGTH, fresh queue per run, all on one disk ($(df -P "$WORK" | awk 'NR==2 {print $1}'));" \
	"CPU busy before/after the runs: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo
printf '%-8s | %-30s | %-52s\n' "" "smtp-source (1 msg/connection)" "smtp_lat (persistent sessions; '.' -> 250 latency)"
printf '%-8s | %6s %8s %11s    | %6s %8s %8s %8s %8s %8s\n' daemon msgs seconds "msg/s" msgs "msg/s" "p50 ms" "p90 ms" "p99 ms" "max ms"
for d in outpost postfix sink durable; do
	l=${LAT[$d]}
	printf '%-8s | %6s %8s %11s    | %6s %8s %8s %8s %8s %8s\n' "$d" "${COUNT[$d]}" "${SECS[$d]}" "${RATE[$d]}" \
		"$(field sent "$l")" "$(field rate "$l")" "$(field p50 "$l")" "$(field p90 "$l")" \
		"$(field p99 "$l")" "$(field max "$l")"
done
echo
echo "CPU per message, smtp-source runs (us of CPU time; client = smtp-source; the rest = the server"
echo "and the kernel's work for it, loopback TCP included; idle = share of the CPUs left idle):"
printf '%-8s | %8s %8s %8s %6s\n' daemon busy client rest idle
for d in outpost postfix sink durable; do
	read -r busy client rest idle <<<"${CPU[$d]}"
	printf '%-8s | %8s %8s %8s %6s\n' "$d" "$busy" "$client" "$rest" "$idle"
done
budget=$(calc '"%.0f" % (a[0] * 1e6 / a[1])' "$(nproc)" "$need")
echo "at 10x postfix ($need msg/s) the machine has $budget us of CPU per message, client included"
echo
echo "ratio outpost/postfix, msg/s:          smtp-source ${ratio}x, smtp_lat ${lat_ratio}x"
echo "outpost as a share of the sink's rate: smtp-source $share, smtp_lat $lat_share"
echo "durable_sink as a share of the sink:   smtp-source $d_share, smtp_lat $d_lat_share"
echo "outpost as a share of durable_sink:    smtp-source $od_share, smtp_lat $od_lat_share"
echo "postfix queue after smtp-source:       ${WHERE[postfix]}"
echo "target rate >= 10x postfix (smtp-source): $rate_ok (${ratio}x; 10x = $need msg/s)"
if [ "$reachable" = no ]; then
	echo "  note: 10x postfix is above what smtp-source reaches against smtp-sink (${RATE[sink]} msg/s)"
	echo "        on this machine: no server can meet this target with this load here"
elif [ "$(calc '"no" if a[0] < a[1] else "yes"' "${RATE[durable]}" "$need")" = no ]; then
	echo "  note: 10x postfix is above what durable_sink reaches (${RATE[durable]} msg/s), which only"
	echo "        writes and syncs before its 250: no more than a server that keeps nothing can meet it"
fi
share_ok=$(calc '"MET" if a[0] >= 0.75 * a[1] else "NOT MET"' "${RATE[outpost]}" "${RATE[sink]}")
echo "target >= 75% of the sink (smtp-source):  $share_ok ($share)"
if [ "$(calc '"no" if a[0] < 0.75 * a[1] else "yes"' "${RATE[durable]}" "${RATE[sink]}")" = no ]; then
	echo "  note: durable_sink, which only writes and syncs before its 250, reaches $d_share of the sink"
	echo "        here: this target is above the bare minimum of a durable server with this load here"
fi
echo "target outpost p99 < 20 ms (smtp_lat):    $p99_ok (${p99} ms)"
if [ -n "$DEBUG" ]; then
	echo "outpost group commit, smtp-source run: $(commit_summary "$WORK/outpostd.source.log")"
	echo "outpost group commit, smtp_lat run:    $(commit_summary "$WORK/outpostd.lat.log")"
fi
