"""Issue 19: a warm-up cap is the receiving provider's (from the MX host), and it
holds exactly, whatever the recipient domain is called and however many sessions
deliver at once.  gmail.example's MX is gmail-smtp-in.l.google.com (the "Google"
sink on 127.0.0.2), contoso.example's is a Microsoft 365 front end (127.0.0.3);
the relay r1 is a sink on 127.0.0.5.  Each run is a fresh daemon (a new IP on
its first day): the direct route, bound to 127.0.0.7, may send 3 messages to
the provider; the rest spill to r1."""
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


def test_rate_limit_by_mx_never_exceeded_by_parallel_sessions(world):
    """A `limits` rate on the provider's MX hosts: 20 sessions at once never get
    more than the rate through; the rest wait in the queue (a rate does not spill)."""
    limits = 'limits = ( { mx = [ "*.google.com" ]; rate = "3/h"; } );'
    d = world.daemon(routes='direct = { type = "mx"; port = %d; tls = "none"; };' % world.port,
                     extra=[limits])
    send_parallel(d.port, ["r%d@gmail.example" % i for i in range(20)])
    time.sleep(3)
    assert 1 <= len(world.google.messages) <= 3, d.log_text()[-3000:]
    assert len(d.queue()) == 20 - len(world.google.messages)
