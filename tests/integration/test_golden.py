"""Golden files for what people read: `outpost queue show`, `outpost routes`
and `outpost doctor`, each compared with tests/golden/*.ref after replacing
only what must vary (ports, temporary paths, generated keys, queue ids,
times).  GOLDEN_UPDATE=1 rewrites the references (golden.py).  The DSN
text is checked the same way by tests/unit/test_golden.c.
"""
import json
import re
import smtplib
import subprocess
import time

import pytest

from conftest import BIN
from golden import check, normalise
from peers import free_port
from test_doctor import GOOD, LISTED_IP, PTR_MISMATCH_IP, REFUSED_IP, make_world

MESSAGE = ("From: App <app@example.com>\r\n"
           "To: Someone <someone@example.net>\r\n"
           "Subject: Invoice 42\r\n"
           "Date: Wed, 18 Nov 2026 11:06:40 +0000\r\n"
           "Message-ID: <invoice-42@example.com>\r\n"
           "\r\n"
           "Hello.\r\n")


@pytest.fixture
def deferred(make_daemon):
    """A daemon whose rules send everything by a relay route that leads to
    a closed port (an mx route stays unused), with one message deferred by
    it, so that its path is degraded."""
    closed = free_port()
    d = make_daemon([
        'routes = { relay1 = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; };' % closed,
        '           direct = { type = "mx"; source = "127.0.0.1"; helo = "out.relay.test"; }; };',
        'rules = ( { via = [ "relay1" ]; } );',
        'retry = { schedule = [ "1h" ]; };'])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@example.com", ["someone@example.net"], MESSAGE)
    deadline = time.time() + 20
    while True:
        routes = {r["name"]: r for r in json.loads(d.cli("routes", "--json").stdout)["routes"]}
        msgs = d.queue()
        if msgs and msgs[0]["recipients"][0]["attempts"] and routes["relay1"]["state"] != "healthy":
            break
        assert time.time() < deadline, (msgs, routes)
        time.sleep(0.1)
    return d, closed


def test_queue_show_text(deferred):
    d, closed = deferred
    qid = d.queue()[0]["id"]
    out = d.cli("queue", "show", qid).stdout
    check("queue_show", normalise(out, {str(d.dir): "<TMP>", ":%d" % closed: ":<PORT>"}))


def test_routes_text(deferred):
    d, closed = deferred
    out = d.cli("routes").stdout
    check("routes", normalise(out, {str(d.dir): "<TMP>", ":%d" % closed: ":<PORT>"}))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w, stop = make_world(tmp_path_factory.mktemp("golden_doctor"))
    yield w
    stop()


def test_doctor_text(world):
    """A report with failures, a warning and passes: a listed address, a PTR
    that does not match the EHLO name and a blocklist that refuses the
    resolver, besides a good source.  The checks run in parallel, so the
    findings of one check and severity come in any order: they are sorted
    by subject before the comparison."""
    r = subprocess.run([str(BIN / "outpost"), "-c", str(world["conf"]), "doctor", GOOD,
                        "--ip", "10.0.0.1", "--ip", LISTED_IP, "--ip", PTR_MISMATCH_IP, "--ip", REFUSED_IP,
                        "--timeout-ms", "3000"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    text = normalise(r.stdout, {str(world["tmp"]): "<TMP>", ":%d" % world["mx"].port: ":<PORT>",
                                " %d " % world["mx"].port: " <PORT> ",
                                " %d\n" % world["mx"].port: " <PORT>\n"})
    # the DKIM keys are made for each run: their public halves differ
    text = re.sub(r"p=[A-Za-z0-9+/=]{40,}", "p=<KEY>", text)
    # the test MX is aiosmtpd, whose banner names its version
    text = re.sub(r"Python SMTP [0-9.]+", "Python SMTP <VERSION>", text)
    check("doctor", sort_findings(text))


def sort_findings(text):
    """Sorts the blocks of findings (a FAIL/WARN/PASS line and its indented
    lines) of each severity and check by their text."""
    out, group, key = [], [], None
    blocks = re.split(r"\n(?=(?:FAIL|WARN|PASS) )", text)
    for b in blocks:
        m = re.match(r"(FAIL|WARN|PASS) +(\S+)", b)
        k = m.groups() if m else None
        if k != key:
            out.extend(sorted(group))
            group, key = [], k
        group.append(b)
    out.extend(sorted(group))
    return "\n".join(out)
