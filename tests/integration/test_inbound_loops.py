"""Several inbound event loops (inbound.threads): sessions run on every loop,
and what the loops share stays exact -- the session caps, the AUTH throttle,
a reload, the local mailboxes (whose handlers live on the main loop)."""
import base64
import json
import re
import signal
import socket
import threading
import time
import urllib.request

from conftest import BIN, PASSWORD, RawClient, free_port, message, session

CANARY = "canary@canary.example.org"


def loops_used(d):
    return set(re.findall(r"event=connect session=\d+ .* loop=(\d+)", d.log_text()))


def one_session_per_loop(d, loops, tries=300):
    """Sessions opened one after another until every loop has one (each
    loop accepts on its own socket and the kernel spreads connections among
    them); returns one per loop, in loop order, the others closed."""
    kept = {}
    for _ in range(tries):
        c = session(d.port)
        loop = re.findall(r"event=connect session=\d+ .* loop=(\d+)", d.log_text())[-1]
        if loop in kept:
            c.expect(221, "QUIT")
            c.sock.close()
        else:
            kept[loop] = c
        if len(kept) == loops:
            return [kept[k] for k in sorted(kept)]
    raise AssertionError("%d connections reached only loops %s" % (tries, sorted(kept)))


def greet_all(port, n, source="127.0.0.1"):
    """Opens n connections at once from as many threads; returns the greeting
    code of each and the sockets (left open, so each still counts)."""
    codes, socks, lock = [], [], threading.Lock()
    start = threading.Barrier(n)

    def one():
        s = socket.socket()
        s.settimeout(20)
        s.bind((source, 0))
        start.wait()
        s.connect(("127.0.0.1", port))
        line = s.makefile("rb").readline()
        with lock:
            codes.append((line[:3].decode(), line.decode(errors="replace")))
            socks.append(s)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return codes, socks


def wait_all_gone(d):
    deadline = time.time() + 10
    while time.time() < deadline:
        log = d.log_text()
        if log.count("event=disconnect ") == log.count("event=connect "):
            return
        time.sleep(0.05)
    raise AssertionError("sessions still open")


def close_all(socks):
    for s in socks:
        s.close()


def test_total_cap_is_exact_across_loops(make_daemon):
    d = make_daemon(["inbound = { threads = 4; max_sessions = 10; max_sessions_per_ip = 1000; };"])
    codes, socks = greet_all(d.port, 40)
    try:
        assert len(codes) == 40
        assert sum(c == "220" for c, _ in codes) == 10, codes
        refused = [line for c, line in codes if c == "421"]
        assert len(refused) == 30 and all(r.startswith("421 4.7.0 Too many connections,") for r in refused)
        assert len(loops_used(d)) >= 2, loops_used(d)   # the 10 ran on several loops
        assert d.log_text().count("reason=\"max_sessions\"") == 30
    finally:
        close_all(socks)


def test_per_ip_cap_is_exact_across_loops(make_daemon):
    d = make_daemon(["inbound = { threads = 3; max_sessions = 1000; max_sessions_per_ip = 5; };"])
    codes, socks = greet_all(d.port, 30)
    other, socks2 = greet_all(d.port, 12, source="127.0.0.2")   # a second address has its own 5
    try:
        assert sum(c == "220" for c, _ in codes) == 5, codes
        assert sum(c == "421" for c, _ in codes) == 25
        assert all("from your address" in line for c, line in codes if c == "421")
        assert sum(c == "220" for c, _ in other) == 5, other
        assert sum(c == "421" for c, _ in other) == 7
    finally:
        close_all(socks + socks2)
    # the count goes down as sessions end, on whatever loop they ran
    wait_all_gone(d)
    more, socks3 = greet_all(d.port, 9)
    close_all(socks3)
    assert sum(c == "220" for c, _ in more) == 5, more


def auth_plain(c, password, code):
    token = base64.b64encode(("\0alice\0%s" % password).encode()).decode()
    return c.expect(code, "AUTH PLAIN " + token)


def test_auth_failures_count_across_loops(make_daemon, users_file):
    d = make_daemon(['users = "%s";' % users_file, "inbound = { threads = 3; auth_max_failures = 3; };"])
    # three sessions at once: one on each loop, each fails once
    clients = one_session_per_loop(d, 3)
    for c in clients:
        auth_plain(c, "wrong", 535)
    fails = re.findall(r"event=auth session=\d+ client=127\.0\.0\.1 user=alice result=failed failures=(\d)",
                       d.log_text())
    assert sorted(fails) == ["1", "2", "3"], fails
    # the budget is spent for the address, whichever loop asks
    for c in clients:
        assert auth_plain(c, PASSWORD, 421)[0].startswith("421 4.7.0 Too many failed authentications")


def test_local_mailbox_from_every_loop(make_daemon):
    d = make_daemon(["inbound = { threads = 2; };",
                     'canary = { address = "%s"; interval = "1h"; };' % CANARY])
    clients = one_session_per_loop(d, 2)
    for c in clients:
        c.expect(250, "MAIL FROM:<probe@example.com>")
        c.expect(250, "RCPT TO:<%s>" % CANARY)
        c.expect(354, "DATA")
        assert c.expect(250, message("probe") + ".")[0].startswith("250 2.0.0 Ok: canary probe received as ")
        # and the session goes on: a queued message after it
        c.expect(250, "MAIL FROM:<a@example.com>")
        c.expect(250, "RCPT TO:<b@example.net>")
        c.expect(354, "DATA")
        c.expect(250, message("after") + ".")
        c.expect(221, "QUIT")
    assert len(d.queue()) == 2
    assert d.log_text().count("mailbox=canary") == 2


def reload(d):
    before = d.log_text().count("event=reload")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and d.log_text().count("event=reload") == before:
        time.sleep(0.05)


def test_reload_reaches_every_loop(make_daemon):
    d = make_daemon(["inbound = { threads = 2; max_recipients = 1; };"])
    d.conf.write_text(d.conf.read_text().replace("max_recipients = 1", "max_recipients = 2"))
    reload(d)
    assert "event=reloaded" in d.log_text()
    clients = one_session_per_loop(d, 2)
    for c in clients:
        c.expect(250, "MAIL FROM:<a@example.com>")
        c.expect(250, "RCPT TO:<r1@example.net>")
        c.expect(250, "RCPT TO:<r2@example.net>")   # the new limit, on both loops
        c.expect(452, "RCPT TO:<r3@example.net>")


def test_threads_cannot_change_on_reload(make_daemon):
    d = make_daemon(["inbound = { threads = 2; };"])
    d.conf.write_text(d.conf.read_text().replace("threads = 2", "threads = 3"))
    reload(d)
    assert 'event=reload_refused reason="inbound.threads changed: restart outpostd"' in d.log_text()


def test_sigterm_waits_for_a_commit_on_another_loop(make_daemon):
    d = make_daemon(["inbound = { threads = 2; };"])
    clients = one_session_per_loop(d, 2)
    for c in clients:
        c.expect(250, "MAIL FROM:<a@example.com>")
        c.expect(250, "RCPT TO:<b@example.net>")
        c.expect(354, "DATA")
    d.proc.send_signal(signal.SIGTERM)
    # both sessions are mid-DATA: each finishes its message, then is told 421
    for c in clients:
        assert c.expect(250, message("late") + ".")[0].startswith("250 2.0.0 Ok: queued as ")
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.3.2"), lines
    rc = d.proc.wait(timeout=40)
    d.logf.close()
    d.proc = None
    assert rc == 0
    assert "event=stopped" in d.log_text()
    d.start()
    assert len(d.queue()) == 2


def test_tls_sessions_on_every_loop_share_one_context(make_daemon, tls_files, users_file):
    import smtplib
    import ssl
    cert, key = tls_files
    d = make_daemon(['tls = { cert = "%s"; key = "%s"; };' % (cert, key), 'users = "%s";' % users_file,
                     "inbound = { threads = 3; };"],
                    listeners={"smtp": {}, "submission": {"tls": "starttls", "auth": "required"},
                               "smtps": {"tls": "implicit", "auth": "required"}})
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    errors = []

    def send(i):
        try:
            if i % 2:
                s = smtplib.SMTP_SSL("127.0.0.1", d.ports["smtps"], context=ctx, timeout=30)
            else:
                s = smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=30)
                s.starttls(context=ctx)
            s.login("alice", PASSWORD)
            s.sendmail("tls%d@alice.example" % i, ["user@example.net"], message("tls %d" % i))
            s.quit()
        except Exception as e:   # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(d.queue()) == 12
    assert len(loops_used(d)) >= 2, loops_used(d)
    assert d.log_text().count("event=tls session=") == 12


def test_refusals_on_every_loop_all_reach_the_stats(make_daemon):
    """Refusals counted at once on 4 loops (relay denied to strangers) are
    all in `outpost stats`: the in-memory count shared by the loops loses
    none, and agrees with outpost_messages_rejected_total."""
    http_port = free_port()
    d = make_daemon(["inbound = { threads = 4; max_errors = 100; };", 'client_networks = [ "127.0.0.1/32" ];',
                     'http = { listen = "127.0.0.1:%d"; };' % http_port])
    sessions, rcpts = 12, 20
    errors = []

    def stranger(i):
        try:
            c = RawClient.__new__(RawClient)   # a client from 127.0.0.5: not a client network
            c.sock = socket.create_connection(("127.0.0.1", d.port), timeout=20, source_address=("127.0.0.5", 0))
            c.buf = b""
            c.expect(220)
            c.expect(250, "EHLO stranger.test")
            c.expect(250, "MAIL FROM:<app@example.com>")
            for k in range(rcpts):
                c.expect(554, "RCPT TO:<u%d.%d@example.net>" % (i, k))
            c.expect(221, "QUIT")
        except Exception as e:     # noqa: BLE001 -- reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=stranger, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [], errors
    assert len(loops_used(d)) >= 2, loops_used(d)
    st = json.loads(d.cli("stats", "--json").stdout)
    assert st["totals"]["rejected"] == sessions * rcpts, st["totals"]
    assert st["rejection_reasons"][0]["reason"] == "relay_denied"
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=10) as r:
        metrics = r.read().decode()
    counted = sum(float(v) for v in re.findall(r'outpost_messages_rejected_total\{[^}]*reason="relay_denied"\} (\S+)',
                                               metrics))
    assert counted == sessions * rcpts


def test_a_second_daemon_cannot_join_the_port(make_daemon):
    """Each loop listens on its own SO_REUSEPORT socket, which a second
    outpostd on the same port could join and take connections from; it is
    refused at start instead (as a single listener's EADDRINUSE did), and the
    first keeps every connection."""
    import subprocess
    d = make_daemon(["inbound = { threads = 2; };"])
    other = make_daemon(["inbound = { threads = 2; };"], start=False)
    other.conf.write_text(other.conf.read_text().replace(":%d\"" % other.port, ":%d\"" % d.port))
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(other.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "port %d is taken by another outpostd" % d.port in r.stderr, r.stderr
    for _ in range(20):   # every connection still reaches the first daemon
        c = session(d.port)
        c.expect(221, "QUIT")
    assert d.log_text().count("event=connect session=") >= 20
