#!/usr/bin/env bash
# DKIM benchmark: signed vs unsigned outpost, and vs Postfix + OpenDKIM, one run.
#
#     sudo bench/dkim.sh [--quick] [-m MESSAGES] [-s SESSIONS] [-l LENGTH] [--keep]
#                        [--rounds N] [--verify N] [--postfix-plain] [--ref REV]
#                        [--wait-idle SECONDS] [--timeout SECONDS]
#
# Built like bench/e2e.sh (same load, same sink, same end-to-end time), with
# two DKIM keys for the load's From: domain, example.com (smtp-source -f
# from@example.com writes "From: <from@example.com>"), made once per run by
# `outpost dkim keygen`: r2026 (RSA 2048) and e2026 (Ed25519).  In turn, each
# on a fresh queue and a freshly started sink:
#   outpost       outpostd with one relay route to the sink, no dkim;
#   outpost_dkim  the same with dkim = ( r2026, e2026 ): two signatures
#                 (rsa-sha256 and ed25519-sha256) on every message;
#   postfix_dkim  a private Postfix instance (Debian's main.cf and master.cf,
#                 relayhost = the sink) with smtpd_milters and
#                 non_smtpd_milters = two private OpenDKIM 2.11 instances
#                 (Debian's opendkim) on loopback inet sockets, one per key:
#                 OpenDKIM's SignatureAlgorithm is one per instance, and an
#                 ed25519 key in an rsa-sha256 instance fails every message
#                 ("EVP_PKEY_get1_RSA() failed", 451 4.7.0).
#   postfix       (--postfix-plain only) the same Postfix without milters.
# --rounds N repeats the outpost/outpost_dkim pair N times (the order
# alternates) and the report uses the median rates.
#
# The sink is `smtp-sink -c -D FILE` in every run: it appends every message
# it receives to FILE.  After each run bench/dkim_check.py counts the
# messages with an rsa-sha256 and an ed25519-sha256 DKIM-Signature and
# verifies --verify N of them (default 200, spread over the run; 0: all)
# with dkimpy against the two public keys.  The report also counts outpost's
# `event=dkim_signed` / `event=dkim_failed` log lines and OpenDKIM's
# "DKIM-Signature field added" syslog lines (OpenDKIM runs in a private
# mount namespace whose /dev/log is a socket the script reads; Postfix's own
# syslog goes nowhere, as in e2e.sh).
#
# Prints a table (msg/s, ratios, targets: signed >= 60 % of unsigned, >= 10x
# Postfix + OpenDKIM).  The exit status says only whether the benchmark ran
# (every message accepted and delivered), never whether a target was met or
# every message was signed: the report says that.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"   # shared set-up: packages, build, ports, Postfix, clean-up

MESSAGES=20000
SESSIONS=20
LENGTH=4096
KEEP=0
REF=""
WAIT_IDLE=0
TIMEOUT=900
ROUNDS=1
VERIFY=200
POSTFIX_PLAIN=0
FROM=from@example.com
TO=to@example.net
DOMAIN=example.com
RSA_SEL=r2026
ED_SEL=e2026
PY=/usr/bin/python3   # Debian's python3: python3-dkim, python3-nacl

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
	--ref) REF="${2:?}"; shift ;;
	--wait-idle) WAIT_IDLE="${2:?}"; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	--rounds) ROUNDS="${2:?}"; shift ;;
	--verify) VERIFY="${2:?}"; shift ;;
	--postfix-plain) POSTFIX_PLAIN=1 ;;
	-h|--help) usage ;;
	*) echo "dkim.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "dkim.sh: Postfix and OpenDKIM must be started as root: run sudo $0" >&2
	exit 2
fi

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

# --- packages (bench/lib.sh, and Debian's opendkim) -------------------------------

bench_packages "(main_mailer_type: No configuration; nothing is started)" \
	/usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/postfix /usr/sbin/postqueue \
	/usr/sbin/postconf sqlite3 python3 "$PY"
missing=""
for p in opendkim opendkim-tools; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	# shellcheck disable=SC2086   # one word per package
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2
fi
[ -x /usr/sbin/opendkim ] || { echo "dkim.sh: /usr/sbin/opendkim missing" >&2; exit 1; }
"$PY" -c 'import dkim, nacl' || { echo "dkim.sh: $PY lacks python3-dkim or python3-nacl" >&2; exit 1; }

# --- work area (the EXIT trap also stops OpenDKIM and the syslog reader) ---------

work_area dkim
OPENDKIM_PIDS=""
SYSLOG_PID=""

dkim_cleanup() {
	local rc=$? pid
	for pid in $OPENDKIM_PIDS $SYSLOG_PID; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $OPENDKIM_PIDS $SYSLOG_PID; do
		wait "$pid" 2>/dev/null || true
	done
	(exit "$rc")
	cleanup   # bench/lib.sh: outpostd, sink, Postfix, the work area; exits with rc
}
trap dkim_cleanup EXIT

# --- build (bench/lib.sh) ----------------------------------------------------------

build_outpost outpostd outpost

O_PORT=$(free_port)
P_PORT=$(free_port)
S_PORT=$(free_port)
M_PORT_RSA=$(free_port)
M_PORT_ED=$(free_port)

# --- the keys: outpost dkim keygen; the same files for OpenDKIM ---------------------

KEYS="$WORK/keys"
mkdir -m 700 "$KEYS"
declare -A DNS_TXT   # selector -> "NAME=TXT" for dkim_check.py
for kt in "$RSA_SEL rsa 2048" "$ED_SEL ed25519 -"; do
	read -r sel type bits <<<"$kt"
	bitsopt=()
	[ "$bits" = - ] || bitsopt=(--bits "$bits")
	out=$("$OUTPOST" dkim keygen --domain "$DOMAIN" --selector "$sel" --type "$type" "${bitsopt[@]}" \
		--out "$KEYS/$sel.pem")
	# publish: r2026._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=..."
	DNS_TXT[$sel]=$(printf '%s\n' "$out" | sed -n 's/^publish: \([^ ]*\)\. IN TXT "\(.*\)"$/\1=\2/p')
	[ -n "${DNS_TXT[$sel]}" ] || { echo "dkim.sh: no publish line from outpost dkim keygen: $out" >&2; exit 1; }
done
# outpostd drops to the outpost user and reads keys only that user owns
! id outpost >/dev/null 2>&1 || chown -R outpost "$KEYS"
KEYDESC="$RSA_SEL rsa-2048, $ED_SEL ed25519 (outpost dkim keygen)"

# --- the sink: smtp-sink -c -D (every message appended to a dump file) ----------------

mkdir "$WORK/sink"
chown postfix "$WORK/sink"   # smtp-sink -u postfix writes the dump

# sink_start, sink_count: bench/lib.sh (with a dump of every message here)

# --- outpost --------------------------------------------------------------------------

O_DIR="$WORK/outpost"
O_CONF="$O_DIR/outpost.conf"

outpost_start() {   # [dkim]
	rm -rf "$O_DIR"
	mkdir -p "$O_DIR"
	cat >"$O_CONF" <<-EOF
	hostname = "bench.test";
	spool    = "$O_DIR/spool";
	listen   = ( { address = "127.0.0.1:$O_PORT"; } );
	client_networks = [ "127.0.0.0/8" ];
	routes   = { sink = { type = "relay"; host = "127.0.0.1:$S_PORT"; tls = "none"; }; };
	rules    = ( { via = [ "sink" ]; } );
	delivery = { max_connections = 100; max_per_destination = 20; };
	EOF
	if [ "${1:-}" = dkim ]; then
		cat >>"$O_CONF" <<-EOF
		dkim = ( { domain = "$DOMAIN"; selector = "$RSA_SEL"; key = "$KEYS/$RSA_SEL.pem"; },
		         { domain = "$DOMAIN"; selector = "$ED_SEL"; key = "$KEYS/$ED_SEL.pem"; } );
		EOF
	fi
	O_LOG="$WORK/outpostd.$RUN.log"
	"$OUTPOSTD" -f -c "$O_CONF" 2>>"$O_LOG" &
	OUTPOSTD_PID=$!
	wait_port "$O_PORT" outpostd
}


outpost_cpu() {   # CPU seconds (user + system, all threads) of outpostd so far
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$OUTPOSTD_PID/stat"
}

start_outpost() { outpost_start; }
start_outpost_dkim() { outpost_start dkim; }
queued_outpost() { outpost_queued; }
queued_outpost_dkim() { outpost_queued; }
stop_outpost() { CPU[$RUN]=$(outpost_cpu); outpost_stop; }
stop_outpost_dkim() { stop_outpost; }

# --- OpenDKIM: two private instances (rsa-sha256, ed25519-sha256) -------------------------
#
# Debian's /etc/opendkim.conf settings where they matter (Syslog,
# SyslogSuccess, OversignHeaders From, UMask, UserID opendkim), Mode s,
# relaxed/relaxed as outpost signs, a KeyTable and a SigningTable with one
# key each.  Each runs as `unshare -m` with /dev bind-mounted from a small
# directory: null, zero, random, urandom and a datagram socket "log" read by
# a little syslog reader into WORK/opendkim.RUN.log (this machine has no
# syslog daemon), and the key directory bind-mounted on /etc/dkimkeys so the
# key path passes OpenDKIM's safe-key check (/var/tmp is world-writable).
# Without unshare the instances run directly, without a log, with
# RequireSafeKeys false.

OD_DIR="$WORK/opendkim"
mkdir -p "$OD_DIR/keys" "$OD_DIR/dev"
cp "$KEYS/$RSA_SEL.pem" "$KEYS/$ED_SEL.pem" "$OD_DIR/keys/"
chown -R opendkim: "$OD_DIR/keys"
chmod 700 "$OD_DIR/keys"
chmod 600 "$OD_DIR/keys/"*.pem
OD_NS=0
if [ -d /etc/dkimkeys ] && unshare -m sh -c "mount --bind '$OD_DIR/keys' /etc/dkimkeys" 2>/dev/null; then
	OD_NS=1
	for d in "null 1 3" "zero 1 5" "random 1 8" "urandom 1 9"; do
		read -r name major minor <<<"$d"
		mknod -m 666 "$OD_DIR/dev/$name" c "$major" "$minor"
	done
	OD_KEYDIR=/etc/dkimkeys
else
	say "WARNING: cannot run OpenDKIM in a private mount namespace: no OpenDKIM log, RequireSafeKeys false"
	OD_KEYDIR="$OD_DIR/keys"
fi

opendkim_conf() {   # name selector algorithm port
	echo "$1 $DOMAIN:$2:$OD_KEYDIR/$2.pem" >"$OD_DIR/KeyTable.$1"
	echo "*@$DOMAIN $1" >"$OD_DIR/SigningTable.$1"
	cat >"$OD_DIR/opendkim.$1.conf" <<-EOF
	Syslog			yes
	SyslogSuccess		yes
	SyslogName		opendkim-$1
	Mode			s
	Canonicalization	relaxed/relaxed
	OversignHeaders		From
	SignatureAlgorithm	$3
	KeyTable		file:$OD_DIR/KeyTable.$1
	SigningTable		refile:$OD_DIR/SigningTable.$1
	InternalHosts		127.0.0.0/8
	Socket			inet:$4@127.0.0.1
	UserID			opendkim
	UMask			007
	EOF
	[ "$OD_NS" = 1 ] || echo "RequireSafeKeys		false" >>"$OD_DIR/opendkim.$1.conf"
}
opendkim_conf rsa "$RSA_SEL" rsa-sha256 "$M_PORT_RSA"
opendkim_conf ed "$ED_SEL" ed25519-sha256 "$M_PORT_ED"

opendkim_start() {
	local a pid
	OD_LOG="$WORK/opendkim.$RUN.log"
	: >"$OD_LOG"
	OPENDKIM_PIDS=""
	if [ "$OD_NS" = 1 ]; then
		rm -f "$OD_DIR/dev/log"
		python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
out = open(sys.argv[2], "ab", buffering=0)
while True:
    out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")' "$OD_DIR/dev/log" "$OD_LOG" &
		SYSLOG_PID=$!
		for a in 1 2 3 4 5 6 7 8 9 10; do [ -S "$OD_DIR/dev/log" ] && break; sleep 0.1; done
	fi
	for a in rsa ed; do
		if [ "$OD_NS" = 1 ]; then
			unshare -m sh -c "mount --bind '$OD_DIR/dev' /dev && mount --bind '$OD_DIR/keys' /etc/dkimkeys &&
				exec /usr/sbin/opendkim -f -x '$OD_DIR/opendkim.$a.conf'" &
		else
			/usr/sbin/opendkim -f -x "$OD_DIR/opendkim.$a.conf" &
		fi
		pid=$!
		OPENDKIM_PIDS="$OPENDKIM_PIDS $pid"
	done
	wait_port "$M_PORT_RSA" opendkim-rsa
	wait_port "$M_PORT_ED" opendkim-ed
}

opendkim_cpu() {   # CPU seconds of each instance: "rsa+ed"
	local pid out=""
	for pid in $OPENDKIM_PIDS; do
		out="$out+$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat")"
	done
	echo "${out#+}"
}

opendkim_stop() {   # SIGTERM; OpenDKIM takes a few seconds to finish
	local pid
	for pid in $OPENDKIM_PIDS; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $OPENDKIM_PIDS; do wait "$pid" 2>/dev/null || true; done
	OPENDKIM_PIDS=""
	if [ -n "$SYSLOG_PID" ]; then
		kill -TERM "$SYSLOG_PID" 2>/dev/null || true
		wait "$SYSLOG_PID" 2>/dev/null || true
		SYSLOG_PID=""
	fi
}

# --- postfix (bench/lib.sh, relayhost = the sink; milters = the two OpenDKIMs) ---------

P_DIR="$WORK/postfix"

postfix_queued() {   # messages still in any queue (showq)
	postqueue -c "$PF_CONF" -j | grep -c . || true
}

start_postfix_dkim() {
	opendkim_start
	# shellcheck disable=SC2016   # $smtpd_milters is Postfix's
	postfix_start_instance bench.test "relayhost = [127.0.0.1]:$S_PORT" \
		"smtpd_milters = inet:127.0.0.1:$M_PORT_RSA, inet:127.0.0.1:$M_PORT_ED" \
		'non_smtpd_milters = $smtpd_milters'
}
queued_postfix_dkim() { postfix_queued; }
stop_postfix_dkim() { CPU[$RUN]=$(opendkim_cpu); postfix_stop; opendkim_stop; }

start_postfix() { postfix_start_instance bench.test "relayhost = [127.0.0.1]:$S_PORT"; }
queued_postfix() { postfix_queued; }
stop_postfix() { CPU[$RUN]=""; postfix_stop; }

# --- one run --------------------------------------------------------------------------

declare -A KIND INJ E2E RATE IRATE SESS LEFT CPU CHECK LOGSIGNED LOGFAILED
RUNS=()

run() {   # kind label port
	local kind=$1 port=$3 t0 t1 t2 got
	RUN=$2
	RUNS+=("$RUN")
	KIND[$RUN]=$kind
	say "$RUN: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -> $kind -> smtp-sink"
	SINK_DUMP="$WORK/sink/$RUN.dump"
	sink_start "$RUN" "$SINK_DUMP"
	"start_$kind"
	sync
	t0=$(now)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$LENGTH" -f "$FROM" -t "$TO" \
		"127.0.0.1:$port" || { echo "dkim.sh: smtp-source against $kind failed" >&2; exit 1; }
	t1=$(now)
	wait_delivered "$RUN" "$t0" "queued_$kind"
	got=$DELIVERED
	t2=$(now)
	INJ[$RUN]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t1")
	E2E[$RUN]=$(calc '"%.2f" % (a[1] - a[0])' "$t0" "$t2")
	IRATE[$RUN]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${INJ[$RUN]}")
	RATE[$RUN]=$(calc '"%.0f" % (a[0] / a[1])' "$MESSAGES" "${E2E[$RUN]}")
	LEFT[$RUN]=$got
	"stop_$kind"
	sleep 0.5   # the sink counts a session when it ends: let the daemon's last ones close
	SESS[$RUN]=$(($(sink_field sess) - SINK_SESS_BASE))
	sink_stop
	say "$RUN: injected in ${INJ[$RUN]} s, all delivered after ${E2E[$RUN]} s: ${RATE[$RUN]} msg/s (sink: $got messages in ${SESS[$RUN]} sessions)"
	check_run
}

# What was signed: the sink's dump (dkim_check.py), and the signer's log.
check_run() {
	say "$RUN: checking the signatures at the sink (dkim_check.py, $VERIFY verified)"
	CHECK[$RUN]=$("$PY" bench/dkim_check.py "$SINK_DUMP" "$VERIFY" "${DNS_TXT[$RSA_SEL]}" "${DNS_TXT[$ED_SEL]}")
	[ "$KEEP" = 1 ] || rm -f "$SINK_DUMP"
	LOGSIGNED[$RUN]=""
	LOGFAILED[$RUN]=""
	case $kind in
	outpost*)
		LOGSIGNED[$RUN]=$(grep -c " event=dkim_signed .*selectors=$RSA_SEL,$ED_SEL" "$O_LOG" || true)
		LOGFAILED[$RUN]=$(grep -c " event=dkim_failed " "$O_LOG" || true)
		;;
	postfix_dkim)
		if [ "$OD_NS" = 1 ]; then
			LOGSIGNED[$RUN]="$(grep -c "DKIM-Signature field added (s=$RSA_SEL, d=$DOMAIN)" "$OD_LOG" || true)+$(grep -c "DKIM-Signature field added (s=$ED_SEL, d=$DOMAIN)" "$OD_LOG" || true)"
			# errors and warnings: syslog priority mail.err (<19>) and mail.warning (<20>)
			LOGFAILED[$RUN]=$(grep -c '^<1[0-9]>\|^<20>' "$OD_LOG" || true)
		fi
		;;
	esac
	say "$RUN: sink: ${CHECK[$RUN]}"
}

field() {   # field RUN KEY: a key=value of CHECK[RUN]
	printf '%s\n' "${CHECK[$1]}" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

say "work area $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), ports: outpost $O_PORT, postfix $P_PORT," \
	"smtp-sink $S_PORT, opendkim $M_PORT_RSA (rsa) $M_PORT_ED (ed25519)"
wait_idle

for r in $(seq 1 "$ROUNDS"); do
	sfx=""
	[ "$ROUNDS" -eq 1 ] || sfx="#$r"
	if [ $((r % 2)) -eq 1 ]; then
		run outpost "outpost$sfx" "$O_PORT"
		run outpost_dkim "outpost_dkim$sfx" "$O_PORT"
	else
		run outpost_dkim "outpost_dkim$sfx" "$O_PORT"
		run outpost "outpost$sfx" "$O_PORT"
	fi
done
run postfix_dkim postfix_dkim "$P_PORT"
[ "$POSTFIX_PLAIN" = 0 ] || run postfix postfix "$P_PORT"
BUSY_AFTER=$(cpu_busy)

# --- report ---------------------------------------------------------------------------

median() {   # kind: the median rate of the runs of that kind
	local r v=()
	for r in "${RUNS[@]}"; do [ "${KIND[$r]}" = "$1" ] && v+=("${RATE[$r]}"); done
	calc '"%.0f" % (sorted(a)[len(a) // 2] if len(a) % 2 else (sorted(a)[len(a) // 2 - 1] + sorted(a)[len(a) // 2]) / 2)' "${v[@]}"
}

U=$(median outpost)
S=$(median outpost_dkim)
PD=${RATE[postfix_dkim]}
ratio_su=$(calc '"%.0f" % (100 * a[1] / a[0])' "$U" "$S")
ratio_sp=$(calc '"%.1f" % (a[0] / a[1])' "$S" "$PD")
ok_su=$(calc '"MET" if a[0] >= 60 else "NOT MET"' "$ratio_su")
ok_sp=$(calc '"MET" if a[0] >= 10 else "NOT MET"' "$ratio_sp")

echo
echo "DKIM benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
echo "outpost $VERSION ($BUILD_NOTE; relay route, max_per_destination 20);" \
	"postfix $(postconf -d -h mail_version) (Debian defaults, relayhost) +" \
	"opendkim $(/usr/sbin/opendkim -V 2>/dev/null | sed -n '1s/.*v//p') (2 instances: rsa-sha256, ed25519-sha256; inet milters)"
echo "keys: $DOMAIN $KEYDESC; every signed message gets both signatures, relaxed/relaxed"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES -l $LENGTH -f $FROM -t $TO -> daemon -> smtp-sink -D on loopback;" \
	"fresh queue per run, one disk ($(df -P "$WORK" | awk 'NR==2 {print $1}'));" \
	"CPU busy before/after: ${IDLE_BUSY}%/${BUSY_AFTER}%"
echo
printf '%-15s | %8s %9s | %8s %9s | %7s %8s | %7s %7s %7s | %-17s | %s\n' run "inject s" inject/s "e2e s" "e2e msg/s" \
	"at sink" sessions "rsa sig" "ed sig" "both" "verified (pass)" "signer log"
for r in "${RUNS[@]}"; do
	case ${KIND[$r]} in
	outpost*) lg="dkim_signed ${LOGSIGNED[$r]}, dkim_failed ${LOGFAILED[$r]}; cpu ${CPU[$r]} s" ;;
	postfix_dkim)
		if [ "$OD_NS" = 1 ]; then
			lg="field added ${LOGSIGNED[$r]}, err/warn ${LOGFAILED[$r]}; opendkim cpu ${CPU[$r]} s"
		else
			lg="(no opendkim log); opendkim cpu ${CPU[$r]} s"
		fi ;;
	*) lg="-" ;;
	esac
	printf '%-15s | %8s %9s | %8s %9s | %7s %8s | %7s %7s %7s | %-17s | %s\n' "$r" "${INJ[$r]}" "${IRATE[$r]}" \
		"${E2E[$r]}" "${RATE[$r]}" "${LEFT[$r]}" "${SESS[$r]}" "$(field "$r" rsa)" "$(field "$r" ed25519)" \
		"$(field "$r" both)" "$(field "$r" signed_sampled) ($(field "$r" all_pass))" "$lg"
done
echo
echo "e2e = from the start of smtp-source until the sink has all $MESSAGES and the queue is empty"
[ "$ROUNDS" -eq 1 ] || echo "outpost rates below are the medians of $ROUNDS rounds"
echo "outpost unsigned: $U msg/s; outpost signed (rsa-2048 + ed25519): $S msg/s; Postfix + OpenDKIM: $PD msg/s"
echo "signed / unsigned: ${ratio_su} %   target >= 60 %: $ok_su"
echo "outpost signed / Postfix + OpenDKIM: ${ratio_sp}x   target >= 10x: $ok_sp"
if [ "$POSTFIX_PLAIN" = 1 ]; then
	echo "Postfix without milters: ${RATE[postfix]} msg/s (OpenDKIM costs it" \
		"$(calc '"%.0f" % (100 * (1 - a[1] / a[0]))' "${RATE[postfix]}" "$PD") %)"
fi
# Signing evidence: every message of a signed run carries both signatures at
# the sink and every sampled signature verifies; the unsigned runs carry none.
bad=0
for r in "${RUNS[@]}"; do
	case ${KIND[$r]} in
	outpost_dkim|postfix_dkim)
		if [ "$(field "$r" both)" != "$MESSAGES" ] || [ "$(field "$r" fail)" != 0 ] ||
		   [ "$(field "$r" malformed)" != 0 ] ||
		   { [ "${KIND[$r]}" = outpost_dkim ] && [ "${LOGSIGNED[$r]}" != "$MESSAGES" ]; }; then
			echo "SIGNING CHECK FAILED: $r: ${CHECK[$r]}; signer log: ${LOGSIGNED[$r]} signed, ${LOGFAILED[$r]} failed/warnings"
			bad=1
		fi ;;
	*)
		if [ "$(field "$r" unsigned)" != "$MESSAGES" ]; then
			echo "CHECK FAILED: $r (unsigned run) has signed messages at the sink: ${CHECK[$r]}"
			bad=1
		fi ;;
	esac
done
[ "$bad" = 1 ] || echo "signing check: every message of every signed run reached the sink with both signatures;" \
	"every sampled signature verified (dkimpy); unsigned runs: no signatures"
if [ "$BUSY_AFTER" -ge 10 ] || [ "$IDLE_BUSY" -ge 10 ]; then
	echo "WARNING: the CPUs were busy with other work before or after the runs: the figures are skewed"
fi
