"""What the operator sees: the HTTP listener (http = { listen; }) and
GET /metrics after real traffic through the real daemon, checked with
Prometheus' own promtool; the refusals of a listener beyond loopback."""
import json
import re
import shutil
import smtplib
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, free_port
from peers import Behaviour
from test_delivery import SLOW_RETRY, World, send, wait_empty


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def get(url, token=None, context=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def sample(text, name, **labels):
    """The value of one series in exposition text; None when absent."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(re.findall(r'\w+="(?:[^"\\]|\\.)*"', m.group(3) or "")))
        if got == want:
            return float(m.group(4))
    return None


def promtool_check(text):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/deps.sh installs Debian's prometheus"
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, "promtool check metrics:\n%s%s" % (r.stdout, r.stderr)
    return r.stdout + r.stderr


def wait_metric(url, name, want, at_least=False, **labels):
    deadline = time.time() + 20
    text = ""
    while time.time() < deadline:
        text = get(url)[2]
        got = sample(text, name, **labels)
        if got == want or (at_least and got is not None and got >= want):
            return text
        time.sleep(0.1)
    raise AssertionError("%s%s never became %s:\n%s" % (name, labels, want, text))


def test_metrics_after_traffic_pass_promtool_and_count(world):
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"gone@example.net": "550 5.1.1 No such user"}))
    http_port = free_port()
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port])
    url = "http://127.0.0.1:%d/metrics" % http_port
    before = get(url)
    assert before[0] == 200 and before[1]["Content-Type"].startswith("text/plain; version=0.0.4")
    assert sample(before[2], "outpost_delivery_attempts_total", route="direct", result="delivered") is None
    send(d, ["a@example.net", "b@example.net"])
    send(d, ["gone@example.net"])
    assert wait_empty(d)
    listener = "127.0.0.1:%d" % d.port
    # two recipients, then the DSN of the bounce to the sender's mailbox: three delivered
    text = wait_metric(url, "outpost_delivery_attempts_total", 3, route="direct", result="delivered")
    promtool_check(text)
    assert sample(text, "outpost_delivery_attempts_total", route="direct", result="bounced") == 1
    assert sample(text, "outpost_bounces_total", reason="userunknown", scope="recipient", source="delivery") == 1
    assert sample(text, "outpost_messages_received_total", listener=listener, user="") == 2
    assert sample(text, "outpost_smtp_sessions_total", listener=listener) == 2
    assert sample(text, "outpost_delivery_latency_seconds_count", route="direct") == 3
    assert sample(text, "outpost_delivery_latency_seconds_bucket", route="direct", le="+Inf") == 3
    assert sample(text, "outpost_smtp_transaction_duration_seconds_count", route="direct") >= 3
    assert sample(text, "outpost_route_health", route="direct", **{"class": "other"}, state="healthy") == 2  # example.net, sender.example.org
    assert sample(text, "outpost_route_health", route="direct", **{"class": "other"}, state="down") == 0
    assert sample(text, "outpost_spool_bytes") > 0
    text = wait_metric(url, "outpost_queue_messages", 0)
    wait_metric(url, "outpost_smtp_sessions_open", 0)
    # no recipient addresses or domains in labels (cardinality, privacy)
    labels = " ".join(re.findall(r'\{[^}]*\}', text))
    assert "example.net" not in labels and "example.org" not in labels


def test_queue_gauges_count_what_waits(world):
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"later@example.net": "451 4.3.0 try later"}))
    http_port = free_port()
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port])
    url = "http://127.0.0.1:%d/metrics" % http_port
    send(d, ["later@example.net"])
    text = wait_metric(url, "outpost_delivery_attempts_total", 1, at_least=True, route="direct",
                       result="deferred")   # retried every second
    assert sample(text, "outpost_queue_messages") == 1
    promtool_check(text)


def daemon_refuses(make_daemon, settings):
    d = make_daemon(settings, start=False)
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(d.conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    return r.stderr


def test_listener_beyond_loopback_needs_tls_and_token(make_daemon, tmp_path, tls_files):
    cert, key = tls_files
    tls = 'tls = { cert = "%s"; key = "%s"; };' % (cert, key)
    err = daemon_refuses(make_daemon, ['http = { listen = "0.0.0.0:%d"; };' % free_port()])
    assert re.search(r"outpost\.conf:\d+: http: listen \"0\.0\.0\.0:\d+\" is not a loopback address", err), err
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789\n")
    token.chmod(0o644)
    err = daemon_refuses(make_daemon, [tls, 'http = { listen = "0.0.0.0:%d"; tls = true; token_file = "%s"; };'
                                       % (free_port(), token)])
    assert re.search(r"outpost\.conf:\d+: http: token_file .* mode 600", err), err
    err = daemon_refuses(make_daemon, ['http = { listen = "0.0.0.0:%d"; tls = true; };' % free_port()])
    assert "needs the top-level tls" in err, err


def test_token_and_tls(make_daemon, tmp_path, tls_files):
    cert, key = tls_files
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789\n")
    token.chmod(0o600)
    port = free_port()
    make_daemon(['tls = { cert = "%s"; key = "%s"; };' % (cert, key),
                 'http = { listen = "127.0.0.1:%d"; tls = true; token_file = "%s"; };' % (port, token)])
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    url = "https://127.0.0.1:%d/metrics" % port
    status, headers, _ = get(url, context=ctx)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert get(url, token="0123456789abcdef012345678X", context=ctx)[0] == 401
    status, _, text = get(url, token="0123456789abcdef0123456789", context=ctx)
    assert status == 200 and "outpost_queue_messages" in text
    with pytest.raises(Exception):
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()


def test_stats_from_the_spool(world):
    """outpost stats: totals and tables from the spool's rollups, the same
    after a restart (they are in the spool, not in memory)."""
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"gone@example.net": "550 5.1.1 No such user here",
                                                    "later@example.net": "451 4.3.0 Try again later"}))
    d = world.daemon()
    send(d, ["a@example.net", "b@example.net"])
    send(d, ["gone@example.net"])
    send(d, ["later@example.net"], sender="other@sender.example.org")
    deadline = time.time() + 20
    while time.time() < deadline:
        st = json.loads(d.cli("stats", "--json").stdout)
        if st["totals"]["delivered"] == 3 and st["totals"]["deferred"] >= 1:
            break
        time.sleep(0.2)
    t = st["totals"]
    # the DSN of the bounce is delivered too, but was not received from a client
    assert (t["received"], t["delivered"], t["bounced"]) == (3, 3, 1), st
    assert t["bytes_received"] > 0 and t["bytes_delivered"] > 0
    rows = {r["key"]: r for r in st["rows"]}
    assert rows["direct"]["delivered"] == 3 and rows["direct"]["bounced"] == 1
    assert rows["direct"]["max_delay"] >= 0
    assert st["bounce_reasons"][0]["reason"] == "5.1.1" and st["bounce_reasons"][0]["count"] == 1
    assert "No such user here" in st["bounce_reasons"][0]["example"]
    assert st["deferral_reasons"][0]["reason"] == "4.3.0"
    assert "Try again later" in st["deferral_reasons"][0]["example"]
    by_domain = {r["key"]: r for r in json.loads(d.cli("stats", "--json", "--by", "domain").stdout)["rows"]}
    assert by_domain["example.net"]["delivered"] == 2 and by_domain["example.net"]["bounced"] == 1
    assert by_domain["sender.example.org"]["delivered"] == 1
    by_sender = {r["key"]: r for r in json.loads(d.cli("stats", "--json", "--by", "sender").stdout)["rows"]}
    assert by_sender["app@sender.example.org"]["received"] == 2
    assert by_sender["other@sender.example.org"]["received"] == 1
    text = d.cli("stats").stdout
    assert re.search(r"^\s+received\s+3$", text, re.M) and re.search(r"^\s+bounced\s+1$", text, re.M), text
    assert re.search(r"^\s+1\s+5\.1\.1\s+550 5\.1\.1 No such user here", text, re.M), text
    assert re.search(r"^\s+direct\s+0\s+3\s+\d+\s+1\s", text, re.M), text
    d.stop()
    after = json.loads(d.cli("stats", "--json").stdout)
    assert after["totals"]["received"] == 3 and after["totals"]["bounced"] == 1
    bad = d.cli("stats", "--by", "planet", check=False)
    assert bad.returncode == 1 and "--by planet: expected route, reason, domain, sender or tenant" in bad.stderr
    bad = d.cli("stats", "--since", "soon", check=False)
    assert bad.returncode == 2 and "--since soon" in bad.stderr


def test_api_and_live_cli(world):
    """GET /api/v1/* gives what the CLI's --json gives; the CLI asks the
    running daemon (live) and falls back to the spool when it is down,
    saying so."""
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"later@example.net": "451 4.3.0 Try again later"}))
    http_port = free_port()
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port], retry=SLOW_RETRY)
    base = "http://127.0.0.1:%d/api/v1/" % http_port
    send(d, ["a@example.net"])
    send(d, ["later@example.net"])
    wait_metric("http://127.0.0.1:%d/metrics" % http_port, "outpost_delivery_attempts_total", 1,
                at_least=True, route="direct", result="deferred")
    status, headers, body = get(base + "queue")
    assert status == 200 and headers["Content-Type"] == "application/json"
    queue = json.loads(body)
    via_daemon = d.cli("queue", "list", "--json")
    assert queue == json.loads(via_daemon.stdout) and via_daemon.stderr == ""
    assert [m["recipients"][0]["address"] for m in queue] == ["later@example.net"]
    qid = queue[0]["id"]
    shown = json.loads(get(base + "queue/" + qid)[2])
    assert shown["id"] == qid and shown == json.loads(d.cli("queue", "show", qid, "--json").stdout)
    assert get(base + "queue/0000000000000000")[0] == 404
    stats = json.loads(get(base + "stats?since=1h&by=domain")[2])
    cli_stats = json.loads(d.cli("stats", "--json", "--since", "1h", "--by", "domain").stdout)
    for s in (stats, cli_stats):
        s.pop("since"), s.pop("until")
    assert stats == cli_stats and stats["totals"]["received"] == 2
    assert get(base + "stats?since=forever")[0] == 400
    events = json.loads(get(base + "events?limit=10")[2])
    assert {"received", "delivered", "deferred"} <= {e["event"] for e in events}
    assert any(e["event"] == "deferred" and e["qid"] == qid and "Try again later" in e["detail"] for e in events)
    routes = json.loads(get(base + "routes")[2])
    assert routes["live"] is True and routes == json.loads(d.cli("routes", "--json").stdout)
    assert routes["routes"][0]["name"] == "direct" and routes["routes"][0]["paths"]
    live = d.cli("routes")
    assert "live from outpostd" in live.stdout and live.stderr == ""
    assert get(base + "nothing")[0] == 404
    d.stop()
    saved = d.cli("routes")
    assert "outpostd is not running" in saved.stderr and "live from outpostd" not in saved.stdout
    assert json.loads(d.cli("routes", "--json").stdout)["live"] is False
    q = d.cli("queue", "list", "--json")
    spooled = json.loads(q.stdout)
    for m in spooled + queue:
        m.pop("waiting")   # live: what the daemon holds; from the spool: the last reply and the retry
        for r in m["recipients"]:  # live: the provider of the MX it resolved; from the spool: unknown
            for k in ("provider", "provider_mx", "provider_why"):
                r.pop(k, None)
    assert "outpostd is not running" in q.stderr and spooled == queue
    assert "outpostd is not running" in d.cli("stats").stderr


CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)")


def chromium(*args, timeout=90):
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: scripts/deps.sh installs Debian's chromium"
    return subprocess.run([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--enable-logging=stderr", "--v=0"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_status_page_in_a_browser(world, tmp_path):
    """GET / in headless Chromium: the key elements render with the real
    data of real traffic, the page logs nothing to the console, and a
    screenshot is kept as an artifact (its path is printed)."""
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"gone@example.net": "550 5.1.1 No such user here",
                                                    "later@example.net": "451 4.3.0 Try again <later>"}))
    http_port = free_port()
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port])
    send(d, ["a@example.net", "b@example.net"])
    send(d, ["gone@example.net"])
    send(d, ["later@example.net"])
    wait_metric("http://127.0.0.1:%d/metrics" % http_port, "outpost_delivery_attempts_total", 3,
                route="direct", result="delivered")
    wait_metric("http://127.0.0.1:%d/metrics" % http_port, "outpost_delivery_attempts_total", 1,
                at_least=True, route="direct", result="deferred")
    url = "http://127.0.0.1:%d/" % http_port
    status, headers, _ = get(url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    r = chromium("--dump-dom", url)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    console = CONSOLE.findall(r.stderr)
    assert console == [], "console messages: %s" % console
    assert "<title>outpost on relay.test</title>" in dom
    routes = dom[dom.index('id="routes"'):dom.index('id="charts"')]
    assert 'data-route="direct"' in routes and 'class="healthy"' in routes
    charts = dom[dom.index('id="charts"'):dom.index('id="queue-age"')]
    assert re.search(r'<svg class="chart" data-route="direct"', charts)
    assert re.search(r'<rect class="delivered"[^>]*><title>3 delivered</title>', charts), charts[:3000]
    assert re.search(r'<rect class="bounced"[^>]*><title>1 bounced</title>', charts)
    assert re.search(r'<rect class="deferred"[^>]*><title>\d+ deferred</title>', charts)   # retried each second
    assert re.search(r'id="queue-total">1<', dom)
    reasons = dom[dom.index('id="reasons"'):dom.index('id="events"')]
    assert "550 5.1.1 No such user here" in reasons
    assert "451 4.3.0 Try again &lt;later&gt;" in reasons   # escaped, not markup
    events = dom[dom.index('id="events"'):]
    assert events.count('class="event"') >= 6   # 3 received, 2+1 delivered (the DSN), bounced, deferred
    assert re.search(r"<td>bounced</td><td>[0-9A-Z]{16}</td><td>direct</td><td>gone@example\.net</td>", events)
    assert "<script" not in dom
    shot = tmp_path / "status-page.png"
    r = chromium("--hide-scrollbars", "--window-size=1280,1800", "--screenshot=%s" % shot, url)
    assert r.returncode == 0 and shot.stat().st_size > 10000, r.stderr[-2000:]
    assert CONSOLE.findall(r.stderr) == []
    print("status page screenshot: %s" % shot)


def test_nothing_held_without_a_reason(world):
    """Every waiting message says why and until when (queue list/show, live
    from the daemon and from the spool alone); a rate limit shows as held
    with the limit, and event=queued names session, user and Message-ID."""
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"later@example.net": "451 4.3.0 Try again later"}))
    d = world.daemon(extra=['limits = ( { domain = "slow.example"; rate = "1/min"; } );'], retry=SLOW_RETRY)
    world.dns.zone.add("slow.example", "MX", (10, "mx1.example.net"))
    send(d, ["later@example.net"])
    for i in range(4):
        send(d, ["s%d@slow.example" % i])
    deadline = time.time() + 20
    held = deferred = None
    while time.time() < deadline and not (held and deferred):
        q = d.queue()
        held = [m for m in q if m["waiting"]["reason"].startswith("held on route direct for slow.example")]
        deferred = [m for m in q if m["recipients"][0]["address"] == "later@example.net"
                    and m["recipients"][0]["state"] == "deferred"]
        time.sleep(0.2)
    assert held, q
    w = held[0]["waiting"]
    assert "a rate limit or a back-off of this destination" in w["reason"] and w["until"], w
    w = deferred[0]["waiting"]
    assert w["reason"].startswith("deferred after") and "451 4.3.0 Try again later" in w["reason"], w
    text = d.cli("queue", "list").stdout
    assert re.search(r"^  waiting: held on route direct for slow\.example: .* \(until \d{4}-", text, re.M), text
    shown = d.cli("queue", "show", held[0]["id"]).stdout
    assert re.search(r"^waiting: held on route direct", shown, re.M), shown
    log = d.log_text()
    assert re.search(r"event=queued qid=%s session=\d+ user=- (?:\w+=\S+ )*message_id=<[^>]+> (?:\w+=\S+ )*from=<app@sender\.example\.org>"
                     % deferred[0]["id"], log), log[-2000:]
    d.stop()
    for m in d.queue():
        assert m["waiting"]["reason"], m      # from the spool alone: still a reason for each


def test_route_explain_shows_the_health_of_each_route_in_order(world):
    world.sink("127.0.0.6")
    routes = ('r1 = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; }; '
              'r2 = { type = "relay"; host = "127.0.0.6:%d"; tls = "none"; };' % (world.port, world.port))
    http_port = free_port()
    d = world.daemon(routes=routes, rules='{ via = [ "r1", "r2" ]; }',
                     extra=['health = { failures = 1; probe = "1h"; probe_max = "2h"; };',
                            'http = { listen = "127.0.0.1:%d"; };' % http_port])
    send(d, ["a@anywhere.example"])   # nobody listens on r1: it goes down, r2 takes the mail
    assert wait_empty(d)
    text = get("http://127.0.0.1:%d/metrics" % http_port)[2]
    assert sample(text, "outpost_failovers_total", from_route="r1", to_route="r2") == 1
    assert sample(text, "outpost_route_health", route="r1", state="down", **{"class": "*"}) == 1
    out = d.cli("route", "explain", "--sender", "app@sender.example.org", "--rcpt", "x@anywhere.example",
                check=False).stdout
    assert "route health, in the order of via (live from outpostd):" in out, out
    assert re.search(r"^  1\. r1: down \(class \*\), next probe in \d+s: ", out, re.M), out
    assert re.search(r"^  2\. r2: healthy", out, re.M), out
    j = json.loads(d.cli("route", "explain", "--sender", "app@sender.example.org", "--rcpt",
                         "x@anywhere.example", "--json", check=False).stdout)
    assert [h["route"] for h in j["health"]] == ["r1", "r2"] and j["health"][0]["state"] == "down"
    assert j["health_live"] is True
    d.stop()
    out = d.cli("route", "explain", "--sender", "app@sender.example.org", "--rcpt", "x@anywhere.example",
                check=False).stdout
    assert "(as saved in the spool)" in out and re.search(r"^  1\. r1: down", out, re.M), out


def test_warmup_and_failover_metrics(world):
    """The warm-up left per source (the cap is checked when a route is
    chosen, so the two over it go by r1 without a failover)."""
    world.sink("127.0.0.2")
    world.sink("127.0.0.5")
    http_port = free_port()
    routes = ('direct = { type = "mx"; port = %d; tls = "none"; source = "127.0.0.1"; '
              'warmup = { start = 3; growth = 2.0; per = "day"; }; }; '
              'r1 = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; };' % (world.port, world.port))
    d = world.daemon(routes=routes, rules='{ via = [ "direct", "r1" ]; }',
                     extra=['http = { listen = "127.0.0.1:%d"; };' % http_port])
    url = "http://127.0.0.1:%d/metrics" % http_port
    for i in range(5):
        send(d, ["u%d@example.net" % i])
    assert wait_empty(d)
    text = wait_metric(url, "outpost_delivery_attempts_total", 2, route="r1", result="delivered")
    assert sample(text, "outpost_delivery_attempts_total", route="direct", result="delivered") == 3
    assert sample(text, "outpost_warmup_remaining_messages", source="127.0.0.1") == 0
    promtool_check(text)


def test_rejected_and_bounce_metrics(world):
    """Refusals at the door by reason class (SIZE= too big at MAIL, a message
    too big at the end of DATA), bounces by classified reason, through promtool."""
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"gone@example.net": "550 5.1.1 No such user"}))
    http_port = free_port()
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port,
                            'inbound = { max_message_size = "2K"; };'])
    url = "http://127.0.0.1:%d/metrics" % http_port
    send(d, ["gone@example.net"])
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.ehlo()
        code, _ = s.mail("app@sender.example.org", ["SIZE=5000"])
        assert code == 552
        s.rset()
        assert s.mail("app@sender.example.org")[0] == 250
        assert s.rcpt("a@example.net")[0] == 250
        code, _ = s.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 60)
        assert code == 552
    listener = "127.0.0.1:%d" % d.port
    text = wait_metric(url, "outpost_bounces_total", 1, reason="userunknown", scope="recipient", source="delivery")
    assert sample(text, "outpost_messages_rejected_total", listener=listener, reason="size") == 2
    promtool_check(text)


def test_rejections_in_stats(world):
    """Refusals at SMTP time (relay denied, a size refusal, a suppressed
    recipient) reach `outpost stats` (JSON and text), /api/v1/stats and the
    status page as the "rejected" total and the top rejection reasons, by
    the classes of outpost_messages_rejected_total; those counted just
    before a stop are flushed into the spool by the stop."""
    http_port = free_port()
    # only 127.0.0.1 relays: a client from 127.0.0.5 is a stranger
    d = world.daemon(extra=['http = { listen = "127.0.0.1:%d"; };' % http_port,
                            'client_networks = [ "127.0.0.1/32" ];',
                            'inbound = { max_message_size = "2K"; };'])
    d.cli("suppress", "add", "gone@example.net", "--reason", "userunknown")
    with smtplib.SMTP("127.0.0.1", d.port, source_address=("127.0.0.5", 0)) as s:
        s.ehlo()
        assert s.mail("app@sender.example.org")[0] == 250
        assert s.rcpt("a@example.net")[0] == 554
        assert s.rcpt("b@example.net")[0] == 554
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.ehlo()
        assert s.mail("app@sender.example.org", ["SIZE=5000"])[0] == 552
        s.rset()
        assert s.mail("app@sender.example.org")[0] == 250
        code, msg = s.rcpt("gone@example.net")
        assert code >= 500, msg
    metrics = get("http://127.0.0.1:%d/metrics" % http_port)[2]
    listener = "127.0.0.1:%d" % d.port
    assert sample(metrics, "outpost_messages_rejected_total", listener=listener, reason="relay_denied") == 2
    assert sample(metrics, "outpost_messages_rejected_total", listener=listener, reason="suppressed") == 1
    st = json.loads(d.cli("stats", "--json").stdout)
    assert st["totals"]["rejected"] == 4, st
    reasons = [(r["reason"], r["count"]) for r in st["rejection_reasons"]]
    assert reasons == [("relay_denied", 2), ("size", 1), ("suppressed", 1)], reasons
    assert all(r["key"] != "" for r in st["rows"]), st["rows"]   # a refusal has no route
    api = json.loads(get("http://127.0.0.1:%d/api/v1/stats" % http_port)[2])
    for s in (st, api):
        s.pop("since"), s.pop("until")
    assert api == st
    text = d.cli("stats").stdout
    assert re.search(r"^\s+rejected\s+4$", text, re.M), text
    top = text[text.index("Top rejection reasons"):]
    assert re.search(r"^\s+2\s+relay_denied", top, re.M) and re.search(r"^\s+1\s+suppressed", top, re.M), text
    page = get("http://127.0.0.1:%d/" % http_port)[2]
    assert "<b>4</b> rejected" in page and "relay_denied" in page
    with smtplib.SMTP("127.0.0.1", d.port, source_address=("127.0.0.5", 0)) as s:
        s.ehlo()
        assert s.mail("app@sender.example.org")[0] == 250
        assert s.rcpt("c@example.net")[0] == 554
    d.stop()
    after = json.loads(d.cli("stats", "--json").stdout)
    assert after["totals"]["rejected"] == 5
    assert after["rejection_reasons"][0] == {"reason": "relay_denied", "count": 3, "example": None}
