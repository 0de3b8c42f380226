"""DKIM: outpost signs at acceptance (rsa-sha256 and ed25519-sha256, relaxed/relaxed,
From oversigned), the signatures verify with two independent verifiers (dkimpy and
Perl Mail::DKIM) after delivery through a relay, `outpost dkim keygen|show|verify`
work, the RFC 8463 appendix A example verifies, and the canary catches a relay that
rewrites a message.  Keys are served by a dnslib server on loopback."""
import json
import re
import smtplib
import subprocess
import time
from pathlib import Path

import dkim
import pytest
from dnslib import DNSRecord

from conftest import BIN, message
from peers import DNS, Sink

HERE = Path(__file__).parent
DOMAIN = "example.com"


def keygen(tmp, selector, ktype, domain=DOMAIN):
    out = tmp / ("%s.pem" % selector)
    r = subprocess.run([str(BIN / "outpost"), "dkim", "keygen", "--domain", domain, "--selector",
                        selector, "--type", ktype, "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r'^publish: (\S+)\. IN TXT ((?:"[^"]*" ?)+)$', r.stdout, re.M)
    assert m, r.stdout
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # a zone file's character-strings, each at most 255 octets
    strings = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(s) <= 255 for s in strings) and all(len(s) == 255 for s in strings[:-1])
    return out, m.group(1), "".join(strings)


class World:
    def __init__(self, tmp, make_daemon):
        self.tmp, self.make_daemon = tmp, make_daemon
        self.dns = DNS().start()
        self.sink = Sink().start()
        self.keys = {}

    def key(self, selector, ktype, domain=DOMAIN, publish=True):
        path, name, txt = keygen(self.tmp, selector, ktype, domain)
        if publish:
            self.dns.zone.add(name, "TXT", txt)
        self.keys[selector] = (path, name, txt)
        return path

    def daemon(self, dkim_entries, extra=()):
        entries = ", ".join('{ domain = "%s"; selector = "%s"; key = "%s"; %s}'
                            % (d, s, self.keys[s][0], more) for d, s, more in dkim_entries)
        settings = ['resolver = "%s";' % self.dns.spec,
                    'routes = { out = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };'
                    % self.sink.port,
                    'rules = ( { via = [ "out" ]; } );', "dkim = ( %s );" % entries] + list(extra)
        return self.make_daemon(settings)

    def dnsfunc(self, name, timeout=5):
        """dkimpy's key lookup, asked of the same DNS server over the wire."""
        q = DNSRecord.question(name.decode() if isinstance(name, bytes) else name, "TXT")
        a = DNSRecord.parse(q.send("127.0.0.1", self.dns.port, timeout=timeout))
        return b"".join(b"".join(rr.rdata.data) for rr in a.rr)

    def stop(self):
        self.sink.stop()
        self.dns.stop()


@pytest.fixture
def world(tmp_path, make_daemon):
    w = World(tmp_path, make_daemon)
    yield w
    w.stop()


def send(d, msg, sender="app@example.com", rcpt="user@example.net", eightbit=False):
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.ehlo("client.example.org")
        opts = ["BODY=8BITMIME"] if eightbit else []
        s.sendmail(sender, [rcpt], msg if isinstance(msg, bytes) else msg.encode(), mail_options=opts)


def delivered(world, n=1):
    got = world.sink.wait(n)
    assert len(got) >= n, "nothing delivered"
    return got[n - 1].data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dkimpy_results(world, data):
    """(pass?, signature header) for each DKIM-Signature, by dkimpy."""
    d = dkim.DKIM(data)
    n = sum(1 for line in data.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
    return [d.verify(idx=i, dnsfunc=world.dnsfunc) for i in range(n)]


def perl_results(world, data):
    r = subprocess.run(["perl", str(HERE / "dkim_verify.pl"), str(world.dns.port)], input=data,
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().split("\n")[:-1]


def assert_verifies(world, data, nsigs):
    assert data.count(b"DKIM-Signature:") == nsigs
    assert dkimpy_results(world, data) == [True] * nsigs
    perl = perl_results(world, data)
    assert len(perl) == nsigs, perl
    for line in perl:
        # Mail::DKIM in Debian 12 (1.20230212) predates its ed25519 support:
        # it can check only the rsa-sha256 signatures.
        assert line.startswith("pass ") or (
            "a=ed25519-sha256" in line and "unsupported algorithm" in line), perl
    assert any(line.startswith("pass ") for line in perl) or b"a=rsa-sha256" not in data


MESSAGES = {
    "plain": message("plain", "Hello.\r\n"),
    "folded_headers": ("From: App\r\n <app@example.com>\r\nTo: a@example.net,\r\n\tb@example.net\r\n"
                       "Subject: a subject that is folded\r\n   over two lines\r\n\r\nBody.\r\n"),
    "long_lines": message("long", ("x" * 990 + "\r\n") * 3 + "y " * 400 + "\r\n"),
    "empty_body": "From: app@example.com\r\nTo: user@example.net\r\nSubject: empty\r\n\r\n",
    "trailing_blank_lines": message("trailing", "Text.\r\n\r\n\r\n\r\n"),
    "from_like_headers": ("From: app@example.com\r\nSender: bulk@example.com\r\n"
                          "Resent-From: other@example.org\r\nReply-To: reply@example.org\r\n"
                          "To: user@example.net\r\nSubject: from-like\r\n\r\nBody.\r\n"),
    "whitespace": message("ws", "trailing spaces   \r\n\ttabs\t\r\n  two  spaces  \r\n"),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_dual_signatures_verify_with_dkimpy_and_mail_dkim(world, case):
    world.key("r2026", "rsa")
    world.key("e2026", "ed25519")
    d = world.daemon([(DOMAIN, "r2026", ""), (DOMAIN, "e2026", "")])
    send(d, MESSAGES[case])
    data = delivered(world)
    assert re.search(rb"a=rsa-sha256", data) and re.search(rb"a=ed25519-sha256", data)
    assert b"c=relaxed/relaxed" in data
    assert_verifies(world, data, 2)
    assert re.search(r"event=dkim_signed qid=\S+ domain=example.com selectors=r2026,e2026", d.log_text())


def test_8bit_body_is_converted_to_quoted_printable_then_signed(world):
    world.key("e1", "ed25519")
    d = world.daemon([(DOMAIN, "e1", "")])
    body = "Grüße aus Köln – ça va?\r\n".encode("utf-8")
    msg = (b"From: app@example.com\r\nTo: user@example.net\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
    send(d, msg, eightbit=True)
    data = delivered(world)
    assert all(b < 0x80 for b in data), "8-bit octets left after conversion"
    assert b"Content-Transfer-Encoding: quoted-printable" in data
    assert b"Gr=C3=BC=C3=9Fe" in data
    assert_verifies(world, data, 1)
    assert "converted=qp:1" in d.log_text()


def test_8bit_multipart_converts_only_the_8bit_part(world):
    world.key("r1", "rsa")
    d = world.daemon([(DOMAIN, "r1", "")])
    msg = (b"From: app@example.com\r\nTo: user@example.net\r\nSubject: mp\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\npreamble\r\n--b1\r\n'
           b"Content-Type: text/plain\r\n\r\nascii part\r\n--b1\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"caf\xc3\xa9\r\n--b1--\r\n")
    send(d, msg, eightbit=True)
    data = delivered(world)
    assert b"ascii part\r\n--b1\r\n" in data and b"caf=C3=A9" in data
    assert_verifies(world, data, 1)


def test_a_header_changed_after_signing_fails_both_verifiers(world):
    world.key("r1", "rsa")
    d = world.daemon([(DOMAIN, "r1", "")])
    send(d, message("original"))
    data = delivered(world)
    assert_verifies(world, data, 1)
    bad = data.replace(b"Subject: original", b"Subject: changed")
    assert dkimpy_results(world, bad) == [False]
    assert perl_results(world, bad)[0].startswith("fail ")


def test_from_is_oversigned_so_a_second_from_breaks_the_signature(world):
    world.key("e1", "ed25519")
    d = world.daemon([(DOMAIN, "e1", "")])
    send(d, "From: app@example.com\r\nFrom: second@example.com\r\nTo: user@example.net\r\n"
            "Subject: two froms\r\n\r\nBody.\r\n")
    data = delivered(world)
    h = re.search(rb"[;\s]h=([^;]*);", data.replace(b"\r\n\t", b"").replace(b"\r\n ", b"")).group(1)
    assert h.lower().replace(b" ", b"").split(b":").count(b"from") == 3
    assert_verifies(world, data, 1)
    top, rest = data.split(b"From: app@example.com", 1)
    added = top + b"From: evil@example.org\r\nFrom: app@example.com" + rest
    assert dkimpy_results(world, added) == [False]


def test_signing_domain_is_the_closest_parent_of_the_from_domain(world):
    world.key("r1", "rsa")
    world.key("s1", "ed25519", domain="mail.example.com")
    d = world.daemon([(DOMAIN, "r1", ""), ("mail.example.com", "s1", "")])
    send(d, "From: a@news.mail.example.com\r\nTo: u@example.net\r\nSubject: sub\r\n\r\nx\r\n",
          sender="a@news.mail.example.com")
    send(d, "From: a@example.org\r\nTo: u@example.net\r\nSubject: other\r\n\r\nx\r\n",
          sender="a@example.org")
    first, second = delivered(world, 1), delivered(world, 2)
    assert b"d=mail.example.com" in first and b"s=s1" in first and b"s=r1" not in first
    assert_verifies(world, first, 1)
    assert b"DKIM-Signature" not in second


def test_a_key_marked_all_adds_a_second_signature_for_every_message(world):
    world.key("r1", "rsa")
    world.key("t1", "ed25519", domain="relay.example.net")
    d = world.daemon([(DOMAIN, "r1", ""), ("relay.example.net", "t1", "all = true; ")])
    send(d, message("tenant"))
    data = delivered(world)
    assert b"d=example.com" in data and b"d=relay.example.net" in data
    assert_verifies(world, data, 2)


def test_unreadable_key_is_a_startup_error_naming_the_file(world, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('spool = "%s";\nlisten = ( { address = "127.0.0.1:1"; } );\n'
                    'dkim = ( { domain = "example.com"; selector = "x"; key = "%s"; } );\n'
                    % (tmp_path / "sp", tmp_path / "missing.pem"))
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert "missing.pem" in r.stderr and "event=startup_error" in r.stderr
    # check-config reads the keys too, and names the config line
    r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "check-config"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "bad.conf:3: dkim key:" in r.stderr and "missing.pem" in r.stderr


def test_dkim_show_reports_match_missing_and_mismatch(world):
    world.key("r1", "rsa")
    world.key("e1", "ed25519", publish=False)
    world.key("m1", "ed25519", publish=False)
    world.key("other", "ed25519", publish=False)
    world.dns.zone.add(world.keys["m1"][1], "TXT", world.keys["other"][2])
    d = world.daemon([(DOMAIN, "r1", ""), (DOMAIN, "e1", ""), (DOMAIN, "m1", "")])
    r = d.cli("dkim", "show", check=False)
    assert r.returncode == 1
    out = r.stdout
    assert re.search(r"r1\._domainkey\.example\.com .*\n  publish: .*\n  dns: match", out)
    assert re.search(r"e1\._domainkey\.example\.com .*\n  publish: .*\n  dns: missing", out)
    assert re.search(r"m1\._domainkey\.example\.com .*\n  publish: .*\n  dns: mismatch \(the published key is another key\)", out)
    # the 2048-bit RSA record, as a zone file takes it: 255-octet strings
    (rsa,) = re.findall(r"^  publish: r1\._domainkey\.example\.com\. IN TXT (.*)$", out, re.M)
    strings = re.findall(r'"([^"]*)"', rsa)
    assert len(strings) == 2 and len(strings[0]) == 255 and "".join(strings) == world.keys["r1"][2]


def test_dkim_verify_command_passes_then_fails_after_a_body_change(world, tmp_path):
    world.key("r1", "rsa")
    world.key("e1", "ed25519")
    d = world.daemon([(DOMAIN, "r1", ""), (DOMAIN, "e1", "")])
    send(d, message("cli", "line one\r\nline two\r\n"))
    data = delivered(world)
    f = tmp_path / "m.eml"
    f.write_bytes(data)
    r = d.cli("dkim", "verify", str(f), "--resolver", world.dns.spec, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("pass: d=example.com") == 2
    f.write_bytes(data.replace(b"line two", b"line 2"))
    r = d.cli("dkim", "verify", str(f), "--resolver", world.dns.spec, check=False)
    assert r.returncode == 1
    assert r.stdout.count("reason=body hash mismatch") == 2


RFC8463_MESSAGE = """DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :
 subject : date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=test; t=1528637909; h=from : to : subject :
 date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3
 DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz
 dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=
From: Joe SixPack <joe@football.example.com>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
Message-ID: <20030712040037.46341.5F8J@football.example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
"""
RFC8463_ED = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8463_RSA = ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR",
               "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC",
               "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3",
               "Ip3G+2kryOTIKT+l/K4w3QIDAQAB"]


def test_rfc8463_appendix_a_example_verifies(tmp_path):
    dns = DNS().start()
    try:
        dns.zone.add("brisbane._domainkey.football.example.com", "TXT", RFC8463_ED)
        dns.zone.add("test._domainkey.football.example.com", "TXT", RFC8463_RSA)
        f = tmp_path / "rfc8463.eml"
        f.write_text(RFC8463_MESSAGE)       # LF lines: the command reads them as CRLF
        run = lambda: subprocess.run([str(BIN / "outpost"), "dkim", "verify", str(f), "--resolver",
                                      dns.spec], capture_output=True, text=True)
        r = run()
        assert r.returncode == 0, r.stdout + r.stderr
        assert "pass: d=football.example.com s=brisbane a=ed25519-sha256" in r.stdout
        assert "pass: d=football.example.com s=test a=rsa-sha256" in r.stdout
        f.write_text(RFC8463_MESSAGE.replace("Is dinner ready?", "Is dinner ready!"))
        r = run()
        assert r.returncode == 1 and r.stdout.count("fail:") == 2
    finally:
        dns.stop()


# --- canary: the probe goes out through the relay route and comes back to outpost ---

class CanaryRelay:
    """A relay provider: takes the probe and delivers it to the canary mailbox,
    which is outpost's own listener; rewrite(bytes) -> bytes models a relay that
    changes what it forwards."""

    def __init__(self, rewrite=None):
        self.sink = Sink()
        self.rewrite = rewrite or (lambda b: b)
        self.target = None
        orig = self.sink.controller.handler.handle_DATA

        async def handle_DATA(server, session, envelope):
            reply = await orig(server, session, envelope)
            data = self.rewrite(envelope.original_content or envelope.content)
            with smtplib.SMTP("127.0.0.1", self.target) as s:
                s.sendmail(envelope.mail_from, envelope.rcpt_tos, data)
            return reply
        self.sink.controller.handler.handle_DATA = handle_DATA


@pytest.mark.parametrize("case,rewrite,result,reason", [
    ("faithful", None, "pass", "2 signatures verified"),
    ("subject_rewritten", lambda b: b.replace(b"Subject: outpost canary", b"Subject: [EXT] outpost canary"),
     "fail", "signature verification failed"),
    ("body_line_rewritten", lambda b: b.replace(b"This probe checks", b"This probe verifies"),
     "fail", "body hash mismatch"),
    ("body_footer_added", lambda b: b + b"-- \r\nSent through a relay\r\n", "fail", "body hash mismatch"),
])
def test_canary_catches_a_relay_that_rewrites_the_message(world, case, rewrite, result, reason):
    world.key("r1", "rsa")
    world.key("e1", "ed25519")
    relay = CanaryRelay(rewrite)
    relay.sink.start()
    try:
        entries = ", ".join('{ domain = "example.com"; selector = "%s"; key = "%s"; }'
                            % (s, world.keys[s][0]) for s in ("r1", "e1"))
        d = world.make_daemon(['resolver = "%s";' % world.dns.spec,
                               'routes = { provider = { type = "relay"; host = "127.0.0.1:%d"; '
                               'tls = "none"; }; };' % relay.sink.port,
                               'rules = ( { via = [ "provider" ]; } );', "dkim = ( %s );" % entries,
                               'canary = { address = "canary@canary.example.org"; interval = "1h"; };'],
                              start=False)
        relay.target = d.ports["smtp"]
        d.start()
        deadline = time.time() + 30
        while time.time() < deadline and "event=canary " not in d.log_text():
            time.sleep(0.1)
        log = d.log_text()
        m = re.search(r"event=canary qid=\S+ route=(\S+) result=(\S+) reason=(.*)", log)
        assert m, log[-3000:]
        assert m.group(1) == "provider" and m.group(2) == result
        assert reason in m.group(3)
        assert "event=canary_sent" in log
        # the probe came back to the mailbox and was not queued again
        assert len(relay.sink.messages) == 1
        while time.time() < deadline and d.queue():
            time.sleep(0.1)
        assert d.queue() == []
        # the verdict reaches route health: a relay that breaks signatures is degraded
        want = "healthy" if result == "pass" else "degraded"
        state = None
        while time.time() < deadline + 10:
            state = [r for r in json.loads(d.cli("routes", "--json").stdout)["routes"]
                     if r["name"] == "provider"][0]
            if state["state"] == want:
                break
            time.sleep(0.2)
        assert state["state"] == want, state
        if result != "pass":
            assert reason in [p for p in state["paths"] if p["class"] == "*"][0]["reason"]
    finally:
        relay.sink.stop()
