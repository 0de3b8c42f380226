#!/usr/bin/env bash
# Big-queue benchmark: outpostd with 1,000,000 messages in its spool.
#
#     sudo bench/bigqueue.sh [--quick] [-n MESSAGES] [--seed N] [-l LENGTH]
#                            [--rss-secs S] [--deliver-secs S] [--ref REV] [--keep]
#                            [--metrics | --metrics-only] [--routes N] [--scrapes K]
#
# Targets (issue): with a queue of 1,000,000 messages to an unreachable
# destination, outpostd's RSS stays under 1 GB; restart-to-first-delivery
# is under 10 s.
#
# 1. Seed: outpostd with one relay route to 127.0.0.1:DEAD (a loopback port
#    where nothing listens: connection refused, 4.4.1, deferred) takes
#    `smtp-source -s 20 -m SEED -l LENGTH` (default 20,000 x 1 KB), then is
#    stopped (SIGTERM).
# 2. Clone (daemon stopped): the sqlite3 CLI copies the seed's rows inside
#    the spool (messages, recipients, attempts) until the spool holds
#    MESSAGES (default 1,000,000).  Copy k of seed message with rowid r gets
#    the id printf('Z%015d', k*1000000 + r): 16 characters of Crockford
#    base32, unique, never made by outpost (its ids start with a time stamp).
#    Bodies, senders, recipients and attempt rows are the seed's (a seed body
#    kept in a segment file, 32 KiB and up, is first put back inline in its
#    row: a copy must not share the segment's range, whose hole is punched
#    when the message holding it is delivered); then every
#    message and pending recipient is made due now (next_attempt = now,
#    claimed = 0).  Done in one transaction with journal_mode=DELETE and
#    synchronous=OFF (an offline set-up step, not the daemon), then the spool
#    is put back in WAL mode.
# 3. RSS: outpostd starts on that spool, route still dead, and churns:
#    claims due messages (2,000 in memory at most), fails to connect, records
#    each as deferred.  /proc/PID/status VmRSS is sampled every 0.5 s for
#    RSS_SECS (default 60) seconds; the peak (VmHWM) is reported, with the
#    number of deferrals it logged meanwhile.  Then it is stopped.
# 4. Restart to first delivery: `outpost queue flush` makes every message due
#    (daemon stopped); the route is pointed at an smtp-sink on a free loopback
#    port; outpostd is started, and the time from starting it to the first
#    message arriving at the sink (smtp-sink -c counter) is measured, as are
#    the time to its listening port accepting and to its first
#    `result=delivered` log line.  It then delivers for DELIVER_SECS (default
#    30) seconds: the delivery rate from the big queue and the RSS while
#    delivering are reported.
# 5. /metrics (with --metrics, or --metrics-only: phases 1, 2 and 5 alone):
#    outpostd on what is left of the big queue (all of it with
#    --metrics-only), with N relay routes (--routes, default 100) all to the
#    dead port, a rule whose via lists all of them, and the HTTP listener;
#    every message is due, so it churns against routes that go down one by
#    one while K (--scrapes, default 200) GET /metrics are timed one after
#    the other (after 3 untimed ones); the report gives the median, p90, p99
#    and max, the size of the answer and its series, and the queue size the
#    answer itself reports (target: under 10 ms).
#
# --quick: 100,000 messages from a seed of 5,000, 20 s of RSS sampling,
# 10 s of delivery.  --keep keeps the work area (spool, logs); --ref REV
# measures commit REV (a `git archive` export built in the work area).
# Exit status: whether the benchmark ran, never whether a target was met.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, Postfix, clean-up

TOTAL=1000000
SEED=20000
LENGTH=1024
RSS_SECS=60
DELIVER_SECS=30
KEEP=0
REF=""
METRICS=0       # 1: phase 5 too; 2: phases 1, 2 and 5 only
M_ROUTES=100
SCRAPES=200
FROM=from@example.com
TO=to@example.net

usage() {
	sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TOTAL=100000; SEED=5000; RSS_SECS=20; DELIVER_SECS=10 ;;
	-n) TOTAL="${2:?}"; shift ;;
	--seed) SEED="${2:?}"; shift ;;
	-l) LENGTH="${2:?}"; shift ;;
	--rss-secs) RSS_SECS="${2:?}"; shift ;;
	--deliver-secs) DELIVER_SECS="${2:?}"; shift ;;
	--keep) KEEP=1 ;;
	--ref) REF="${2:?}"; shift ;;
	--metrics) METRICS=1 ;;
	--metrics-only) METRICS=2 ;;
	--routes) M_ROUTES="${2:?}"; shift ;;
	--scrapes) SCRAPES="${2:?}"; shift ;;
	-h|--help) usage ;;
	*) echo "bigqueue.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
[ "$SEED" -le 999999 ] || { echo "bigqueue.sh: --seed must be below 1,000,000" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
	echo "bigqueue.sh: run as root (smtp-sink drops to the postfix user): sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages (bench/lib.sh) ----------------------------------------------------

bench_packages "for smtp-source/smtp-sink (main_mailer_type: No configuration)" \
	/usr/sbin/smtp-source /usr/sbin/smtp-sink sqlite3 python3

# --- work area ----------------------------------------------------------------

work_area bigqueue

# outpostd is sometimes started by a helper (phase 4), so not always our
# child: stop it by pid and wait for the pid to go.
daemon_kill() {   # pid: SIGTERM, wait up to 60 s; 0 if it exited
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 1 600); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "bigqueue.sh: outpostd $1 still running 60 s after SIGTERM; killing it" >&2
	kill -KILL "$1" 2>/dev/null || true
	return 1
}

cleanup_outpostd() { daemon_kill "$OUTPOSTD_PID" || true; }   # lib.sh's exit trap, by pid

# --- build (bench/lib.sh) ----------------------------------------------------------

build_outpost outpostd outpost

secs_since() { calc '"%.1f" % (a[1] - a[0])' "$1" "$(now)"; }

O_PORT=$(free_port)
DEAD_PORT=$(free_port)   # nothing listens here
S_PORT=$(free_port)
O_DIR="$WORK/outpost"
O_CONF="$O_DIR/outpost.conf"
DB="$O_DIR/spool/queue.db"
LOG="$WORK/outpostd.log"
mkdir -p "$O_DIR"

conf() {   # relay port
	cat >"$O_CONF" <<-EOF
	hostname = "bench.test";
	spool    = "$O_DIR/spool";
	listen   = ( { address = "127.0.0.1:$O_PORT"; } );
	client_networks = [ "127.0.0.0/8" ];
	routes   = { next = { type = "relay"; host = "127.0.0.1:$1"; tls = "none"; }; };
	rules    = ( { via = [ "next" ]; } );
	delivery = { max_connections = 100; max_per_destination = 20; };
	EOF
}

outpost_start() {
	echo "=== outpostd start ($1) $(date -u +%FT%TZ)" >>"$LOG"
	"$OUTPOSTD" -f -c "$O_CONF" 2>>"$LOG" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd 300
	# The port is bound before the spool is opened, whose integrity check
	# reads all of a cold 2.3 GB spool (30 s and more): wait for the loop.
	local i
	for i in $(seq 3000); do
		awk -v m="=== outpostd start ($1)" 'index($0, m) == 1 { on = 1 }
			on && /event=started/ { found = 1; exit } END { exit !found }' "$LOG" && return 0
		sleep 0.1
	done
	echo "$ME: outpostd ($1) did not start within 300 s" >&2
	return 1
}

outpost_stop() {
	daemon_kill "$OUTPOSTD_PID"
	OUTPOSTD_PID=""
}

q() { sqlite3 "$DB" "PRAGMA busy_timeout=5000;" "$@" | tail -n1; }

say "work area $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), outpost $O_PORT, dead relay $DEAD_PORT, sink $S_PORT"

# --- 1. seed --------------------------------------------------------------------------

conf "$DEAD_PORT"
outpost_start seed
say "seed: smtp-source -s 20 -m $SEED -l $LENGTH into outpostd (relay route to the dead port)"
t=$(now)
/usr/sbin/smtp-source -s 20 -m "$SEED" -l "$LENGTH" -f "$FROM" -t "$TO" "127.0.0.1:$O_PORT"
SEED_SECS=$(secs_since "$t")
outpost_stop
seeded=$(q "SELECT count(*) FROM messages;")
[ "$seeded" = "$SEED" ] || { echo "bigqueue.sh: the spool holds $seeded messages after the seed, expected $SEED" >&2; exit 1; }
say "seed: $SEED messages in ${SEED_SECS} s; $(q "SELECT count(*) FROM attempts;") attempt rows"

# --- 2. clone -------------------------------------------------------------------------

# bodies in segment files back into their rows (see 2. above); the files,
# referenced by no row now, are removed by outpostd when it next opens the spool
python3 - "$O_DIR/spool" <<-'EOF'
import os, sqlite3, sys
spool = sys.argv[1]
db = sqlite3.connect(os.path.join(spool, "queue.db"))
rows = db.execute("SELECT id, body_seg, body_off, size FROM messages WHERE body_seg IS NOT NULL").fetchall()
for qid, seg, off, size in rows:
    with open(os.path.join(spool, "bodies", "%010d" % seg), "rb") as f:
        f.seek(off)
        body = f.read(size)
    db.execute("UPDATE messages SET body = ?, body_seg = NULL, body_off = NULL, body_crc = NULL WHERE id = ?",
               (body, qid))
db.commit()
EOF

COPIES=$(( (TOTAL - SEED + SEED - 1) / SEED ))
say "clone: $COPIES copies of the seed, up to $TOTAL messages (sqlite3, daemon stopped)"
t=$(now)
sqlite3 "$DB" >/dev/null <<-EOF
.bail on
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-1000000;
PRAGMA temp_store=MEMORY;
BEGIN;
CREATE TEMP TABLE k(n INTEGER PRIMARY KEY);
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $COPIES)
	INSERT INTO k SELECT n FROM c;
CREATE TEMP TABLE map AS
	SELECT printf('Z%015d', k.n * 1000000 + m.rowid) AS new_id, m.id AS old_id
	FROM k CROSS JOIN messages m ORDER BY k.n, m.rowid LIMIT $TOTAL - $SEED;
CREATE TEMP TABLE seed_msg AS SELECT * FROM messages;
CREATE INDEX temp.seed_msg_id ON seed_msg(id);
CREATE TEMP TABLE seed_rcpt AS SELECT * FROM recipients;
CREATE INDEX temp.seed_rcpt_id ON seed_rcpt(msg_id);
CREATE TEMP TABLE seed_att AS SELECT * FROM attempts;
CREATE INDEX temp.seed_att_id ON seed_att(msg_id);
INSERT INTO messages (id, sender, client_addr, client_helo, auth_user, size, smtputf8, body_8bit,
		      created, next_attempt, body, claimed, delay_notified)
	SELECT map.new_id, s.sender, s.client_addr, s.client_helo, s.auth_user, s.size, s.smtputf8,
	       s.body_8bit, s.created, s.next_attempt, s.body, 0, s.delay_notified
	FROM map JOIN seed_msg s ON s.id = map.old_id ORDER BY map.new_id;
INSERT INTO recipients (msg_id, position, address, state, attempts, last_reply, last_attempt, next_attempt)
	SELECT map.new_id, r.position, r.address, r.state, r.attempts, r.last_reply, r.last_attempt,
	       r.next_attempt
	FROM map JOIN seed_rcpt r ON r.msg_id = map.old_id ORDER BY map.new_id, r.position;
INSERT INTO attempts (msg_id, recipient, time, route, remote_host, remote_ip, tls, reply, result)
	SELECT map.new_id, a.recipient, a.time, a.route, a.remote_host, a.remote_ip, a.tls, a.reply, a.result
	FROM map JOIN seed_att a ON a.msg_id = map.old_id ORDER BY map.new_id, a.id;
UPDATE messages SET next_attempt = CAST(strftime('%s', 'now') AS INTEGER), claimed = 0;
UPDATE recipients SET next_attempt = CAST(strftime('%s', 'now') AS INTEGER)
	WHERE state IN ('queued', 'deferred');
COMMIT;
PRAGMA journal_mode=WAL;
EOF
CLONE_SECS=$(secs_since "$t")
N_MSG=$(q "SELECT count(*) FROM messages;")
N_RCPT=$(q "SELECT count(*) FROM recipients;")
N_ATT=$(q "SELECT count(*) FROM attempts;")
DB_MB=$(du -sm "$O_DIR/spool" | cut -f1)
say "clone: ${CLONE_SECS} s: $N_MSG messages, $N_RCPT recipients, $N_ATT attempts, spool ${DB_MB} MB"
[ "$N_MSG" = "$TOTAL" ] || { echo "bigqueue.sh: the spool holds $N_MSG messages, expected $TOTAL" >&2; exit 1; }
sync
{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true   # start from a cold page cache

# --- 5. /metrics on the big queue, N routes (run after phase 4, or right away) -------------

M_PORT=$(free_port)

conf_metrics() {   # N relay routes to the dead port, one rule via all of them, the HTTP listener
	local i via=""
	{
		echo "hostname = \"bench.test\";"
		echo "spool    = \"$O_DIR/spool\";"
		echo "listen   = ( { address = \"127.0.0.1:$O_PORT\"; } );"
		echo "client_networks = [ \"127.0.0.0/8\" ];"
		echo "http     = { listen = \"127.0.0.1:$M_PORT\"; };"
		echo "routes   = {"
		for i in $(seq 1 "$M_ROUTES"); do
			echo "  r$i = { type = \"relay\"; host = \"127.0.0.1:$DEAD_PORT\"; tls = \"none\"; };"
			via="$via${via:+, }\"r$i\""
		done
		echo "};"
		echo "rules    = ( { via = [ $via ]; } );"
		echo "delivery = { max_connections = 100; max_per_destination = 20; };"
	} >"$O_CONF"
}

metrics_phase() {
	conf_metrics
	M_QUEUED=$(q "SELECT count(*) FROM messages;")
	say "metrics: outpostd on $M_QUEUED messages, $M_ROUTES routes to the dead port; $SCRAPES timed GET /metrics"
	outpost_start metrics
	wait_port "$M_PORT" "outpostd's http listener" 300
	read -r M_MED M_P90 M_P99 M_MAX M_BYTES M_SERIES M_SEEN < <(python3 - "$M_PORT" "$SCRAPES" <<-'PY'
	import sys, time, urllib.request
	url, n = "http://127.0.0.1:%s/metrics" % sys.argv[1], int(sys.argv[2])
	for _ in range(3):
	    body = urllib.request.urlopen(url, timeout=30).read()
	ts = []
	for _ in range(n):
	    t0 = time.perf_counter()
	    body = urllib.request.urlopen(url, timeout=30).read()
	    ts.append((time.perf_counter() - t0) * 1000)
	ts.sort()
	lines = [l for l in body.decode().splitlines() if l and not l.startswith("#")]
	queued = [l.split()[-1] for l in lines if l.startswith("outpost_queue_messages ")]
	pick = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]
	print("%.2f %.2f %.2f %.2f %d %d %s" % (pick(0.5), pick(0.9), pick(0.99), ts[-1], len(body), len(lines),
	                                        queued[0] if queued else "?"))
	PY
	)
	outpost_stop
	say "metrics: median ${M_MED} ms, p90 ${M_P90} ms, p99 ${M_P99} ms, max ${M_MAX} ms; $M_BYTES bytes, $M_SERIES series; outpost_queue_messages $M_SEEN"
}

metrics_report() {
	echo "GET /metrics, $M_ROUTES relay routes (all dead: outpostd churning), $M_QUEUED queued, $SCRAPES scrapes one after another:"
	echo "  median ${M_MED} ms, p90 ${M_P90} ms, p99 ${M_P99} ms, max ${M_MAX} ms;" \
		"answer $M_BYTES bytes, $M_SERIES series; it reported outpost_queue_messages $M_SEEN"
	echo "target /metrics under 10 ms: $(calc '"MET" if a[0] < 10 else "NOT MET"' "$M_P99") (p99 ${M_P99} ms)"
}

if [ "$METRICS" = 2 ]; then
	metrics_phase
	echo
	echo "Big-queue /metrics benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
	echo "outpost $VERSION ($BUILD_NOTE); spool: $N_MSG messages cloned from $SEED (${DB_MB} MB)"
	metrics_report
	exit 0
fi

# --- 3. RSS while churning against the dead route ---------------------------------------

rss_sample() {   # pid seconds out-file: VmRSS every 0.5 s; prints "peak_rss_kb hwm_kb samples"
	python3 - "$@" <<-'PY'
	import sys, time
	pid, secs, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
	peak, hwm, n, t0 = 0, 0, 0, time.monotonic()
	with open(out, "a") as f:
	    while time.monotonic() - t0 < secs:
	        try:
	            st = open("/proc/%s/status" % pid).read()
	        except OSError:
	            break
	        v = {l.split(":")[0]: int(l.split()[1]) for l in st.splitlines() if l.startswith(("VmRSS", "VmHWM"))}
	        peak, hwm, n = max(peak, v["VmRSS"]), v["VmHWM"], n + 1
	        f.write("%.1f %d\n" % (time.monotonic() - t0, v["VmRSS"]))
	        time.sleep(0.5)
	print(peak, hwm, n)
	PY
}

count_log() {   # pattern, from line: lines matching since line N of the log
	tail -n +"$2" "$LOG" | grep -c -- "$1" || true
}

say "rss: outpostd on $N_MSG messages, route to the dead port, sampling RSS for ${RSS_SECS} s"
line0=$(($(wc -l <"$LOG") + 1))
t=$(now)
outpost_start churn
START_SECS=$(secs_since "$t")
read -r RSS_PEAK RSS_HWM RSS_N < <(rss_sample "$OUTPOSTD_PID" "$RSS_SECS" "$WORK/rss.churn.txt")
CHURN_DEFERRED=$(count_log "result=deferred" "$line0")
outpost_stop
say "rss: listening after ${START_SECS} s; peak VmRSS $((RSS_PEAK / 1024)) MB, VmHWM $((RSS_HWM / 1024)) MB ($RSS_N samples); $CHURN_DEFERRED deferrals logged"

# --- 4. restart to first delivery ----------------------------------------------------------

t=$(now)
FLUSHED=$("$OUTPOST" -c "$O_CONF" queue flush 2>&1 | tail -n1)
FLUSH_SECS=$(secs_since "$t")
say "flush: '$FLUSHED' in ${FLUSH_SECS} s"
conf "$S_PORT"
SINK_OUT="$WORK/sink.out"
/usr/sbin/smtp-sink -c -u postfix "127.0.0.1:$S_PORT" 256 >"$SINK_OUT" &
SINK_PID=$!
wait_port "$S_PORT" smtp-sink 300
sync
{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true
echo "=== outpostd start (restart) $(date -u +%FT%TZ)" >>"$LOG"
line0=$(($(wc -l <"$LOG") + 1))

# Started by a helper that polls, so that start and arrival are timed in one
# process: the listening port (connect), then the sink's message counter.
read -r OUTPOSTD_PID T_START T_LISTEN T_FIRST < <(python3 - "$OUTPOSTD" "$O_CONF" "$LOG" "$SINK_OUT" "$O_PORT" <<-'PY'
	import re, socket, subprocess, sys, time
	outpostd, conf, log, sink, port = sys.argv[1:6]
	def mesg():
	    with open(sink, "rb") as f:
	        f.seek(0, 2)
	        f.seek(max(0, f.tell() - 200))
	        m = re.findall(rb"mesg=(\d+)", f.read())
	    return int(m[-1]) if m else 0
	wall = time.time()
	t0 = time.monotonic()
	p = subprocess.Popen([outpostd, "-f", "-c", conf], stderr=open(log, "ab"), stdin=subprocess.DEVNULL)
	listen = first = None
	while first is None and time.monotonic() - t0 < 120 and p.poll() is None:
	    if listen is None:
	        try:
	            socket.create_connection(("127.0.0.1", int(port)), 0.05).close()
	            listen = time.monotonic() - t0
	        except OSError:
	            pass
	    if mesg() >= 1:
	        first = time.monotonic() - t0
	    else:
	        time.sleep(0.002)
	print(p.pid, "%.6f" % wall, "%.3f" % (listen if listen is not None else -1),
	      "%.3f" % (first if first is not None else -1))
	PY
)
[ "$T_FIRST" != "-1.000" ] || { echo "bigqueue.sh: no message reached the sink within 120 s of the restart" >&2; exit 1; }
# the first result=delivered line's time stamp (UTC, ms), relative to the start
T_LOG=$(tail -n +"$line0" "$LOG" | grep -m1 -- "result=delivered" | python3 -c '
import sys, datetime
l = sys.stdin.readline()
t = datetime.datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
print("%.3f" % (t.timestamp() - float(sys.argv[1])))' "$T_START" 2>/dev/null) || true
[ -n "$T_LOG" ] || T_LOG="?"
say "restart: listening after ${T_LISTEN} s, first message at the sink after ${T_FIRST} s, first result=delivered logged at ${T_LOG} s"

sink_count() { sink_field mesg; }
d0=$(sink_count)
t=$(now)
read -r DRSS_PEAK DRSS_HWM DRSS_N < <(rss_sample "$OUTPOSTD_PID" "$DELIVER_SECS" "$WORK/rss.deliver.txt")
D_SECS=$(secs_since "$t")
d1=$(sink_count)
D_RATE=$(calc '"%.0f" % ((a[1] - a[0]) / a[2])' "$d0" "$d1" "$D_SECS")
outpost_stop
LEFT=$(q "SELECT count(*) FROM messages;")
say "deliver: $((d1 - d0)) messages in ${D_SECS} s ($D_RATE msg/s); VmHWM $((DRSS_HWM / 1024)) MB; $LEFT left in the spool"

# --- report -------------------------------------------------------------------------------

mb() { calc '"%.0f" % (a[0] / 1024)' "$1"; }
rss_ok=$(calc '"MET" if a[0] < 1024 * 1024 else "NOT MET"' "$(calc 'max(a)' "$RSS_HWM" "$DRSS_HWM")")
first_ok=$(calc '"MET" if 0 <= a[0] < 10 else "NOT MET"' "$T_FIRST")

echo
echo "Big-queue benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r), $(free -g | awk '/^Mem:/ {print $2}') GB RAM"
echo "outpost $VERSION ($BUILD_NOTE)"
echo "spool: $N_MSG messages ($N_RCPT recipients, $N_ATT attempt rows), ${LENGTH}-byte bodies from smtp-source," \
	"${DB_MB} MB on $(df -P "$WORK" | awk 'NR==2 {print $1}')"
echo "  seed: $SEED through SMTP in ${SEED_SECS} s; cloned with SQL to $N_MSG in ${CLONE_SECS} s"
echo
echo "against an unreachable relay (connection refused), all due at start, ${RSS_SECS} s:"
echo "  listening after:        ${START_SECS} s"
echo "  RSS peak (VmHWM):       $(mb "$RSS_HWM") MB (max sampled VmRSS $(mb "$RSS_PEAK") MB, $RSS_N samples)"
echo "  deferrals recorded:     $CHURN_DEFERRED"
echo "restart with the relay reachable (smtp-sink), after 'queue flush' ($FLUSH_SECS s: $FLUSHED):"
echo "  listening after:        ${T_LISTEN} s"
echo "  first message at sink:  ${T_FIRST} s   (first result=delivered in the log: ${T_LOG} s)"
echo "  then ${D_SECS} s of delivery: $((d1 - d0)) messages, $D_RATE msg/s; VmHWM $(mb "$DRSS_HWM") MB; $LEFT left"
echo
echo "target RSS < 1 GB:                       $rss_ok"
echo "target restart-to-first-delivery < 10 s: $first_ok (${T_FIRST} s)"
if [ "$METRICS" = 1 ]; then
	metrics_phase
	metrics_report
fi
