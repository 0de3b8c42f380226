"""The default does the main job: scripts/run.sh (the README's first
command) starts a loopback-only relay that delivers straight to MX,
makes a DKIM key on first run (printing the DNS record and the doctor
command) and keeps it on later runs; a message that cannot go because DNS
or port 25 is unreachable is deferred with one log line per attempt that
says which (cause=dns, cause=port25 / cause=connect)."""
import os
import re
import shutil
import signal
import stat
import subprocess
import time

from conftest import BIN, ROOT, ROOT_OK, free_port
from peers import DNS


def checkout_copy(tmp_path):
    """The parts of the checkout run.sh uses, with free ports (the real
    checkout's spool/ and port 2525 are the operator's)."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    smtp, http = free_port(), free_port()
    text = (ROOT / "examples" / "local.conf").read_text()
    text = text.replace("127.0.0.1:2525", "127.0.0.1:%d" % smtp).replace("127.0.0.1:8025", "127.0.0.1:%d" % http)
    (tmp_path / "examples" / "local.conf").write_text(text)
    return smtp


def start_run_sh(tmp_path):
    out = open(tmp_path / "run.out", "w+")
    env = dict(os.environ, OUTPOST_BIN_DIR=str(BIN), OUTPOST_DOMAIN="example.test")
    p = subprocess.Popen(["sh", str(tmp_path / "scripts" / "run.sh")], stdout=out, stderr=subprocess.STDOUT,
                         env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        out.seek(0)
        text = out.read()
        if "event=started" in text:
            return p, text
        assert p.poll() is None, text
        time.sleep(0.1)
    raise AssertionError("run.sh did not start outpostd:\n" + text)


def stop(p):
    p.send_signal(signal.SIGTERM)     # run.sh execs outpostd: this is the daemon
    assert p.wait(timeout=40) == 0


def test_run_sh_delivers_signs_and_says_what_to_publish(tmp_path):
    smtp = checkout_copy(tmp_path)
    p, text = start_run_sh(tmp_path)
    try:
        assert "publish this TXT record" in text
        assert re.search(r'outpost\._domainkey\.example\.test\. IN TXT "v=DKIM1; k=rsa; p=', text), text
        assert "doctor example.test" in text
        assert "event=delivery_started routes=1 rules=1" in text     # it delivers: an mx route
        assert "address=127.0.0.1:%d" % smtp in text and "0.0.0.0" not in text
        key = tmp_path / "spool" / "dkim" / "outpost.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        conf = tmp_path / "spool" / "run.conf"
        r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "check-config"], capture_output=True, text=True)
        assert r.returncode == 0 and "1 routes, 1 rules, 1 DKIM keys" in r.stdout, r.stdout + r.stderr
        assert "spool %s" % (tmp_path / "spool") in r.stdout
    finally:
        stop(p)
    before = key.read_bytes()
    p, text = start_run_sh(tmp_path)    # second run: the same key, no new record
    stop(p)
    assert key.read_bytes() == before and "publish this TXT record" not in text
    assert "signing mail from example.test" in text


def deferral_lines(d):
    return [l for l in d.log_text().splitlines() if "event=delivery " in l and "result=deferred" in l]


def wait_deferral(d):
    deadline = time.time() + 30
    while time.time() < deadline and not deferral_lines(d):
        time.sleep(0.1)
    return deferral_lines(d)


def send(d, rcpt):
    import smtplib
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.sendmail("app@example.com", [rcpt], "Subject: x\r\n\r\nx\r\n")


def test_dns_unreachable_deferral_says_dns(make_daemon):
    dns = DNS().start()
    dns.zone.add("example.org", "MX", "TIMEOUT")
    try:
        d = make_daemon(settings=['resolver = "%s";' % dns.spec, 'routes = { direct = { type = "mx"; }; };',
                                  'rules = ( { via = [ "direct" ]; } );', 'delivery = { dns_timeout = "1s"; };'])
        send(d, "someone@example.org")
        lines = wait_deferral(d)
        assert lines and "cause=dns" in lines[0] and "4.4.3" in lines[0], d.log_text()
    finally:
        dns.stop()


def test_unreachable_smtp_port_deferral_says_connect(make_daemon):
    dns = DNS().start()
    dns.zone.add("example.org", "MX", (10, "mx.example.org"))
    dns.zone.add("mx.example.org", "A", "127.0.0.1")
    closed = free_port()        # nothing listens there: connection refused
    try:
        d = make_daemon(settings=['resolver = "%s";' % dns.spec,
                                  'routes = { direct = { type = "mx"; port = %d; }; };' % closed,
                                  'rules = ( { via = [ "direct" ]; } );'])
        send(d, "someone@example.org")
        lines = wait_deferral(d)
        assert lines and "cause=connect" in lines[0] and "4.4.1" in lines[0], d.log_text()
    finally:
        dns.stop()


def test_unreachable_port25_deferral_says_port25(make_daemon):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # a TIME_WAIT is no listener
        try:
            s.bind(("127.0.0.1", 25))
        except OSError:
            import pytest
            pytest.skip("something listens on 127.0.0.1:25 here (or binding it needs root)")
    dns = DNS().start()
    dns.zone.add("example.org", "MX", (10, "mx.example.org"))
    dns.zone.add("mx.example.org", "A", "127.0.0.1")
    try:
        d = make_daemon(settings=['resolver = "%s";' % dns.spec, 'routes = { direct = { type = "mx"; }; };',
                                  'rules = ( { via = [ "direct" ]; } );'])
        send(d, "someone@example.org")
        lines = wait_deferral(d)
        assert lines and "cause=port25" in lines[0] and "4.4.1" in lines[0], d.log_text()
    finally:
        dns.stop()
