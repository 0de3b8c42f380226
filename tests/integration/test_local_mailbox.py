"""Local mailboxes (inbound/local_dispatch.c): addresses outpost consumes itself
instead of queuing. The canary mailbox is one: a stranger may send to it (and
only to it: never an open relay), its mail goes to the handler, nothing is queued,
and a local mailbox is the only recipient of its transaction."""
import re

import pytest

from conftest import session, message

CANARY = "canary@canary.example.org"


@pytest.fixture
def stranger_daemon(make_daemon):
    # loopback is not a client network: the test client is a stranger
    return make_daemon(['client_networks = [ "10.0.0.0/8" ];',
                        'canary = { address = "%s"; interval = "1h"; };' % CANARY])


def send_local(c, rcpt):
    c.expect(250, "MAIL FROM:<probe@example.com>")
    c.expect(250, "RCPT TO:<%s>" % rcpt)
    c.expect(354, "DATA")
    return c.expect(250, message("local mailbox") + ".")


@pytest.mark.parametrize("rcpt", [CANARY, CANARY.upper()])
def test_a_stranger_may_send_to_a_local_mailbox_and_nothing_is_queued(stranger_daemon, rcpt):
    c = session(stranger_daemon.port)
    lines = send_local(c, rcpt)
    assert lines[0].startswith("250 2.0.0 Ok: canary probe received as ")
    c.expect(221, "QUIT")
    assert stranger_daemon.queue() == []
    log = stranger_daemon.log_text()
    assert re.search(r"event=local_delivery qid=\S+ mailbox=canary client=127\.0\.0\.1 "
                     r"from=<probe@example.com> rcpt=<%s> size=\d+ reply=" % re.escape(rcpt), log, re.I)


def test_a_stranger_may_send_nowhere_else(stranger_daemon):
    c = session(stranger_daemon.port)
    send_local(c, CANARY)
    # the next transaction of the same session is relaying again: denied
    c.expect(250, "MAIL FROM:<probe@example.com>")
    assert c.expect(554, "RCPT TO:<user@example.net>")[0] == "554 5.7.1 Relay denied"
    # a local mailbox first does not open the door for a second recipient
    c.expect(250, "RSET")
    c.expect(250, "MAIL FROM:<probe@example.com>")
    c.expect(250, "RCPT TO:<%s>" % CANARY)
    assert c.expect(452, "RCPT TO:<user@example.net>")[0].startswith("452 4.5.3 ")
    # a lookalike of the mailbox is not the mailbox
    c.expect(250, "RSET")
    c.expect(250, "MAIL FROM:<probe@example.com>")
    c.expect(554, "RCPT TO:<canary@canary.example.org.evil.test>")
    c.expect(554, "RCPT TO:<xcanary@canary.example.org>")
    c.expect(221, "QUIT")
    assert stranger_daemon.queue() == []


def test_a_trusted_client_sends_local_and_queued_mail_in_separate_transactions(make_daemon):
    d = make_daemon(['canary = { address = "%s"; interval = "1h"; };' % CANARY])
    c = session(d.port)
    c.expect(250, "MAIL FROM:<app@example.com>")
    c.expect(250, "RCPT TO:<user@example.net>")
    assert c.expect(452, "RCPT TO:<%s>" % CANARY)[0].startswith("452 4.5.3 ")
    c.expect(354, "DATA")
    c.expect(250, message() + ".")
    send_local(c, CANARY)
    c.expect(221, "QUIT")
    q = d.queue()
    assert len(q) == 1
    assert "local_delivery" in d.log_text()


def test_mail_for_a_local_mailbox_passes_the_same_checks(stranger_daemon):
    """A bare LF is refused for a local mailbox as for queued mail: the handler never runs."""
    c = session(stranger_daemon.port)
    c.expect(250, "MAIL FROM:<probe@example.com>")
    c.expect(250, "RCPT TO:<%s>" % CANARY)
    c.expect(354, "DATA")
    c.send("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
    assert c.expect(550)[0].startswith("550 5.6.0")
    c.expect(221, "QUIT")
    assert "event=local_delivery" not in stranger_daemon.log_text()
