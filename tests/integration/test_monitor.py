"""The blocklist and DNS monitor inside the daemon, against a dnslib world.

The mx route `direct` sends from 127.0.0.7; the relay route `backup` is the
next of via.  The DNS server answers every blocklist's RFC 5782 test points,
so the lists are testable.  Mid-test the server starts answering that
127.0.0.7 is on Spamhaus ZEN (SBL): the monitor (interval 2 s) must take the
source out of use, route health must put `direct` down, and the next message
must leave through `backup`.  When the listing goes away the route comes
back through its normal probe and mail leaves from 127.0.0.7 again."""
import json
import threading
import time

import pytest

from test_delivery import World, send  # noqa: F401
from test_doctor import TEST_POINTS
from test_routing import routes_json, wait_route_state

SOURCE = "127.0.0.7"
LISTING = "7.0.0.127.zen.spamhaus.org"
HEALTH = 'health = { failures = 1; probe = "2s"; probe_max = "2s"; };'
MONITOR = 'monitor = { interval = "2s"; budget = 20; };'


class CountingWorld(World):
    """World whose DNS server counts the queries it answers, by name."""

    def __init__(self, make_daemon, tmp_path):
        super().__init__(make_daemon, tmp_path)
        self.counts = {}
        self.lock = threading.Lock()
        zone = self.dns.zone
        resolve = zone.resolve

        def counting(request, handler):
            name = str(request.q.qname).rstrip(".").lower()
            with self.lock:
                self.counts[name] = self.counts.get(name, 0) + 1
            return resolve(request, handler)
        zone.resolve = counting
        for name, code in TEST_POINTS:
            zone.add(name, "A", code)

    def total(self):
        with self.lock:
            return sum(self.counts.values())


@pytest.fixture
def world(make_daemon, tmp_path):
    w = CountingWorld(make_daemon, tmp_path)
    yield w
    w.close()


def daemon(world):
    routes = ('direct = { type = "mx"; port = %d; tls = "none"; source = { address = "%s"; helo = "a.example.org"; }; }; '
              'backup = { type = "relay"; host = "127.0.0.6:%d"; tls = "none"; };' % (world.port, SOURCE, world.port))
    return world.daemon(routes=routes, rules='{ via = [ "direct", "backup" ]; }', extra=[HEALTH, MONITOR])


def wait_log(d, text, count=1, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.log_text().count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError("never logged %r:\n%s" % (text, d.log_text()[-4000:]))


def test_listed_source_moves_mail_to_the_next_route_and_comes_back_when_delisted(world):
    mx = world.sink("127.0.0.2")
    backup = world.sink("127.0.0.6")
    d = daemon(world)
    wait_log(d, "event=monitor_run")
    send(d, ["a@example.net"], subject="before")
    assert [m.peer[0] for m in mx.wait(1)] == [SOURCE]

    world.dns.zone.add(LISTING, "A", "127.0.0.2")
    wait_log(d, "event=monitor action=source_down source=%s" % SOURCE)
    assert routes_json(d)["direct"]["state"] == "down"
    send(d, ["b@example.net"], subject="while listed")
    assert len(backup.wait(1)) == 1, d.log_text()[-3000:]
    assert len(mx.messages) == 1

    state = json.loads(d.cli("monitor", "--json").stdout)
    assert state["sources_down"] == [SOURCE]
    (zen,) = [l for l in state["listings"] if l["source"] == SOURCE and l["list"] == "Spamhaus ZEN"]
    assert zen["listed"] and zen["acts"] and "SBL" in zen["evidence"]
    text = d.cli("monitor", check=False)
    assert text.returncode == 1 and "source %s: out of use" % SOURCE in text.stdout

    with world.dns.zone.lock:
        del world.dns.zone.records[(LISTING, "A")]
    wait_log(d, "event=monitor action=source_up source=%s" % SOURCE)
    # back through the normal probe: the next message after the back-off takes direct
    deadline = time.time() + 20
    n = 0
    while time.time() < deadline and len(mx.messages) < 2:
        send(d, ["c%d@example.net" % n], subject="after")
        n += 1
        time.sleep(1)
    assert len(mx.messages) >= 2 and mx.messages[-1].peer[0] == SOURCE, d.log_text()[-3000:]
    wait_route_state(d, "direct", "healthy")
    assert json.loads(d.cli("monitor", "--json").stdout)["sources_down"] == []


def test_pbl_listing_is_reported_but_does_not_act(world):
    world.sink("127.0.0.2")
    d = daemon(world)
    world.dns.zone.add(LISTING, "A", "127.0.0.10")
    wait_log(d, 'subject="%s on Spamhaus ZEN" status=fail' % SOURCE)
    state = json.loads(d.cli("monitor", "--json").stdout)
    (zen,) = [l for l in state["listings"] if l["list"] == "Spamhaus ZEN"]
    assert zen["listed"] and not zen["acts"] and "PBL" in zen["evidence"]
    assert state["sources_down"] == [] and routes_json(d)["direct"]["state"] != "down"
    assert "action=source_down" not in d.log_text()


def test_monitor_dns_queries_per_interval_stay_within_the_budget(world):
    """Figure: queries per run, counted at the DNS server (printed with -s)."""
    world.sink("127.0.0.2")
    d = daemon(world)
    wait_log(d, "event=monitor_run", count=2)
    before = world.total()
    wait_log(d, "event=monitor_run", count=4)
    per_run = (world.total() - before) / 2
    runs = [l for l in d.log_text().splitlines() if "event=monitor_run" in l]
    print("monitor: %.1f DNS queries per run at the server; daemon log: %s" % (per_run, runs[-1]))
    # 8 IP lists + DNSWL (test points 2 each, the source 1 each), 2 domain lists (2 + 1), SOA, PTR...
    assert 0 < per_run < 60
