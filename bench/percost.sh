#!/bin/sh
# Load-independent per-message cost of outpostd's inbound path (see
# bench/README.md, "Per-message cost"): syscalls (strace -c) or instructions
# (valgrind callgrind) for a fixed load from bench/speed_load.py.  No routes
# in the config, so nothing runs after the 250: the figures are acceptance's.
#
#   bench/percost.sh strace|callgrind BUILD_DIR N SIZE [lockstep|pipelined]
#   THREADS=N bench/percost.sh ...     inbound.threads (default: "auto")
set -eu
tool=$1 bin=$(cd "$2" && pwd) n=$3 size=$4 mode=${5:-lockstep} threads=${THREADS:-'"auto"'}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/percost.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/outpost.conf" <<EOC
hostname = "bench.localdomain";
spool = "$work/spool";
listen = ( { address = "127.0.0.1:$port"; } );
client_networks = [ "127.0.0.0/8" ];
allow_root = true;
inbound = { threads = $threads; };
EOC
up() { for _ in $(seq 600); do grep -q event=started "$work/log" 2>/dev/null && return; sleep 0.1; done; exit 1; }
if [ "$tool" = callgrind ]; then
	valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin/outpostd" -f -c "$work/outpost.conf" 2>"$work/log" &
	pid=$!; up
	python3 "$here/speed_load.py" "$port" 1 "$size" "$mode"      # warm-up: first-use set-up
	callgrind_control -z "$pid" >/dev/null 2>&1
	python3 "$here/speed_load.py" "$port" "$n" "$size" "$mode"
	callgrind_control -d "$pid" >/dev/null 2>&1; sleep 1
	kill -TERM $pid; wait $pid || true
	f=$(ls "$work"/cg.out.* | tail -1)
	ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
	echo "instructions_per_message=$((ir / n))"
	callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -E 'memcpy|memmove' | head -5
	cp "$f" "/var/tmp/percost-last.callgrind"
else
	"$bin/outpostd" -f -c "$work/outpost.conf" 2>"$work/log" &
	pid=$!; up
	python3 "$here/speed_load.py" "$port" 1 "$size" "$mode"
	strace -f -c -o "$work/strace" -p "$pid" & st=$!
	sleep 1
	python3 "$here/speed_load.py" "$port" "$n" "$size" "$mode"
	sleep 0.5; kill -INT $st; wait $st || true
	kill -TERM $pid; wait $pid || true
	awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {printf "%-16s %7.2f\n", $NF, $4/n}' "$work/strace"
fi
