# shellcheck shell=bash disable=SC2034   # sets variables for the scripts that source it
# Shared helpers of the bench scripts (inject.sh, e2e.sh, bigqueue.sh, dkim.sh), which
# source this file from their own directory.  Not a script of its own.
#
# A script sets REPO (and cd's there) before it calls bench_packages or
# build_outpost, and sets P_DIR before postfix_start.

ME=$(basename "$0")   # inject.sh, e2e.sh, bigqueue.sh: the prefix of errors

# Progress on stderr: "HH:MM:SS inject: message".
say() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${ME%.sh}" "$*" >&2; }

now() { date +%s.%N; }

# calc EXPR NUMBERS...: prints the Python expression EXPR over a = NUMBERS.
calc() { python3 -c "import sys; a = [float(x) for x in sys.argv[2:]]; print($1)" "$@"; }

# bench_packages NOTE TOOL...: the build dependencies (scripts/deps.sh), and
# Debian's postfix preseeded to "No configuration" (nothing is configured or
# started system-wide; NOTE follows "installing postfix" in the progress
# line), then checks that every TOOL is there.
bench_packages() {
	local note=$1 tool
	shift
	"$REPO/scripts/deps.sh" >&2            # build dependencies, sqlite3, python3
	if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed"; then
		say "installing postfix $note"
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >&2
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$ME: $tool missing" >&2; exit 1; }
	done
}

# work_area NAME: makes WORK, a fresh directory /var/tmp/outpost-NAME.XXXXXX
# (or under $BENCH_TMPDIR), and sets the traps that stop whatever is still
# running (OUTPOSTD_PID, SINK_PID, the Postfix instance PF_CONF) on exit and
# remove WORK unless KEEP=1.
work_area() {
	WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/outpost-$1.XXXXXX")
	chmod 755 "$WORK"       # the postfix user must reach its queue directory below
	OUTPOSTD_PID=""
	SINK_PID=""
	PF_CONF=""
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Stops outpostd on exit (our child: SIGTERM and wait).  A script whose
# outpostd is not always its child redefines this.
cleanup_outpostd() {
	if kill -0 "$OUTPOSTD_PID" 2>/dev/null; then
		kill -TERM "$OUTPOSTD_PID" 2>/dev/null || true
		wait "$OUTPOSTD_PID" 2>/dev/null || true
	fi
}

# The EXIT trap: stops the daemons still running, removes (or keeps) WORK and
# exits with the script's status.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$OUTPOSTD_PID" ] || cleanup_outpostd
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

# build_outpost [TARGET...]: builds outpost and sets BIN, OUTPOSTD, OUTPOST,
# VERSION and BUILD_NOTE.  With REF set: a clean `git archive` export of that
# commit, built in the work area, so what is measured does not depend on
# uncommitted changes.  Otherwise the release build in build/, as
# scripts/run.sh makes it (`ninja -C build TARGET...`; no TARGET: all); if
# that fails (e.g. a -Werror warning that only -O3 shows), a release build
# with warnings not fatal in bench/.build, and BUILD_NOTE says so.
build_outpost() {
	local rev
	if [ -n "$REF" ]; then
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
		VERSION=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')
		BIN="$REPO/build"
		BUILD_NOTE="build/, release"
		if ! { { [ -f build/build.ninja ] || meson setup build --buildtype=release; } >&2 &&
		       ninja -C build "$@" >&2; }; then
			say "WARNING: 'ninja -C build' failed; trying a release build with -Dwerror=false in bench/.build"
			[ -f bench/.build/build.ninja ] ||
				meson setup bench/.build --buildtype=release -Dwerror=false >&2
			ninja -C bench/.build outpostd outpost >&2 || {
				echo "$ME: the working tree does not build; try --ref HEAD" >&2
				exit 1
			}
			BIN="$REPO/bench/.build"
			BUILD_NOTE="bench/.build, release, -Dwerror=false because 'ninja -C build' failed"
		fi
	fi
	OUTPOSTD="$BIN/outpostd"
	OUTPOST="$BIN/outpost"
}

# CPU time of the whole machine so far, in clock ticks: "busy idle"
# (idle counts iowait).
cpu_ticks() {
	awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat
}

# cpu_of FILE COMMAND...: runs the command; its CPU seconds (user + system,
# children included) go to FILE; its exit status is the command's.
cpu_of() {
	python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$@"
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT WHAT [TRIES]: waits until 127.0.0.1:PORT accepts a
# connection, trying every 0.1 s, TRIES times (default 100, i.e. 10 s).
wait_port() {
	local i
	for i in $(seq 1 "${3:-100}"); do
		if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "$ME: $2 is not listening on 127.0.0.1:$1" >&2
	return 1
}

# dead_relay_conf FILE SPOOL PORT DEAD_PORT [ROUTES [LINE]]: inject.sh's and
# ab.sh's outpostd config: the spool, a listener on 127.0.0.1:PORT for
# 127.0.0.0/8, and (unless ROUTES is 0: builds from before delivery) every
# message relayed to 127.0.0.1:DEAD_PORT, where nothing listens, so the
# queue manager takes each one after its 250, fails and defers it; LINE,
# if given, is added as it is.
dead_relay_conf() {
	cat >"$1" <<-EOF
	hostname = "bench.localdomain";
	spool    = "$2";
	listen   = ( { address = "127.0.0.1:$3"; } );
	client_networks = [ "127.0.0.0/8" ];
	EOF
	if [ "${5:-1}" = 1 ]; then
		cat >>"$1" <<-EOF
		routes = { down = { type = "relay"; host = "127.0.0.1:$4"; tls = "none"; }; };
		rules  = ( { via = [ "down" ]; } );
		EOF
	fi
	if [ -n "${6:-}" ]; then
		printf '%s\n' "$6" >>"$1"
	fi
}

# Stops the outpostd started in the background (SIGTERM, wait); fails if it
# exited with an error.  (bigqueue.sh has its own, by pid.)
outpost_stop() {
	kill -TERM "$OUTPOSTD_PID"
	wait "$OUTPOSTD_PID" || { echo "$ME: outpostd exited with $?" >&2; return 1; }
	OUTPOSTD_PID=""
}

# postfix_start_instance MYHOSTNAME [MAIN.CF LINE...]: a fresh private Postfix
# instance (own config, queue and data directories in P_DIR) whose smtpd
# listens on 127.0.0.1:P_PORT; Debian's main.cf and master.cf, with
# mynetworks = 127.0.0.0/8 and the given lines added to main.cf.
postfix_start_instance() {
	local host=$1
	shift
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
		echo "# --- $ME: a private instance beside the system's ---"
		echo "queue_directory = $P_DIR/queue"
		echo "data_directory = $P_DIR/data"
		echo "myhostname = $host"
		echo "mynetworks = 127.0.0.0/8"
		[ $# -eq 0 ] || printf '%s\n' "$@"
	} >>"$PF_CONF/main.cf"
	# smtpd on the bench port instead of port 25 (the "smtp inet" line).
	sed -i -E "s/^smtp([[:space:]]+)inet([[:space:]])/127.0.0.1:$P_PORT\1inet\2/" "$PF_CONF/master.cf"
	grep -q "^127.0.0.1:${P_PORT}[[:space:]]" "$PF_CONF/master.cf" ||
		{ echo "$ME: no 'smtp inet' line in master.cf" >&2; return 1; }
	# The chroot (Debian runs smtpd, cleanup, ... chrooted in the queue
	# directory): populate it the way Debian's service does.
	MAIL_CONFIG="$PF_CONF" /usr/lib/postfix/configure-instance.sh - >&2
	postfix -c "$PF_CONF" check >&2
	postfix -c "$PF_CONF" start >&2 2>&1
	wait_port "$P_PORT" postfix
}

# Stops the private Postfix instance and waits (up to 10 s) for its master.
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

# sink_start NAME [DUMP]: an smtp-sink on 127.0.0.1:$S_PORT counting what it
# gets in $WORK/sink.NAME.out (`-c` writes "sess=N quit=N mesg=N" and a CR
# whenever a session ends, a QUIT or a "." arrives), appending every
# message to DUMP when given; sink_count: messages since it started.
sink_start() {
	SINK_OUT="$WORK/sink.$1.out"
	: >"$SINK_OUT"
	/usr/sbin/smtp-sink -c -u postfix ${2:+-D "$2"} "127.0.0.1:$S_PORT" 256 >"$SINK_OUT" &
	SINK_PID=$!
	wait_port "$S_PORT" smtp-sink
	SINK_BASE=$(sink_field mesg)   # wait_port's probe is one session, no message
	SINK_SESS_BASE=$(sink_field sess)
}

sink_count() { echo $(($(sink_field mesg) - SINK_BASE)); }

# wait_delivered NAME T0 QUEUED [COUNT]: waits until COUNT (a function;
# default sink_count) reaches $MESSAGES and QUEUED (a function: messages
# still in the daemon's queue) says 0; after $TIMEOUT seconds from T0 it
# says how far it got and exits 1.  DELIVERED is COUNT's last answer.
wait_delivered() {
	local name=$1 t0=$2 queued=$3 count=${4:-sink_count} deadline
	deadline=$(calc '"%.0f" % (a[0] + a[1])' "$t0" "$TIMEOUT")
	while :; do
		DELIVERED=$("$count")
		if [ "$DELIVERED" -ge "$MESSAGES" ] && [ "$("$queued")" = 0 ]; then
			return 0
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "$(basename "$0"): $name: after ${TIMEOUT}s $DELIVERED of $MESSAGES messages arrived" \
				"and the queue holds $("$queued")" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# Messages still in the spool of the outpostd under $O_DIR.
outpost_queued() {
	sqlite3 "file:$O_DIR/spool/queue.db?mode=ro" "PRAGMA busy_timeout=2000; SELECT count(*) FROM messages;" | tail -n1
}

# Stops the smtp-sink started in the background.
sink_stop() {
	kill -TERM "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
}

# sink_field sess|quit|mesg: the latest counter that `smtp-sink -c` wrote to
# SINK_OUT ("sess=N quit=N mesg=N" and a CR, whenever a session ends, a QUIT
# or a "." arrives); 0 before the first.
sink_field() {
	local v
	v=$(tail -c 200 "$SINK_OUT" | tr '\r' '\n' | grep -o "$1=[0-9]*" | tail -n1 | cut -d= -f2) || true
	echo "${v:-0}"
}

# Percent of all CPUs busy over the next second.
cpu_busy() {
	python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
print("%.0f" % (100.0 * (1 - (i1 - i0) / max(1, t1 - t0))))'
}

# Sets IDLE_BUSY (cpu_busy); with WAIT_IDLE > 0, first waits up to WAIT_IDLE
# seconds for the CPUs to be under 10% busy.  Warns, with the top processes,
# if they are not.
wait_idle() {
	local deadline
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
}
