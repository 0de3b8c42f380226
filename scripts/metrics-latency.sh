#!/bin/sh
# Measures GET /metrics with 100 routes and 1,000,000 queued messages (not a
# benchmark of bench/: one daemon, no traffic).  Usage:
#   scripts/metrics-latency.sh [BUILD_DIR]      (default build)
# It makes a spool in a temporary directory, fills it with SQLite directly
# (messages due in a day, so nothing is delivered), starts outpostd on it and
# times 200 scrapes.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
python3 - "$DIR" <<'PY'
import sys
d = sys.argv[1]
routes = " ".join('r%d = { type = "relay"; host = "127.0.0.9:%d"; tls = "none"; };' % (i, 20000 + i) for i in range(100))
rules = ", ".join('{ recipient_domain = [ "d%d.example" ]; via = [ "r%d" ]; }' % (i, i) for i in range(100))
open(d + "/c.conf", "w").write('hostname = "bench.test";\nspool = "%s/spool";\nlisten = ( { address = "127.0.0.1:32526"; } );\n'
    'allow_root = true;\nhttp = { listen = "127.0.0.1:38026"; };\nroutes = { %s };\nrules = ( %s );\n' % (d, routes, rules))
PY
"$BUILD/outpostd" -f -c "$DIR/c.conf" >"$DIR/log" 2>&1 & PID=$!
sleep 3; kill $PID; wait $PID || true
python3 - "$DIR" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1] + "/spool/queue.db")
now, body, n = int(time.time()), b"From: a@b\r\nTo: c@d\r\nSubject: x\r\n\r\nhello\r\n", 1000000
db.execute("BEGIN")
for i in range(n):
    mid = "B%015d" % i
    db.execute("INSERT INTO messages (id, sender, client_addr, client_helo, size, created, next_attempt, body)"
               " VALUES (?,?,?,?,?,?,?,?)", (mid, "app@sender.example", "127.0.0.1", "h", len(body), now - (n - i) // 100,
                                              now + 86400, body))
    db.execute("INSERT INTO recipients (msg_id, position, address, next_attempt) VALUES (?,?,?,?)",
               (mid, 0, "u%d@d%d.example" % (i, i % 100), now + 86400))
db.commit()
PY
"$BUILD/outpostd" -f -c "$DIR/c.conf" >>"$DIR/log" 2>&1 & PID=$!
sleep 5
python3 - <<'PY'
import statistics, time, urllib.request
url = "http://127.0.0.1:38026/metrics"
urllib.request.urlopen(url).read()
ts = []
for _ in range(200):
    t0 = time.perf_counter()
    urllib.request.urlopen(url).read()
    ts.append((time.perf_counter() - t0) * 1000)
ts.sort()
print("GET /metrics, 100 routes, 1000000 queued: median %.2f ms, p90 %.2f ms, max %.2f ms"
      % (statistics.median(ts), ts[179], ts[-1]))
PY
