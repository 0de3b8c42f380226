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
#      counted, so every message was really accepted;
#   2. bench/smtp_lat with the same numbers (persistent sessions, one
#      message at a time each) -> rate, and acceptance latency per message:
#      from writing the final "." line to reading the 250.
# Servers: outpostd, Postfix, and smtp-sink (Postfix's test server, which
# stores nothing: the ceiling that client, kernel and loopback allow here).
# Order: smtp-source against sink, outpost, postfix; then smtp_lat against
# sink, outpost, postfix.  Each server is started afresh on an empty queue
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

say() { printf '%s inject: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- packages ---------------------------------------------------------------

"$REPO/scripts/deps.sh" >&2            # build dependencies, sqlite3, python3
if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed"; then
	say "installing postfix (main_mailer_type: No configuration; nothing is started)"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >&2
fi
for tool in /usr/sbin/smtp-source /usr/sbin/postfix /usr/sbin/postqueue /usr/sbin/postconf cc python3; do
	command -v "$tool" >/dev/null || { echo "inject.sh: $tool missing" >&2; exit 1; }
done

# --- work area ----------------------------------------------------------------

WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/outpost-bench.XXXXXX")
chmod 755 "$WORK"       # the postfix user must reach its queue directory below
OUTPOSTD_PID=""
SINK_PID=""
PF_CONF=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$OUTPOSTD_PID" ] && kill -0 "$OUTPOSTD_PID" 2>/dev/null; then
		kill -TERM "$OUTPOSTD_PID" 2>/dev/null || true
		wait "$OUTPOSTD_PID" 2>/dev/null || true
	fi
	if [ -n "$SINK_PID" ]; then
		kill -TERM "$SINK_PID" 2>/dev/null || true
		wait "$SINK_PID" 2>/dev/null || true
	fi
	if [ -n "$PF_CONF" ] && postfix -c "$PF_CONF" status >/dev/null 2>&1; then
		postfix -c "$PF_CONF" abort >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then
		say "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------

if [ -n "$REF" ]; then
	# A clean export of one commit, built in the work area: what is measured
	# does not depend on uncommitted changes in the checkout.
	rev=$(git -C "$REPO" rev-parse --short "$REF^{commit}")
	say "building outpost $rev (git archive $REF) in the work area"
	mkdir "$WORK/src"
	git -C "$REPO" archive --format=tar "$rev" | tar -x -C "$WORK/src"
	meson setup "$WORK/build" "$WORK/src" --buildtype=release -Dwerror=false >&2
	ninja -C "$WORK/build" outpostd outpost >&2
	BIN="$WORK/build"
	VERSION="$rev"
	BUILD_NOTE="git archive $REF, release, -Dwerror=false"
else
	# The release build in build/, as scripts/run.sh makes it.  If that build
	# fails (e.g. a -Werror warning that only -O3 shows), fall back to a
	# release build with warnings not fatal in bench/.build, and say so.
	VERSION=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')
	BIN="$REPO/build"
	BUILD_NOTE="build/, release"
	if ! { { [ -f build/build.ninja ] || meson setup build --buildtype=release; } >&2 &&
	       ninja -C build >&2; }; then
		say "WARNING: 'ninja -C build' failed; trying a release build with -Dwerror=false in bench/.build"
		[ -f bench/.build/build.ninja ] ||
			meson setup bench/.build --buildtype=release -Dwerror=false >&2
		ninja -C bench/.build outpostd outpost >&2 || {
			echo "inject.sh: the working tree does not build; try --ref HEAD" >&2
			exit 1
		}
		BIN="$REPO/bench/.build"
		BUILD_NOTE="bench/.build, release, -Dwerror=false because 'ninja -C build' failed"
	fi
fi
OUTPOSTD="$BIN/outpostd"
OUTPOST="$BIN/outpost"

cc -O2 -Wall -Wextra -std=c11 -pthread -o "$WORK/smtp_lat" "$REPO/bench/smtp_lat.c"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {   # port, what
	local i
	for i in $(seq 1 100); do
		if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "inject.sh: $2 is not listening on 127.0.0.1:$1" >&2
	return 1
}

now() { date +%s.%N; }

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
	cat >"$1" <<-EOF
	hostname = "bench.localdomain";
	spool    = "$2";
	listen   = ( { address = "127.0.0.1:$O_PORT"; } );
	client_networks = [ "127.0.0.0/8" ];
	EOF
	if [ "$O_ROUTES" = 1 ]; then
		cat >>"$1" <<-EOF
		routes = { down = { type = "relay"; host = "127.0.0.1:$DEAD_PORT"; tls = "none"; }; };
		rules  = ( { via = [ "down" ]; } );
		EOF
	fi
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

outpost_stop() {
	kill -TERM "$OUTPOSTD_PID"
	wait "$OUTPOSTD_PID" || { echo "inject.sh: outpostd exited with $?" >&2; return 1; }
	OUTPOSTD_PID=""
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
	rm -rf "$P_DIR"
	mkdir -p "$P_DIR/etc" "$P_DIR/queue" "$P_DIR/data"
	chown postfix "$P_DIR/data"
	PF_CONF="$P_DIR/etc"
	# Debian's main.cf as the package ships it (what "Internet Site" starts
	# from), and Debian's master.cf.
	cp /usr/share/postfix/main.cf.debian "$PF_CONF/main.cf"
	cp /etc/postfix/master.cf "$PF_CONF/master.cf"
	{
		echo
		echo "# --- inject.sh: a private instance beside the system's ---"
		echo "queue_directory = $P_DIR/queue"
		echo "data_directory = $P_DIR/data"
		echo "myhostname = bench.localdomain"
		echo "mynetworks = 127.0.0.0/8"
		case "$PARK" in
		relay) echo "relayhost = [127.0.0.1]:$DEAD_PORT" ;;
		hold) echo "smtpd_data_restrictions = check_client_access static:HOLD" ;;
		defer) echo "defer_transports = smtp" ;;
		esac
	} >>"$PF_CONF/main.cf"
	# smtpd on the bench port instead of port 25 (the "smtp inet" line).
	sed -i -E "s/^smtp([[:space:]]+)inet([[:space:]])/127.0.0.1:$P_PORT\1inet\2/" "$PF_CONF/master.cf"
	grep -q "^127.0.0.1:$P_PORT[[:space:]]" "$PF_CONF/master.cf" ||
		{ echo "inject.sh: no 'smtp inet' line in master.cf" >&2; return 1; }
	# The chroot (Debian runs smtpd, cleanup, ... chrooted in the queue
	# directory): populate it the way Debian's service does.
	MAIL_CONFIG="$PF_CONF" /usr/lib/postfix/configure-instance.sh - >&2
	postfix -c "$PF_CONF" check >&2
	postfix -c "$PF_CONF" start >&2 2>&1
	wait_port "$P_PORT" postfix
}

postfix_stop() {
	local pid i
	pid=$(tr -d ' ' <"$P_DIR/queue/pid/master.pid")
	postfix -c "$PF_CONF" stop >&2 2>&1
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	PF_CONF=""
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

sink_stop() {
	kill -TERM "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
}

# --- runs -------------------------------------------------------------------

declare -A PORT=([outpost]=$O_PORT [postfix]=$P_PORT [sink]=$S_PORT)
declare -A SECS RATE COUNT LAT WHERE

run_source() {   # daemon
	local t0 t1
	sync
	t0=$(now)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:${PORT[$1]}" ||
		{ echo "inject.sh: smtp-source against $1 failed" >&2; exit 1; }
	t1=$(now)
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
	[ "$2" = sink ] || check_count "$2" "$n"
	[ "$1" = source ] && COUNT[$2]=${n%% *}
	return 0
}

say "work area $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), ports: outpost $O_PORT, postfix $P_PORT, smtp-sink $S_PORT"
cpu_busy() {   # percent of all CPUs busy over the next second
	python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
print("%.0f" % (100.0 * (1 - (i1 - i0) / max(1, t1 - t0))))'
}
IDLE_BUSY=$(cpu_busy)
if [ "$WAIT_IDLE" -gt 0 ] && [ "$IDLE_BUSY" -ge 10 ]; then
	say "CPUs ${IDLE_BUSY}% busy: waiting up to ${WAIT_IDLE}s for them to be quiet"
	deadline=$((SECONDS + WAIT_IDLE))
	while [ "$IDLE_BUSY" -ge 10 ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 4
		IDLE_BUSY=$(cpu_busy)
	done
fi
say "CPU busy before the runs: ${IDLE_BUSY}% (load $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "$IDLE_BUSY" -ge 10 ]; then
	say "WARNING: something else is using the CPUs; the figures will be skewed:"
	ps -eo pcpu=,pid=,args= --sort=-pcpu | head -n 5 | cut -c1-100 >&2
fi

for tool in source lat; do
	for daemon in sink outpost postfix; do
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

calc() { python3 -c "import sys; a = [float(x) for x in sys.argv[2:]]; print($1)" "$@"; }

ratio=$(calc '"%.2f" % (a[0] / a[1])' "${RATE[outpost]}" "${RATE[postfix]}")
lat_ratio=$(calc '"%.2f" % (a[0] / a[1])' "$(field rate "${LAT[outpost]}")" "$(field rate "${LAT[postfix]}")")
share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "${RATE[outpost]}" "${RATE[sink]}")
lat_share=$(calc '"%.0f%%" % (100 * a[0] / a[1])' "$(field rate "${LAT[outpost]}")" "$(field rate "${LAT[sink]}")")
need=$(calc '"%.0f" % (10 * a[0])' "${RATE[postfix]}")
p99=$(field p99 "${LAT[outpost]}")
rate_ok=$(calc '"MET" if a[0] >= 10 else "NOT MET"' "$ratio")
p99_ok=$(calc '"MET" if a[0] < 20 else "NOT MET"' "$p99")
reachable=$(calc '"yes" if a[0] >= a[1] else "no"' "${RATE[sink]}" "$need")

echo
echo "Injection benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE);" \
	"postfix $(postconf -d -h mail_version) (Debian defaults); smtp-sink = stores nothing"
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
for d in outpost postfix sink; do
	l=${LAT[$d]}
	printf '%-8s | %6s %8s %11s    | %6s %8s %8s %8s %8s %8s\n' "$d" "${COUNT[$d]}" "${SECS[$d]}" "${RATE[$d]}" \
		"$(field sent "$l")" "$(field rate "$l")" "$(field p50 "$l")" "$(field p90 "$l")" \
		"$(field p99 "$l")" "$(field max "$l")"
done
echo
echo "ratio outpost/postfix, msg/s:          smtp-source ${ratio}x, smtp_lat ${lat_ratio}x"
echo "outpost as a share of the sink's rate: smtp-source $share, smtp_lat $lat_share"
echo "postfix queue after smtp-source:       ${WHERE[postfix]}"
echo "target rate >= 10x postfix (smtp-source): $rate_ok (${ratio}x; 10x = $need msg/s)"
if [ "$reachable" = no ]; then
	echo "  note: 10x postfix is above what smtp-source reaches against smtp-sink (${RATE[sink]} msg/s)"
	echo "        on this machine: no server can meet this target with this load here"
fi
echo "target outpost p99 < 20 ms (smtp_lat):    $p99_ok (${p99} ms)"
if [ -n "$DEBUG" ]; then
	echo "outpost group commit, smtp-source run: $(commit_summary "$WORK/outpostd.source.log")"
	echo "outpost group commit, smtp_lat run:    $(commit_summary "$WORK/outpostd.lat.log")"
fi
