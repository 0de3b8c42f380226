"""Nothing acknowledged is lost: kill -9 under load, and a full spool."""
import re
import smtplib
import socket
import sqlite3
import threading
import time

import pytest

from conftest import RawClient, message, session
from peers import Sink

QID = re.compile(rb"queued as ([0-9A-Z]{16})")


def client(port, n, acked, errors, stop):
    """Sends n messages over one connection (re-connecting after a failure),
    recording each queue id the moment its 250 arrives."""
    sent = failures = 0
    while sent < n and not stop.is_set() and failures < 50:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO load.test\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            while sent < n:
                body = message("load %d" % sent, ("x" * 74 + "\r\n") * 40).encode()
                s.sendall(b"MAIL FROM:<load@example.com>\r\nRCPT TO:<sink@example.net>\r\nDATA\r\n")
                for _ in range(3):
                    f.readline()
                s.sendall(body + b".\r\n")
                line = f.readline()
                m = QID.search(line)
                if not m:
                    raise OSError("no 250: %r" % line)
                acked.append(m.group(1).decode())
                sent += 1
        except OSError as e:
            failures += 1
            errors.append(str(e))
            if stop.is_set():
                return


def spool_ids(d):
    db = sqlite3.connect(str(d.spool / "queue.db"))
    return {r[0] for r in db.execute("select id from messages")}


@pytest.mark.parametrize("loops", [1, 2])
def test_kill9_during_load_loses_nothing_acknowledged(make_daemon, loops):
    d = make_daemon(["inbound = { threads = %d; };" % loops])
    acked, errors, stop = [], [], threading.Event()
    threads = [threading.Thread(target=client, args=(d.port, 100, acked, errors, stop)) for _ in range(20)]
    for t in threads:
        t.start()
    while len(acked) < 700 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.01)
    d.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 700
    d.start()
    present = {m["id"] for m in d.queue()}
    missing = set(acked) - present
    assert not missing, "%d acknowledged messages lost after kill -9" % len(missing)
    # and the restarted daemon takes the rest of the 2,000
    acked2, errors2 = [], []
    rest = [threading.Thread(target=client, args=(d.port, (2000 - len(present)) // 20 + 1, acked2, errors2,
                                                    threading.Event())) for _ in range(20)]
    for t in rest:
        t.start()
    for t in rest:
        t.join(timeout=120)
    assert not errors2
    assert set(acked) | set(acked2) <= {m["id"] for m in d.queue()}
    assert len(d.queue()) >= 2000


def test_full_spool_refuses_with_452_and_keeps_what_it_had(make_daemon):
    d = make_daemon(['spool_max_size = "1M";'])
    big = "y" * 998 + "\r\n"
    accepted, refused = [], None
    c = session(d.port)
    for i in range(40):
        c.start_data()
        c.send(message("fill %d" % i, big * 60) + ".\r\n")
        code, lines = c.reply()
        if code == 250:
            accepted.append(lines[0].split()[-1])
            continue
        refused = lines[0]
        break
    assert refused is not None and refused.startswith("452 4.3.1"), refused
    assert accepted
    c.expect(250, "NOOP")  # the session is still usable
    assert set(accepted) <= {m["id"] for m in d.queue()}
    assert "event=queue_failed" in d.log_text()


def big_body(tag, size):
    """A message of about size octets whose every line names its message
    and line number, so a page of one body found in another shows."""
    head = "From: app@example.com\r\nTo: sink@example.net\r\nSubject: %s\r\n\r\n" % tag
    lines = ["%s line %07d %s\r\n" % (tag, i, "y" * 50) for i in range(size // 80)]
    return (head + "".join(lines)).encode()


def big_client(port, tag, size, n, acked, stop):
    """Sends up to n messages of size octets over one connection, recording
    (queue id, subject, exact text) the moment each 250 arrives."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO load.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        for i in range(n):
            if stop.is_set():
                return
            subject = "%s-%d" % (tag, i)
            text = big_body(subject, size)
            s.sendall(b"MAIL FROM:<load@example.com>\r\nRCPT TO:<sink@example.net>\r\nDATA\r\n")
            for _ in range(3):
                f.readline()
            s.sendall(text + b".\r\n")
            m = QID.search(f.readline())
            if not m:
                return
            acked.append((m.group(1).decode(), subject, text))
    except OSError:
        return   # the daemon was killed


def received(sink):
    """Subject -> text (LF line ends) of what the sink got; a message
    delivered twice (at-least-once after the kill) is the same text."""
    out = {}
    for m in list(sink.messages):
        subject = m.data.split(b"Subject: ", 1)[1].split(b"\n", 1)[0].rstrip(b"\r").decode()
        out[subject] = m.data.replace(b"\r\n", b"\n")
    return out


@pytest.mark.parametrize("size,kill_after", [(100 * 1024, 200), (1024 * 1024, 40)])
def test_kill9_with_large_messages_keeps_every_body_intact(make_daemon, size, kill_after):
    """kill -9 while 100 KB / 1 MB messages are accepted into segment files
    (spool/bodies), delivered and deleted (holes punched, or the WAL
    checkpointed, before the kill, as the log shows): every acknowledged
    body is afterwards either in the spool byte for byte or delivered, the
    spool checks clean, and the restarted daemon delivers the rest intact."""
    sink = Sink().start()
    try:
        d = make_daemon(['routes = { sink = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };'
                         % sink.port, 'rules = ( { via = [ "sink" ]; } );'], debug=True)
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=big_client, args=(d.port, "big%d" % t, size, kill_after, acked, stop))
                   for t in range(4)]
        for t in threads:
            t.start()
        def reused():
            log = d.log_text()
            return "event=spool_checkpoint " in log or "event=removed " in log

        while (len(acked) < kill_after or not reused()) and any(t.is_alive() for t in threads):
            threading.Event().wait(0.05)
        d.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert len(acked) >= kill_after
        assert reused()   # the kill came after at least one delete or checkpoint
        assert any((d.spool / "bodies").iterdir())   # the bodies went to segments
        assert d.cli("spool", "check").returncode == 0
        db = sqlite3.connect("file:%s?mode=ro" % (d.spool / "queue.db"), uri=True)   # no checkpoint at close
        stored = d.bodies(db)
        db.close()
        delivered = received(sink)
        for qid, subject, text in acked:
            assert qid in stored or subject in delivered, "%s (%s) lost after kill -9" % (qid, subject)
            if qid in stored:
                assert stored[qid].endswith(text), "%s: body in the spool differs" % qid
        d.start()
        want = {subject for _, subject, _ in acked}
        deadline = time.time() + 120
        while time.time() < deadline and not want <= set(received(sink)):
            time.sleep(0.1)
        delivered = received(sink)
        for qid, subject, text in acked:
            assert subject in delivered, "%s (%s) never delivered" % (qid, subject)
            assert delivered[subject].endswith(text.replace(b"\r\n", b"\n")), "%s: delivered body differs" % qid
    finally:
        sink.stop()
