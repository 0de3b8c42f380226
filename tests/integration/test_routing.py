"""Routing by policy end to end: rules, failover along via when a path is
blocked, route health in `outpost routes`, and the cases that must never fail
over.  Relays are aiosmtpd receivers on 127.0.0.5 and 127.0.0.6 (and the MX
hosts of example.net on 127.0.0.2-3), all on the World's one port."""
import json
import smtplib
import time

from conftest import message
from peers import Behaviour
from test_delivery import World, send, wait_empty, dsn_status  # noqa: F401  (World's helpers)
import pytest

BLOCKED = "554 5.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org"
HEALTH = 'health = { failures = 1; probe = "2s"; probe_max = "4s"; };'


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def relays(world, names=("r1", "r2", "r3"), extra=None):
    """routes text: relays r1 -> 127.0.0.5, r2 -> 127.0.0.6, r3 -> 127.0.0.3, no TLS."""
    hosts = {"r1": "127.0.0.5", "r2": "127.0.0.6", "r3": "127.0.0.3"}
    extra = extra or {}
    return " ".join('%s = { type = "relay"; host = "%s:%d"; tls = "none"; %s};'
                    % (n, hosts[n], world.port, extra.get(n, "")) for n in names)


def with_bounces(world, routes, rules):
    """DSNs to the senders' mailbox (sender.example.org) go direct to its MX."""
    return (routes + ' direct = { type = "mx"; port = %d; tls = "none"; };' % world.port,
            '{ recipient_domain = [ "sender.example.org" ]; via = [ "direct" ]; }, ' + rules)


def routes_json(d):
    return {r["name"]: r for r in json.loads(d.cli("routes", "--json").stdout)["routes"]}


def wait_route_state(d, name, state, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = routes_json(d)[name]
        if r["state"] == state:
            return r
        time.sleep(0.2)
    raise AssertionError("route %s never %s: %s\nlog:\n%s" % (name, state, routes_json(d)[name],
                                                            d.log_text()[-3000:]))


def test_blocked_relay_fails_over_at_once_and_comes_back_after_a_probe(world):
    r1 = world.sink("127.0.0.5", Behaviour(mail_reply=BLOCKED))
    r2 = world.sink("127.0.0.6")
    d = world.daemon(routes=relays(world, ("r1", "r2")), rules='{ via = [ "r1", "r2" ]; }', extra=[HEALTH])
    t0 = time.time()
    send(d, ["a@anywhere.example"], subject="first")
    got = r2.wait(1, timeout=10)
    assert len(got) == 1, d.log_text()[-3000:]
    assert time.time() - t0 < 5  # at once, not after the retry schedule
    assert len(r1.mail_attempts) == 1 and r1.messages == []
    assert wait_empty(d)
    assert "fault=blocked action=failover next_route=r2" in d.log_text()
    down = wait_route_state(d, "r1", "down")
    path = [p for p in down["paths"] if p["class"] == "*"][0]
    assert "blocked using zen.spamhaus.org" in path["reason"]
    assert "554 5.7.1" in path["last_reply"]
    assert path["probe_at"] > 0
    text = d.cli("routes").stdout
    assert "r1: down" in text and "blocked using zen.spamhaus.org" in text
    # while r1 is down, mail goes to r2 without trying r1
    send(d, ["b@anywhere.example"], subject="second")
    assert len(r2.wait(2, timeout=10)) == 2
    # the block is lifted; after the probe delay a message probes r1 and closes the breaker
    r1.behaviour.mail_reply = None
    deadline = time.time() + 20
    while time.time() < deadline and not r1.messages:
        send(d, ["c@anywhere.example"], subject="probe")
        time.sleep(1)
    assert r1.messages, d.log_text()[-3000:]
    assert "event=route_probe route=r1" in d.log_text()
    wait_route_state(d, "r1", "healthy")


def test_relay_refusing_auth_fails_over(world, tmp_path):
    world.sink("127.0.0.5", auth=("relayuser", "relaypass"))
    r2 = world.sink("127.0.0.6")
    secret = tmp_path / "r1.secret"
    secret.write_text("relayuser:wrong\n")
    secret.chmod(0o600)
    d = world.daemon(routes=relays(world, ("r1", "r2"), {"r1": 'auth = "%s"; ' % secret}),
                     rules='{ via = [ "r1", "r2" ]; }', extra=[HEALTH])
    send(d, ["a@anywhere.example"])
    assert len(r2.wait(1, timeout=10)) == 1
    r1 = wait_route_state(d, "r1", "down")
    assert "535" in r1["paths"][0]["last_reply"]
    assert "fault=refused" in d.log_text()


def test_unreachable_relay_fails_over(world):
    r2 = world.sink("127.0.0.6")  # nothing listens on 127.0.0.5
    d = world.daemon(routes=relays(world, ("r1", "r2")), rules='{ via = [ "r1", "r2" ]; }', extra=[HEALTH])
    send(d, ["a@anywhere.example"])
    assert len(r2.wait(1, timeout=10)) == 1
    assert "fault=connection" in d.log_text()


def test_user_unknown_never_fails_over(world):
    r1 = world.sink("127.0.0.5", Behaviour(rcpt_replies={"gone@anywhere.example": "550 5.1.1 No such user"}))
    r2 = world.sink("127.0.0.6")
    routes, rules = with_bounces(world, relays(world, ("r1", "r2")), '{ via = [ "r1", "r2" ]; }')
    d = world.daemon(routes=routes, rules=rules, extra=[HEALTH])
    send(d, ["gone@anywhere.example", "here@anywhere.example"])
    assert len(r1.wait(1)) == 1
    assert r1.messages[0].rcpts == ["here@anywhere.example"]
    bounce = world.mailbox.wait(1)
    assert dsn_status(bounce[0]) == ["5.1.1"]
    assert wait_empty(d)
    time.sleep(1)
    assert r2.messages == [] and r2.mail_attempts == []
    assert "failover" not in d.log_text()
    assert routes_json(d)["r1"]["state"] == "healthy"


def test_mailbox_full_on_every_recipient_never_fails_over(world):
    r1 = world.sink("127.0.0.5", Behaviour(rcpt_replies={"full@anywhere.example": "552 5.2.2 Mailbox full"}))
    r2 = world.sink("127.0.0.6")
    routes, rules = with_bounces(world, relays(world, ("r1", "r2")), '{ via = [ "r1", "r2" ]; }')
    d = world.daemon(routes=routes, rules=rules, extra=[HEALTH])
    send(d, ["full@anywhere.example"])
    assert dsn_status(world.mailbox.wait(1)[0]) == ["5.2.2"]
    assert r2.mail_attempts == []


def test_rules_by_sender_recipient_domain_class_and_mx(world):
    world.dns.zone.add("hosted.example.com", "MX", (10, "in1.mail.example.net"))
    world.dns.zone.add("in1.mail.example.net", "A", "127.0.0.2")
    r1 = world.sink("127.0.0.5")
    r2 = world.sink("127.0.0.6")
    mx1 = world.sink("127.0.0.2")
    routes = relays(world, ("r1", "r2")) + ' direct = { type = "mx"; port = %d; tls = "none"; };' % world.port
    rules = ('{ sender = [ "*@billing.example.org" ]; via = [ "r1" ]; },'
             '{ class = [ "bulk" ]; via = [ "r2" ]; },'
             '{ recipient_domain = [ "*.example.info" ]; via = [ "r2" ]; },'
             '{ mx = [ "*.mail.example.net" ]; via = [ "direct" ]; },'
             '{ via = [ "r1" ]; }')
    d = world.daemon(routes=routes, rules=rules, extra=[HEALTH])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@billing.example.org", ["x@anywhere.example"], message("by sender"))
        s.sendmail("app@sender.example.org", ["y@anywhere.example"],
                   message("bulk", headers="X-Outpost-Class: Bulk\r\n"))
        s.sendmail("app@sender.example.org", ["z@shop.example.info"], message("by domain"))
        s.sendmail("app@sender.example.org", ["w@hosted.example.com"], message("by mx"))
        s.sendmail("app@sender.example.org", ["v@anywhere.example"], message("default"))
    assert wait_empty(d), d.log_text()[-3000:]
    subjects = lambda sink: sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0].decode() for m in sink.messages)
    assert subjects(r1) == ["by sender", "default"]
    assert subjects(r2) == ["bulk", "by domain"]
    assert subjects(mx1) == ["by mx"]
    bulk = [m for m in r2.messages if b"Subject: bulk" in m.data][0]
    assert b"X-Outpost-Class" not in bulk.data  # an instruction to outpost, removed at acceptance


def test_every_route_down_defers_until_a_probe(world):
    world.sink("127.0.0.5", Behaviour(mail_reply=BLOCKED))
    routes, rules = with_bounces(world, relays(world, ("r1",)), '{ via = [ "r1" ]; }')
    d = world.daemon(routes=routes, rules=rules,
                     extra=['health = { failures = 1; probe = "1h"; };'])
    send(d, ["a@anywhere.example"], subject="blocked")  # the last route's verdict stands: 5xx bounces
    assert dsn_status(world.mailbox.wait(1)[0]) == ["5.7.1"]
    send(d, ["b@anywhere.example"], subject="waits")
    deadline = time.time() + 15
    while time.time() < deadline and "every route of the rule is down" not in d.log_text():
        time.sleep(0.1)
    q = d.queue()
    assert q and "every route of the rule is down" in q[0]["recipients"][0]["last_reply"]


def test_route_health_survives_a_restart(world):
    world.sink("127.0.0.5", Behaviour(mail_reply=BLOCKED))
    r2 = world.sink("127.0.0.6")
    d = world.daemon(routes=relays(world, ("r1", "r2")), rules='{ via = [ "r1", "r2" ]; }',
                     extra=['health = { failures = 1; probe = "1h"; };'])
    send(d, ["a@anywhere.example"])
    assert len(r2.wait(1)) == 1
    wait_route_state(d, "r1", "down")
    d.stop()
    d.start()
    deadline = time.time() + 10
    while time.time() < deadline and "event=route_health_restored" not in d.log_text():
        time.sleep(0.1)
    assert "event=route_health_restored paths=" in d.log_text()
    send(d, ["b@anywhere.example"])
    assert len(r2.wait(2)) == 2
    assert routes_json(d)["r1"]["state"] == "down"


def test_source_pool_spreads_connections_by_weight(world):
    mx = world.sink("127.0.0.2")
    for i in range(6):
        world.dns.zone.add("d%d.example.org" % i, "MX", (10, "mx1.example.net"))
    routes = ('direct = { type = "mx"; port = %d; tls = "none"; source = ( '
              '{ address = "127.0.0.7"; helo = "a.example.org"; weight = 2; }, '
              '{ address = "127.0.0.8"; helo = "b.example.org"; } ); };' % world.port)
    # one connection per message: the domains share one MX host, so they
    # would share connections too (issue 21)
    d = world.daemon(routes=routes, extra=['limits = ( { route = [ "direct" ]; messages_per_connection = 1; } );'])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        for i in range(6):
            s.sendmail("app@sender.example.org", ["u@d%d.example.org" % i], message("m%d" % i))
    assert len(mx.wait(6)) == 6, d.log_text()[-3000:]
    peers = [m.peer[0] for m in mx.messages]
    assert peers.count("127.0.0.7") == 4 and peers.count("127.0.0.8") == 2


def test_rate_limit_per_destination_measured_at_the_sink(world):
    """120/min for one domain: one message every 0.5 s at the receiver."""
    world.dns.zone.add("rate.example.org", "MX", (10, "mx1.example.net"))
    mx = world.sink("127.0.0.2")
    d = world.daemon(extra=['limits = ( { domain = [ "rate.example.org" ]; rate = "120/min"; } );'])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        for i in range(24):
            s.sendmail("app@sender.example.org", ["u%d@rate.example.org" % i], message("m%d" % i))
    assert len(mx.wait(24, timeout=40)) == 24, d.log_text()[-2000:]
    times = sorted(t for _, t in mx.rcpt_attempts)
    steady = times[4:]  # past the allowed burst of two and the first claim
    per_minute = 60 * (len(steady) - 1) / (steady[-1] - steady[0])
    assert 108 <= per_minute <= 132, "measured %.1f messages per minute" % per_minute


def test_warmup_cap_spills_to_the_next_route(world):
    mx1 = world.sink("127.0.0.2")
    r1 = world.sink("127.0.0.5")
    routes = ('direct = { type = "mx"; port = %d; tls = "none"; '
              'warmup = { start = 3; growth = 2.0; per = "day"; }; }; ' % world.port) + relays(world, ("r1",))
    d = world.daemon(routes=routes, rules='{ via = [ "direct", "r1" ]; }')
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        for i in range(8):
            s.sendmail("app@sender.example.org", ["u%d@example.net" % i], message("m%d" % i))
    assert wait_empty(d), d.log_text()[-3000:]
    assert len(mx1.messages) == 3  # today's cap for this receiver on the new route
    assert len(r1.messages) == 5   # the rest went through the relay rather than waiting


def test_relay_job_failing_over_to_mx_splits_per_domain(world):
    world.dns.zone.add("other.example.org", "MX", (10, "mx2.example.net"))
    world.sink("127.0.0.5", Behaviour(mail_reply=BLOCKED))
    mx1 = world.sink("127.0.0.2")
    mx2 = world.sink("127.0.0.3")
    routes = relays(world, ("r1",)) + ' direct = { type = "mx"; port = %d; tls = "none"; };' % world.port
    d = world.daemon(routes=routes, rules='{ via = [ "r1", "direct" ]; }', extra=[HEALTH])
    send(d, ["a@example.net", "b@other.example.org", "c@example.net"])  # one relay transaction
    assert wait_empty(d), d.log_text()[-3000:]
    assert [sorted(m.rcpts) for m in mx1.messages] == [["a@example.net", "c@example.net"]]
    assert [m.rcpts for m in mx2.messages] == [["b@other.example.org"]]
