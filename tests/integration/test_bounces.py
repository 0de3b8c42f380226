"""The feedback loop end to end: outpost sends through an aiosmtpd relay that
accepts, the test then mails reports back to outpost's bounce address (its
own listener, as a stranger would), and checks what outpost made of them:
the suppression list, the RCPT reply for the next message, route health,
and what it refused to act on (forged and unrelated reports, auto-replies)."""
import json
import smtplib
import time

import pytest

from conftest import message
from peers import Behaviour, Sink, free_port

BOUNCE_DOMAIN = "bounces.relay.test"


class Loop:
    def __init__(self, make_daemon, tmp_path, extra=(), behaviour=None):
        self.relay = Sink("127.0.0.1", free_port(), behaviour).start()
        key = tmp_path / "bounce.key"
        key.write_bytes(b"k" * 32)
        key.chmod(0o600)
        settings = [
            'routes = { r = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };' % self.relay.port,
            'rules = ( { via = [ "r" ]; } );',
            'retry = { schedule = [ "1s" ]; lifetime = "1h"; };',
            'bounces = { domain = "%s"; secret_file = "%s"; report_addresses = [ "fbl@relay.test" ]; };'
            % (BOUNCE_DOMAIN, key),
        ] + list(extra)
        self.d = make_daemon(settings)

    def send(self, rcpt, sender="app@sender.example.org", subject="hello"):
        """Queue one message, wait until the relay has it; its queue id and envelope sender."""
        before = len(self.relay.messages)
        with smtplib.SMTP("127.0.0.1", self.d.port) as s:
            s.sendmail(sender, [rcpt], message(subject=subject))
        self.relay.wait(before + 1)
        got = self.relay.messages[before]
        qid = got.mail_from.split("+")[1]
        wait_gone(self.d, qid)
        return qid, got

    def report(self, rcpt_to, text, sender=""):
        """Mail a report to outpost's own listener, as a remote MTA would."""
        with smtplib.SMTP("127.0.0.1", self.d.port) as s:
            s.sendmail(sender, [rcpt_to], text.replace("\n", "\r\n").encode())

    def wait_log(self, what, count=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.d.log_text().count(what) >= count:
                return
            time.sleep(0.1)
        raise AssertionError("no %r in the log:\n%s" % (what, self.d.log_text()[-3000:]))

    def suppressed(self, addr, scope=None):
        args = ["suppress", "show", addr, "--json"] + (["--scope", scope] if scope else [])
        r = self.d.cli(*args, check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def rcpt_reply(self, rcpt, sender="app@sender.example.org"):
        with smtplib.SMTP("127.0.0.1", self.d.port) as s:
            s.ehlo()
            s.mail(sender)
            return s.rcpt(rcpt)

    def close(self):
        self.relay.stop()


def wait_gone(d, qid, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(m["id"] != qid for m in d.queue()):
            return
        time.sleep(0.1)
    raise AssertionError("message %s still queued" % qid)


@pytest.fixture
def loop(make_daemon, tmp_path):
    lp = Loop(make_daemon, tmp_path)
    yield lp
    lp.close()


def ndr_exchange(verp, rcpt, qid):
    return f"""From: postmaster@mx.example.net
To: {verp}
Subject: Undeliverable: hello
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Delivery has failed to these recipients or groups:

{rcpt}
The email address you entered couldn't be found.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns;mx.example.net

Final-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {rcpt} not found by SMTP address lookup

--b
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: app@sender.example.org
To: {rcpt}
Subject: hello

--b--
"""


def dsn(verp, rcpt, status, diag, action="failed"):
    return f"""From: MAILER-DAEMON@mx.example.net
To: {verp}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="z"

--z
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--z
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {rcpt}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diag}

--z--
"""


def test_exchange_ndr_and_rfc3464_dsn_suppress_and_the_next_message_is_refused(loop):
    qid, got = loop.send("gone@example.net")
    verp = got.mail_from
    assert verp.startswith("b+%s+" % qid) and verp.endswith("@" + BOUNCE_DOMAIN)
    loop.report(verp, ndr_exchange(verp, "gone@example.net", qid))
    loop.wait_log("event=suppressed qid=%s rcpt=<gone@example.net>" % qid)
    s = loop.suppressed("gone@example.net")
    assert s["reason"] == "userunknown" and s["source"] == "bounce" and s["expires"] is None
    code, text = loop.rcpt_reply("gone@example.net")
    assert code == 550
    assert b"5.1.10 <gone@example.net>: suppressed since" in text and b"after a hard bounce" in text
    assert "event=rcpt_suppressed" in loop.d.log_text()

    qid2, got2 = loop.send("nobody@example.net")
    loop.report(got2.mail_from, dsn(got2.mail_from, "nobody@example.net", "5.1.1",
                                    "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown"))
    loop.wait_log("event=suppressed qid=%s rcpt=<nobody@example.net>" % qid2)
    code, text = loop.rcpt_reply("nobody@example.net")
    assert code == 550 and b"5.1.1 <nobody@example.net>: suppressed since" in text
    assert b"(5.1.1 user unknown)" in text


# An ARF complaint (RFC 5965) about a message from author to rcpt.
ARF = """From: feedback@fbl.example.net
To: fbl@relay.test
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="f"

--f
Content-Type: text/plain

This is an abuse report.

--f
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
Original-Mail-From: <{mail_from}>
Original-Rcpt-To: <{rcpt}>

--f
Content-Type: message/rfc822

Return-Path: <{mail_from}>
From: {author}
To: {rcpt}
Subject: hello

hi
--f--
"""


def test_arf_complaint_suppresses_for_the_sender_domain(loop):
    qid, got = loop.send("reader@example.net")
    arf = ARF.format(mail_from=got.mail_from, rcpt="reader@example.net", author="app@sender.example.org")
    loop.report("fbl@relay.test", arf, sender="feedback@fbl.example.net")
    loop.wait_log("event=complaint qid=%s rcpt=<reader@example.net>" % qid)
    loop.wait_log("event=suppressed qid=%s rcpt=<reader@example.net> reason=feedback source=complaint" % qid)
    s = loop.suppressed("reader@example.net", "domain:sender.example.org")
    assert s["source"] == "complaint" and s["reason"] == "feedback"
    code, text = loop.rcpt_reply("reader@example.net")
    assert code == 550 and b"after a complaint" in text


def test_forged_and_unrelated_bounces_change_nothing(loop):
    qid, got = loop.send("victim@example.net")
    forged = "b+%s+0000000000000000@%s" % (qid, BOUNCE_DOMAIN)
    loop.report(forged, dsn(forged, "victim@example.net", "5.1.1", "550 5.1.1 User unknown"))
    other = "b+ZZZZZZZZZZZZZZZZ+0123456789abcdef@%s" % BOUNCE_DOMAIN
    loop.report(other, dsn(other, "stranger@example.net", "5.1.1", "550 5.1.1 User unknown"))
    # a real tag, but for a recipient that message never had
    loop.report(got.mail_from, dsn(got.mail_from, "other@example.net", "5.1.1", "550 5.1.1 User unknown"))
    loop.wait_log("event=bounce_ignored", 3)
    assert 'why="forged VERP tag"' in loop.d.log_text()
    assert "recipient not among" in loop.d.log_text()
    for a in ("victim@example.net", "stranger@example.net", "other@example.net"):
        assert loop.suppressed(a) is None
    code, _ = loop.rcpt_reply("victim@example.net")
    assert code == 250


def test_auto_reply_changes_nothing(loop):
    qid, got = loop.send("away@example.net")
    reply = f"""From: Away <away@example.net>
To: {got.mail_from}
Auto-Submitted: auto-replied
Subject: Out of office

I am out of the office until Monday.
"""
    loop.report(got.mail_from, reply, sender="away@example.net")
    loop.wait_log("event=auto_reply")
    assert loop.suppressed("away@example.net") is None
    code, _ = loop.rcpt_reply("away@example.net")
    assert code == 250


def test_async_blocked_bounce_marks_the_route_degraded(loop):
    qid, got = loop.send("someone@gmail.example")
    loop.report(got.mail_from, dsn(got.mail_from, "someone@gmail.example", "5.7.1",
                                   "550-5.7.1 [203.0.113.5] Our system has detected that this message is likely "
                                   "unsolicited mail. To reduce the amount of spam sent to Gmail, this message "
                                   "has been blocked."))
    loop.wait_log("event=route_feedback route=r")
    assert loop.suppressed("someone@gmail.example") is None
    deadline = time.time() + 15
    while time.time() < deadline:
        routes = json.loads(loop.d.cli("routes", "--json").stdout)
        text = json.dumps(routes)
        if "degraded" in text:
            break
        time.sleep(0.5)
    assert "degraded" in text and "async bounce" in text


def test_mailbox_full_suppresses_only_after_the_threshold(make_daemon, tmp_path):
    lp = Loop(make_daemon, tmp_path, extra=['suppression = { mailboxfull_failures = 2; mailboxfull_window = "1d"; };'])
    try:
        for i in range(2):
            qid, got = lp.send("full@example.net", subject="n%d" % i)
            lp.report(got.mail_from, dsn(got.mail_from, "full@example.net", "4.2.2",
                                         "452 4.2.2 The email account that you tried to reach is over quota",
                                         action="delayed"))
            lp.wait_log("event=soft_bounce qid=%s rcpt=<full@example.net>" % qid)
            if i == 0:
                assert lp.suppressed("full@example.net") is None
                assert lp.rcpt_reply("full@example.net")[0] == 250
        s = lp.suppressed("full@example.net")
        assert s["reason"] == "mailboxfull" and s["expires"] is not None
        code, text = lp.rcpt_reply("full@example.net")
        assert code == 550 and b"after repeated soft bounces" in text
        lp.d.cli("suppress", "remove", "full@example.net")
        assert lp.rcpt_reply("full@example.net")[0] == 250
    finally:
        lp.close()


def test_import_export_round_trip_and_manual_entries(loop, tmp_path):
    csv_in = tmp_path / "esp.csv"
    csv_in.write_text("email,reason,created\n"
                      "A@Example.net,hard bounce,2026-11-01\n"
                      "\"b,quoted@example.net\",complaint,2026-11-02T10:00:00Z\n")
    assert loop.d.cli("suppress", "import", str(csv_in)).stdout.strip() == "imported 2"
    loop.d.cli("suppress", "add", "manual@example.net", "--reason", "asked", "--scope", "user:tenant1")
    out = tmp_path / "out.csv"
    loop.d.cli("suppress", "export", str(out))
    exported = out.read_text()
    assert exported.splitlines()[0] == "address,scope,reason,source,status,first_event,last_event,count,expires"
    assert "a@example.net,,hard bounce,import,,2026-11-01T00:00:00Z" in exported
    assert '"b,quoted@example.net"' in exported
    # round trip: remove everything, import the export, export again: the same file
    for a, scope in (("a@example.net", ""), ("b,quoted@example.net", ""), ("manual@example.net", "user:tenant1")):
        loop.d.cli("suppress", "remove", a, "--scope", scope)
    assert json.loads(loop.d.cli("suppress", "list", "--json").stdout) == []
    assert loop.d.cli("suppress", "import", str(out)).stdout.strip() == "imported 3"
    again = tmp_path / "again.csv"
    loop.d.cli("suppress", "export", str(again))
    assert again.read_text() == exported
    code, text = loop.rcpt_reply("a@example.net")
    assert code == 550 and b"suppressed since 2026-11-01" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("email,created\nc@example.net,yesterday\n")
    r = loop.d.cli("suppress", "import", str(bad), check=False)
    assert r.returncode == 2 and "line 2" in r.stderr


def test_synchronous_failures_are_labelled_in_the_same_vocabulary(make_daemon, tmp_path):
    lp = Loop(make_daemon, tmp_path, behaviour=Behaviour(rcpt_replies={
        "gone@example.net": "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown",
        "blocked@example.net": "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
        "also@example.net": "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
        "later@example.net": "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"}))
    try:
        # the same words twice in a row (the scheduler remembers the last
        # reply's reason), then the first words again
        rcpts = ["gone@example.net", "blocked@example.net", "also@example.net", "later@example.net"]
        with smtplib.SMTP("127.0.0.1", lp.d.port) as s:
            s.sendmail("app@sender.example.org", rcpts, message())
        lp.wait_log("event=delivery ", 4)
        lines = [l for l in lp.d.log_text().splitlines() if "event=delivery " in l]
        said = {r: [l for l in lines if "rcpt=<%s>" % r in l][0] for r in rcpts}
        assert "result=bounced reason=userunknown hard=yes" in said["gone@example.net"]
        assert "result=bounced reason=blocked hard=no" in said["blocked@example.net"]
        assert "result=bounced reason=blocked hard=no" in said["also@example.net"]
        assert "result=bounced reason=userunknown hard=yes" in said["later@example.net"]
    finally:
        lp.close()



def test_doctor_checks_the_bounce_domain_records(tmp_path):
    """outpost doctor with bounces.domain: the MX and SPF of the bounce domain (not under
    .test, which libunbound answers itself)."""
    import subprocess
    from conftest import BIN
    from peers import DNS
    dns = DNS().start()
    try:
        key = tmp_path / "bounce.key"
        key.write_bytes(b"k" * 32)
        key.chmod(0o600)
        conf = tmp_path / "outpost.conf"
        conf.write_text('hostname = "mail.example.com";\nspool = "%s";\nresolver = "%s";\n'
                        'bounces = { domain = "bounces.example.com"; secret_file = "%s"; };\n'
                        % (tmp_path / "spool", dns.spec, key))

        def findings():
            r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "doctor", "example.com", "--json",
                                "--ip", "192.0.2.1", "--timeout-ms", "2000"], capture_output=True, text=True,
                               timeout=60)
            return {f["subject"].split(" ")[0]: f for f in json.loads(r.stdout)["findings"]
                    if f["check"] == "bounces"}

        f = findings()
        assert f["MX"]["status"] == "fail" and "MX 10 mail.example.com." in f["MX"]["fix"]
        assert f["SPF"]["status"] == "warn"
        dns.zone.add("bounces.example.com", "MX", (10, "mail.example.com"))
        dns.zone.add("bounces.example.com", "TXT", "v=spf1 ip4:192.0.2.1 -all")
        f = findings()
        assert f["MX"]["status"] == "pass" and "10 mail.example.com" in f["MX"]["evidence"]
        assert f["SPF"]["status"] == "pass"
    finally:
        dns.stop()


def test_accept_mode_takes_the_message_and_bounces_the_suppressed_recipient(make_daemon, tmp_path):
    lp = Loop(make_daemon, tmp_path, extra=['suppression = { on_rcpt = "accept"; };'])
    try:
        lp.d.cli("suppress", "add", "gone@example.net", "--reason", "userunknown")
        assert lp.rcpt_reply("gone@example.net")[0] == 250
        with smtplib.SMTP("127.0.0.1", lp.d.port) as s:
            s.sendmail("app@sender.example.org", ["gone@example.net", "ok@example.net"], message())
        got = lp.relay.wait(2)
        assert len(got) == 2
        sent = [m for m in got if m.mail_from not in ("", "<>")]
        dsns = [m for m in got if m.mail_from in ("", "<>")]
        assert sent[0].rcpts == ["ok@example.net"]          # the suppressed recipient was not sent to
        assert dsns[0].rcpts == ["app@sender.example.org"]  # the sender learns from a DSN
        assert "gone@example.net" in dsns[0].text and "suppressed since" in dsns[0].text
        assert "action=accept_then_bounce" in lp.d.log_text()
        assert "event=rcpt_suppressed" in lp.d.log_text() and "action=bounce" in lp.d.log_text()
    finally:
        lp.close()


def test_bounce_ingest_from_a_pipe_does_what_the_mailbox_does(loop):
    qid, got = loop.send("piped@example.net")
    r = loop.d.cli("bounce", "ingest", input=dsn(got.mail_from, "piped@example.net", "5.1.1",
                                                  "550 5.1.1 <piped@example.net>: User unknown"))
    assert "message %s" % qid in r.stdout and "suppressed 1" in r.stdout
    assert loop.suppressed("piped@example.net")["reason"] == "userunknown"
    # the same report for a message outpost never sent: nothing happens
    stranger = dsn("someone@example.org", "other@example.net", "5.1.1", "550 5.1.1 User unknown")
    r = loop.d.cli("bounce", "ingest", input=stranger)
    assert "refers to no message outpost sent" in r.stdout and "ignored 1" in r.stdout
    assert loop.suppressed("other@example.net") is None
