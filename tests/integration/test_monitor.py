"""The blocklist and DNS monitor inside the daemon, against a dnslib world.

The mx route `direct` sends from 127.0.0.7; the relay route `backup` is the
next of via.  The DNS server answers every blocklist's RFC 5782 test points,
so the lists are testable.  Mid-test the server starts answering that
127.0.0.7 is on Spamhaus ZEN (SBL): the monitor (interval 2 s) must take the
source out of use, route health must put `direct` down, and the next message
must leave through `backup`.  When the listing goes away the route comes
back through its normal probe and mail leaves from 127.0.0.7 again."""
import json
from collections import Counter
import signal
import subprocess
import threading
import time

import pytest
from dnslib import QTYPE, RR, SOA, DNSRecord

from peers import DNS
from test_delivery import World, send  # noqa: F401
from test_doctor import TEST_POINTS, DoctorZone, dkim_txt, reverse
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


def reload(d):
    before = d.log_text().count("event=reloaded")
    d.proc.send_signal(signal.SIGHUP)
    wait_log(d, "event=reloaded", count=before + 1)


def test_reload_adds_a_listed_source_and_removing_it_gives_it_back(world):
    """A source added by a reload is watched without a restart (found listed,
    taken out of use); removed by the next reload it is neither watched nor
    out of use any more, and the source that stayed kept its state."""
    world.sink("127.0.0.2")
    added = "127.0.0.8"
    world.dns.zone.add("8.0.0.127.zen.spamhaus.org", "A", "127.0.0.2")
    d = daemon(world)
    wait_log(d, "event=monitor_run")
    state = json.loads(d.cli("monitor", "--json").stdout)
    kept = [l for l in state["listings"] if l["source"] == SOURCE and l["list"] == "Spamhaus ZEN"]
    assert kept and not kept[0]["listed"] and all(l["source"] != added for l in state["listings"])
    one = '{ address = "%s"; helo = "a.example.org"; }' % SOURCE
    two = '( %s, { address = "%s"; helo = "b.example.org"; } )' % (one, added)
    conf = d.conf.read_text()
    assert "source = %s;" % one in conf
    d.conf.write_text(conf.replace("source = %s;" % one, "source = %s;" % two))
    reload(d)
    wait_log(d, "event=monitor_reload")
    wait_log(d, "event=monitor action=source_down source=%s" % added)
    assert "event=source_listed source=%s listed=yes" % added in d.log_text()   # the scheduler took it
    state = json.loads(d.cli("monitor", "--json").stdout)
    assert state["sources_down"] == [added]
    (zen,) = [l for l in state["listings"] if l["source"] == added and l["list"] == "Spamhaus ZEN"]
    assert zen["listed"] and zen["acts"]
    runs = d.log_text().count("event=monitor_run")
    d.conf.write_text(conf)
    reload(d)
    wait_log(d, "event=monitor action=source_up source=%s reason=\"no longer a source address\"" % added)
    assert "event=source_listed source=%s listed=no" % added in d.log_text()
    state = json.loads(d.cli("monitor", "--json").stdout)
    assert state["sources_down"] == []
    assert all(l["source"] != added for l in state["listings"])
    assert [l for l in state["listings"] if l["source"] == SOURCE]
    wait_log(d, "event=monitor_run", count=runs + 1)
    state = json.loads(d.cli("monitor", "--json").stdout)
    assert all(not i["subject"].startswith(added) for i in state["items"]), state["items"]
    assert all(l["source"] != added for l in state["listings"])
    # the source that stayed kept its state through both reloads: announced new once
    assert d.log_text().count('check=dnsbl subject="%s" status=pass previous=new' % SOURCE) == 1
    assert "event=monitor action=source_down source=%s" % SOURCE not in d.log_text()


# --- the monitor's DNS cost, counted at the server --------------------------------------------

IP_LISTS = 8 + 1          # the doctor's IP blocklists, and DNSWL
DOMAIN_LISTS = 2          # Spamhaus DBL, SURBL


def queries_per_run(sources, domains, budget):
    """The documented cost of one run (README, "The monitor"), for sources
    that are not listed, each with a PTR whose name has an A record, and
    domains that publish SPF (ip4 terms only), one DKIM key and DMARC."""
    test_points = 2 * IP_LISTS * (sources > 0) + 2 * DOMAIN_LISTS
    lists = IP_LISTS * min(sources, budget) + DOMAIN_LISTS * min(domains, budget)
    per_domain = 1 + 1 + 1 + 1 + 1       # SOA, SPF TXT, the SPF probe's evaluation, DKIM, DMARC
    per_source = 1 + 1 + 1               # PTR, A of its name, its SPF evaluation (first domain)
    return test_points + lists + per_domain * domains + per_source * sources


class NoCacheZone(DoctorZone):
    """The doctor's zone with TTL 0 on every answer and an SOA (TTL and
    minimum 0) in every negative one, so that libunbound caches nothing and
    every lookup the monitor makes reaches this server; records each query
    in the order it arrives (noted by the server's receiving thread, before
    a thread of its own answers it)."""

    def __init__(self):
        super().__init__()
        self.log = []

    def listen_on(self, server):
        def arrived(request, client_address):
            q = DNSRecord.parse(request[0]).q
            with self.lock:
                self.log.append((str(q.qname).rstrip(".").lower(), QTYPE[q.qtype]))
            return True
        server.verify_request = arrived   # socketserver calls it in order, as each datagram is read

    def resolve(self, request, handler):
        q = request.q
        reply = super().resolve(request, handler)
        for rr in reply.rr:
            rr.ttl = 0
        if not reply.rr:
            reply.add_auth(RR(q.qname, QTYPE.SOA, ttl=0, rdata=SOA("ns.test", "hostmaster.test",
                                                                      (1, 60, 60, 60, 0))))
        return reply

    def queries(self):
        with self.lock:
            return list(self.log)


def runs_in(log, first_domain, start=0):
    """The complete runs in a query log from position start: each run opens
    with the SOA query of the first sending domain (its first lookup), and
    ends where the next one opens."""
    marks = [i for i, q in enumerate(log) if q == (first_domain, "SOA") and i >= start]
    return [log[a:b] for a, b in zip(marks, marks[1:])]


def test_monitor_dns_queries_per_run_equal_the_documented_formula(make_daemon, tmp_path):
    """Figure: the monitor's DNS queries per interval, counted at the server,
    are exactly sources x IP lists + domains x domain lists + the test points
    once per list + PTR/SPF/DKIM/DMARC (queries_per_run), before and after a
    reload that adds a source and lowers the budget to 1 query per list and
    run (the domain lists then ask for the first domain only).  The sending
    domains are the DKIM domains, which a reload cannot change."""
    dns = DNS()
    dns.zone = NoCacheZone()
    dns.server.server.resolver = dns.zone
    z = dns.zone
    z.listen_on(dns.server.server)
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(key)], check=True, capture_output=True)
    key_txt = dkim_txt(key)
    domains = ["a.example.org", "b.example.org"]
    sources = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    for dom in domains:
        z.add(dom, "TXT", "v=spf1 ip4:10.0.0.0/24 -all")
        z.add("s1._domainkey." + dom, "TXT", key_txt)
        z.add("_dmarc." + dom, "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@%s" % dom)
    for n, ip in enumerate(sources):
        z.add(reverse(ip), "PTR", "mx%d.example.net" % n)
        z.add("mx%d.example.net" % n, "A", ip)
    for name, code in TEST_POINTS:
        z.add(name, "A", code)
    dns.start()

    def settings(ns, nd, budget):
        src = ", ".join('{ address = "%s"; helo = "mx%d.example.net"; }' % (ip, n)
                        for n, ip in enumerate(sources[:ns]))
        dkim = ", ".join('{ domain = "%s"; selector = "s1"; key = "%s"; }' % (dom, key) for dom in domains[:nd])
        return ['resolver = "%s";' % dns.spec, 'routes = { direct = { type = "mx"; source = ( %s ); }; };' % src,
                'rules = ( { via = [ "direct" ]; } );', "dkim = ( %s );" % dkim,
                'monitor = { interval = "2s"; budget = %d; };' % budget]
    try:
        d = make_daemon(settings(2, 2, 100))
        wait_log(d, "event=monitor_run", count=4)
        # not the first run: unpaced, its lookups all go at once, and
        # libunbound may send some before the SOA that opens it
        before = runs_in(z.queries(), domains[0])[1:]
        conf = d.conf.read_text()
        d.conf.write_text(conf.replace("\n".join(settings(2, 2, 100)), "\n".join(settings(3, 2, 1))))
        assert d.conf.read_text() != conf
        reload(d)
        wait_log(d, "event=monitor_reload")
        mark = len(z.queries())
        runs = d.log_text().count("event=monitor_run")
        wait_log(d, "event=monitor_run", count=runs + 3)
        after = runs_in(z.queries(), domains[0], start=mark)
    finally:
        dns.stop()
    want_before, want_after = queries_per_run(2, 2, 100), queries_per_run(3, 2, 1)
    print("monitor: DNS queries per run at the server: %s (2 sources, 2 domains; formula %d), "
          "%s after the reload (3 sources, budget 1; formula %d)"
          % ([len(r) for r in before], want_before, [len(r) for r in after], want_after))
    assert len(before) >= 2 and len(after) >= 2
    for runs, want in ((before, want_before), (after, want_after)):
        for run in runs:
            # on failure: what this run asked more (+) or less (-) than the others
            diff = [(q, n) for q, n in (Counter(run) - Counter(runs[-1] if run is runs[0] else runs[0])).items()] + \
                [(q, -n) for q, n in (Counter(runs[-1] if run is runs[0] else runs[0]) - Counter(run)).items()]
            assert len(run) == want, (len(run), want, diff)
    # each list's test points once per run, not once per domain or source
    for run in before + after:
        assert run.count(("2.0.0.127.zen.spamhaus.org", "A")) == 1
        assert run.count(("dbltest.com.dbl.spamhaus.org", "A")) == 1


def test_reload_applies_pbl_act_and_turns_the_monitor_off_and_on(world):
    """pbl = "act" by a reload acts on the PBL listing already known, at once;
    a reload without the monitor group gives the source back and removes the
    state; one with it starts the monitor again."""
    world.sink("127.0.0.2")
    world.dns.zone.add(LISTING, "A", "127.0.0.10")
    d = daemon(world)
    wait_log(d, 'subject="%s on Spamhaus ZEN" status=fail' % SOURCE)
    assert "action=source_down" not in d.log_text()
    conf = d.conf.read_text()
    d.conf.write_text(conf.replace(MONITOR, 'monitor = { interval = "1h"; pbl = "act"; };'))
    reload(d)
    # no new lookup needed: the listing known is judged again by the reload itself
    wait_log(d, "event=monitor_reload")
    log = d.log_text()
    down = "event=monitor action=source_down source=%s" % SOURCE
    assert down in log and log.index(down) < log.index("event=monitor_reload"), log[-3000:]
    assert json.loads(d.cli("monitor", "--json").stdout)["sources_down"] == [SOURCE]
    d.conf.write_text(conf.replace(MONITOR, ""))
    reload(d)
    wait_log(d, "event=monitor_stop")
    assert 'event=monitor action=source_up source=%s reason="the monitor is turned off"' % SOURCE in d.log_text()
    assert "event=source_listed source=%s listed=no" % SOURCE in d.log_text()
    r = d.cli("monitor", check=False)
    assert r.returncode == 69 and "no monitor configured" in r.stderr
    runs = d.log_text().count("event=monitor_run")
    d.conf.write_text(conf)
    reload(d)
    wait_log(d, "event=monitor_start", count=2)
    wait_log(d, "event=monitor_run", count=runs + 1)
    state = json.loads(d.cli("monitor", "--json").stdout)
    (zen,) = [l for l in state["listings"] if l["source"] == SOURCE and l["list"] == "Spamhaus ZEN"]
    assert zen["listed"] and zen["pbl_only"] and not zen["acts"] and state["sources_down"] == []
