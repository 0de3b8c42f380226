"""Issue 21: a newsletter to many domains on one MX host.  500 messages, one
recipient each, to 500 domains whose MX is the same host (as thousands of
Google Workspace domains are); dnslib answers MX for every one of them, one
aiosmtpd sink behind the host's address counts the SMTP sessions that carried
them (each session is one client address:port).  Domains with the same MX
host set share a destination and its connections, so the mail goes over at
most max_per_destination sessions, not one per domain."""
import smtplib
import time

from conftest import message
from test_delivery import FAST_RETRY, World  # noqa: F401
import pytest

N = 500
PER_DEST = 4


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    z = w.dns.zone
    for i in range(N):
        z.add("d%d.example" % i, "MX", (10, "aspmx.l.google.com"))
    z.add("aspmx.l.google.com", "A", "127.0.0.2")
    w.google = w.sink("127.0.0.2")
    yield w
    w.close()


def test_500_domains_on_one_mx_share_a_handful_of_connections(world):
    d = world.make_daemon(['resolver = "%s";' % world.dns.spec,
                           'routes = { direct = { type = "mx"; port = %d; tls = "none"; }; };' % world.port,
                           'rules = ( { via = [ "direct" ]; } );',
                           'delivery = { connect_timeout = "2s"; command_timeout = "3s"; dns_timeout = "2s"; '
                           'max_per_destination = %d; };' % PER_DEST, FAST_RETRY])
    start = time.time()
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
        for i in range(N):
            s.sendmail("app@sender.example.org", ["u%d@d%d.example" % (i, i)], message("n%d" % i))
    got = world.google.wait(N, timeout=120)
    elapsed = time.time() - start
    assert len(got) == N, "%d of %d delivered" % (len(got), N)
    assert sorted(r for m in got for r in m.rcpts) == sorted("u%d@d%d.example" % (i, i) for i in range(N))
    sessions = {m.peer for m in got}
    print("fanout: %d messages to %d domains in %.1f s over %d sessions" % (N, N, elapsed, len(sessions)))
    # one destination (the MX host set) with at most PER_DEST sessions at a
    # time; a session may close when its 2 s idle wait ends between bursts
    # of injection and a new one open later, hence a little room
    assert len(sessions) <= 2 * PER_DEST, sessions
    d.stop()


def test_one_message_to_many_domains_on_one_mx_is_one_transaction(world):
    routes = 'direct = { type = "mx"; port = %d; tls = "none"; };' % world.port
    d = world.daemon(routes=routes)
    rcpts = ["u%d@d%d.example" % (i, i) for i in range(20)]
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
        s.sendmail("app@sender.example.org", rcpts, message("grouped"))
    got = world.google.wait(1, timeout=30)
    time.sleep(0.5)  # a second transaction, if any, would arrive now
    assert len(world.google.messages) == 1, [m.rcpts for m in world.google.messages]
    assert sorted(got[0].rcpts) == sorted(rcpts)
    d.stop()


def test_routes_says_how_many_connections_are_open_and_idle(world, make_daemon):
    """A receiver that stalls in DATA keeps one connection open and busy while
    `outpost routes` looks; once it answered, the connection waits idle."""
    world.google.behaviour.stall = 3
    routes = 'direct = { type = "mx"; port = %d; tls = "none"; };' % world.port
    d = world.daemon(routes=routes)
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
        s.sendmail("app@sender.example.org", ["u@d1.example"], message("stall"))
    deadline = time.time() + 20
    while time.time() < deadline and not world.google.rcpt_attempts:
        time.sleep(0.05)
    out = d.cli("routes").stdout
    assert "connections route=direct provider=gmail open=1 idle=0" in out, out
    assert "connections total=1 idle=0 max=100" in out, out
    d.stop()
