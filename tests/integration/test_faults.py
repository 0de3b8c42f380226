"""Faults and hostile peers (issue 11): a relay whose reply never ends, a full
disk, a damaged spool, out-of-range config integers, key files others can read.
Each case runs the real daemon and checks what is visible from outside."""
import os
import smtplib
import socket
import threading
import time

import pytest

from conftest import message


class EndlessRelay:
    """A relay that greets, then answers EHLO with "250-" lines for ever (every
    `gap` seconds; 0: as fast as the socket takes them).  Records when each
    connection was closed by the client."""

    def __init__(self, gap):
        self.gap = gap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = []      # [opened, closed or None]
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        rec = [time.monotonic(), None]
        self.connections.append(rec)
        try:
            c.sendall(b"220 hostile.test ESMTP\r\n")
            c.settimeout(10)
            c.recv(1000)   # EHLO
            line = b"250-endless continuation of a hostile reply\r\n"
            while not self.stopping.is_set():
                c.sendall(line * (1 if self.gap else 64))
                if self.gap:
                    time.sleep(self.gap)
        except OSError:
            pass
        rec[1] = time.monotonic()
        c.close()

    def stop(self):
        self.stopping.set()
        self.sock.close()


def relay_daemon(make_daemon, port, command_timeout="2s"):
    return make_daemon([
        'routes = { hostile = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };' % port,
        'rules = ( { via = [ "hostile" ]; } );',
        'delivery = { connect_timeout = "2s"; command_timeout = "%s"; };' % command_timeout,
        'retry = { schedule = [ "1h" ]; lifetime = "1d"; };'])


def wait_for_log(d, text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in d.log_text():
            return True
        time.sleep(0.1)
    return False


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def endless_reply_case(make_daemon, gap, reason):
    relay = EndlessRelay(gap)
    try:
        d = relay_daemon(make_daemon, relay.port)
        with smtplib.SMTP("127.0.0.1", d.port) as s:
            s.sendmail("app@example.com", ["x@example.net"], message("endless"))
        assert wait_for_log(d, "result=deferred"), d.log_text()[-3000:]
        line = [x for x in d.log_text().splitlines() if "event=delivery " in x][0]
        assert reason in line, line
        # the hostile relay saw the connection closed, and the message waits
        deadline = time.time() + 10
        while relay.connections[0][1] is None and time.time() < deadline:
            time.sleep(0.1)
        assert relay.connections[0][1] is not None
        q = d.queue()
        assert len(q) == 1 and q[0]["recipients"][0]["state"] == "deferred"
        return d
    finally:
        relay.stop()


def test_endless_fast_ehlo_reply_is_cut_by_size(make_daemon):
    endless_reply_case(make_daemon, 0, "reply longer than 64 KB or 1000 lines after EHLO")


def test_endless_slow_ehlo_reply_is_cut_by_time(make_daemon):
    # one line every 0.3 s never lets the 2 s idle timeout fire: only the
    # bound on the whole reply's time ends it
    d = endless_reply_case(make_daemon, 0.3, "timeout after EHLO: the reply did not end")
    assert cpu_seconds(d.proc.pid) < 30


def test_integer_that_would_wrap_is_refused_with_file_and_line(make_daemon):
    d = make_daemon(["inbound = {", "  max_recipients = 4294967298;", "};"], start=False)
    r = d.cli("check-config", check=False)
    assert r.returncode != 0
    line = d.conf.read_text().splitlines().index("  max_recipients = 4294967298;") + 1
    assert "%s:%d: max_recipients: 4294967298 is out of range" % (d.conf, line) in r.stderr, r.stderr
    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(d.conf)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0 and "max_recipients: 4294967298 is out of range" in p.stderr


def start_fails(d):
    """Runs outpostd on d's config in the foreground, expecting it to exit."""
    import subprocess
    from conftest import BIN
    return subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(d.conf)], capture_output=True, text=True,
                          timeout=30)


def assert_refused_at_check_and_start(d, want):
    """`outpost check-config` and outpostd's start both fail, naming want."""
    r = d.cli("check-config", check=False)
    assert r.returncode != 0 and want in r.stderr, r.stderr
    p = start_fails(d)
    assert p.returncode != 0 and want in p.stderr, p.stderr


def test_tls_key_readable_by_group_is_refused(make_daemon, tls_files, tmp_path):
    import shutil
    cert, key = tls_files
    loose = tmp_path / "loose-key.pem"
    shutil.copy(key, loose)
    loose.chmod(0o640)
    d = make_daemon(['tls = { cert = "%s"; key = "%s"; };' % (cert, loose)], start=False)
    assert_refused_at_check_and_start(d, "tls key %s: mode 0640 lets group or others read it" % loose)
    loose.chmod(0o600)
    assert d.cli("check-config").returncode == 0
    d.start()


def test_dkim_key_readable_by_others_is_refused_at_start_and_reload(make_daemon, tmp_path):
    import signal
    import subprocess
    from conftest import BIN
    key = tmp_path / "dkim.key"
    subprocess.run([str(BIN / "outpost"), "dkim", "keygen", "--domain", "example.com", "--selector", "s1",
                    "--type", "ed25519", "--out", str(key)], check=True, capture_output=True)
    key.chmod(0o644)
    d = make_daemon(['dkim = ( { domain = "example.com"; selector = "s1"; key = "%s"; } );' % key],
                    start=False)
    assert_refused_at_check_and_start(d, "dkim key %s: mode 0644 lets group or others read it" % key)
    key.chmod(0o600)
    d.start()
    # a reload with a key others can read is refused; the running config stays
    key.chmod(0o604)
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for_log(d, "event=reload_failed"), d.log_text()[-2000:]
    assert "mode 0604 lets group or others read it" in d.log_text()
    key.chmod(0o600)


# --- a full spool or a full disk (item 3) ---------------------------------

def fill_until_452(d):
    """Sends messages of ~20 KB, then smaller and smaller ones, each size
    until the daemon answers 452 4.3.1, so the spool is full to the last
    page; returns one entry per message acked."""
    acked = []
    for lines in (300, 40, 4, 0):
        body = "Subject: fill\r\n\r\n" + ("y" * 70 + "\r\n") * lines
        for _ in range(5000):
            try:
                with smtplib.SMTP("127.0.0.1", d.port) as s:
                    s.sendmail("app@example.com", ["x@example.net"], body)
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 452 and b"4.3.1" in e.smtp_error, e
                break
            acked.append(lines)
        else:
            raise AssertionError("the spool never filled")
    return acked


def sink_daemon(make_daemon, port, extra=()):
    return make_daemon([
        'routes = { out = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };' % port,
        'rules = ( { via = [ "out" ]; } );',
        'delivery = { connect_timeout = "2s"; command_timeout = "5s"; };',
        'retry = { schedule = [ "1s" ]; lifetime = "1d"; };',
        'health = { failures = 1000; };'] + list(extra), start=False)


def wait_delivered(sink, d, count, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and (len(sink.messages) < count or d.queue()):
        time.sleep(0.2)
    return len(sink.messages)


def test_spool_max_size_caps_new_mail_only(make_daemon):
    """A spool at spool_max_size refuses new mail with 452, but after a
    restart its messages are still claimed and delivered (the cap used to
    stop the claims too: spool_error op=claim reason="spool full" for ever)."""
    from peers import Sink, free_port
    port = free_port()
    d = sink_daemon(make_daemon, port, ['spool_max_size = "1M";'])
    d.start()
    acked = fill_until_452(d)
    assert acked
    d.stop()
    d.start()
    # the relay is still down: every message is claimed and its deferral
    # recorded (attempts rows: new pages beyond the cap)
    deadline = time.time() + 30
    while time.time() < deadline and d.log_text().count("result=deferred attempts=") < 2 * len(acked):
        time.sleep(0.2)
    sink = Sink("127.0.0.1", port).start()
    try:
        d.cli("queue", "flush")
        assert wait_delivered(sink, d, len(acked)) == len(acked), d.log_text()[-3000:]
        assert d.queue() == []
        assert "op=claim" not in d.log_text() and "op=record" not in d.log_text()
    finally:
        sink.stop()


@pytest.fixture
def tiny_fs():
    """mount(dir): an 8 MB tmpfs on dir (needs root), unmounted after the test."""
    import subprocess
    mounted = []

    def mount(path):
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs (needs root): " + r.stderr.strip())
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_disk(path, name="filler"):
    """Writes zeros to path/name until the file system is full."""
    fd = os.open(str(path / name), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * size) < size:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)
    return path / name


def test_full_disk_still_delivers_and_deletes(make_daemon, tiny_fs):
    """The disk fills up with mail (452), then something else takes the rest;
    after a restart the queue is still delivered and `queue delete` works."""
    from peers import Sink, free_port
    port = free_port()
    d = sink_daemon(make_daemon, port)
    tiny_fs(d.spool)
    d.start()
    acked = fill_until_452(d)
    assert len(acked) > 50
    fill_disk(d.spool)
    d.stop()
    ids = [m["id"] for m in d.queue()]
    assert len(ids) == len(acked)
    r = d.cli("queue", "delete", ids[0], check=False)
    assert r.returncode == 0, r.stderr          # deleting works on a full disk
    sink = Sink("127.0.0.1", port).start()
    d.start()                                   # restart on a full disk
    try:
        d.cli("queue", "flush", check=False)     # may fail for want of space: retries are 1 s apart
        assert wait_delivered(sink, d, len(acked) - 1) == len(acked) - 1, d.log_text()[-3000:]
        assert d.queue() == []
    finally:
        sink.stop()


def test_claim_on_a_disk_with_no_room_backs_off_and_counts(make_daemon, tiny_fs):
    """No reserve left and not a byte free: claims fail.  They must back off
    (not thousands a second at full CPU) and the error is logged once with
    a count; when room comes back, everything is delivered."""
    from peers import Sink, free_port
    port = free_port()
    d = sink_daemon(make_daemon, port)
    tiny_fs(d.spool)
    d.start()
    acked = fill_until_452(d)
    d.stop()
    (d.spool / "queue.reserve").unlink()        # as if something had used it up
    filler = fill_disk(d.spool)
    with open(filler, "r+b") as f:               # room to open the spool (its -shm), no more
        f.truncate(filler.stat().st_size - 40 * 1024)
    sink = Sink("127.0.0.1", port).start()
    try:
        d.start()
        cpu0, t0 = cpu_seconds(d.proc.pid), time.time()
        time.sleep(6)
        cpu = cpu_seconds(d.proc.pid) - cpu0
        log = d.log_text()
        assert "op=claim" in log, log[-2000:]
        assert log.count("event=spool_error qid=- op=claim") <= 2, log[-3000:]
        assert cpu < 0.5 * (time.time() - t0), cpu
        assert sink.messages == []
        filler.unlink()                          # room again
        assert wait_for_log(d, "repeated=", timeout=90), d.log_text()[-3000:]
        assert wait_delivered(sink, d, len(acked), timeout=90) == len(acked), d.log_text()[-3000:]
    finally:
        sink.stop()


# --- a damaged spool (item 9) ---------------------------------------------

def queue_then_kill9(make_daemon, n=150):
    """n messages queued (no routes: they stay), then kill -9: the WAL holds
    them, not yet checkpointed into queue.db."""
    d = make_daemon()
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        for i in range(n):
            s.sendmail("app@example.com", ["x%d@example.net" % i], message("m%d" % i, "body\r\n" * 100))
    d.kill9()
    assert (d.spool / "queue.db-wal").stat().st_size > 0
    return d


def committed_frames(d):
    """mxFrame from the wal-index (queue.db-shm) the crash left."""
    import struct
    frames = struct.unpack_from("=I", (d.spool / "queue.db-shm").read_bytes(), 16)[0]
    assert frames > 10
    return frames


def damage(d, kind):
    import random
    rnd = random.Random(11)
    wal, db = d.spool / "queue.db-wal", d.spool / "queue.db"
    if kind == "wal_deleted":
        wal.unlink()
    elif kind == "wal_half":                      # half of its committed frames
        os.truncate(wal, 32 + committed_frames(d) // 2 * (24 + 4096))
    elif kind == "wal_random_middle":             # 8 KB of noise amid its committed frames
        with open(wal, "r+b") as f:
            f.seek(32 + committed_frames(d) // 2 * (24 + 4096))
            f.write(bytes(rnd.getrandbits(8) for _ in range(8192)))
    elif kind == "wal_random_all":
        wal.write_bytes(bytes(rnd.getrandbits(8) for _ in range(wal.stat().st_size)))
    elif kind == "page":
        d.start()
        d.stop()                                  # checkpointed into queue.db
        pages = db.stat().st_size // 4096
        with open(db, "r+b") as f:
            f.seek((pages // 2) * 4096)
            f.write(bytes(rnd.getrandbits(8) for _ in range(4096)))


@pytest.mark.parametrize("kind", ["wal_deleted", "wal_half", "wal_random_middle", "wal_random_all", "page"])
def test_damaged_spool_is_refused_then_recovered(make_daemon, kind):
    d = queue_then_kill9(make_daemon)
    damage(d, kind)
    p = start_fails(d)
    assert p.returncode != 0, p.stderr[-2000:]
    assert "is damaged" in p.stderr and "outpost spool recover" in p.stderr, p.stderr[-2000:]
    p = start_fails(d)                            # the mark stays: still refused
    assert p.returncode != 0 and "is damaged" in p.stderr
    r = d.cli("queue", "list", check=False)
    assert r.returncode != 0 and "is damaged" in r.stderr
    r = d.cli("spool", "check", check=False)
    assert r.returncode == 1 and "DAMAGED" in r.stdout, r.stdout + r.stderr
    r = d.cli("spool", "recover", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    import re
    copied = int(re.search(r"recovered (\d+) messages", r.stdout).group(1))
    aside = list(d.spool.glob("queue.db.damaged-*"))
    assert any(p.name.endswith("Z") for p in aside), aside  # the damaged database, kept
    assert d.cli("spool", "check").returncode == 0
    d.start()
    q = d.queue()
    assert len(q) == copied and all(m["recipients"] for m in q)


def test_kill9_with_a_sound_wal_starts_with_everything(make_daemon):
    d = queue_then_kill9(make_daemon)
    d.start()
    assert len(d.queue()) == 150
    assert "spool_damaged" not in d.log_text()
    assert d.cli("spool", "check").returncode == 0
