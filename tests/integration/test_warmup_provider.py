"""Issue 19: a warm-up cap is the receiving provider's (from the MX host), and it
holds exactly, whatever the recipient domain is called and however many sessions
deliver at once.  gmail.example's MX is gmail-smtp-in.l.google.com (the "Google"
sink on 127.0.0.2), contoso.example's is a Microsoft 365 front end (127.0.0.3);
the relay r1 is a sink on 127.0.0.5.  Each run is a fresh daemon (a new IP on
its first day): the direct route, bound to 127.0.0.7, may send 3 messages to
the provider; the rest spill to r1.  The same holds for a `limits` rate by
provider (or MX host): exactly the rate gets through, the rest wait."""
import json
import smtplib
import threading
import time

from conftest import message
from test_delivery import World  # noqa: F401
import pytest

WARMUP = ('direct = { type = "mx"; port = %d; tls = "none"; source = "127.0.0.7"; '
          'warmup = { start = 3; growth = 2.0; per = "day"; max = 1000; }; }; '
          'r1 = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; };')


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    z = w.dns.zone
    z.add("gmail.example", "MX", (5, "gmail-smtp-in.l.google.com"))
    z.add("gmail-smtp-in.l.google.com", "A", "127.0.0.2")
    z.add("contoso.example", "MX", (0, "contoso-example.mail.protection.outlook.com"))
    z.add("contoso-example.mail.protection.outlook.com", "A", "127.0.0.3")
    w.google = w.sink("127.0.0.2")
    w.microsoft = w.sink("127.0.0.3")
    w.relay = w.sink("127.0.0.5")
    yield w
    w.close()


def send_one_session(port, rcpts):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        for i, r in enumerate(rcpts):
            s.sendmail("app@sender.example.org", [r], message("m%d" % i))


def send_parallel(port, rcpts):
    errors = []

    def one(i, r):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("app@sender.example.org", [r], message("p%d" % i))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=one, args=(i, r)) for i, r in enumerate(rcpts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def run(world, domain, sink, n, parallel, extra=()):
    before_direct, before_relay = len(sink.messages), len(world.relay.messages)
    d = world.daemon(routes=WARMUP % (world.port, world.port), rules='{ via = [ "direct", "r1" ]; }',
                     extra=list(extra))
    rcpts = ["u%d@%s" % (i, domain) for i in range(n)]
    (send_parallel if parallel else send_one_session)(d.port, rcpts)
    deadline = time.time() + 30
    while time.time() < deadline and (len(sink.messages) - before_direct) + \
            (len(world.relay.messages) - before_relay) < n:
        time.sleep(0.05)
    time.sleep(0.3)  # anything beyond the cap would arrive now
    direct = len(sink.messages) - before_direct
    relayed = len(world.relay.messages) - before_relay
    log = d.log_text()
    d.stop()
    return direct, relayed, log


def test_warmup_cap_is_exact_for_a_google_hosted_domain(world):
    for i in range(20):
        parallel = i % 2 == 1
        n = 20 if parallel else 8
        direct, relayed, log = run(world, "gmail.example", world.google, n, parallel)
        assert (direct, relayed) == (3, n - 3), "run %d (%s): %d direct, %d relayed\n%s" % (
            i, "20 parallel sessions" if parallel else "one session", direct, relayed, log[-3000:])
        assert all(m.peer[0] == "127.0.0.7" for m in world.google.messages)


def test_warmup_cap_is_exact_for_a_microsoft_hosted_domain(world):
    for i in range(4):
        direct, relayed, log = run(world, "contoso.example", world.microsoft, 20, i % 2 == 1)
        assert (direct, relayed) == (3, 17), "run %d: %d direct\n%s" % (i, direct, log[-3000:])


RATE = 'limits = ( { %s; rate = [ "100/s", "3/h" ]; } );'


def run_rate(world, selector, domain, sink, n, parallel):
    """A fresh daemon whose `limits` entry (selector) allows 3 messages an
    hour (spaced 10 ms apart, so all 3 may go at once); n messages to
    domain.  Returns (delivered, waiting, log) once 3 arrived and every other
    message has been tried and deferred by the limit, and a second later
    (the retry schedule is 1 s: anything beyond the rate would arrive)."""
    before = len(sink.messages)
    d = world.daemon(routes='direct = { type = "mx"; port = %d; tls = "none"; };' % world.port,
                     extra=[RATE % selector])
    rcpts = ["r%d@%s" % (i, domain) for i in range(n)]
    (send_parallel if parallel else send_one_session)(d.port, rcpts)
    deadline = time.time() + 30
    while time.time() < deadline:
        tried = [m for m in d.queue() if m["recipients"][0]["attempts"] >= 1]
        if len(sink.messages) - before >= 3 and len(tried) >= n - 3:
            break
        time.sleep(0.05)
    time.sleep(1.5)
    waiting = d.queue()
    log = d.log_text()
    d.stop()
    return len(sink.messages) - before, waiting, log


def check_rate_run(i, n, parallel, delivered, waiting, log):
    what = "20 parallel sessions" if parallel else "one session"
    assert delivered == 3, "run %d (%s): %d delivered\n%s" % (i, what, delivered, log[-3000:])
    assert len(waiting) == n - 3, "run %d (%s): %d waiting" % (i, what, len(waiting))
    for m in waiting:  # every one was tried and deferred by the limit, none bounced
        r = m["recipients"][0]
        assert r["state"] == "deferred" and "a limit for this destination is reached" in r["last_reply"], m


def test_rate_limit_by_provider_is_exact_for_a_google_hosted_domain(world):
    """A `limits` rate for the provider Google (the provider of the MX host,
    not of the recipient domain): 8 messages in one session, and 20 parallel
    sessions, get exactly the rate's 3 through, every time; the rest wait in
    the queue (a rate does not spill to another route)."""
    for i in range(20):
        parallel = i % 2 == 1
        n = 20 if parallel else 8
        delivered, waiting, log = run_rate(world, 'provider = "google"', "gmail.example", world.google, n,
                                           parallel)
        check_rate_run(i, n, parallel, delivered, waiting, log)


def test_rate_limit_by_provider_is_exact_for_a_microsoft_hosted_domain(world):
    for i in range(4):
        parallel = i % 2 == 1
        n = 20 if parallel else 8
        delivered, waiting, log = run_rate(world, 'provider = "microsoft"', "contoso.example", world.microsoft,
                                           n, parallel)
        check_rate_run(i, n, parallel, delivered, waiting, log)


def test_rate_limit_by_mx_is_exact_with_parallel_sessions(world):
    """The same rate on the MX host names (`mx = "*.google.com"`)."""
    for i in range(2):
        parallel = i % 2 == 1
        n = 20 if parallel else 8
        delivered, waiting, log = run_rate(world, 'mx = [ "*.google.com" ]', "gmail.example", world.google, n,
                                           parallel)
        check_rate_run(i, n, parallel, delivered, waiting, log)


def test_queue_and_routes_say_the_provider(world):
    """`outpost queue list --json`, `queue show` and `outpost routes` say the
    provider mail counts under: gmail for a Google-hosted domain, once its
    MX is resolved (live from outpostd); a domain not resolved yet says so."""
    d = world.daemon(routes='direct = { type = "mx"; port = %d; tls = "none"; };' % world.port,
                     extra=[RATE % 'provider = "google"'])
    send_one_session(d.port, ["r%d@gmail.example" % i for i in range(5)])
    deadline = time.time() + 30
    while time.time() < deadline:
        waiting = [m for m in d.queue() if m["recipients"][0]["attempts"] >= 1]
        if len(world.google.messages) >= 3 and len(waiting) >= 2:
            break
        time.sleep(0.05)
    assert len(world.google.messages) == 3
    for m in d.queue():
        r = m["recipients"][0]
        assert (r["provider"], r["provider_mx"]) == ("gmail", "gmail-smtp-in.l.google.com"), m
    show = d.cli("queue", "show", waiting[0]["id"]).stdout
    assert "address=%s state=deferred" % waiting[0]["recipients"][0]["address"] in show
    assert " provider=gmail " in show, show
    routes = d.cli("routes").stdout
    assert "  provider gmail " in routes, routes
    assert "limit provider=gmail value=gmail sent_s=" in routes and " sent_h=3/3" in routes, routes
    paths = json.loads(d.cli("routes", "--json").stdout)["routes"][0]["paths"]
    assert [p["provider"] for p in paths] == ["gmail"], paths
    d.stop()
    # the daemon is down: the spool alone cannot say
    show = d.cli("queue", "show", waiting[0]["id"]).stdout
    assert 'provider="unknown (outpostd is not running)"' in show, show


def test_provider_not_resolved_yet(world):
    """A message whose domain's MX has not been looked up (every route of its
    rule is a relay: routing needs no MX) says so."""
    d = world.daemon(routes='r1 = { type = "relay"; host = "127.0.0.9:%d"; tls = "none"; };' % world.port,
                     rules='{ via = [ "r1" ]; }')
    send_one_session(d.port, ["x@gmail.example"])
    deadline = time.time() + 20
    while time.time() < deadline and not any(m["recipients"][0]["attempts"] for m in d.queue()):
        time.sleep(0.05)
    r = d.queue()[0]["recipients"][0]
    assert r["attempts"] >= 1 and r["provider"] is None and r["provider_mx"] is None, r
    assert r["provider_why"] == "unknown (MX not resolved yet)", r
    d.stop()
