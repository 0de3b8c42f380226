"""SIGHUP frees what it replaces: 1,000 reloads leave memory flat.

Each reload builds a new config and users table.  The old ones are
reference-counted: the daemon, the SMTP server, an authenticated session
(its users table), a message being routed and a delivery destination each
hold a reference, and the last one to let go frees them.  The test reloads
1,000 times (with two inbound loops, each having carried one message
first), waiting for each reload's log line, with an authenticated
session open across the first 500 (it then sends a message, so what it
held is used after many reloads) and a second session across the next
300, and samples VmRSS from /proc/PID/status: the last sample may not be
more than RSS_BOUND_KB above the one after the first 100 reloads.  Before
the reference counts every reload kept its config and users table until
exit (only the config of the start is kept for the whole run: what is
built once at start, such as the DKIM signer, points into it).

Measured (2 vCPUs, this machine): growth 0.14 MB without ASan (a plain
build) and 0.3-0.4 MB under ASan with ASAN_STEADY (the message and the two
sessions); with each replaced config kept alive instead, 1.7 MB (plain).
"""
import base64
import os
import signal
import time

from conftest import PASSWORD, free_port, session

RELOADS = 1000
RSS_BOUND_KB = 1024
# AddressSanitizer's own bookkeeping grows with time, not with what is live:
# the quarantine of freed memory, the depot of allocation stack traces and
# the fake stacks of detect_stack_use_after_return.  Turned off for this
# daemon so that VmRSS measures outpost's memory (ASan still checks every
# access).
ASAN_STEADY = (":quarantine_size_mb=0:thread_local_quarantine_size_kb=0:malloc_context_size=0"
               ":detect_stack_use_after_return=0")


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class LogFollower:
    """Counts lines of the daemon's log that contain each marker, reading
    only what was appended since the last call (all markers in one pass:
    a line read once is not seen again)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.tail = b""

    def count(self, *markers):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        return [sum(1 for line in lines if m in line) for m in markers]


def reload_and_wait(d, log, timeout=20.0):
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while True:
        reloaded, failed = log.count(b"event=reloaded", b"event=reload_failed")
        assert failed == 0, d.log_text()[-2000:]
        if reloaded:
            assert reloaded == 1
            return
        assert d.proc.poll() is None, d.log_text()[-3000:]
        assert time.time() < deadline, "no event=reloaded after SIGHUP: " + d.log_text()[-3000:]
        time.sleep(0.002)


def wait_disconnects(log, n, timeout=20.0):
    deadline = time.time() + timeout
    while n > 0:
        n -= log.count(b"event=disconnect ")[0]
        assert time.time() < deadline, "session did not end"
        time.sleep(0.01)


def authenticated_session(port):
    c = session(port)
    plain = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    c.expect(235, "AUTH PLAIN " + plain)
    return c


def test_thousand_reloads_keep_memory_flat(make_daemon, users_file, monkeypatch):
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    monkeypatch.setenv("ASAN_OPTIONS", asan + ASAN_STEADY)
    relay = free_port()   # nothing listens: delivery defers, the scheduler runs
    d = make_daemon(['users = "%s";' % users_file,
                     'routes = { r = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };'
                     % relay,
                     'rules = ( { via = "r"; } );',
                     'retry = { schedule = [ "1h" ]; };',
                     'inbound = { threads = 2; };'])   # each reload is posted to both loops
    log = LogFollower(d.log)
    log.count(b"event=reloaded")   # skip the start
    # a message on each inbound loop first (one after the other, so they go
    # round): the first message a thread handles sets up that thread's
    # allocator caches (about 0.8 MB under ASan), which is not growth per reload
    for n in range(2):
        w = session(d.port)
        w.expect(250, "MAIL FROM:<w@example.com>")
        w.expect(250, "RCPT TO:<user@example.net>")
        w.expect(354, "DATA")
        w.send("Subject: warm-up %d\r\n\r\nx\r\n.\r\n" % n)
        w.expect(250)
        w.expect(221, "QUIT")
        w.close()
        wait_disconnects(log, 1)
    first = authenticated_session(d.port)
    second = None
    samples = {}
    for i in range(1, RELOADS + 1):
        reload_and_wait(d, log)
        if i == 500:
            # what the first session held across 500 reloads still works
            first.expect(250, "MAIL FROM:<x@alice.example>")
            first.expect(250, "RCPT TO:<user@example.net>")
            first.expect(354, "DATA")
            first.send("Subject: across reloads\r\n\r\nx\r\n.\r\n")
            first.expect(250)
            first.expect(221, "QUIT")
            first.close()
            second = authenticated_session(d.port)
        if i == 800:
            second.expect(250, "MAIL FROM:<y@alice.example>")
            second.expect(221, "QUIT")
            second.close()
        if i % 100 == 0:
            samples[i] = vm_rss_kb(d.proc.pid)
    assert len(d.queue()) == 3
    growth = samples[RELOADS] - samples[100]
    print("VmRSS kB after N reloads: %s; growth from 100 to %d: %d kB"
          % (samples, RELOADS, growth))
    assert growth <= RSS_BOUND_KB, "memory grew by %d kB over %d reloads: %s" % (
        growth, RELOADS - 100, samples)
