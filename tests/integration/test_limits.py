"""Every input has a cap and a defined reply."""
import socket
import time

import pytest

from conftest import RawClient, session


def test_command_line_over_512_octets(daemon):
    c = session(daemon.port)
    # 506 + "NOOP " = 511 octets + CRLF = 513: one too many
    assert c.expect(500, "NOOP " + "x" * 506)[0] == "500 5.5.2 Line too long"
    c.expect(250, "NOOP " + "x" * 505)              # 510 + CRLF = 512 is allowed
    c.send("NOOP " + "y" * 5000)                      # no line end at all yet
    time.sleep(0.2)
    c.send("\r\n")
    assert c.reply()[1][0] == "500 5.5.2 Line too long"
    c.expect(250, "NOOP")                             # the next line is read normally


def test_text_line_over_1000_octets_is_accepted_and_reencoded(daemon):
    c = session(daemon.port)
    c.start_data()
    c.send("Subject: long\r\n\r\n" + "x" * 998 + "\r\n" + "y" * 999 + "\r\n.\r\n")
    assert c.reply()[1][0].startswith("250 2.0.0")
    c.expect(250, "NOOP")
    assert len(daemon.queue()) == 1
    # the long line is made to fit (quoted-printable) before it is queued
    assert "event=message_converted" in daemon.log_text()
    assert "converted=qp:1,mime-version-added:1" in daemon.log_text()


def test_text_line_of_exactly_1000_octets_is_accepted(daemon):
    c = session(daemon.port)
    c.start_data()
    c.send("Subject: long\r\n\r\n" + "x" * 998 + "\r\n.\r\n")
    c.expect(250)


def test_message_size_cap_in_data(make_daemon):
    d = make_daemon(['inbound = { max_message_size = "16K"; };'])
    c = session(d.port)
    c.start_data()
    c.send("Subject: big\r\n\r\n" + ("z" * 78 + "\r\n") * 300 + ".\r\n")
    assert c.reply()[1][0].startswith("552 5.3.4")
    # the session survives and a small message is still accepted
    c.start_data()
    c.send("Subject: small\r\n\r\nok\r\n.\r\n")
    c.expect(250)
    assert len(d.queue()) == 1


def test_recipient_cap(make_daemon):
    d = make_daemon(["inbound = { max_recipients = 3; };"])
    c = session(d.port)
    c.expect(250, "MAIL FROM:<a@example.com>")
    for i in range(3):
        c.expect(250, "RCPT TO:<r%d@example.net>" % i)
    assert c.expect(452, "RCPT TO:<r3@example.net>")[0].startswith("452 4.5.3")
    c.expect(354, "DATA")
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    c.expect(250)
    assert len(d.queue()[0]["recipients"]) == 3


def test_sessions_per_ip_and_in_total(make_daemon):
    d = make_daemon(["inbound = { max_sessions = 4; max_sessions_per_ip = 2; };"])
    a, b = RawClient(d.port), RawClient(d.port)
    a.expect(220)
    b.expect(220)
    third = RawClient(d.port)
    code, lines = third.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0"), lines
    assert third.closed()
    a.expect(221, "QUIT")
    time.sleep(0.2)
    again = RawClient(d.port)
    again.expect(220)


def test_total_session_cap(make_daemon):
    d = make_daemon(["inbound = { max_sessions = 2; max_sessions_per_ip = 10; };"])
    a, b = RawClient(d.port), RawClient(d.port)
    a.expect(220)
    b.expect(220)
    c = RawClient(d.port)
    assert c.reply()[1][0].startswith("421 4.7.0")


def test_idle_timeout(make_daemon):
    d = make_daemon(['inbound = { idle_timeout = "1s"; };'])
    c = session(d.port)
    time.sleep(1.5)
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.4.2"), lines
    assert c.closed()


def test_session_time_limit(make_daemon):
    d = make_daemon(['inbound = { session_timeout = "2s"; };'])
    c = session(d.port)
    deadline = time.time() + 8
    code, lines = 250, []
    while code == 250 and time.time() < deadline:  # busy, never idle
        code, lines = c.cmd("NOOP")
        time.sleep(0.3)
    assert code == 421 and "Session time limit" in lines[0], lines


def test_too_many_errors_disconnects(make_daemon):
    d = make_daemon(["inbound = { max_errors = 3; };"])
    c = session(d.port)
    c.expect(500, "BOGUS 1")
    c.expect(500, "BOGUS 2")
    assert c.expect(500, "BOGUS 3")
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0"), lines
    assert c.closed()
