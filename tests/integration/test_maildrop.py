"""sendmail for every local user, even when outpostd is down: the message
goes to the maildrop (directly, or through the setgid outpost-postdrop
helper for a user who may not write there) and outpostd queues it when it
runs; hostile files in the maildrop are set aside or removed, never lost
silently and never followed.  Also -bs (SMTP on stdin/stdout), -bp,
admin_address for bare local names, and that sendmail reads only what it
needs of the config (not relay secrets)."""
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT_OK, free_port, wait_started

NOBODY = pwd.getpwnam("nobody")


def sendmail(conf, args, text, **kw):
    return subprocess.run([str(BIN / "outpost"), "-c", str(conf), "sendmail"] + args, input=text,
                          capture_output=True, text=True, timeout=30, **kw)


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def visible(d):
    return sorted(p.name for p in d.iterdir() if not p.name.startswith("."))


def test_message_kept_while_down_and_queued_at_start(make_daemon):
    d = make_daemon(start=False)
    d.spool.mkdir()
    maildrop = d.spool / "maildrop"
    maildrop.mkdir()
    r = sendmail(d.conf, ["-f", "app@example.com", "ops@example.net"], "Subject: while down\n\nkept\n")
    assert r.returncode == 0, r.stderr
    assert len(visible(maildrop)) == 1
    d.start()
    assert wait_for(lambda: len(d.queue()) == 1), d.log_text()
    q = d.queue()[0]
    assert q["sender"] == "app@example.com"
    assert [x["address"] for x in q["recipients"]] == ["ops@example.net"]
    assert visible(maildrop) == []
    assert "event=maildrop_queued qid=%s" % q["id"] in d.log_text()
    assert "Subject: while down" in d.cli("queue", "show", q["id"]).stdout


def test_hostile_files_are_set_aside_not_followed(make_daemon, tmp_path):
    d = make_daemon(start=False)
    d.spool.mkdir()
    maildrop = d.spool / "maildrop"
    maildrop.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("OUTPOST-MAILDROP 1\nsender <>\nrcpt <x@example.net>\n\nsecret\r\n")
    (maildrop / "garbage").write_text("hello\n")
    (maildrop / "link").symlink_to(secret)
    os.mkfifo(maildrop / "fifo")
    os.link(secret, maildrop / "hardlink")
    (maildrop / "sourceroute").write_text("OUTPOST-MAILDROP 1\nsender <@relay.example:a@example.com>\n"
                                          "rcpt <x@example.net>\n\nSubject: x\r\n\r\nx\r\n")
    sendmail(d.conf, ["good@example.net"], "Subject: good\n\nfine\n")
    d.start()
    assert wait_for(lambda: len(d.queue()) == 1), d.log_text()
    assert [x["address"] for x in d.queue()[0]["recipients"]] == ["good@example.net"]
    assert wait_for(lambda: visible(maildrop) == [])
    names = sorted(p.name for p in maildrop.iterdir())
    assert ".bad.garbage" in names and ".refused.sourceroute" in names, names
    assert secret.exists() and secret.read_bytes().endswith(b"secret\r\n")   # never followed or removed
    log = d.log_text()
    assert "event=maildrop_bad" in log and "event=maildrop_refused" in log and "553 5.1.7" in log
    assert log.count("event=maildrop_removed") == 3


def test_bare_local_name_goes_to_admin_address(make_daemon):
    d = make_daemon(settings=['admin_address = "ops@example.org";'])
    r = sendmail(d.conf, ["-i", "root"], "Subject: cron\n\noutput\n")
    assert r.returncode == 0, r.stderr
    assert [x["address"] for x in d.queue()[0]["recipients"]] == ["ops@example.org"]


def test_sendmail_reads_no_relay_secret(make_daemon, tmp_path):
    # the secret does not exist at all: outpostd would refuse this config,
    # sendmail does not even look (so www-data can submit)
    d = make_daemon(settings=['routes = { r = { type = "relay"; host = "127.0.0.1:1"; auth = "%s"; }; };'
                              % (tmp_path / "unreadable.secret"), 'rules = ( { via = "r"; } );'], start=False)
    d.spool.mkdir()
    (d.spool / "maildrop").mkdir()
    r = sendmail(d.conf, ["x@example.net"], "Subject: x\n\nx\n")
    assert r.returncode == 0, r.stderr


def test_bs_speaks_smtp_on_stdio(daemon):
    script = ("EHLO app.test\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<to@example.net>\r\nDATA\r\n"
              "Subject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n")
    r = subprocess.run([str(BIN / "outpost"), "-c", str(daemon.conf), "sendmail", "-bs"], input=script,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("220 ") and "250 2.0.0" in r.stdout and "221 " in r.stdout
    assert [x["address"] for x in daemon.queue()[0]["recipients"]] == ["to@example.net"]



def test_bs_while_down_keeps_the_message(make_daemon):
    """Symfony Mailer's default transport while outpostd is down: the SMTP
    dialogue is answered by sendmail itself with the daemon's parsers, and
    what it accepts is in the maildrop, queued when the daemon starts."""
    d = make_daemon(settings=['admin_address = "ops@example.org";'], start=False)
    d.spool.mkdir()
    (d.spool / "maildrop").mkdir()
    script = ("EHLO app.test\r\nMAIL FROM:<app@example.com> BODY=8BITMIME\r\n"
              "RCPT TO:<to@example.net>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<bad@example.net.>\r\nDATA\r\n"
              "Subject: bs offline\r\n\r\n..dot-stuffed\r\n.\r\n"
              "MAIL FROM:<app@example.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n"
              "Subject: smuggle\r\n\r\nbare\nLF\r\n.\r\nQUIT\r\n")
    r = subprocess.run([str(BIN / "outpost"), "-c", str(d.conf), "sendmail", "-bs"], input=script,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    replies = [l[:3] for l in r.stdout.splitlines() if l[3:4] == " "]
    # 220 EHLO MAIL RCPT RCPT RCPT(553) DATA(354) 250-kept  MAIL RCPT 354 550(bare LF) QUIT
    assert replies == ["220", "250", "250", "250", "250", "553", "354", "250",
                       "250", "250", "354", "550", "221"], r.stdout
    assert len(visible(d.spool / "maildrop")) == 1
    d.start()
    assert wait_for(lambda: len(d.queue()) == 1), d.log_text()
    q = d.queue()[0]
    assert sorted(x["address"] for x in q["recipients"]) == ["ops@example.org", "to@example.net"]
    shown = d.cli("queue", "show", q["id"]).stdout
    assert "Subject: bs offline" in shown


def test_bp_lists_the_queue(daemon):
    sendmail(daemon.conf, ["-f", "a@example.com", "listed@example.net"], "Subject: q\n\nx\n")
    r = sendmail(daemon.conf, ["-bp"], "")
    assert r.returncode == 0 and "listed@example.net" in r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs sendmail as nobody with a setgid helper")
def test_any_local_user_submits_through_the_setgid_helper(make_daemon):
    """nobody may not write the maildrop (1730, group mail); the helper,
    setgid mail, may; outpostd, started later, queues the message."""
    base = Path(tempfile.mkdtemp(prefix="outpost-drop-", dir="/tmp"))
    try:
        base.chmod(0o755)
        maildrop = base / "maildrop"
        maildrop.mkdir()
        mail_gid = 8
        os.chown(maildrop, 0, mail_gid)
        maildrop.chmod(0o1730)
        helper = base / "outpost-postdrop"
        shutil.copy(BIN / "outpost-postdrop", helper)
        os.chown(helper, 0, mail_gid)
        helper.chmod(0o2755)
        d = make_daemon(settings=['maildrop = "%s";' % maildrop], start=False)
        conf = base / "outpost.conf"        # where nobody can read it (pytest's tmp is 0700)
        conf.write_text(d.conf.read_text())
        conf.chmod(0o644)
        # LeakSanitizer cannot run in a setgid process (it aborts): off for these runs
        asan = os.environ.get("ASAN_OPTIONS", "").replace("detect_leaks=1", "detect_leaks=0")
        env = dict(os.environ, OUTPOST_POSTDROP=str(helper), ASAN_OPTIONS=asan + ":detect_leaks=0")
        as_nobody = dict(user=NOBODY.pw_uid, group=NOBODY.pw_gid, extra_groups=[], env=env, cwd="/")
        r = sendmail(conf, ["-t", "-i"], "To: www@example.net\nSubject: from php\n\nhi\n", **as_nobody)
        assert r.returncode == 0, r.stderr
        files = visible(maildrop)
        assert len(files) == 1
        st = (maildrop / files[0]).stat()
        assert st.st_uid == NOBODY.pw_uid and st.st_gid == mail_gid and st.st_mode & 0o777 == 0o640
        # without the helper's group, nobody cannot keep the message: 75, said why
        r = sendmail(conf, ["x@example.net"], "Subject: x\n\nx\n", **dict(as_nobody, env=dict(
            env, OUTPOST_POSTDROP="/bin/false")))
        assert r.returncode == 75 and "maildrop" in r.stderr
        # the helper refuses a directory that is not a maildrop of its group
        r = subprocess.run([str(helper), "/tmp"], input="OUTPOST-MAILDROP 1\nsender <>\nrcpt <a@b>\n\n",
                           capture_output=True, text=True, user=NOBODY.pw_uid, group=NOBODY.pw_gid,
                           extra_groups=[], env=env)
        assert r.returncode == 77
        d.start()
        assert wait_for(lambda: len(d.queue()) == 1), d.log_text()
        assert "uid=%d" % NOBODY.pw_uid in d.log_text()
        assert wait_for(lambda: visible(maildrop) == [])
    finally:
        shutil.rmtree(base, ignore_errors=True)
