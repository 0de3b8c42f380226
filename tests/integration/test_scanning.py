"""Outbound scanning with a real rspamd (Debian's package), started once for
this module on a free loopback port with the minimal config of
tests/integration/rspamd/ (its own database, pid and log in a temporary
directory, no redis): GTUBE is refused with rspamd's message, a message
with the test symbol OUTPOST_SUSPECT ("add header") takes the suspect route
by the rule key spam, clean mail the normal route, the tenant reaches
rspamd (X-Outpost-Tenant, which a test rule scores), and with rspamd slow
or stopped on_error decides; /metrics counts verdicts per tenant, errors
by kind and what on_error did, and the scan latency (promtool checks it).  Relays are aiosmtpd receivers on 127.0.0.5
(normal) and 127.0.0.6 (suspect)."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import message
from peers import free_port
from test_delivery import World
from test_observe import get, promtool_check, sample

HERE = Path(__file__).parent / "rspamd"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
TENANTS = ('tenants = ( { name = "acme"; domains = [ "acme.example" ]; },'
           ' { name = "blocked"; domains = [ "blocked.example" ]; } );')


class Rspamd:
    def __init__(self, tmp):
        self.dir = tmp
        self.port = free_port("127.0.0.1")
        (tmp / "db").mkdir()
        (tmp / "tmp").mkdir()
        conf = (HERE / "rspamd.conf.in").read_text().replace("@DIR@", str(tmp)).replace("@PORT@", str(self.port))
        (tmp / "rspamd.conf").write_text(conf)
        (tmp / "outpost_rules.lua").write_text((HERE / "outpost_rules.lua").read_text())
        args = ["rspamd", "-f", "-c", str(tmp / "rspamd.conf")] + (["-i"] if os.geteuid() == 0 else [])
        self.out = open(tmp / "rspamd.out", "wb")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.out, start_new_session=True)
        self.url = "http://127.0.0.1:%d" % self.port
        self.wait_ready()

    def wait_ready(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "rspamd exited: %s" % (self.dir / "rspamd.out").read_text()[-2000:]
            try:
                req = urllib.request.Request(self.url + "/checkv2", data=b"Subject: ping\r\n\r\nping\r\n")
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("rspamd did not answer on %s" % self.url)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    r = Rspamd(tmp_path_factory.mktemp("rspamd"))
    yield r
    r.stop()


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def scanned_daemon(world, url, on_error="accept", timeout="5s"):
    world.normal = world.sink("127.0.0.5")
    world.suspect = world.sink("127.0.0.6")
    routes = " ".join('%s = { type = "relay"; host = "%s:%d"; tls = "none"; };' % (n, h, world.port)
                      for n, h in (("normal", "127.0.0.5"), ("suspect", "127.0.0.6")))
    rules = '{ spam = [ "add header", "rewrite subject" ]; via = [ "suspect" ]; }, { via = [ "normal" ]; }'
    scanner = 'scanner = { type = "rspamd"; url = "%s"; timeout = "%s"; on_error = "%s"; };' % (url, timeout,
                                                                                                on_error)
    http_port = free_port("127.0.0.1")
    d = world.daemon(routes=routes, rules=rules,
                     extra=[TENANTS, scanner, 'http = { listen = "127.0.0.1:%d"; };' % http_port])
    d.metrics_url = "http://127.0.0.1:%d/metrics" % http_port
    return d


def metrics(d):
    text = get(d.metrics_url)[2]
    promtool_check(text)
    return text


def send(d, sender, subject, body="Hello.\r\n"):
    """(code, reply text) of the end of DATA."""
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.ehlo()
        s.mail(sender)
        s.rcpt("someone@example.net")
        return s.data(message(subject, body=body).encode())


def scan_ms(d):
    return [float(m) for m in re.findall(r"event=scan .* ms=([0-9.]+)", d.log_text())]


LATENCIES = []


def test_gtube_rejected_suspect_routed_clean_normal_tenant_seen(world, rspamd):
    d = scanned_daemon(world, rspamd.url)
    code, text = send(d, "app@acme.example", "gtube", body=GTUBE + "\r\n")
    assert (code, text) == (550, b"5.7.1 Gtube pattern")
    assert re.search(r"event=scan .*tenant=acme action=reject .*symbols=GTUBE", d.log_text())
    code, _ = send(d, "app@acme.example", "this is outpost-suspect mail")
    assert code == 250
    code, _ = send(d, "app@acme.example", "clean")
    assert code == 250
    suspect, normal = world.suspect.wait(1), world.normal.wait(1)
    assert [b"outpost-suspect" in m.data for m in suspect] == [True]
    assert [b"Subject: clean" in m.data for m in normal] == [True]
    # clean mail is not rewritten: no header of the scanner's added
    assert b"X-Spam" not in normal[0].data and b"X-Spam" not in suspect[0].data
    log = d.log_text()
    assert re.search(r'event=queued .*tenant=acme .*scan="add header" score=7.00 symbols=OUTPOST_SUSPECT', log)
    assert re.search(r'event=queued .*tenant=acme .*scan="no action" score=0.00', log)
    # the tenant's name reaches rspamd: its test rule scores tenant "blocked" 20
    code, text = send(d, "app@blocked.example", "clean too")
    assert (code, text) == (550, b"5.7.1 Message rejected as spam")
    assert re.search(r"event=scan .*tenant=blocked action=reject .*symbols=[A-Z_,]*OUTPOST_TENANT_BLOCKED", d.log_text())
    queue = d.cli("queue", "list").stdout  # nothing stuck: both delivered
    assert "outpost-suspect" not in queue
    LATENCIES.extend(scan_ms(d))
    text = metrics(d)
    assert sample(text, "outpost_scans_total", result="reject", tenant="acme") == 1
    assert sample(text, "outpost_scans_total", result="add header", tenant="acme") == 1
    assert sample(text, "outpost_scans_total", result="no action", tenant="acme") == 1
    assert sample(text, "outpost_scans_total", result="reject", tenant="blocked") == 1
    assert sample(text, "outpost_scan_duration_seconds_count", scanner="rspamd") == 4
    assert sample(text, "outpost_scan_duration_seconds_bucket", scanner="rspamd", le="+Inf") == 4
    assert sample(text, "outpost_scan_errors_total", reason="timeout", action="accept") is None


def test_concurrent_sessions_are_scanned_together(world, rspamd):
    d = scanned_daemon(world, rspamd.url)
    codes = []

    def one(i):
        codes.append(send(d, "app@acme.example", "parallel %d" % i)[0])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [250] * 8
    assert len(world.normal.wait(8)) == 8
    LATENCIES.extend(scan_ms(d))


def silent_listener():
    """A scanner that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def test_slow_scanner_on_error_accept_and_tempfail(world, rspamd):
    s = silent_listener()
    try:
        url = "http://127.0.0.1:%d" % s.getsockname()[1]
        d = scanned_daemon(world, url, on_error="accept", timeout="1s")
        code, _ = send(d, "app@acme.example", "unscanned")
        assert code == 250
        assert re.search(r'event=scan_error .*tenant=acme reason=timeout kind=timeout .*action=accept', d.log_text())
        assert re.search(r'event=queued .*scan=unscanned', d.log_text())
        assert len(world.normal.wait(1)) == 1
        text = metrics(d)
        assert sample(text, "outpost_scan_errors_total", reason="timeout", action="accept") == 1
        assert sample(text, "outpost_scans_total", result="error", tenant="acme") == 1
        # the timeout (1s) is what the scan added to the transaction
        assert sample(text, "outpost_scan_duration_seconds_bucket", scanner="rspamd", le="0.5") == 0
        assert sample(text, "outpost_scan_duration_seconds_bucket", scanner="rspamd", le="+Inf") == 1
        d2 = tempfail_daemon(world, url)
        code, text = send(d2, "app@acme.example", "later")
        assert (code, text) == (451, b"4.7.1 The message could not be scanned, try again later")
        assert sample(metrics(d2), "outpost_scan_errors_total", reason="timeout", action="tempfail") == 1
    finally:
        s.close()


def tempfail_daemon(world, url):
    scanner = 'scanner = { type = "rspamd"; url = "%s"; timeout = "1s"; on_error = "tempfail"; };' % url
    http_port = free_port("127.0.0.1")
    d = world.make_daemon(['resolver = "%s";' % world.dns.spec,
                           'routes = { normal = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; }; };'
                           % world.port, 'rules = ( { via = [ "normal" ]; } );', TENANTS, scanner,
                           'http = { listen = "127.0.0.1:%d"; };' % http_port])
    d.metrics_url = "http://127.0.0.1:%d/metrics" % http_port
    return d


def test_rspamd_stopped_mid_test_on_error_honoured(world, rspamd):
    """Last in the module: it stops the module's rspamd."""
    d = scanned_daemon(world, rspamd.url, on_error="accept")
    d2 = tempfail_daemon(world, rspamd.url)
    assert send(d, "app@acme.example", "before")[0] == 250
    assert send(d2, "app@acme.example", "before")[0] == 250
    LATENCIES.extend(scan_ms(d) + scan_ms(d2))
    rspamd.stop()
    assert send(d, "app@acme.example", "after")[0] == 250
    assert re.search(r'event=scan_error .*reason="connection failed" kind=connect .*action=accept', d.log_text())
    assert re.search(r'event=queued .*scan=unscanned', d.log_text())
    assert sample(metrics(d), "outpost_scan_errors_total", reason="connect", action="accept") == 1
    code, text = send(d2, "app@acme.example", "after")
    assert (code, text) == (451, b"4.7.1 The message could not be scanned, try again later")
    assert sample(metrics(d2), "outpost_scan_errors_total", reason="connect", action="tempfail") == 1
    lat = sorted(LATENCIES)
    if lat:
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print("\nscan latency over %d scans: p50 %.1f ms, p99 %.1f ms" % (len(lat), p(0.5), p(0.99)))
