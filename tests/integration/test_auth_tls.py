"""STARTTLS, implicit TLS and AUTH PLAIN/LOGIN with the users file."""
import base64
import smtplib
import ssl
import subprocess

import pytest

from conftest import PASSWORD, RawClient, message


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


@pytest.fixture
def submission(make_daemon, tls_files, users_file):
    cert, key = tls_files
    return make_daemon(
        ['tls = { cert = "%s"; key = "%s"; };' % (cert, key), 'users = "%s";' % users_file,
         'client_networks = [ "10.0.0.0/8" ];'],
        listeners={"smtp": {}, "submission": {"tls": "starttls", "auth": "required"},
                   "smtps": {"tls": "implicit", "auth": "required"}})


def test_starttls_then_auth_plain_relays(submission):
    with smtplib.SMTP("127.0.0.1", submission.ports["submission"]) as s:
        s.ehlo("app.test")
        assert s.has_extn("starttls")
        s.starttls(context=ctx())
        s.ehlo("app.test")
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        s.login("alice", PASSWORD)
        assert s.sendmail("news@alice.example", ["user@example.net"], message()) == {}
    shown = submission.cli("queue", "show", submission.queue()[0]["id"]).stdout
    assert "with ESMTPSA" in shown and "using TLSv1.3 with cipher" in shown


def test_auth_login_over_implicit_tls(submission):
    with smtplib.SMTP_SSL("127.0.0.1", submission.ports["smtps"], context=ctx()) as s:
        s.ehlo("app.test")
        s.user, s.password = "bob", PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login)
        assert code == 235
        s.sendmail("app@bob.example", ["user@example.net"], message())
    assert submission.queue()[0]["sender"] == "app@bob.example"


def test_auth_required_before_mail_on_submission(submission):
    with smtplib.SMTP("127.0.0.1", submission.ports["submission"]) as s:
        s.starttls(context=ctx())
        s.ehlo("app.test")
        code, text = s.mail("news@alice.example")
        assert code == 530 and text.startswith(b"5.7.0")


def test_wrong_password_and_unknown_user(submission):
    with smtplib.SMTP("127.0.0.1", submission.ports["submission"]) as s:
        s.starttls(context=ctx())
        s.ehlo("app.test")
        for user, pw in (("alice", "wrong"), ("mallory", PASSWORD)):
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                s.login(user, pw)
            assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")
    assert "user=alice result=failed" in submission.log_text()


def test_sender_domain_must_belong_to_the_user(submission):
    with smtplib.SMTP("127.0.0.1", submission.ports["submission"]) as s:
        s.starttls(context=ctx())
        s.ehlo("app.test")
        s.login("bob", PASSWORD)
        code, text = s.mail("ceo@alice.example")
        assert code == 550 and text.startswith(b"5.7.1")
        code, _ = s.mail("ops@BOB.example")
        assert code == 250


def test_auth_on_loopback_plain_listener_is_offered(submission):
    c = RawClient(submission.ports["smtp"])
    c.expect(220)
    assert any("AUTH PLAIN LOGIN" in l for l in c.expect(250, "EHLO x"))
    plain = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    c.expect(235, "AUTH PLAIN " + plain)
    c.expect(503, "AUTH PLAIN " + plain)  # once per session
    c.expect(250, "MAIL FROM:<x@shared.example>")
    c.expect(250, "RCPT TO:<user@example.net>")


def test_auth_exchange_errors(submission):
    c = RawClient(submission.ports["smtp"])
    c.expect(220)
    c.expect(250, "EHLO x")
    c.expect(504, "AUTH CRAM-MD5")
    c.expect(334, "AUTH PLAIN")
    assert c.expect(501, "*")[0].startswith("501 5.7.0")
    c.expect(334, "AUTH LOGIN")
    c.expect(501, "not base64!")
    c.expect(501, "AUTH PLAIN " + base64.b64encode(b"no-nuls").decode())


def test_starttls_discards_pipelined_plaintext(submission):
    c = RawClient(submission.ports["submission"])
    c.expect(220)
    c.expect(250, "EHLO x")
    c.send("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
    c.expect(220)
    tls = ctx().wrap_socket(c.sock)
    tls.sendall(b"EHLO x\r\n")
    data = b""
    while not data.endswith(b"250 SMTPUTF8\r\n"):
        data += tls.recv(4096)
    assert b"injected" not in data and b"2.1.0" not in data
    tls.sendall(b"QUIT\r\n")


def test_swaks_auth_over_tls(submission):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(submission.ports["submission"]),
                        "--tls", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", PASSWORD,
                        "--from", "a@alice.example", "--to", "user@example.net"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(submission.queue()) == 1
