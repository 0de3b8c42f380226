"""Odd mail an app may send, signed all the same (or refused with a clear reply when
no relay could send it): lines over 1000 octets, 8-bit headers of an attached message,
no header/body separator, header lines over 998 octets, a bare CR in a header value, an
encoded-word display name in From:, NUL octets, MIME nested 60 deep, and DKIM-Signature
fields the message already carries.  Every signed message is delivered to an aiosmtpd
receiver and verified by dkimpy and Mail::DKIM (test_dkim.assert_verifies)."""
import email
import email.policy
import re

import pytest

from conftest import RawClient, message
from test_dkim import DOMAIN, assert_verifies, delivered, perl_results, send, world  # noqa: F401 (fixture)


@pytest.fixture
def signing(world):
    world.key("r1", "rsa")
    world.key("e1", "ed25519")
    world.d = world.daemon([(DOMAIN, "r1", ""), (DOMAIN, "e1", "")])
    return world


def raw_data(d, data):
    """The reply to DATA text sent exactly as given (bare CR, NUL...)."""
    c = RawClient(d.port)
    c.expect(220)
    c.expect(250, "EHLO app.example.org")
    c.start_data("app@example.com", "user@example.net")
    c.send(data + b".\r\n")
    code, lines = c.reply()
    c.close()
    return code, lines


def seven_bit_and_short(data):
    assert all(b < 0x80 for b in data.split(b"\r\n\r\n", 1)[1]), "8-bit octets left in the body"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_long_lines_are_reencoded_and_signed(signing):
    html = "<p>" + "Newsletter text without any line break, " * 80 + "</p>\r\n"
    csv = ",".join("col%d" % i for i in range(400)) + "\r\n"
    msg = ("From: app@example.com\r\nTo: user@example.net\r\nSubject: long lines\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
           "Content-Type: text/html; charset=us-ascii\r\n\r\n" + html +
           "--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + csv + "--b1--\r\n")
    send(signing.d, msg)
    data = delivered(signing)
    seven_bit_and_short(data)
    assert_verifies(signing, data, 2)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    assert parts[0]["Content-Transfer-Encoding"] == "quoted-printable"
    # the CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)
    assert parts[0].get_content() == html[:-2]
    assert parts[1]["Content-Transfer-Encoding"] == "base64"
    assert parts[1].get_content() == csv[:-2].encode()
    assert re.search(r"event=dkim_signed qid=\S+ domain=example.com selectors=r1,e1 converted=qp:1,base64:1",
                     signing.d.log_text())


def test_single_part_long_line_without_mime_version(signing):
    body = "x" * 2500 + "\r\n"
    send(signing.d, "From: app@example.com\r\nTo: user@example.net\r\nSubject: php mail()\r\n\r\n" + body)
    data = delivered(signing)
    seven_bit_and_short(data)
    assert b"MIME-Version: 1.0\r\n" in data
    assert b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n" in data
    content = email.message_from_bytes(data, policy=email.policy.default).get_content()
    assert content.replace("\r\n", "\n") == body.replace("\r\n", "\n")
    assert_verifies(signing, data, 2)


def test_8bit_subject_of_an_attached_message_is_encoded_not_left_unsigned(signing):
    msg = ("From: app@example.com\r\nTo: user@example.net\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n'
           "see attached\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n"
           "From: Jörg <j@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n--b1--\r\n").encode()
    send(signing.d, msg, eightbit=True)
    data = delivered(signing)
    assert all(b < 0x80 for b in data)
    assert_verifies(signing, data, 2)
    inner = [p for p in email.message_from_bytes(data, policy=email.policy.default).walk()
             if p.get_content_type() == "message/rfc822"][0].get_payload()[0]
    assert str(inner["Subject"]) == "Grüße aus Köln"
    assert inner["From"].addresses[0].display_name == "Jörg"
    log = signing.d.log_text()
    assert "event=dkim_failed" not in log and "header-encoded:2" in log


def test_no_header_body_separator(signing):
    send(signing.d, "From: app@example.com\r\nTo: user@example.net\r\nSubject: no separator\r\n"
                    "this line is text, not a header\r\nand this one\r\n")
    data = delivered(signing)
    assert b"Subject: no separator\r\n\r\nthis line is text" in data
    assert_verifies(signing, data, 2)
    assert "separator-added:1" in signing.d.log_text()


def test_header_lines_over_998_are_folded_or_refused(signing):
    rcpts = ", ".join("user%03d@example.net" % i for i in range(100))
    send(signing.d, "From: app@example.com\r\nTo: %s\r\nSubject: many\r\n\r\nx\r\n" % rcpts)
    data = delivered(signing)
    seven_bit_and_short(data)
    assert_verifies(signing, data, 2)
    unfolded = re.sub(rb"\r\n[ \t]", b" ", data.split(b"\r\n\r\n")[0])
    assert b"To: " + rcpts.encode() in unfolded
    code, lines = raw_data(signing.d, b"From: app@example.com\r\nX-Token: " + b"a" * 1200 +
                           b"\r\n\r\nx\r\n")
    assert code == 554 and lines[0] == ("554 5.6.0 Message refused: a header line (X-Token) is longer "
                                        "than 998 octets with no whitespace to fold at")
    assert "event=message_refused" in signing.d.log_text()


def test_bare_cr_in_a_header_value_is_refused(signing):
    code, lines = raw_data(signing.d, b"From: app@example.com\r\nSubject: a\rb\r\n\r\nx\r\n")
    assert code == 550 and lines[0].startswith("550 5.6.0 Message refused: bare LF or bare CR")
    assert signing.d.queue() == []


def test_from_with_an_encoded_word_display_name(signing):
    send(signing.d, "From: =?utf-8?B?SsO2cmcgTcO8bGxlcg==?= <app@news.example.com>\r\n"
                    "To: user@example.net\r\nSubject: ew\r\n\r\nx\r\n", sender="app@news.example.com")
    data = delivered(signing)
    assert b"d=example.com" in data
    assert_verifies(signing, data, 2)


def test_nul_octets_are_refused(signing):
    code, lines = raw_data(signing.d, b"From: app@example.com\r\nSubject: nul\r\n\r\na\0b\r\n")
    assert code == 554 and lines[0] == "554 5.6.0 Message refused: message contains NUL octets"
    assert signing.d.queue() == []


def test_mime_nested_deeper_than_50_is_refused_and_40_is_signed(signing):
    def nested(depth):
        m = "From: app@example.com\r\nTo: user@example.net\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
        for i in range(depth):
            m += "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        m += "Content-Type: text/plain\r\n\r\nleaf\r\n"
        for i in reversed(range(depth)):
            m += "--b%d--\r\n" % i
        return m.encode()
    code, lines = raw_data(signing.d, nested(60))
    assert code == 554 and lines[0] == "554 5.6.0 Message refused: MIME parts nested deeper than 50 levels"
    assert signing.d.queue() == []
    send(signing.d, nested(40))
    assert_verifies(signing, delivered(signing), 2)


def test_dkim_signatures_already_there_are_kept_and_ours_go_on_top(signing):
    theirs = ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=esp.example; s=x;\r\n"
              " h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n")
    send(signing.d, theirs + "From: app@example.com\r\nTo: user@example.net\r\nSubject: resigned\r\n\r\nx\r\n")
    data = delivered(signing)
    sigs = re.findall(rb"^DKIM-Signature:.*?d=([^;]+)", re.sub(rb"\r\n[ \t]", b" ", data), re.M)
    assert sigs == [b"example.com", b"example.com", b"esp.example"]
    assert theirs.encode() in data
    assert_verifies_ours(signing, data)


def assert_verifies_ours(world, data):
    """Our two signatures (the first two fields) pass dkimpy; theirs cannot here."""
    import dkim
    v = dkim.DKIM(data)
    assert [v.verify(idx=i, dnsfunc=world.dnsfunc) for i in range(2)] == [True, True]


# --- outpost's own mail: DSNs and delay notices from MAILER-DAEMON@hostname ---

def test_dsns_and_delay_notices_are_signed_with_the_hostnames_key(world):
    """The daemon's hostname is relay.test (conftest); its key signs outpost's own mail."""
    world.key("r1", "rsa")
    world.key("h1", "rsa", domain="relay.test")
    world.key("h2", "ed25519", domain="relay.test")
    world.sink.behaviour.rcpt_replies = {"bad@example.net": "550 5.1.1 No such user",
                                         "slow@example.net": "451 4.3.0 Local error in processing"}
    d = world.daemon([(DOMAIN, "r1", ""), ("relay.test", "h1", ""), ("relay.test", "h2", "")],
                     extra=['retry = { schedule = [ "1s" ]; lifetime = "1d"; delay_notice = "1s"; };'])
    # the original's own header holds 8-bit octets: the DSN quotes it, so is made 7-bit first
    send(d, "From: app@example.com\r\nTo: bad@example.net\r\nSubject: Grüße\r\n\r\nx\r\n".encode(),
         rcpt="bad@example.net", eightbit=True)
    send(d, message("slow"), rcpt="slow@example.net")
    got = world.sink.wait(2, timeout=30)
    notices = [m for m in got if m.mail_from in ("", "<>")]
    assert len(notices) == 2, [m.mail_from for m in got]
    kinds = set()
    for m in notices:
        data = m.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert b"From: Mail Delivery System <MAILER-DAEMON@relay.test>" in data
        unfolded = re.sub(rb"\r\n[ \t]", b" ", data)
        assert re.search(rb"d=relay\.test;\s+s=h1", unfolded) and re.search(rb"d=relay\.test;\s+s=h2", unfolded)
        assert all(b < 0x80 for b in data)
        assert_verifies_ours(world, data)   # (the quoted original header has its own)
        perl = [l for l in perl_results(world, data) if "d=relay.test" in l]
        assert len(perl) == 2 and any(l.startswith("pass ") and "a=rsa-sha256" in l for l in perl), perl
        kinds.add(re.search(rb"Action: (\w+)", data).group(1))
    assert kinds == {b"failed", b"delayed"}
    log = d.log_text()
    assert log.count('dkim="domain=relay.test selectors=h1,h2"') == 2
    r = d.cli("check-config")
    assert "warning" not in r.stderr


def test_check_config_and_doctor_say_when_no_key_signs_outposts_own_mail(world):
    world.key("r1", "rsa")
    d = world.daemon([(DOMAIN, "r1", "")])
    r = d.cli("check-config")
    assert ("warning: no DKIM key for hostname relay.test or a parent domain: DSNs and delay notices "
            "from MAILER-DAEMON@relay.test leave unsigned") in r.stderr
    r = d.cli("doctor", "relay.test", "--ip", "192.0.2.1", "--json", "--resolver", world.dns.spec,
              "--timeout-ms", "2000", check=False)
    import json
    own = [f for f in json.loads(r.stdout)["findings"] if "MAILER-DAEMON@relay.test" in f["subject"]]
    assert len(own) == 1 and own[0]["status"] == "warn", own
    assert "no DKIM key for relay.test" in own[0]["evidence"]


def test_php_mail_through_sendmail_with_a_long_line(signing):
    """What PHP's mail() hands sendmail: LF lines, no MIME, one line of 5000 octets."""
    body = "<html><body>" + "<td>cell</td>" * 380 + "</body></html>\n"
    r = signing.d.cli("sendmail", "-t", "-i", "-f", "app@example.com",
                      input="To: user@example.net\nFrom: app@example.com\nSubject: report\n\n" + body)
    assert r.returncode == 0, r.stderr
    data = delivered(signing)
    seven_bit_and_short(data)
    assert_verifies(signing, data, 2)
    content = email.message_from_bytes(data, policy=email.policy.default).get_content()
    assert content.replace("\r\n", "\n") == body
