"""SIGHUP re-reads the config without dropping sessions; what needs a restart is refused."""
import signal
import time

from conftest import session


def reload(d):
    before = d.log_text().count("event=reload")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and d.log_text().count("event=reload") == before:
        time.sleep(0.05)


def test_sighup_applies_new_caps_and_keeps_open_sessions(make_daemon):
    d = make_daemon(["inbound = { max_recipients = 1; };"])
    old = session(d.port)
    old.expect(250, "MAIL FROM:<a@example.com>")
    old.expect(250, "RCPT TO:<r1@example.net>")
    old.expect(452, "RCPT TO:<r2@example.net>")
    d.conf.write_text(d.conf.read_text().replace("max_recipients = 1", "max_recipients = 2"))
    reload(d)
    assert "event=reloaded" in d.log_text()
    # the session open across the reload goes on, and finishes its message
    old.expect(250, "RCPT TO:<r2@example.net>")
    old.expect(354, "DATA")
    old.send("Subject: x\r\n\r\nx\r\n.\r\n")
    old.expect(250)
    new = session(d.port)
    new.expect(250, "MAIL FROM:<a@example.com>")
    new.expect(250, "RCPT TO:<r1@example.net>")
    new.expect(250, "RCPT TO:<r2@example.net>")
    assert len(d.queue()) == 1


def test_sighup_with_a_broken_config_keeps_the_old_one(make_daemon):
    d = make_daemon()
    good = d.conf.read_text()
    d.conf.write_text(good + "bogus_setting = 1;\n")
    reload(d)
    assert 'event=reload_failed error="%s:' % d.conf in d.log_text()
    c = session(d.port)
    c.expect(250, "MAIL FROM:<a@example.com>")
    d.conf.write_text(good.replace('hostname = "relay.test"', 'hostname = "other.test"'))
    reload(d)
    assert 'reason="hostname changed: restart outpostd"' in d.log_text()
