"""`outpost sendmail` and the same binary invoked as `sendmail`, as PHP, cron and friends call it."""
import os
import subprocess

from conftest import BIN


def run_sendmail(daemon, args, text, argv0=None, env_config=False):
    env = dict(os.environ)
    if argv0:
        link = daemon.dir / "sendmail"
        if not link.exists():
            link.symlink_to(BIN / "outpost")
        env["OUTPOST_CONFIG"] = str(daemon.conf)
        cmd = [str(link)] + args
    else:
        cmd = [str(BIN / "outpost"), "-c", str(daemon.conf), "sendmail"] + args
    return subprocess.run(cmd, input=text, capture_output=True, text=True, env=env, timeout=30)


PHP_MAIL = ("To: customer@example.net\nCc: \"Sales, EU\" <sales@example.org>\n"
            "Bcc: audit@example.com\nSubject: Order 42\n\nThanks for your order.\n.\nstill body\n")


def test_php_mail_style_t_i(daemon):
    r = run_sendmail(daemon, ["-t", "-i", "-f", "shop@example.com"], PHP_MAIL)
    assert r.returncode == 0, r.stderr
    q = daemon.queue()
    assert len(q) == 1
    assert q[0]["sender"] == "shop@example.com"
    assert sorted(x["address"] for x in q[0]["recipients"]) == [
        "audit@example.com", "customer@example.net", "sales@example.org"]
    shown = daemon.cli("queue", "show", q[0]["id"]).stdout
    assert "Bcc:" not in shown and "audit@example.com" not in shown.split("Subject")[0].split("To:")[1]
    assert "From: shop@example.com" in shown


def test_invoked_as_sendmail_with_cron_flags(daemon):
    r = run_sendmail(daemon, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
                     "Subject: cron job\n\noutput\n", argv0="sendmail")
    assert r.returncode == 0, r.stderr
    q = daemon.queue()
    assert [x["address"] for x in q[0]["recipients"]] == ["root@relay.test"]
    shown = daemon.cli("queue", "show", q[0]["id"]).stdout
    assert 'From: "CronDaemon" <' in shown


def test_lone_dot_ends_input_without_i(daemon):
    r = run_sendmail(daemon, ["user@example.net"], "Subject: dot\n\nbefore\n.\nafter\n")
    assert r.returncode == 0, r.stderr
    import sqlite3
    body = sqlite3.connect(str(daemon.spool / "queue.db")).execute("select body from messages").fetchone()[0]
    body = bytes(body).decode()
    assert body.endswith("\r\nbefore\r\n") and "after" not in body


def test_daemon_down_and_no_maildrop_is_a_clear_failure(daemon):
    # the maildrop (test_maildrop.py) keeps mail while the daemon is down;
    # when it cannot be written either, the caller hears 75 and why
    daemon.stop()
    (daemon.spool / "maildrop").rmdir()
    (daemon.spool / "maildrop").write_text("not a directory")
    r = run_sendmail(daemon, ["user@example.net"], "Subject: x\n\nx\n")
    assert r.returncode == 75
    assert "cannot reach outpostd" in r.stderr and "maildrop" in r.stderr


def test_refused_recipient_fails_with_the_reply(daemon):
    r = run_sendmail(daemon, ["user@example.net."], "Subject: x\n\nx\n")
    assert r.returncode == 69
    assert "553 5.1.2" in r.stderr
    assert daemon.queue() == []


def test_no_recipients_is_a_usage_error(daemon):
    r = run_sendmail(daemon, [], "Subject: x\n\nx\n")
    assert r.returncode == 64 and "no recipients" in r.stderr


def test_full_name_with_crlf_cannot_inject_a_header(daemon):
    r = run_sendmail(daemon, ["-F", "Evil\r\nX-Outpost-Class: bulk", "user@example.net"], "Subject: x\n\nx\n")
    assert r.returncode == 65, r.stderr
    assert "full name (-F) contains a control character" in r.stderr
    assert daemon.queue() == []
    r = run_sendmail(daemon, ["-F", "Evil\nX-Outpost-Class: bulk", "user@example.net"], "Subject: x\n\nx\n")
    assert r.returncode == 65 and daemon.queue() == []


def test_full_name_is_quoted_or_rfc2047_encoded(daemon):
    r = run_sendmail(daemon, ["-F", 'Eve "the" \\admin', "user@example.net"], "Subject: x\n\nx\n")
    assert r.returncode == 0, r.stderr
    r = run_sendmail(daemon, ["-F", "Jörg Müller-Lüdenscheidt und die sehr lange Abteilung für Öffentlichkeit",
                              "user@example.net"], "Subject: y\n\ny\n")
    assert r.returncode == 0, r.stderr
    import email
    import email.header
    import sqlite3
    db = sqlite3.connect(str(daemon.spool / "queue.db"))
    bodies = [bytes(b).decode() for (b,) in db.execute("select body from messages order by rowid")]
    first = email.message_from_string(bodies[0])
    assert first["From"].startswith('"Eve \\"the\\" \\\\admin" <')
    assert first["X-Outpost-Class"] is None
    second = email.message_from_string(bodies[1])
    raw = second["From"]
    assert "=?UTF-8?B?" in raw and all(ord(c) < 128 for c in raw)
    name = str(email.header.make_header(email.header.decode_header(raw.rsplit("<", 1)[0])))
    assert name.strip() == "Jörg Müller-Lüdenscheidt und die sehr lange Abteilung für Öffentlichkeit"


def test_recipient_or_sender_with_crlf_is_refused(daemon):
    r = run_sendmail(daemon, ["user@example.net\r\nRCPT TO:<other@example.net>"], "Subject: x\n\nx\n")
    assert r.returncode == 65 and "a recipient contains a control character" in r.stderr
    r = run_sendmail(daemon, ["-f", "a@example.com>\r\nRCPT TO:<b@example.net", "user@example.net"],
                     "Subject: x\n\nx\n")
    assert r.returncode == 65 and "the sender (-f)" in r.stderr
    r = run_sendmail(daemon, ["user@example.net> NOTIFY=NEVER"], "Subject: x\n\nx\n")
    assert r.returncode == 65
    assert daemon.queue() == []


def test_bare_cr_in_a_line_is_refused_not_deleted(daemon):
    r = run_sendmail(daemon, ["user@example.net"], "Subject: x\n\nfirst\nsec\rond\n")
    assert r.returncode == 65
    assert "line 4 of the message has a bare CR" in r.stderr
    assert daemon.queue() == []
    # CRLF line ends are fine
    r = run_sendmail(daemon, ["user@example.net"], "Subject: x\r\n\r\nfirst\r\n")
    assert r.returncode == 0, r.stderr
