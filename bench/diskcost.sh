#!/bin/sh
# Load-independent disk cost of a message's whole life in outpostd (see
# bench/README.md, "diskcost.sh"): N messages of SIZE octets from
# bench/speed_load.py (one connection each, lockstep), relayed to an
# smtp-sink on loopback, each accepted, claimed, delivered and deleted.
# Reports per message:
#   write_bytes  what outpostd made the kernel write (/proc/PID/io), from
#                after a warm-up message until the queue is empty; "+close"
#                adds the final checkpoint at SIGTERM (rusage of the exit)
#   fsync        fsync + fdatasync calls, by file (strace, attached after
#                the warm-up), and the bytes written by file: queue.db-wal,
#                queue.db, bodies/ (segment files of bodies of 32 KiB and
#                up), other files (SQLite's statement journals)
#   syscalls     all system calls of the daemon (strace -c)
#   instructions with CALLGRIND=1, a third run under valgrind's callgrind
#                (zeroed after the warm-up, dumped once the queue is empty)
# The strace run is a second, separate run (strace slows the daemon and so
# changes group sizes); write_bytes is from the run without it.  KEEP=1
# keeps the work area (logs, the strace output).
#
#   bench/diskcost.sh BUILD_DIR N SIZE [CONFIG_LINES]
#
# CONFIG_LINES are appended to the daemon's config (e.g. 'delivery = { ... };'
# to compare settings).  Needs smtp-sink (Debian's postfix) and strace.
set -eu
bin=$(cd "$1" && pwd) n=$2 size=$3 extra=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
command -v strace >/dev/null || { echo "diskcost.sh: strace missing" >&2; exit 1; }
[ -x /usr/sbin/smtp-sink ] || { echo "diskcost.sh: /usr/sbin/smtp-sink missing (apt-get install postfix)" >&2; exit 1; }
exec python3 - "$bin" "$n" "$size" "$here" "$extra" <<'PY'
import os, re, signal, socket, subprocess, sys, tempfile, time, shutil

bin_dir, n, size, here, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, what, secs=600):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit("diskcost.sh: timed out waiting for %s" % what)


def delivered(log):
    with open(log, "rb") as f:
        return f.read().count(b" result=delivered")


def queue_empty(spool):
    out = subprocess.run(["sqlite3", "file:%s/queue.db?mode=ro" % spool,
                          "PRAGMA busy_timeout=2000; SELECT count(*) FROM messages;"],
                         capture_output=True, text=True).stdout.split()
    return out and out[-1] == "0"


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        return int(re.search(r"^write_bytes: (\d+)", f.read(), re.M).group(1))


def load(port, count):
    subprocess.run([sys.executable, os.path.join(here, "speed_load.py"), str(port), str(count), str(size)],
                   check=True, stdin=subprocess.DEVNULL)


def run(work, mode):
    """One daemon (mode: plain, strace or callgrind), warm-up, N messages;
    returns (write_bytes of the run, of the close, the strace or callgrind file)."""
    spool = os.path.join(work, "spool")
    shutil.rmtree(spool, ignore_errors=True)
    port, sport = free_port(), free_port()
    sink = subprocess.Popen(["/usr/sbin/smtp-sink"] + (["-u", "nobody"] if os.getuid() == 0 else [])
                            + ["127.0.0.1:%d" % sport, "256"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    conf = os.path.join(work, "outpost.conf")
    with open(conf, "w") as f:
        f.write('hostname = "bench.test";\nspool = "%s";\n' % spool)
        f.write('listen = ( { address = "127.0.0.1:%d"; } );\n' % port)
        f.write('client_networks = [ "127.0.0.0/8" ];\nallow_root = true;\n')
        f.write('routes = { sink = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };\n' % sport)
        f.write('rules = ( { via = [ "sink" ]; } );\n%s\n' % extra)
    log = os.path.join(work, "log." + mode)
    cg = os.path.join(work, "cg.out")
    pre = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg] if mode == "callgrind" else []
    with open(log, "wb") as lf:
        d = subprocess.Popen(pre + [os.path.join(bin_dir, "outpostd"), "-f", "-c", conf],
                             stdin=subprocess.DEVNULL, stderr=lf)
    try:
        wait_for(lambda: b"event=started" in open(log, "rb").read(), "outpostd to start", 60)
        load(port, 1)   # first-use set-up (prepared statements, the first pages)
        wait_for(lambda: delivered(log) >= 1 and queue_empty(spool), "the warm-up message")
        st = None
        trace = os.path.join(work, "strace.out")
        if mode == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(d.pid)], capture_output=True)
        if mode == "strace":
            st = subprocess.Popen(["strace", "-f", "-C", "-y", "-qq", "-o", trace, "-p", str(d.pid)],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        w0 = write_bytes(d.pid)
        load(port, n)
        wait_for(lambda: delivered(log) >= n + 1 and queue_empty(spool), "delivery of every message")
        time.sleep(0.5)
        w1 = write_bytes(d.pid)
        if mode == "callgrind":
            subprocess.run(["callgrind_control", "-d", str(d.pid)], capture_output=True)
            time.sleep(1)
            trace = sorted(f for f in os.listdir(work) if f.startswith("cg.out."))[-1]
            trace = os.path.join(work, trace)
        d.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(d.pid, 0)
        d.returncode = status
        if st:
            st.wait()
        return w1 - w0, ru.ru_oublock * 512 - w1, trace
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
        sink.terminate()
        sink.wait()


def classify(path):
    if path.endswith("queue.db-wal"):
        return "wal"
    if path.endswith("queue.db"):
        return "db"
    if "/bodies/" in path:
        return "bodies"   # the segment files of large bodies (src/spool/spool_seg.c)
    return "other"


def strace_figures(trace):
    """Bytes written and fsyncs by file class, and the strace -c table."""
    wr, fs, summary, in_sum, pending = {}, {}, {}, False, {}
    call = re.compile(r"^(\d+)\s+(\w+)\((\d+)<([^>]*)>")
    resumed = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>")
    ret_re = re.compile(r"\)\s+=\s+(-?\d+)")
    for line in open(trace, errors="replace"):
        if line.startswith("% time"):
            in_sum = True
            continue
        if in_sum:
            f = line.split()
            if len(f) >= 5 and f[-1] != "total" and f[3].isdigit():
                summary[f[-1]] = int(f[3])
            continue
        m = call.match(line)
        if m:
            pid, name, path = m.group(1), m.group(2), m.group(4)
            if line.rstrip().endswith("<unfinished ...>"):
                pending[pid] = (name, path)
                continue
        else:
            m = resumed.match(line)
            if not m or m.group(1) not in pending:
                continue
            name, path = pending.pop(m.group(1))
        r = ret_re.search(line)
        if not r:
            continue
        ret, k = int(r.group(1)), classify(path)
        if name in ("write", "pwrite64", "writev", "pwritev", "pwritev2") and ret > 0 and \
                not path.startswith(("socket:", "pipe:", "anon_inode:")) and not path.endswith(("log.plain", "log.strace")):
            wr[k] = wr.get(k, 0) + ret
        elif name in ("fsync", "fdatasync"):
            fs[k] = fs.get(k, 0) + 1
    return wr, fs, summary


work = tempfile.mkdtemp(prefix="diskcost.", dir="/var/tmp")
try:
    wb, wclose, _ = run(work, "plain")
    wbt, _, trace = run(work, "strace")
    wr, fs, summary = strace_figures(trace)
    ir = None
    if os.environ.get("CALLGRIND") == "1":
        _, _, cgf = run(work, "callgrind")
        out = subprocess.run(["callgrind_annotate", cgf], capture_output=True, text=True).stdout
        ir = int(re.search(r"^([\d,]+) .*PROGRAM TOTALS", out, re.M).group(1).replace(",", ""))
finally:
    if os.environ.get("KEEP") == "1":
        print("diskcost: kept %s" % work, file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
kib = 1024.0
print("diskcost: N=%d SIZE=%d%s" % (n, size, (" extra=%r" % extra) if extra else ""))
print("write_bytes/msg       %10.1f KiB  (%.2fx the message)" % (wb / n / kib, wb / n / size))
print("  +close checkpoint   %10.1f KiB  (%.2fx)" % ((wb + wclose) / n / kib, (wb + wclose) / n / size))
print("written by file/msg   (strace run: write_bytes %.1f KiB)  " % (wbt / n / kib) + "  ".join("%s=%.1fKiB" % (k, v / n / kib) for k, v in sorted(wr.items())))
print("fsync/msg             %10.2f   " % (sum(fs.values()) / n) +
      "  ".join("%s=%.2f" % (k, v / n) for k, v in sorted(fs.items())))
print("syscalls/msg          %10.1f" % (sum(summary.values()) / n))
for name, c in sorted(summary.items(), key=lambda kv: -kv[1])[:8]:
    print("  %-18s %8.2f" % (name, c / n))
if ir is not None:
    print("instructions/msg      %10d   (callgrind, all threads, warm-up excluded)" % (ir // n))
PY
