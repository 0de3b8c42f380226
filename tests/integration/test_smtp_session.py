"""The SMTP conversation end to end: smtplib and swaks against the real daemon."""
import json
import re
import smtplib
import subprocess

from conftest import RawClient, message, session


def queued_id(reply_text):
    m = re.search(r"queued as ([0-9A-Z]{16})", reply_text)
    assert m, reply_text
    return m.group(1)


def test_smtplib_message_is_queued_with_its_envelope(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.port) as s:
        code, features = s.ehlo("app.test")
        assert code == 250
        for ext in (b"PIPELINING", b"SIZE", b"8BITMIME", b"SMTPUTF8", b"ENHANCEDSTATUSCODES"):
            assert ext in features
        resp = s.sendmail("app@example.com", ["a@example.net", "b@example.org"], message())
        assert resp == {}
        code, text = s.noop()
    q = daemon.queue()
    assert len(q) == 1
    assert q[0]["sender"] == "app@example.com"
    assert sorted(r["address"] for r in q[0]["recipients"]) == ["a@example.net", "b@example.org"]
    assert all(r["state"] == "queued" for r in q[0]["recipients"])


def test_reply_names_the_queue_id_and_the_log_follows_it(daemon):
    c = session(daemon.port)
    c.start_data("app@example.com", "user@example.net")
    c.send(message() + ".\r\n")
    code, lines = c.reply()
    assert code == 250 and lines[0].startswith("250 2.0.0 ")
    qid = queued_id(lines[0])
    c.expect(221, "QUIT")
    shown = json.loads(daemon.cli("queue", "show", qid, "--json").stdout)
    assert shown["id"] == qid
    assert "qid=%s" % qid in daemon.log_text()


def test_received_date_and_message_id_are_added(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.port) as s:
        s.ehlo("app.test")
        s.sendmail("app@example.com", ["user@example.net"], message())
    qid = daemon.queue()[0]["id"]
    shown = daemon.cli("queue", "show", qid).stdout
    assert re.search(r"Received: from app.test \(127.0.0.1\)\s+by relay.test \(outpost\) with ESMTP id %s" % qid,
                     shown), shown
    assert "Date: " in shown
    assert "Message-ID: <%s." % qid in shown


def test_existing_message_id_is_kept(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.port) as s:
        s.sendmail("app@example.com", ["user@example.net"],
                   message(headers="Message-ID: <mine@example.com>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"))
    shown = daemon.cli("queue", "show", daemon.queue()[0]["id"]).stdout
    assert shown.count("Message-ID:") == 1 and "<mine@example.com>" in shown
    assert shown.count("Date:") == 1


def test_swaks_sends_through_the_daemon(daemon):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(daemon.port),
                        "--from", "app@example.com", "--to", "user@example.net",
                        "--helo", "swaks.test", "--header", "Subject: via swaks"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    assert len(daemon.queue()) == 1


def test_swaks_pipelining(daemon):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(daemon.port), "--pipeline",
                        "--from", "app@example.com", "--to", "a@example.net,b@example.net"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(daemon.queue()) == 1


def test_pipelined_transactions_answer_in_order(daemon):
    c = RawClient(daemon.port)
    c.expect(220)
    c.expect(250, "EHLO pipe.test")
    batch = ""
    for i in range(3):
        batch += "MAIL FROM:<app@example.com>\r\nRCPT TO:<u%d@example.net>\r\nDATA\r\n" % i
        batch += message("m%d" % i) + ".\r\n"
    c.send(batch + "QUIT\r\n")
    codes = [c.reply()[0] for _ in range(3 * 4 + 1)]
    assert codes == [250, 250, 354, 250] * 3 + [221]
    assert len(daemon.queue()) == 3


def test_client_that_closes_its_side_after_quit_gets_every_answer(daemon):
    """What `sendmail -bs` and some libraries do: pipeline the messages and
    QUIT, then shut down their side while the last commit is in flight.  The
    messages are queued, so the client must get its 250s, not a dropped
    connection (it would send them again)."""
    import socket
    c = RawClient(daemon.port)
    c.expect(220)
    c.expect(250, "EHLO halfclose.test")
    batch = ""
    for i in range(2):
        batch += "MAIL FROM:<app@example.com>\r\nRCPT TO:<h%d@example.net>\r\nDATA\r\n" % i
        batch += message("h%d" % i) + ".\r\n"
    c.send(batch + "QUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    codes = [c.reply()[0] for _ in range(2 * 4 + 1)]
    assert codes == [250, 250, 354, 250] * 2 + [221]
    assert c.reply()[0] is None
    assert len(daemon.queue()) == 2


def test_command_replies_and_sequence_errors(daemon):
    c = RawClient(daemon.port)
    c.expect(220)
    assert c.expect(503, "MAIL FROM:<a@example.com>")[0].startswith("503 5.5.1")
    c.expect(250, "HELO old.test")
    c.expect(503, "RCPT TO:<a@example.net>")
    c.expect(503, "DATA")
    assert c.expect(252, "VRFY postmaster")[0].startswith("252 2.5.0")
    assert c.expect(214, "HELP")[0].startswith("214 2.0.0")
    c.expect(250, "NOOP")
    c.expect(500, "FOO bar")
    c.expect(502, "EXPN list")
    c.expect(250, "MAIL FROM:<a@example.com>")
    c.expect(503, "MAIL FROM:<a@example.com>")
    assert c.expect(554, "DATA")[0].startswith("554 5.5.1")
    c.expect(250, "RSET")
    c.expect(555, "MAIL FROM:<a@example.com> SIZE=10")  # HELO clients have no parameters
    c.expect(221, "QUIT")


def test_size_is_advertised_and_enforced_at_mail(make_daemon):
    d = make_daemon(['inbound = { max_message_size = "64K"; };'])
    c = session(d.port)
    c.send("EHLO x\r\n")
    assert "250-SIZE 65536" in c.reply()[1]
    assert c.expect(552, "MAIL FROM:<a@example.com> SIZE=65537")[0].startswith("552 5.3.4")
    c.expect(250, "MAIL FROM:<a@example.com> SIZE=65536")


def test_smtputf8_and_8bitmime(daemon):
    c = session(daemon.port)
    c.expect(250, "MAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8 BODY=8BITMIME")
    c.expect(250, "RCPT TO:<\u00fc@example.net>")
    c.expect(354, "DATA")
    c.send("Subject: gr\u00fc\u00dfe\r\n\r\n\u00e4\u00f6\u00fc\r\n.\r\n")
    c.expect(250)
    q = daemon.queue()
    assert q[0]["sender"] == "j\u00f6rg@b\u00fccher.example"


def test_queue_cli_delete_retry_flush(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.port) as s:
        for i in range(3):
            s.sendmail("app@example.com", ["u%d@example.net" % i], message())
    ids = [m["id"] for m in daemon.queue()]
    assert len(ids) == 3 and ids == sorted(ids)
    text = daemon.cli("queue", "list").stdout
    assert all(i in text for i in ids)
    daemon.cli("queue", "retry", ids[0])
    assert "3 messages" in daemon.cli("queue", "flush").stdout
    daemon.cli("queue", "delete", ids[1])
    assert [m["id"] for m in daemon.queue()] == [ids[0], ids[2]]
    r = daemon.cli("queue", "show", ids[1], check=False)
    assert r.returncode == 1 and "no such message" in r.stderr
    r = daemon.cli("queue", "delete", "NOSUCHID", check=False)
    assert r.returncode == 1


def test_check_config_reports_file_and_line(tmp_path, daemon):
    assert daemon.cli("check-config").returncode == 0
    bad = tmp_path / "bad.conf"
    bad.write_text('hostname = "x";\nlisten = ( { address = "127.0.0.1:25"; tls = "sometimes"; } );\n')
    from conftest import BIN
    r = subprocess.run([str(BIN / "outpost"), "-c", str(bad), "check-config"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "%s:2: tls: expected one of" % bad in r.stderr
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "%s:2:" % bad in r.stderr
