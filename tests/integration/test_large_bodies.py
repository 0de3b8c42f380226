"""Large bodies (32 KiB and up) live in segment files, spool/bodies/N, not in
queue.db: relayed byte for byte, kept through kill -9, their segment gone
once delivered, and a damaged segment is reported by `outpost spool check`
and in the log while its message is kept, never delivered wrong."""
import os
import re
import smtplib
import threading
import time
from pathlib import Path

from peers import Sink, free_port
from test_durability import big_body, big_client

SLOW_RETRY = 'retry = { schedule = [ "1h" ]; greylist = "1h"; lifetime = "2h"; delay_notice = "0s"; };'


def relay_to(port):
    return ['routes = { r = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };' % port,
            'rules = ( { via = [ "r" ]; } );']


def text_of(tag, size):
    """Message text with lines that start with "." (dot-stuffed on the wire)."""
    body = big_body(tag, size)
    return body.replace(b" line 0000100 ", b"\r\n..dot line\r\n. line 0000100 ", 1)


def segments(d):
    p = d.spool / "bodies"
    return sorted(p.iterdir()) if p.exists() else []


def wait(pred, what, d, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("%s; log:\n%s" % (what, d.log_text()[-3000:]))


def test_100k_and_1m_messages_relayed_byte_exact_from_their_segment(make_daemon):
    sink = Sink().start()
    try:
        d = make_daemon(relay_to(sink.port))
        sent = {}
        with smtplib.SMTP("127.0.0.1", d.port) as s:
            for tag, size in (("big100k", 100 * 1024), ("big1m", 1024 * 1024)):
                text = text_of(tag, size)
                s.sendmail("app@example.com", ["sink@example.net"], text)
                sent[tag] = text
        sink.wait(2, timeout=60)
        got = {m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode(): m.data for m in sink.messages}
        for tag, text in sent.items():
            # the daemon adds its trace field in front; the rest is the same bytes
            assert got[tag].endswith(text), "%s: delivered body differs" % tag
        wait(lambda: not d.queue(), "queue not empty", d)
        segs = segments(d)
        assert len(segs) == 1, segs   # the current one: both bodies went there
        assert segs[0].stat().st_size >= 1000 * 1000
        assert "event=spool_body_unreadable" not in d.log_text()
    finally:
        sink.stop()


def test_small_bodies_stay_in_the_database(make_daemon):
    d = make_daemon(relay_to(free_port()) + [SLOW_RETRY])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@example.com", ["sink@example.net"], big_body("small", 4096))
    wait(lambda: d.queue(), "not queued", d)
    assert d.bodies()[d.queue()[0]["id"]].endswith(big_body("small", 4096))
    assert not any(p.stat().st_size for p in segments(d))


def test_kill9_mid_load_keeps_segment_bodies_and_delivers_them_after_restart(make_daemon):
    """kill -9 while 100 KB messages are accepted into segments and nothing
    is delivered (the route is down): every acknowledged body is in the spool
    byte for byte; the restart starts a new segment (any unreferenced tail
    of a crash is removed) and, once the route is up, delivers them all."""
    down = free_port()
    d = make_daemon(relay_to(down) + [SLOW_RETRY])
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=big_client, args=(d.port, "k%d" % t, 100 * 1024, 40, acked, stop))
               for t in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 60 and any(t.is_alive() for t in threads):
        time.sleep(0.02)
    d.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acked) >= 60
    assert d.cli("spool", "check").returncode == 0
    stored = d.bodies()
    for qid, subject, text in acked:
        assert qid in stored, "%s (%s) lost after kill -9" % (qid, subject)
        assert stored[qid].endswith(text), "%s: body in the spool differs" % qid
    sink = Sink().start()
    try:
        d.conf.write_text(d.conf.read_text().replace("127.0.0.1:%d" % down, "127.0.0.1:%d" % sink.port))
        d.start()
        d.cli("queue", "flush")
        want = {subject: text for _, subject, text in acked}
        wait(lambda: len({m.data for m in sink.messages}) >= len(stored), "not all delivered", d, timeout=120)
        got = {m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode(): m.data for m in sink.messages}
        for subject, text in want.items():
            assert subject in got, "%s never delivered" % subject
            assert got[subject].endswith(text), "%s: delivered body differs" % subject
        wait(lambda: not d.queue(), "queue not empty", d)
        assert len(segments(d)) <= 1, "sealed segments of delivered mail are removed: %s" % segments(d)
    finally:
        sink.stop()


def test_damaged_segment_is_reported_and_its_message_kept(make_daemon):
    d = make_daemon(relay_to(free_port()) + [SLOW_RETRY], debug=True)
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@example.com", ["sink@example.net"], big_body("damaged", 100 * 1024))
    wait(lambda: d.queue() and d.queue()[0]["recipients"][0]["state"] == "deferred", "never deferred", d)
    qid = d.queue()[0]["id"]
    d.stop()
    assert d.cli("spool", "check").returncode == 0
    seg = segments(d)[0]
    data = bytearray(seg.read_bytes())
    i = data.index(b"damaged line 0000500")
    data[i] ^= 0x20
    seg.write_bytes(bytes(data))
    r = d.cli("spool", "check", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 messages have a missing or damaged body" in r.stdout and qid in r.stdout, r.stdout
    assert "checksum" in r.stdout and "DAMAGED" not in r.stdout, r.stdout
    d.start(debug=True)
    d.cli("queue", "flush")
    wait(lambda: re.search(r"event=spool_body_unreadable qid=%s .*checksum" % qid, d.log_text()),
         "bad body not reported", d)
    assert [m["id"] for m in d.queue()] == [qid]   # kept, not delivered, not deleted
    d.stop()
    os.unlink(seg)
    r = d.cli("spool", "check", check=False)
    assert r.returncode == 1 and qid in r.stdout and "cannot open" in r.stdout, r.stdout
    d.start()
    assert re.search(r"event=spool_body_missing seg=%d messages=1 " % int(seg.name), d.log_text())
    assert [m["id"] for m in d.queue()] == [qid]
    assert not Path(seg).exists()
