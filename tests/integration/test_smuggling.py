"""Data transparency: only CRLF.CRLF ends a message; bare LF/CR refuse it (SMTP smuggling)."""
import pytest

from conftest import session

SMUGGLE = "MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSmuggled\r\n"

CASES = {
    "lf_dot_lf": "Subject: x\r\n\r\nhello\n.\n" + SMUGGLE,
    "lf_dot_crlf": "Subject: x\r\n\r\nhello\n.\r\n" + SMUGGLE,
    "crlf_dot_lf": "Subject: x\r\n\r\nhello\r\n.\n" + SMUGGLE,
    "cr_dot_cr": "Subject: x\r\n\r\nhello\r.\r" + SMUGGLE,
    "cr_dot_crlf": "Subject: x\r\n\r\nhello\r.\r\n" + SMUGGLE,
    "bare_lf_line": "Subject: x\r\n\r\nline one\nline two\r\n",
    "bare_cr_line": "Subject: x\r\n\r\nline one\rline two\r\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bare_line_endings_refuse_the_message_and_smuggle_nothing(daemon, name):
    c = session(daemon.port)
    c.start_data("app@example.com", "user@example.net")
    c.send(CASES[name] + "\r\n.\r\n")
    code, lines = c.reply()
    assert code == 550 and lines[0].startswith("550 5.6.0"), lines
    # the session goes on, and nothing (least of all the smuggled message) was queued
    c.expect(250, "NOOP")
    c.expect(221, "QUIT")
    assert daemon.queue() == []


def test_dot_stuffing_is_undone_and_dot_lines_kept(daemon):
    c = session(daemon.port)
    c.start_data("app@example.com", "user@example.net")
    c.send("Subject: dots\r\n\r\n..\r\n...leading\r\n. not the end\r\nlast\r\n.\r\n")
    c.expect(250)
    qid = daemon.queue()[0]["id"]
    import sqlite3
    db = sqlite3.connect(str(daemon.spool / "queue.db"))
    body = db.execute("select body from messages where id=?", (qid,)).fetchone()[0]
    body = bytes(body).decode()
    assert body.endswith("Subject: dots\r\n\r\n.\r\n..leading\r\n not the end\r\nlast\r\n"), repr(body[-80:])


def test_message_split_across_packets_still_ends_correctly(daemon):
    c = session(daemon.port)
    c.start_data("app@example.com", "user@example.net")
    import time
    for part in ("Subject: s\r\n\r\nbody\r", "\n", ".", "\r", "\n"):
        c.send(part)
        time.sleep(0.05)
    c.expect(250)
    assert len(daemon.queue()) == 1


@pytest.mark.parametrize("where", ["header", "body", "last_line"])
def test_nul_octets_refuse_the_message(daemon, where):
    """issue 11 #14: a NUL octet was forwarded verbatim; now the message is refused."""
    text = {"header": "Subject: a\x00b\r\n\r\nbody\r\n",
            "body": "Subject: x\r\n\r\nbo\x00dy\r\n",
            "last_line": "Subject: x\r\n\r\nbody\r\n\x00\r\n"}[where]
    c = session(daemon.port)
    c.start_data("app@example.com", "user@example.net")
    c.send(text + ".\r\n")
    code, lines = c.reply()
    assert lines == ["554 5.6.0 Message refused: message contains NUL octets"]
    c.expect(250, "NOOP")
    c.expect(221, "QUIT")
    assert daemon.queue() == []
    assert 'event=message_refused' in daemon.log_text()
