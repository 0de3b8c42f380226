"""Fixtures for integration tests: the real outpostd on loopback.

Each test gets a fresh spool in a temporary directory and a daemon started
with `outpostd -f -c FILE`; tests talk to it with smtplib, swaks and the
`outpost` CLI.  OUTPOST_BIN_DIR names the build directory (default
build-asan)."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("OUTPOST_BIN_DIR", ROOT / "build-asan")).resolve()
PASSWORD = "s3cret pass"
# Started as root (as CI runs the tests), outpostd would switch to the
# `outpost` user; test daemons keep running as root by saying so
# (test_privileges.py tests the switch itself).
ROOT_OK = ["allow_root = true;"] if os.geteuid() == 0 else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_started(log, proc, timeout=20.0):
    """Waits for the daemon's event=started line (no probe connection, which
    would count against the session caps some tests measure)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("outpostd exited with %s:\n%s" % (proc.returncode, log.read_text()[-3000:]))
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count("event=started") > getattr(proc, "starts_before", 0):
            return
        time.sleep(0.02)
    raise RuntimeError("outpostd did not start")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


@pytest.fixture(scope="session")
def users_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("users")
    lines = []
    for name, method, domains in (("alice", "yescrypt", "alice.example,shared.example"),
                                  ("bob", "sha-512", "bob.example")):
        h = subprocess.run(["mkpasswd", "-m", method, PASSWORD], check=True,
                           capture_output=True, text=True).stdout.strip()
        lines.append("%s:%s:%s" % (name, h, domains))
    p = d / "users"
    p.write_text("# test users\n" + "\n".join(lines) + "\n")
    p.chmod(0o600)
    return p


class Daemon:
    def __init__(self, tmp, settings, listeners):
        self.dir = tmp
        tmp.mkdir()
        self.spool = tmp / "spool"
        self.socket = self.spool / "outpost.sock"
        self.conf = tmp / "outpost.conf"
        self.log = tmp / "outpostd.log"
        self.ports = {}
        self.hosts = {}
        parts = []
        for name, extra in listeners.items():
            host = extra.pop("host", "127.0.0.1")
            port = free_port()
            self.ports[name] = port
            self.hosts[name] = host
            attrs = "".join('%s = "%s"; ' % kv for kv in extra.items())
            parts.append('{ address = "%s:%d"; %s}' % (host, port, attrs))
        self.port = self.ports.get("smtp")
        text = ['hostname = "relay.test";', 'spool = "%s";' % self.spool,
                "listen = ( %s );" % ", ".join(parts)] + ROOT_OK
        text += settings
        self.conf.write_text("\n".join(text) + "\n")
        self.proc = None

    def start(self, debug=False):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        args = [str(BIN / "outpostd"), "-f", "-c", str(self.conf)] + (["-d"] if debug else [])
        before = self.log_text().count("event=started") if self.log.exists() else 0
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, env=env)
        self.proc.starts_before = before
        wait_started(self.log, self.proc)
        return self

    def stop(self):
        """SIGTERM, and the daemon must exit 0 (LeakSanitizer runs at exit)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=40)
            self.logf.close()
            assert rc == 0, "outpostd exited %s; log:\n%s" % (rc, self.log_text()[-4000:])
        self.proc = None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()
        self.proc = None

    def log_text(self):
        return self.log.read_text(errors="replace")

    def cli(self, *args, check=True, input=None):
        r = subprocess.run([str(BIN / "outpost"), "-c", str(self.conf)] + list(args),
                           capture_output=True, text=True, input=input)
        if check and r.returncode != 0:
            raise AssertionError("outpost %s failed (%d): %s" % (args, r.returncode, r.stderr))
        return r

    def queue(self):
        return json.loads(self.cli("queue", "list", "--json").stdout)

    def bodies(self, db=None):
        """qid -> the stored body, read the way outpostd does: inline in
        queue.db, or (32 KiB and up) from its segment file in spool/bodies."""
        return spool_bodies(self.spool, db)


def spool_bodies(spool, db=None):
    """qid -> body bytes of every message in the spool at `spool`."""
    import sqlite3
    own = db is None
    if own:
        db = sqlite3.connect("file:%s?mode=ro" % (Path(spool) / "queue.db"), uri=True)
    out = {}
    for qid, body, seg, off, size in db.execute("select id, body, body_seg, body_off, size from messages"):
        if seg is None:
            out[qid] = bytes(body)
            continue
        with open(Path(spool) / "bodies" / ("%010d" % seg), "rb") as f:
            f.seek(off)
            out[qid] = f.read(size)
    if own:
        db.close()
    return out


@pytest.fixture
def make_daemon(tmp_path):
    """make_daemon(settings=[...], listeners={...}) -> started Daemon; stopped after the test."""
    made = []

    def make(settings=None, listeners=None, start=True, debug=False):
        settings = list(settings or [])
        if not any(s.startswith("client_networks") for s in settings):
            settings.append('client_networks = [ "127.0.0.0/8" ];')
        d = Daemon(tmp_path / ("d%d" % len(made)), settings,
                   listeners or {"smtp": {}})
        made.append(d)
        return d.start(debug) if start else d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


class RawClient:
    """Exact bytes on the wire, for what smtplib would correct or refuse to send."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """One whole reply: (code, [lines]); (None, []) when the server closed."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (None, lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode(errors="replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return (int(line[:3]), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, code, line=None):
        got, lines = self.cmd(line) if line is not None else self.reply()
        assert got == code, "sent %r: want %s, got %s %s" % (line, code, got, lines)
        return lines

    def start_data(self, sender="a@example.com", rcpt="b@example.net"):
        """MAIL, RCPT and DATA, each answered as a willing server answers."""
        self.expect(250, "MAIL FROM:<%s>" % sender)
        self.expect(250, "RCPT TO:<%s>" % rcpt)
        self.expect(354, "DATA")

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
                self.buf += chunk
        except OSError:
            return True

    def close(self):
        self.sock.close()


def session(port, helo="client.test", host="127.0.0.1"):
    c = RawClient(port, host)
    c.expect(220)
    c.expect(250, "EHLO " + helo)
    return c


def message(subject="test", body="Hello.\r\n", headers=""):
    return ("From: app@example.com\r\nTo: user@example.net\r\nSubject: %s\r\n%s\r\n%s"
            % (subject, headers, body))
