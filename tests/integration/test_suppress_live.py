"""The running daemon's suppression list (kept in memory, feedback/suppress_set.h)
follows every change: `outpost suppress add/remove/import` while it runs (the
CLI returns only once the daemon has the change), `outpost bounce ingest`, a
hard bounce the daemon itself processes, a change written while it was
stopped (loaded at start), a change behind its back (SIGHUP), and expiry
passing while it runs.  Each is checked by what outpost answers at RCPT (the
exact code and enhanced status) or does with a queued message."""
import signal
import smtplib
import socket
import sqlite3
import threading
import time

import pytest

from conftest import message
from peers import Behaviour
from test_bounces import Loop, dsn

SENDER = "app@sender.example.org"


@pytest.fixture
def loop(make_daemon, tmp_path):
    lp = Loop(make_daemon, tmp_path, behaviour=Behaviour(rcpt_replies={"held@example.net": "451 4.3.0 try later"}))
    yield lp
    lp.close()


def refused(lp, rcpt, sender=SENDER):
    code, text = lp.rcpt_reply(rcpt, sender)
    return code, text


def test_cli_add_is_refused_at_once_and_remove_accepts_again(loop):
    assert refused(loop, "late@example.net")[0] == 250
    loop.d.cli("suppress", "add", "Late@Example.net", "--reason", "asked to stop")
    code, text = refused(loop, "LATE@example.NET")   # no wait: the CLI returned after the daemon had it
    assert code == 550
    assert text.startswith(b"5.7.1 <LATE@example.net>: suppressed since ") and text.endswith(b"(manual: asked to stop)")
    assert "event=suppression_refreshed rcpt=<Late@Example.net> scope=global listed=yes" in loop.d.log_text()
    loop.d.cli("suppress", "remove", "late@example.net")
    assert refused(loop, "late@example.net")[0] == 250
    # a sender-domain scope: refused for that sender only
    loop.d.cli("suppress", "add", "shop@example.net", "--scope", "domain:sender.example.org")
    assert refused(loop, "shop@example.net")[0] == 550
    assert refused(loop, "shop@example.net", "app@other.example.org")[0] == 250
    loop.d.cli("suppress", "remove", "shop@example.net", "--scope", "domain:sender.example.org")
    assert refused(loop, "shop@example.net")[0] == 250


def test_cli_add_bounces_a_message_already_queued(loop):
    with smtplib.SMTP("127.0.0.1", loop.d.port) as s:
        s.sendmail(SENDER, ["held@example.net"], message(subject="queued before"))
    deadline = time.time() + 20
    while time.time() < deadline and not any(a == "held@example.net" for a, _ in loop.relay.rcpt_attempts):
        time.sleep(0.05)
    assert any(a == "held@example.net" for a, _ in loop.relay.rcpt_attempts), "never tried"
    qid = loop.d.queue()[0]["id"]
    loop.d.cli("suppress", "add", "held@example.net", "--reason", "userunknown")
    loop.wait_log("event=rcpt_suppressed qid=%s rcpt=<held@example.net>" % qid)
    assert "action=bounce" in loop.d.log_text()
    del loop.relay.behaviour.rcpt_replies["held@example.net"]
    got = loop.relay.wait(1)
    assert got and got[0].mail_from in ("", "<>") and got[0].rcpts == [SENDER]   # the DSN, not the message
    assert "held@example.net" in got[0].text and "suppressed since" in got[0].text
    assert all("held@example.net" not in m.rcpts for m in loop.relay.messages)


def test_import_and_bounce_ingest_reach_the_running_daemon(loop, tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text("email,reason,created\nImported@Example.net,complaint,2026-11-01\n")
    assert loop.d.cli("suppress", "import", str(csv)).stdout.strip() == "imported 1"
    code, text = refused(loop, "imported@example.net")
    assert code == 550 and b"suppressed since 2026-11-01" in text
    assert "event=suppression_reloaded entries=1" in loop.d.log_text()
    qid, got = loop.send("piped@example.net")
    r = loop.d.cli("bounce", "ingest", input=dsn(got.mail_from, "piped@example.net", "5.1.1",
                                                  "550 5.1.1 <piped@example.net>: User unknown"))
    assert "suppressed 1" in r.stdout
    code, text = refused(loop, "piped@example.net")
    assert code == 550 and text.startswith(b"5.1.1 <piped@example.net>: suppressed since")


def test_a_bounce_the_daemon_processes_suppresses_the_next_message_and_a_restart_keeps_it(loop):
    qid, got = loop.send("gone@example.net")
    loop.report(got.mail_from, dsn(got.mail_from, "gone@example.net", "5.1.1",
                                   "550 5.1.1 <gone@example.net>: User unknown"))
    loop.wait_log("event=suppressed qid=%s rcpt=<gone@example.net>" % qid)
    code, text = refused(loop, "gone@example.net")
    assert code == 550 and text == (b"5.1.1 <gone@example.net>: suppressed since %s after a hard bounce "
                                    b"(5.1.1 user unknown)" % time.strftime("%Y-%m-%d", time.gmtime()).encode())
    loop.d.stop()
    loop.d.cli("suppress", "add", "offline@example.net")   # no daemon: the spool only, loaded at start
    loop.d.start()
    assert "event=suppression_loaded entries=2" in loop.d.log_text()
    assert refused(loop, "gone@example.net")[0] == 550
    assert refused(loop, "offline@example.net")[0] == 550


def test_sighup_reads_a_change_made_behind_the_daemons_back(loop):
    db = sqlite3.connect(str(loop.d.spool / "queue.db"))
    with db:
        db.execute("INSERT INTO suppression (address, scope, reason, source, first_event, last_event, count, expires)"
                   " VALUES ('behind@example.net', '', 'manual', 'manual', 1795000000, 1795000000, 1, 0)")
    db.close()
    assert refused(loop, "behind@example.net")[0] == 250   # the daemon answers from its copy
    loop.d.proc.send_signal(signal.SIGHUP)
    loop.wait_log("event=suppression_reloaded entries=1")
    assert refused(loop, "behind@example.net")[0] == 550


def test_an_entry_stops_suppressing_when_it_expires_while_the_daemon_runs(loop):
    t0 = time.time()
    loop.d.cli("suppress", "add", "brief@example.net", "--expires", "3s")
    if time.time() - t0 < 2:   # a slow machine may already be past it
        assert refused(loop, "brief@example.net")[0] == 550
    time.sleep(max(0.0, t0 + 4.5 - time.time()))
    assert refused(loop, "brief@example.net")[0] == 250


def test_a_daemon_that_does_not_answer_is_an_error_and_no_daemon_is_not(loop):
    loop.d.stop()
    path = str(loop.d.spool / "control.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)   # something listens there but never answers
    srv.listen(8)

    def hang_up():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.close()
    threading.Thread(target=hang_up, daemon=True).start()
    r = loop.d.cli("suppress", "add", "mute@example.net", check=False)
    assert r.returncode == 2 and "did not answer" in r.stderr, r.stderr
    srv.close()      # a stale socket file: nobody listens, the next start loads the list
    r = loop.d.cli("suppress", "remove", "mute@example.net", check=False)
    assert r.returncode == 0, r.stderr
    loop.d.cli("suppress", "add", "mute@example.net")
    loop.d.start()
    assert refused(loop, "mute@example.net")[0] == 550
