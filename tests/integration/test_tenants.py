"""Tenants end to end: a message's tenant is found by authenticated user, then
client network, then sender domain, kept in the spool (queue show, the
event=queued log line) and routed by the rule key tenant; a tenant's sender
domains, message and recipient limits are enforced with 5xx/4xx replies.
Relays are aiosmtpd receivers on 127.0.0.5 and 127.0.0.6."""
import base64
import json
import re
import smtplib

from conftest import PASSWORD, RawClient, message
from test_delivery import World
import pytest

TENANTS = ('tenants = ( { name = "acme"; users = [ "alice" ]; domains = [ "alice.example" ];'
           '  limits = { messages_per_day = 3; recipients_per_message = 2; }; },'
           ' { name = "lan"; networks = [ "127.0.0.2" ]; },'
           ' { name = "dom"; domains = [ "dom.example" ]; } );')


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


@pytest.fixture
def tenanted(world, users_file):
    """acme's mail goes via r1 (127.0.0.5), the rest via r2 (127.0.0.6)."""
    world.r1 = world.sink("127.0.0.5")
    world.r2 = world.sink("127.0.0.6")
    routes = " ".join('%s = { type = "relay"; host = "%s:%d"; tls = "none"; };' % (n, h, world.port)
                      for n, h in (("r1", "127.0.0.5"), ("r2", "127.0.0.6")))
    rules = '{ tenant = "acme"; via = [ "r1" ]; }, { via = [ "r2" ]; }'
    world.d = world.daemon(routes=routes, rules=rules, extra=['users = "%s";' % users_file, TENANTS])
    return world


def auth_client(d):
    c = RawClient(d.port)
    c.expect(220)
    c.expect(250, "EHLO client.test")
    c.expect(235, "AUTH PLAIN " + base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode())
    return c


def send_data(c, subject):
    c.expect(354, "DATA")
    c.send(message(subject).encode() + b".\r\n")
    return c.expect(250)


def queued_line(d, subject_qid):
    return [l for l in d.log_text().splitlines() if "event=queued" in l and "qid=" + subject_qid in l][0]


def qid_of(reply_lines):
    return reply_lines[-1].split()[-1]


def test_tenant_by_user_network_and_domain_routed_and_logged(tenanted):
    d = tenanted.d
    c = auth_client(d)
    c.expect(250, "MAIL FROM:<app@alice.example>")
    c.expect(250, "RCPT TO:<x@example.net>")
    q1 = qid_of(send_data(c, "by user"))
    c.close()
    with smtplib.SMTP("127.0.0.1", d.port, source_address=("127.0.0.2", 0)) as s:
        s.sendmail("app@dom.example", ["y@example.net"], message("by network"))
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@sub.dom.example", ["z@example.net"], message("by domain"))
        s.sendmail("app@other.example", ["w@example.net"], message("no tenant"))
    assert "tenant=acme" in queued_line(d, q1)
    log = d.log_text()
    assert sum("event=queued" in l and "tenant=lan" in l for l in log.splitlines()) == 1
    assert sum("event=queued" in l and "tenant=dom" in l for l in log.splitlines()) == 1
    assert sum("event=queued" in l and "tenant=-" in l for l in log.splitlines()) == 1
    # acme's mail takes its own route; everyone else's the default one
    got1 = tenanted.r1.wait(1)
    got2 = tenanted.r2.wait(3)
    assert [m.rcpts for m in got1] == [["x@example.net"]]
    assert sorted(m.rcpts[0] for m in got2) == ["w@example.net", "y@example.net", "z@example.net"]


def test_queue_show_has_the_tenant(world, users_file):
    # no rules for example.net: the message stays queued
    d = world.daemon(routes='r = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; };' % world.port,
                     rules='{ recipient_domain = "nowhere.invalid"; via = [ "r" ]; }',
                     extra=['users = "%s";' % users_file, TENANTS])
    c = auth_client(d)
    c.expect(250, "MAIL FROM:<app@alice.example>")
    c.expect(250, "RCPT TO:<x@example.net>")
    qid = qid_of(send_data(c, "kept"))
    c.close()
    text = d.cli("queue", "show", qid).stdout
    assert "\ntenant: acme\n" in text
    assert json.loads(d.cli("queue", "show", qid, "--json").stdout)["tenant"] == "acme"


def test_sender_domain_and_limits_of_a_tenant(tenanted):
    d = tenanted.d
    c = auth_client(d)
    # alice owns shared.example in the users file, but her tenant does not
    lines = c.expect(550, "MAIL FROM:<app@shared.example>")
    assert lines[-1] == "550 5.7.1 Sender domain not allowed for tenant acme"
    c.expect(250, "MAIL FROM:<app@alice.example>")
    c.expect(250, "RCPT TO:<a@example.net>")
    c.expect(250, "RCPT TO:<b@example.net>")
    lines = c.expect(452, "RCPT TO:<c@example.net>")
    assert lines[-1] == "452 4.5.3 tenant acme: at most 2 recipients per message"
    send_data(c, "one")
    for n in ("two", "three"):
        c.expect(250, "MAIL FROM:<app@alice.example>")
        c.expect(250, "RCPT TO:<a@example.net>")
        send_data(c, n)
    lines = c.expect(451, "MAIL FROM:<app@alice.example>")
    assert lines[-1] == ("451 4.7.1 tenant acme: rate limit of 3 messages per day reached, "
                         "try again later")
    c.close()
    assert "event=tenant_limited" in d.log_text()
    # other tenants are not limited by acme's share
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@dom.example", ["y@example.net"], message("dom"))


def test_tenant_list_and_show(tenanted):
    d = tenanted.d
    out = d.cli("tenant", "list").stdout
    assert [l.split()[:2] for l in out.splitlines()] == [["acme", "ok"], ["lan", "ok"], ["dom", "ok"]]
    show = d.cli("tenant", "show", "acme").stdout
    assert "users: alice\n" in show and "messages_per_day: 3\n" in show
    j = json.loads(d.cli("tenant", "show", "lan", "--json").stdout)
    assert j["networks"] == ["127.0.0.2/32"] and j["limits"]["messages_per_day"] == 0
    assert len(json.loads(d.cli("tenant", "list", "--json").stdout)) == 3
    r = d.cli("tenant", "show", "nobody", check=False)
    assert r.returncode == 1 and "no tenant named nobody" in r.stderr


def test_tenant_config_error_names_file_and_line(make_daemon):
    d = make_daemon(['tenants = ( { name = "a"; users = [ "u" ]; },', '{ name = "b"; users = [ "u" ]; } );'],
                    start=False)
    r = d.cli("check-config", check=False)
    assert r.returncode != 0
    assert "%s:" % d.conf in r.stderr and 'tenant b: user "u" already belongs to tenant a' in r.stderr


def test_suppression_scope_of_a_tenant(tenanted):
    d = tenanted.d
    d.cli("suppress", "add", "gone@example.net", "--scope", "user:acme", "--reason", "asked to stop")
    c = auth_client(d)
    c.expect(250, "MAIL FROM:<app@alice.example>")
    lines = c.expect(550, "RCPT TO:<gone@example.net>")
    assert "gone@example.net" in lines[-1]
    c.close()
    # another tenant's mail to the address is not refused
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("app@dom.example", ["gone@example.net"], message("dom"))


def wait_for(pred, timeout=15, what="condition"):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def try_mail(d, sender="app@alice.example"):
    c = auth_client(d)
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    c.close()
    return code, lines[-1]


def test_bounce_rate_holds_a_tenant_across_a_restart_until_released(world, users_file):
    """acme's mail bounces (550 5.1.1 at the relay): after 2 of 3 bounced, over
    the 50 % of its protect, it is held; the hold survives a restart and ends
    with outpost tenant release."""
    from peers import Behaviour
    bad = {"gone%d@example.net" % i: "550 5.1.1 <gone@example.net>: no such user" for i in range(2)}
    world.sink("127.0.0.5", Behaviour(rcpt_replies=bad))
    tenants = ('tenants = ( { name = "acme"; users = [ "alice" ];'
               '  protect = { window = "24h"; min_messages = 3; max_bounce_rate = 50; }; } );')
    d = world.daemon(routes='r1 = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; };' % world.port,
                     rules='{ via = [ "r1" ]; }', extra=['users = "%s";' % users_file, tenants])
    for rcpt in ("ok@example.net", "gone0@example.net", "gone1@example.net"):
        c = auth_client(d)
        c.expect(250, "MAIL FROM:<app@alice.example>")
        c.expect(250, "RCPT TO:<%s>" % rcpt)
        send_data(c, "to " + rcpt)
        c.close()
    wait_for(lambda: "event=tenant_held" in d.log_text(), what="the hold")
    reason = "bounce rate 66.7 % over 24h exceeds 50 %"
    assert try_mail(d) == (451, "451 4.7.1 tenant acme held: " + reason)
    show = json.loads(d.cli("tenant", "show", "acme", "--json").stdout)
    assert show["state"] == "held" and show["reason"] == reason
    assert d.cli("tenant", "list").stdout.split()[:2] == ["acme", "held"]
    # a restart does not forget it
    d.stop()
    d.start()
    assert try_mail(d)[0] == 451
    r = d.cli("tenant", "release", "acme")
    assert "tenant acme released" in r.stdout
    wait_for(lambda: try_mail(d)[0] == 250, what="the release")
    assert "event=tenant_released tenant=acme" in d.log_text()
    assert json.loads(d.cli("tenant", "show", "acme", "--json").stdout)["state"] == "ok"
    r = d.cli("tenant", "release", "acme", check=False)
    assert r.returncode == 1 and "acme is not held" in r.stderr


def test_complaint_rate_holds_a_tenant(make_daemon, tmp_path):
    """Two messages of tenant dom delivered, one complaint (ARF) about the
    first after it left the queue: 50 % > 10 %, the tenant is held."""
    from test_bounces import ARF, Loop
    tenants = ('tenants = ( { name = "dom"; domains = [ "dom.example" ];'
               '  protect = { window = "1h"; min_messages = 2; max_complaint_rate = 10; }; } );')
    loop = Loop(make_daemon, tmp_path, extra=[tenants])
    try:
        qid, got = loop.send("reader@example.net", sender="app@dom.example")
        loop.send("other@example.net", sender="app@dom.example")
        loop.report("fbl@relay.test", ARF.format(mail_from=got.mail_from, rcpt="reader@example.net", author="app@dom.example"),
                    sender="feedback@fbl.example.net")
        loop.wait_log("event=tenant_held tenant=dom")
        with smtplib.SMTP("127.0.0.1", loop.d.port) as s:
            s.ehlo()
            code, text = s.mail("app@dom.example")
        assert (code, text) == (451, b"4.7.1 tenant dom held: complaint rate 50.0 % over 1h exceeds 10 %")
    finally:
        loop.close()


def test_tenant_dkim_keys_and_relay_signature(tmp_path, make_daemon):
    """acme's mail From: example.com is signed with acme's own key for the
    domain (not the operator's key for it) plus acme's relay-domain signature
    (d=acme.relay.example); mail without a tenant gets the operator's key
    only.  Every signature verifies (dkimpy, against the test's DNS)."""
    from test_dkim import World as DkimWorld, dkimpy_results, send as dkim_send
    w = DkimWorld(tmp_path, make_daemon)
    try:
        w.key("operator", "ed25519")
        w.key("acme1", "ed25519")
        w.key("acmerelay", "ed25519", domain="acme.relay.example")
        tenants = ('tenants = ( { name = "acme"; networks = [ "127.0.0.2" ]; } );')
        d = w.daemon([("example.com", "operator", ""), ("example.com", "acme1", 'tenant = "acme"; '),
                      ("acme.relay.example", "acmerelay", 'tenant = "acme"; all = true; ')], extra=[tenants])
        with smtplib.SMTP("127.0.0.1", d.port, source_address=("127.0.0.2", 0)) as s:
            s.sendmail("app@example.com", ["user@example.net"], message("acme's").encode())
        dkim_send(d, message("nobody's"))
        got = w.sink.wait(2)
        by_subject = {}
        for m in got:
            data = m.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            by_subject[b"acme's" in data] = data
        acme, other = by_subject[True], by_subject[False]
        sigs = re.findall(rb"DKIM-Signature:[^\r]*(?:\r\n[ \t][^\r]*)*", acme)
        assert sorted(re.search(rb"s=(\w+)", s).group(1) for s in sigs) == [b"acme1", b"acmerelay"]
        assert b"d=acme.relay.example" in b"".join(sigs)
        assert dkimpy_results(w, acme) == [True, True]
        sigs = re.findall(rb"DKIM-Signature:[^\r]*(?:\r\n[ \t][^\r]*)*", other)
        assert [re.search(rb"s=(\w+)", s).group(1) for s in sigs] == [b"operator"]
        assert dkimpy_results(w, other) == [True]
    finally:
        w.stop()


def test_dkim_tenant_must_exist(make_daemon, tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("x")
    d = make_daemon(['dkim = ( { domain = "example.com"; selector = "s"; key = "%s"; tenant = "nobody"; } );' % key],
                    start=False)
    r = d.cli("check-config", check=False)
    assert r.returncode != 0 and 'dkim: tenant "nobody" is not one of tenants' in r.stderr
