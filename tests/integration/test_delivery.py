"""Delivery end to end: the daemon, a dnslib DNS server and aiosmtpd MX hosts
and relays on loopback.  Every case checks the exact outcome: delivered once,
retried, or bounced with a DSN in the sender's mailbox."""
import email
import os
import signal
import time

import pytest

from conftest import message
from peers import DNS, Behaviour, Sink, free_port

FAST_RETRY = 'retry = { schedule = [ "1s" ]; greylist = "2s"; lifetime = "1h"; delay_notice = "0s"; };'
# one attempt, then none for the test's length: the queue stays as it is between two looks
SLOW_RETRY = 'retry = { schedule = [ "1h" ]; greylist = "1h"; lifetime = "2h"; delay_notice = "0s"; };'


def common_free_port(hosts):
    """A port free on every one of hosts (the MX hosts all listen on one port)."""
    import socket
    for _ in range(50):
        port = free_port(hosts[0])
        try:
            socks = []
            for h in hosts:
                s = socket.socket()
                socks.append(s)
                s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no common free port")


class World:
    """DNS for example.net (two MX), sender.example.org (the senders' mailbox), plus
    whatever a test adds; MX hosts on 127.0.0.2-5, all on one port."""

    def __init__(self, make_daemon, tmp_path):
        self.make_daemon = make_daemon
        self.tmp = tmp_path
        self.dns = DNS().start()
        self.port = common_free_port(["127.0.0.%d" % i for i in range(2, 7)])
        self.sinks = []
        z = self.dns.zone
        z.add("example.net", "MX", (10, "mx1.example.net"))
        z.add("example.net", "MX", (20, "mx2.example.net"))
        z.add("mx1.example.net", "A", "127.0.0.2")
        z.add("mx2.example.net", "A", "127.0.0.3")
        z.add("sender.example.org", "MX", (10, "mailbox.sender.example.org"))
        z.add("mailbox.sender.example.org", "A", "127.0.0.4")
        self.mailbox = self.sink("127.0.0.4")

    def sink(self, host, behaviour=None, **kw):
        s = Sink(host, self.port, behaviour, **kw).start()
        self.sinks.append(s)
        return s

    def daemon(self, extra=(), routes=None, rules=None, retry=FAST_RETRY):
        routes = routes or 'direct = { type = "mx"; port = %d; tls = "opportunistic"; };' % self.port
        rules = rules or '{ via = [ "direct" ]; }'
        settings = ['resolver = "%s";' % self.dns.spec, "routes = { %s };" % routes,
                    "rules = ( %s );" % rules, 'delivery = { connect_timeout = "2s"; command_timeout = "3s"; '
                    'dns_timeout = "2s"; };', retry] + list(extra)
        return self.make_daemon(settings)

    def close(self):
        for s in self.sinks:
            s.stop()
        self.dns.stop()


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def send(d, rcpts, sender="app@sender.example.org", subject="test"):
    import smtplib
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail(sender, rcpts, message(subject))


def wait_empty(d, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not d.queue():
            return True
        time.sleep(0.1)
    return False


def wait_deferred(d, timeout=15):
    """Waits until the first message's first recipient is recorded as deferred."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        q = d.queue()
        if q and q[0]["recipients"][0]["state"] == "deferred":
            return q
        time.sleep(0.1)
    raise AssertionError("never deferred; log:\n" + d.log_text()[-3000:])


def dsn_status(msg):
    """The Status: fields of a DSN's message/delivery-status part."""
    m = email.message_from_bytes(msg.data)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    parts = list(m.walk())
    ds = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert ds, "no message/delivery-status part"
    raw = ds[0].as_string()
    return [line.split(":", 1)[1].strip() for line in raw.splitlines() if line.lower().startswith("status:")]


def test_mx_delivery_one_transaction_for_two_recipients(world):
    mx1 = world.sink("127.0.0.2")
    d = world.daemon()
    send(d, ["a@example.net", "b@example.net"])
    got = mx1.wait(1)
    assert len(got) == 1 and sorted(got[0].rcpts) == ["a@example.net", "b@example.net"]
    assert got[0].mail_from == "app@sender.example.org"
    assert wait_empty(d)
    log = d.log_text()
    assert "event=delivery" in log and "result=delivered" in log and "host=mx1.example.net" in log
    time.sleep(0.5)
    assert len(mx1.messages) == 1  # delivered once


def test_next_mx_when_the_first_is_down(world):
    mx2 = world.sink("127.0.0.3")  # nothing listens on mx1
    d = world.daemon()
    send(d, ["a@example.net"])
    assert len(mx2.wait(1)) == 1
    assert wait_empty(d)


def test_no_mx_falls_back_to_the_address(world):
    world.dns.zone.add("plain.example.org", "A", "127.0.0.5")
    sink = world.sink("127.0.0.5")
    d = world.daemon()
    send(d, ["x@plain.example.org"])
    assert len(sink.wait(1)) == 1


@pytest.mark.parametrize("case,status", [("nullmx", "5.1.10"), ("nxdomain", "5.1.2")])
def test_null_mx_and_nxdomain_bounce_at_once(world, case, status):
    if case == "nullmx":
        world.dns.zone.add("nomail.example.org", "MX", (0, "."))
    d = world.daemon()
    send(d, ["x@nomail.example.org"])
    bounces = world.mailbox.wait(1)
    assert len(bounces) == 1
    assert bounces[0].mail_from in ("", "<>")  # DSNs come from the null sender
    assert bounces[0].rcpts == ["app@sender.example.org"]
    assert dsn_status(bounces[0]) == [status]
    assert wait_empty(d)


def test_per_recipient_5xx_bounces_only_that_recipient(world):
    mx1 = world.sink("127.0.0.2", Behaviour(rcpt_replies={"bad@example.net": "550 5.1.1 No such user"}))
    d = world.daemon()
    send(d, ["good@example.net", "bad@example.net"])
    assert mx1.wait(1)[0].rcpts == ["good@example.net"]
    dsn = world.mailbox.wait(1)[0]
    assert dsn_status(dsn) == ["5.1.1"]
    assert "bad@example.net" in dsn.text and "No such user" in dsn.text
    assert wait_empty(d)


def test_greylisting_is_retried_after_the_greylist_delay(world):
    mx1 = world.sink("127.0.0.2", Behaviour(greylist_once=True))
    d = world.daemon()
    send(d, ["a@example.net"])
    got = mx1.wait(1, timeout=30)
    assert len(got) == 1
    tries = [t for a, t in mx1.rcpt_attempts if a == "a@example.net"]
    assert len(tries) == 2 and tries[1] - tries[0] >= 1.8  # greylist = "2s"
    assert "result=deferred" in d.log_text()


def test_servfail_defers_then_delivers(world):
    world.dns.zone.add("flaky.example.org", "MX", "SERVFAIL")
    d = world.daemon()
    send(d, ["x@flaky.example.org"])
    deadline = time.time() + 10
    while time.time() < deadline and "4.4.3" not in d.log_text():
        time.sleep(0.1)
    q = d.queue()
    assert len(q) == 1 and q[0]["recipients"][0]["state"] == "deferred"
    # the zone is fixed: the next retry delivers
    world.dns.zone.records[("flaky.example.org", "MX")] = [(10, "mx.flaky.example.org")]
    world.dns.zone.add("mx.flaky.example.org", "A", "127.0.0.5")
    sink = world.sink("127.0.0.5")
    assert len(sink.wait(1, timeout=20)) == 1
    assert wait_empty(d)


def test_dropped_connection_in_data_is_retried_and_delivered(world):
    b = Behaviour(drop_in_data=True)
    mx1 = world.sink("127.0.0.2", b)
    world.sink("127.0.0.3", Behaviour(drop_in_data=True))
    d = world.daemon()
    send(d, ["a@example.net"])
    deadline = time.time() + 10
    while time.time() < deadline and "result=deferred" not in d.log_text():
        time.sleep(0.1)
    assert "result=deferred" in d.log_text()
    b.drop_in_data = False
    assert len(mx1.wait(1, timeout=20)) == 1
    assert wait_empty(d)


def test_relay_with_auth(world, tmp_path):
    relay = world.sink("127.0.0.5", auth=("relayuser", "relaypass"))
    secret = tmp_path / "relay.secret"
    secret.write_text("relayuser:relaypass\n")
    secret.chmod(0o600)
    d = world.daemon(routes='smarthost = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; auth = "%s"; };'
                     % (world.port, secret), rules='{ via = [ "smarthost" ]; }')
    send(d, ["a@anywhere.example", "b@elsewhere.example"])
    got = relay.wait(1)
    assert len(got) == 1 and sorted(got[0].rcpts) == ["a@anywhere.example", "b@elsewhere.example"]
    assert wait_empty(d)


def test_relay_refusing_auth_defers_with_the_reason(world, tmp_path):
    world.sink("127.0.0.5", auth=("relayuser", "relaypass"))
    secret = tmp_path / "relay.secret"
    secret.write_text("relayuser:wrong\n")
    secret.chmod(0o600)
    d = world.daemon(routes='smarthost = { type = "relay"; host = "127.0.0.5:%d"; tls = "none"; auth = "%s"; };'
                     % (world.port, secret), rules='{ via = [ "smarthost" ]; }')
    send(d, ["a@anywhere.example"])
    q = wait_deferred(d)
    assert "535" in (q[0]["recipients"][0]["last_reply"] or "")


def test_lifetime_expiry_bounces_with_dsn(world):
    d = world.daemon(extra=[], rules='{ via = [ "direct" ]; }')
    d.stop()
    d.conf.write_text(d.conf.read_text().replace('lifetime = "1h"', 'lifetime = "3s"'))
    d.start()
    send(d, ["a@example.net"])  # no MX host is listening
    dsn = world.mailbox.wait(1, timeout=20)
    assert len(dsn) == 1 and dsn_status(dsn[0]) == ["4.4.7"]
    assert wait_empty(d)


def test_null_sender_bounce_sends_no_dsn(world):
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"bad@example.net": "550 5.1.1 No such user"}))
    d = world.daemon()
    send(d, ["bad@example.net"], sender="")
    assert wait_empty(d)
    time.sleep(1)
    assert world.mailbox.messages == []
    assert "event=dsn_skipped" in d.log_text()


def test_kill9_mid_delivery_loses_nothing(world):
    b = Behaviour(stall=4)
    mx1 = world.sink("127.0.0.2", b)
    d = world.daemon()
    send(d, ["a@example.net"])
    time.sleep(1.5)  # the transaction is waiting for the DATA reply
    d.kill9()
    b.stall = 0
    d.start()
    got = mx1.wait(1, timeout=20)
    assert len(got) >= 1  # at least once: the stalled one may also have landed
    assert wait_empty(d)


def test_second_sigterm_mid_delivery_exits_clean_and_loses_nothing(world):
    """A second SIGTERM while a transaction is stalled: outpostd closes it
    at once and exits 0 (no answer owed by the spool comes to freed state;
    LeakSanitizer runs at exit); the message stays due and is delivered
    after the restart."""
    b = Behaviour(stall=30)
    mx1 = world.sink("127.0.0.2", b)
    d = world.daemon()
    send(d, ["held@example.net"])
    send(d, ["other@example.net"])
    time.sleep(1.5)  # both transactions wait for their DATA replies
    d.proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline and "event=delivery_stopping" not in d.log_text():
        time.sleep(0.05)
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(timeout=20)
    d.logf.close()
    d.proc = None
    log = d.log_text()
    assert rc == 0, log[-4000:]
    assert "action=exit_now" in log and "event=delivery_aborted" in log
    b.stall = 0
    d.start()
    got = mx1.wait(2, timeout=20)
    assert {r for m in got for r in m.rcpts} >= {"held@example.net", "other@example.net"}
    assert wait_empty(d)


def test_queue_show_has_the_attempt_history(world):
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"a@example.net": "451 4.3.0 Try later"}))
    d = world.daemon()
    send(d, ["a@example.net"])
    deadline = time.time() + 10
    while time.time() < deadline and "result=deferred" not in d.log_text():
        time.sleep(0.1)
    qid = d.queue()[0]["id"]
    shown = d.cli("queue", "show", qid).stdout
    assert "451" in shown and "mx1.example.net" in shown


def test_connection_is_reused_for_the_next_message(world):
    d = world.daemon()
    d.stop()
    d.conf.write_text(d.conf.read_text().replace("command_timeout", "max_per_destination = 1; command_timeout")
                      .replace('schedule = [ "1s" ]', 'schedule = [ "1h" ]'))
    d.start()
    import smtplib
    with smtplib.SMTP("127.0.0.1", d.port) as s:  # no MX listens yet: all four wait
        for i in range(4):
            s.sendmail("app@sender.example.org", ["r%d@example.net" % i], message("m%d" % i))
    deadline = time.time() + 10
    while time.time() < deadline and d.log_text().count("result=deferred") < 4:
        time.sleep(0.1)
    mx1 = world.sink("127.0.0.2")
    d.cli("queue", "flush")
    got = mx1.wait(4)
    assert len(got) == 4
    assert len({m.peer for m in got}) < 4  # several messages shared one connection


def test_slow_destination_does_not_hold_the_rest(world):
    world.dns.zone.add("slow.example.org", "MX", (10, "mx.slow.example.org"))
    world.dns.zone.add("mx.slow.example.org", "A", "127.0.0.5")
    slow = world.sink("127.0.0.5", Behaviour(stall=5))
    fast = world.sink("127.0.0.2")
    d = world.daemon(extra=[])
    d.stop()  # the slow MX must be able to stall past command_timeout without a retry
    d.conf.write_text(d.conf.read_text().replace('command_timeout = "3s"', 'command_timeout = "10s"'))
    d.start()
    send(d, ["a@slow.example.org"], subject="slow")
    time.sleep(0.3)
    send(d, ["b@example.net"], subject="fast")
    assert len(fast.wait(1, timeout=4)) == 1
    assert slow.messages == []  # still stalled while the other was delivered
    assert len(slow.wait(1, timeout=20)) == 1


def test_tls_verify_refuses_an_unverifiable_mx(world, tls_files):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*[str(p) for p in tls_files])
    mx1 = world.sink("127.0.0.2", tls_context=ctx)
    d = world.daemon(routes='direct = { type = "mx"; port = %d; tls = "verify"; };' % world.port)
    send(d, ["a@example.net"])
    wait_deferred(d)
    assert "4.7.5 certificate verification failed" in d.log_text() and mx1.messages == []


def test_opportunistic_tls_is_used_and_logged(world, tls_files):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*[str(p) for p in tls_files])
    mx1 = world.sink("127.0.0.2", tls_context=ctx)
    d = world.daemon()
    send(d, ["a@example.net"])
    assert len(mx1.wait(1)) == 1
    assert wait_empty(d)
    line = [l for l in d.log_text().splitlines() if "event=delivery " in l][0]
    assert 'tls="TLSv1.3' in line and "unverified" in line


def test_delay_notice_is_sent_once(world):
    d = world.daemon()
    d.stop()
    d.conf.write_text(d.conf.read_text().replace('delay_notice = "0s"', 'delay_notice = "2s"'))
    d.start()
    send(d, ["a@example.net"])  # no MX host listens: deferred again and again
    notes = world.mailbox.wait(1, timeout=20)
    assert len(notes) == 1
    m = email.message_from_bytes(notes[0].data)
    assert "Delayed" in m["Subject"]
    time.sleep(3)
    assert len(world.mailbox.messages) == 1  # once only
    assert len(d.queue()) == 1  # and the message is still queued


def test_timeout_waiting_for_the_data_reply_defers(world):
    world.sink("127.0.0.2", Behaviour(stall=6))  # command_timeout is 3s
    d = world.daemon()
    send(d, ["a@example.net"])
    deadline = time.time() + 15
    while time.time() < deadline and "result=deferred" not in d.log_text():
        time.sleep(0.1)
    assert "4.4.2" in d.log_text()


def test_relay_requiring_tls_that_is_not_offered_defers(world):
    relay = world.sink("127.0.0.5")  # no STARTTLS
    d = world.daemon(routes='smarthost = { type = "relay"; host = "127.0.0.5:%d"; tls = "required"; };'
                     % world.port, rules='{ via = [ "smarthost" ]; }')
    send(d, ["a@anywhere.example"])
    q = wait_deferred(d)
    assert "4.7" in q[0]["recipients"][0]["last_reply"] and "TLS" in q[0]["recipients"][0]["last_reply"]
    assert relay.messages == []


def test_dns_timeout_defers(world):
    world.dns.zone.add("silent.example.org", "MX", "TIMEOUT")
    d = world.daemon()
    send(d, ["x@silent.example.org"])
    q = wait_deferred(d)
    assert q[0]["recipients"][0]["last_reply"].startswith("451 4.4.3")
