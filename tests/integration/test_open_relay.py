"""Never an open relay: unauthenticated clients outside client_networks relay nothing."""
import re
import subprocess

import pytest

from conftest import RawClient, session

TRICKS = [
    "user@example.net",
    "user%example.net@relay.test",
    "user%example.net@localhost",
    "example.net!user@relay.test",
    "\"user@example.net\"@relay.test",
    "\"user%example.net\"@relay.test",
    "USER@EXAMPLE.NET",
    "user@relay.test",
    "postmaster@relay.test",
    "user@localhost",
    "user@xn--bcher-kva.example",
]

REFUSED_SYNTAX = [
    ("@relay.test:user@example.net", "553 5.1.0"),
    ("@a.test,@b.test:user@example.net", "553 5.1.0"),
    ("user@example.net.", "553 5.1.2"),
    ("user@[127.0.0.1]", "553 5.1.2"),
    ("user@[IPv6:::1]", "553 5.1.2"),
    ("user@example.net@relay.test", "553 5.1.2"),
    ("b\u00fccher@example.net", "553 5.6.7"),
]


def non_loopback_ipv4():
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    except OSError:
        return None
    ips = [a for a in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out) if not a.startswith("127.")]
    return ips[0] if ips else None


@pytest.fixture
def untrusted(make_daemon):
    # loopback is not a client network here, so the test client is a stranger
    return make_daemon(['client_networks = [ "10.0.0.0/8" ];'])


@pytest.mark.parametrize("rcpt", TRICKS)
def test_relay_denied_for_every_trick(untrusted, rcpt):
    c = session(untrusted.port)
    c.expect(250, "MAIL FROM:<someone@example.com>")
    lines = c.expect(554, "RCPT TO:<%s>" % rcpt)
    assert lines[0] == "554 5.7.1 Relay denied"
    c.expect(554, "DATA")
    c.expect(221, "QUIT")
    assert untrusted.queue() == []
    assert "event=relay_denied" in untrusted.log_text()


@pytest.mark.parametrize("rcpt,code", REFUSED_SYNTAX)
def test_routing_syntax_refused_for_everyone(daemon, rcpt, code):
    c = session(daemon.port)  # a trusted client: syntax is still refused
    c.expect(250, "MAIL FROM:<someone@example.com>")
    got, lines = c.cmd("RCPT TO:<%s>" % rcpt)
    assert lines[0].startswith(code), lines


def test_null_sender_does_not_open_the_relay(untrusted):
    c = session(untrusted.port)
    c.expect(250, "MAIL FROM:<>")
    c.expect(554, "RCPT TO:<user@example.net>")


def test_trusted_network_may_relay(daemon):
    c = session(daemon.port)
    c.expect(250, "MAIL FROM:<app@example.com>")
    c.expect(250, "RCPT TO:<user%example.net@relay.example>")
    c.expect(250, "RCPT TO:<user@example.net>")


def test_untrusted_plain_client_is_not_offered_auth(make_daemon, users_file):
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("this host has no non-loopback IPv4 address to listen on")
    d = make_daemon(['users = "%s";' % users_file, 'client_networks = [ "10.0.0.0/8" ];'],
                    listeners={"smtp": {"host": ip}})
    c = RawClient(d.port, host=ip)
    c.expect(220)
    lines = c.expect(250, "EHLO x")
    assert not any("AUTH" in l for l in lines)
    assert c.expect(538, "AUTH PLAIN AGFsaWNlAHg=")[0].startswith("538 5.7.11")
    c.expect(250, "MAIL FROM:<a@example.com>")
    c.expect(554, "RCPT TO:<user@example.net>")
