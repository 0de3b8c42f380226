"""Issue 11 item 7, the delivery side: a domain whose MX is outpost itself (its
MX host resolves to outpost's own listener address, and the mx route's port is
that listener's) must bounce at once with 5.4.6 "loops back to myself", as
Postfix does, not send the mail back into outpost for ever.  dnslib answers the
MX; the sender's mailbox (for the DSN) is an aiosmtpd sink on 127.0.0.4."""
import smtplib
import time

from conftest import message
from test_delivery import World, FAST_RETRY, dsn_status  # noqa: F401
import pytest


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


def loop_daemon(world, extra_rules=""):
    """A daemon whose mx route uses its own SMTP port: known only once the Daemon
    has chosen it, so the config is written with a placeholder and fixed up."""
    world.dns.zone.add("loop.example", "MX", (10, "self.loop.example"))
    world.dns.zone.add("self.loop.example", "A", "127.0.0.1")
    settings = ['resolver = "%s";' % world.dns.spec,
                'routes = { direct = { type = "mx"; port = SELFPORT; tls = "none"; }; '
                'mailbox = { type = "mx"; port = %d; tls = "none"; }; };' % world.port,
                'rules = ( { recipient_domain = "sender.example.org"; via = [ "mailbox" ]; }, '
                '{ via = [ "direct" ]; } );',
                'delivery = { connect_timeout = "2s"; command_timeout = "3s"; dns_timeout = "2s"; };',
                FAST_RETRY]
    d = world.make_daemon(settings, start=False)
    d.conf.write_text(d.conf.read_text().replace("SELFPORT", str(d.port)))
    return d.start()


def test_mx_that_is_ourselves_bounces_with_5_4_6(world):
    d = loop_daemon(world)
    with smtplib.SMTP("127.0.0.1", d.port, timeout=20) as s:
        s.sendmail("app@sender.example.org", ["u@loop.example", "v@loop.example"], message("loop"))
    dsns = world.mailbox.wait(1, timeout=20)
    assert len(dsns) == 1, d.log_text()[-3000:]
    assert dsns[0].mail_from in ("", "<>") and dsns[0].rcpts == ["app@sender.example.org"]
    assert dsn_status(dsns[0]) == ["5.4.6", "5.4.6"]
    assert b"loops back to myself" in dsns[0].data
    deadline = time.time() + 10
    while time.time() < deadline and d.queue():
        time.sleep(0.1)
    assert d.queue() == []
    log = d.log_text()
    assert "event=mail_loop " in log
    # the message was never handed back to outpost: one message queued, one DSN
    queued = [l for l in log.splitlines() if "event=queued " in l and "from=<app@sender.example.org>" in l]
    assert len(queued) == 1, log[-3000:]
