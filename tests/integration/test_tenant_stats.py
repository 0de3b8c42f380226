"""What each tenant sent, in the statistics and the metrics, after real
traffic: two tenants (acme, whose mail partly bounces at the relay, and
dom) and mail of no tenant through the real daemon to an aiosmtpd relay on
127.0.0.5; then a complaint (ARF) about a message of a tenant.  Checked
with `outpost stats --by tenant`, /api/v1/stats, `outpost tenant show`,
GET /metrics (with promtool) and the log lines."""
import json
import re
import smtplib

import pytest

from conftest import free_port, message
from peers import Behaviour
from test_delivery import World, wait_empty
from test_observe import get, promtool_check, sample, wait_metric

TENANTS = ('tenants = ( { name = "acme"; domains = [ "acme.example" ]; },'
           ' { name = "dom"; domains = [ "dom.example" ]; } );')


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def send(d, sender, rcpts, subject="hello"):
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail(sender, rcpts, message(subject))


def row(stats, key):
    rows = [r for r in stats["rows"] if r["key"] == key]
    assert len(rows) == 1, stats["rows"]
    return rows[0]


def test_stats_and_metrics_per_tenant_after_traffic(world):
    bad = {"gone%d@example.net" % i: "550 5.1.1 <gone@example.net>: no such user" for i in range(2)}
    world.sink("127.0.0.5", Behaviour(rcpt_replies=bad))
    http_port = free_port()
    d = world.daemon(routes='relay = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; };' % world.port,
                     rules='{ via = [ "relay" ]; }',
                     extra=[TENANTS, 'http = { listen = "127.0.0.1:%d"; };' % http_port])
    # acme: 3 messages, 4 recipients, 2 of them bounced; dom: 2 messages; 1 of no tenant
    send(d, "app@acme.example", ["a@example.net", "gone0@example.net"])
    send(d, "app@acme.example", ["b@example.net"])
    send(d, "app@acme.example", ["gone1@example.net"])
    send(d, "app@dom.example", ["c@example.net"])
    send(d, "app@dom.example", ["d@example.net"])
    send(d, "app@sender.example.org", ["e@example.net"])
    assert wait_empty(d)

    st = json.loads(d.cli("stats", "--by", "tenant", "--json").stdout)
    acme, dom, none = row(st, "acme"), row(st, "dom"), row(st, "")
    assert (acme["received"], acme["delivered"], acme["bounced"], acme["deferred"]) == (3, 2, 2, 0)
    assert (dom["received"], dom["delivered"], dom["bounced"]) == (2, 2, 0)
    # mail of no tenant: the one message, and the two DSNs to acme's sender
    assert none["received"] >= 1 and none["bounced"] == 0 and none["delivered"] >= 1
    assert st["totals"]["complaints"] == 0
    # whatever --by is, the JSON has the rows by tenant
    by_route = json.loads(d.cli("stats", "--json").stdout)
    assert by_route["by"] == "route" and row({"rows": by_route["tenants"]}, "acme")["bounced"] == 2
    # the daemon's API answers the same
    api = json.loads(get("http://127.0.0.1:%d/api/v1/stats?by=tenant" % http_port)[2])
    assert api["by"] == "tenant" and row(api, "acme")["bounced"] == 2 and row(api, "dom")["delivered"] == 2
    text = d.cli("stats", "--by", "tenant").stdout
    assert re.search(r"\n  acme +3 +2 +0 +2 +0 ", text), text

    show = d.cli("tenant", "show", "acme").stdout
    assert ("activity over 24h: received 3, delivered 2, deferred 0, bounced 2, complaints 0"
            " (bounce rate 50.0 %, complaint rate 0.0 %)\n") in show
    act = json.loads(d.cli("tenant", "show", "dom", "--json").stdout)["activity"]
    assert (act["window"], act["received"], act["delivered"], act["bounced"]) == ("24h", 2, 2, 0)

    url = "http://127.0.0.1:%d/metrics" % http_port
    text = wait_metric(url, "outpost_tenant_recipients_total", 2, tenant="acme", result="bounced")
    promtool_check(text)
    assert sample(text, "outpost_tenant_messages_received_total", tenant="acme") == 3
    assert sample(text, "outpost_tenant_messages_received_total", tenant="dom") == 2
    assert sample(text, "outpost_tenant_messages_received_total", tenant="") == 1   # DSNs are not received
    assert sample(text, "outpost_tenant_recipients_total", tenant="acme", result="delivered") == 2
    assert sample(text, "outpost_tenant_recipients_total", tenant="dom", result="delivered") == 2
    assert sample(text, "outpost_tenant_recipients_total", tenant="dom", result="bounced") is None
    assert sample(text, "outpost_tenant_bounces_total", tenant="acme", reason="userunknown", source="delivery") == 2
    assert sample(text, "outpost_tenant_state", tenant="acme", state="ok") == 1
    assert sample(text, "outpost_tenant_state", tenant="acme", state="held") == 0
    # the log lines name the tenant
    lines = [l for l in d.log_text().splitlines() if "event=delivery " in l and "rcpt=<gone0@" in l]
    assert len(lines) == 1 and " tenant=acme " in lines[0]


def test_complaint_counts_for_its_tenant_and_holds_it(make_daemon, tmp_path):
    """A complaint about dom's first message, after it left the queue: dom's
    statistics and metrics count it, and its protection holds it (1 of 2).
    A bounce report that comes back later for acme's message counts for acme."""
    from test_bounces import ARF, Loop, dsn
    http_port = free_port()
    tenants = ('tenants = ( { name = "dom"; domains = [ "dom.example" ];'
               '  protect = { window = "1h"; min_messages = 2; max_complaint_rate = 10; }; },'
               ' { name = "acme"; domains = [ "acme.example" ]; } );')
    loop = Loop(make_daemon, tmp_path, extra=[tenants, 'http = { listen = "127.0.0.1:%d"; };' % http_port])
    try:
        qid, got = loop.send("reader@example.net", sender="app@dom.example")
        loop.send("other@example.net", sender="app@dom.example")
        qid3, got3 = loop.send("third@example.net", sender="app@acme.example")
        loop.report(got3.mail_from, dsn(got3.mail_from, "third@example.net", "5.1.1",
                                        "550 5.1.1 <third@example.net>: User unknown"))
        loop.wait_log("event=suppressed qid=%s rcpt=<third@example.net>" % qid3)
        loop.report("fbl@relay.test", ARF.format(mail_from=got.mail_from, rcpt="reader@example.net",
                                                 author="app@dom.example"), sender="feedback@fbl.example.net")
        loop.wait_log("event=tenant_held tenant=dom")
        assert re.search(r"event=complaint qid=%s rcpt=<reader@example.net> tenant=dom " % qid, loop.d.log_text())
        url = "http://127.0.0.1:%d/metrics" % http_port
        text = wait_metric(url, "outpost_tenant_complaints_total", 1, tenant="dom")
        promtool_check(text)
        assert sample(text, "outpost_tenant_complaints_total", tenant="acme") is None
        assert sample(text, "outpost_tenant_bounces_total", tenant="acme", reason="userunknown",
                      source="report") == 1
        assert sample(text, "outpost_tenant_bounces_total", tenant="dom", reason="userunknown",
                      source="report") is None
        assert sample(text, "outpost_tenant_state", tenant="dom", state="held") == 1
        assert sample(text, "outpost_tenant_state", tenant="dom", state="ok") == 0
        assert sample(text, "outpost_tenant_state", tenant="acme", state="ok") == 1
        st = json.loads(loop.d.cli("stats", "--by", "tenant", "--json").stdout)
        assert row(st, "dom")["complaints"] == 1 and row(st, "acme")["complaints"] == 0
        assert st["totals"]["complaints"] == 1
        # the complaint is counted on the route the message took
        st = json.loads(loop.d.cli("stats", "--by", "route", "--json").stdout)
        assert row(st, "r")["complaints"] == 1
        show = json.loads(loop.d.cli("tenant", "show", "dom", "--json").stdout)
        assert show["state"] == "held"
        assert (show["activity"]["window"], show["activity"]["delivered"], show["activity"]["complaints"],
                show["activity"]["complaint_rate"]) == ("1h", 2, 1, 50.0)
    finally:
        loop.close()
