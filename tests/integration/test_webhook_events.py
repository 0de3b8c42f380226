"""Webhook events beyond a message's own: route_down, route_up and failover
(an aiosmtpd relay that answers 4xx, then takes mail again), complaint and
suppressed (an ARF report mailed to the feedback address), blocklisted and
delisted (a dnslib server that lists the source address), canary_failed (a
relay that rewrites the canary probe).  Each arrives at a Python HTTP
receiver as the spool recorded it, signed, in order; the route events were
queued while the receiver was down and survive a kill -9 of outpostd."""
import json
import time
import urllib.request

import pytest

from conftest import free_port
from peers import Behaviour
from test_bounces import ARF, Loop
from test_delivery import World, send
from test_dkim import CanaryRelay
from test_dkim import World as DkimWorld
from test_monitor import LISTING, SOURCE, CountingWorld
from test_monitor import daemon as monitor_daemon
from test_observe import promtool_check, sample, wait_metric
from test_routing import relays
from test_webhooks import SECRET, Receiver, verify

THROTTLED = "451 4.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org"
HEALTH = 'health = { failures = 1; probe = "1s"; probe_max = "1s"; };'


def hook(tmp_path, port, events):
    secret = tmp_path / "hook.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    return ('webhooks = ( { url = "http://127.0.0.1:%d/hook"; secret_file = "%s"; events = [ %s ]; } );'
            % (port, secret, ", ".join('"%s"' % e for e in events)))


def api_events(http_port, kinds):
    """The spool's raw events of these kinds, oldest first, as a webhook body has them."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/events?limit=10000" % http_port, timeout=10) as r:
        rows = json.loads(r.read())
    return [{"id": e["id"], "time": e["time"], "event": e["event"], "qid": e["qid"] or None,
             "route": e["route"] or None, "recipient": e["rcpt"] or None,
             "detail": json.loads(e["detail"]) if e["detail"] else None}
            for e in reversed(rows) if e["event"] in kinds]


def in_order(kinds, want):
    """want is a subsequence of kinds."""
    it = iter(kinds)
    return all(k in it for k in want)


def wait_events(http_port, kinds, want, timeout=30):
    """Waits until the spool holds events of these kinds with want among them, in order."""
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = api_events(http_port, kinds)
        if in_order([e["event"] for e in got], want):
            return got
        time.sleep(0.2)
    raise AssertionError("spool events %s, want %s" % ([e["event"] for e in got], want))


def wait_received(receiver, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and len(receiver.got) < n:
        time.sleep(0.1)
    assert len(receiver.got) >= n, receiver.got
    return receiver.got


def check_delivered(got, want):
    """Every POST verifies and is exactly the spool's event, in order."""
    bodies = []
    for headers, raw in got:
        verify(headers, raw)
        body = json.loads(raw)
        assert headers["X-Outpost-Event"] == body["event"]
        assert headers["X-Outpost-Event-Id"] == str(body["id"])
        bodies.append(body)
    assert bodies == want
    return bodies


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def test_route_down_failover_route_up_queued_through_an_outage_and_kill9(world, tmp_path):
    r1 = world.sink("127.0.0.5", Behaviour(mail_reply=THROTTLED))
    r2 = world.sink("127.0.0.6")
    port, http_port = free_port(), free_port()
    kinds = ["route_down", "route_up", "failover"]
    d = world.daemon(routes=relays(world, ("r1", "r2")), rules='{ via = [ "r1", "r2" ]; }',
                     extra=[HEALTH, hook(tmp_path, port, kinds), 'http = { listen = "127.0.0.1:%d"; };' % http_port])
    send(d, ["a@anywhere.example"], subject="first")        # r1 answers 4xx: down, the mail fails over
    assert len(r2.wait(1)) == 1, d.log_text()[-3000:]
    wait_events(http_port, kinds, ["route_down", "failover"])
    r1.behaviour.mail_reply = None                          # r1 takes mail again: a probe brings it up
    deadline = time.time() + 30
    while time.time() < deadline and not r1.messages:
        send(d, ["b@anywhere.example"], subject="probe")
        time.sleep(1)
    assert r1.messages, d.log_text()[-3000:]
    want = wait_events(http_port, kinds, ["route_down", "failover", "route_up"])
    assert "event=webhook_failed" in d.log_text()           # nobody listened so far
    d.kill9()
    d.start()
    receiver = Receiver(port, failures=1)
    try:
        got = wait_received(receiver, len(want))
    finally:
        receiver.stop()
    down, failover, up = check_delivered(got, want)
    assert down["route"] == "r1" and down["qid"] is None and down["recipient"] is None
    assert down["detail"]["class"] == "*" and "blocked using zen.spamhaus.org" in down["detail"]["reason"]
    assert down["detail"]["previous"] == "healthy" and down["detail"]["probe_at"] >= down["time"]
    assert down["detail"]["last_reply"].startswith("451 4.7.1")
    assert failover["route"] == "r1" and failover["detail"]["to_route"] == "r2" and failover["qid"]
    assert failover["detail"]["fault"] == "blocked" and failover["detail"]["recipients"] == 1
    assert "qid=%s route=r1" % failover["qid"] in d.log_text()
    assert up["route"] == "r1" and up["detail"]["class"] == "*" and up["detail"]["state"] == "healthy"
    assert up["detail"]["down_seconds"] >= 0


def test_complaint_and_suppressed(make_daemon, tmp_path):
    port, http_port = free_port(), free_port()
    receiver = Receiver(port, failures=0, keepalive=True)
    loop = Loop(make_daemon, tmp_path, extra=[hook(tmp_path, port, ["complaint", "suppressed"]),
                                              'http = { listen = "127.0.0.1:%d"; };' % http_port])
    try:
        qid, got = loop.send("reader@example.net")
        arf = ARF.format(mail_from=got.mail_from, rcpt="reader@example.net", author="app@sender.example.org")
        loop.report("fbl@relay.test", arf, sender="feedback@fbl.example.net")
        want = wait_events(http_port, ["complaint", "suppressed"], ["complaint", "suppressed"])
        complaint, suppressed = check_delivered(wait_received(receiver, 2), want)
        assert len(set(receiver.peers)) == 1, "one kept-alive connection for both: %s" % receiver.peers
    finally:
        receiver.stop()
        loop.close()
    assert complaint["qid"] == qid and complaint["route"] == "r" and complaint["recipient"] == "reader@example.net"
    assert complaint["detail"] == {"feedback_type": "abuse", "sender": "app@sender.example.org", "tenant": None}
    assert suppressed["qid"] == qid and suppressed["recipient"] == "reader@example.net"
    d = suppressed["detail"]
    assert (d["reason"], d["source"], d["scope"], d["expires"]) == ("feedback", "complaint",
                                                                     "domain:sender.example.org", 0)


@pytest.fixture
def dns_world(make_daemon, tmp_path):
    w = CountingWorld(make_daemon, tmp_path)
    yield w
    w.close()


def test_blocklisted_and_delisted_with_monitor_metrics(dns_world, tmp_path):
    world = dns_world
    world.sink("127.0.0.2")
    world.sink("127.0.0.6")
    port, http_port = free_port(), free_port()
    receiver = Receiver(port, failures=0)
    world.daemon_extra = [hook(tmp_path, port, ["blocklisted", "delisted", "route_down"]),
                          'http = { listen = "127.0.0.1:%d"; };' % http_port]
    orig = world.daemon
    world.daemon = lambda routes, rules, extra: orig(routes=routes, rules=rules, extra=extra + world.daemon_extra)
    try:
        monitor_daemon(world)
        url = "http://127.0.0.1:%d/metrics" % http_port
        text = wait_metric(url, "outpost_monitor_runs_total", 1, at_least=True)
        assert sample(text, "outpost_monitor_listed", list="Spamhaus ZEN", kind="ip") == 0
        assert sample(text, "outpost_monitor_dns_queries_total") > 0
        world.dns.zone.add(LISTING, "A", "127.0.0.2")
        kinds = ["blocklisted", "delisted", "route_down"]
        wait_events(http_port, kinds, ["blocklisted"])
        text = wait_metric(url, "outpost_monitor_listed", 1, list="Spamhaus ZEN", kind="ip")
        assert sample(text, "outpost_monitor_sources_down") == 1
        # the finding itself is merged when the run's domain is done
        text = wait_metric(url, "outpost_monitor_findings", 1, at_least=True, check="dnsbl", status="fail")
        assert sample(text, "outpost_monitor_changes_total", check="dnsbl") >= 1
        promtool_check(text)
        with world.dns.zone.lock:
            del world.dns.zone.records[(LISTING, "A")]
        want = wait_events(http_port, kinds, ["blocklisted", "route_down", "delisted"])
        got = check_delivered(wait_received(receiver, len(want)), want)
    finally:
        receiver.stop()
    listed = [b for b in got if b["event"] == "blocklisted"]
    assert len(listed) == 1 and listed[0]["detail"]["subject"] == SOURCE
    assert listed[0]["detail"]["list"] == "Spamhaus ZEN" and listed[0]["detail"]["kind"] == "ip"
    assert listed[0]["detail"]["acts"] is True and "SBL" in listed[0]["detail"]["evidence"]
    # the source out of use took its route down at once
    down = [b for b in got if b["event"] == "route_down"]
    assert down and down[0]["route"] == "direct" and down[0]["id"] > listed[0]["id"]
    assert got[-1]["event"] == "delisted" and got[-1]["detail"]["subject"] == SOURCE
    assert got[-1]["detail"]["list"] == "Spamhaus ZEN"


@pytest.fixture
def dkim_world(tmp_path, make_daemon):
    w = DkimWorld(tmp_path, make_daemon)
    yield w
    w.stop()


def test_canary_failed(dkim_world, tmp_path):
    world = dkim_world
    world.key("r1", "rsa")
    relay = CanaryRelay(lambda b: b.replace(b"This probe checks", b"This probe verifies"))
    relay.sink.start()
    port = free_port()
    receiver = Receiver(port, failures=0)
    try:
        d = world.make_daemon(['resolver = "%s";' % world.dns.spec,
                               'routes = { provider = { type = "relay"; host = "127.0.0.1:%d"; '
                               'tls = "none"; }; };' % relay.sink.port,
                               'rules = ( { via = [ "provider" ]; } );',
                               'dkim = ( { domain = "example.com"; selector = "r1"; key = "%s"; } );'
                               % world.keys["r1"][0],
                               'canary = { address = "canary@canary.example.org"; interval = "1h"; };',
                               hook(tmp_path, port, ["canary_failed"])], start=False)
        relay.target = d.ports["smtp"]
        d.start()
        (headers, raw), = wait_received(receiver, 1)
    finally:
        receiver.stop()
        relay.sink.stop()
    verify(headers, raw)
    body = json.loads(raw)
    assert body["event"] == "canary_failed" and body["route"] == "provider"
    assert "body hash mismatch" in body["detail"]["reason"]
    assert "event=canary qid=%s route=provider result=fail" % body["qid"] in d.log_text()


def test_unknown_event_is_refused_with_the_list(make_daemon, tmp_path):
    import subprocess
    from conftest import BIN
    d = make_daemon([hook(tmp_path, free_port(), ["route_down", "route_sideways"])], start=False)
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(d.conf)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert 'webhooks: event "route_sideways": outpost emits' in r.stderr and "blocklisted" in r.stderr, r.stderr


def test_sending_domain_blocklisted_reports_without_acting(dns_world, tmp_path):
    """A sending domain (the hostname relay.test here) on Spamhaus DBL is a
    blocklisted event of kind domain and a gauge; it takes nothing out of use."""
    world = dns_world
    world.sink("127.0.0.2")
    port, http_port = free_port(), free_port()
    receiver = Receiver(port, failures=0)
    more = [hook(tmp_path, port, ["blocklisted"]), 'http = { listen = "127.0.0.1:%d"; };' % http_port]
    orig = world.daemon
    world.daemon = lambda routes, rules, extra: orig(routes=routes, rules=rules, extra=extra + more)
    try:
        d = monitor_daemon(world)
        world.dns.zone.add("relay.test.dbl.spamhaus.org", "A", "127.0.1.2")
        want = wait_events(http_port, ["blocklisted"], ["blocklisted"])
        (body,) = check_delivered(wait_received(receiver, 1), want)
        text = wait_metric("http://127.0.0.1:%d/metrics" % http_port, "outpost_monitor_listed", 1,
                           list="Spamhaus DBL", kind="domain")
    finally:
        receiver.stop()
    assert body["detail"]["subject"] == "relay.test" and body["detail"]["kind"] == "domain"
    assert body["detail"]["list"] == "Spamhaus DBL" and body["detail"]["acts"] is False
    assert sample(text, "outpost_monitor_sources_down") == 0
    assert "action=source_down" not in d.log_text()
    state = json.loads(d.cli("monitor", "--json").stdout)
    (dbl,) = [x for x in state["listings"] if x["list"] == "Spamhaus DBL"]
    assert dbl["kind"] == "domain" and dbl["listed"] and dbl["source"] == "relay.test"
