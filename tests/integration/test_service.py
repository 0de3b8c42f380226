"""outpostd as a service: the sd_notify protocol systemd's Type=notify
expects (READY=1 only once the spool is open and the listeners are bound,
RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM), --version
and --help on both programs, and `mailq`."""
import os
import signal
import socket
import subprocess

from conftest import BIN


def notify_socket(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    s.bind(str(path))
    s.settimeout(20)
    return s, path


def test_sd_notify_ready_reload_stopping(make_daemon, tmp_path, monkeypatch):
    s, path = notify_socket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    d = make_daemon()
    assert s.recv(512) == b"READY=1"
    # by READY the SMTP listener accepts and the spool answers
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as c:
        assert c.recv(512).startswith(b"220 ")
    assert d.cli("queue", "list").returncode == 0
    d.proc.send_signal(signal.SIGHUP)
    assert s.recv(512) == b"RELOADING=1"
    assert s.recv(512) == b"READY=1"
    d.proc.send_signal(signal.SIGTERM)
    assert s.recv(512) == b"STOPPING=1"
    assert d.proc.wait(timeout=40) == 0
    d.logf.close()
    d.proc = None


def test_abstract_notify_socket(make_daemon, monkeypatch):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "outpost-test-%d" % os.getpid()
    s.bind("\0" + name)
    s.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    make_daemon()
    assert s.recv(512) == b"READY=1"


def test_version_and_help():
    for prog in ("outpostd", "outpost"):
        r = subprocess.run([str(BIN / prog), "--version"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith(prog + " ")
        r = subprocess.run([str(BIN / prog), "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: " + prog in r.stdout
        assert "/etc/outpost/outpost.conf" in r.stdout


def test_outpostd_default_config_path(tmp_path):
    # without -c it reads the documented default (absent here: the error names it)
    if os.path.exists("/etc/outpost/outpost.conf"):
        return
    r = subprocess.run([str(BIN / "outpostd"), "-f"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "/etc/outpost/outpost.conf" in r.stderr


def test_mailq_lists_the_queue(daemon):
    daemon.cli("sendmail", "-f", "a@example.com", "b@example.net", input="Subject: q\n\nx\n")
    link = daemon.dir / "mailq"
    link.symlink_to(BIN / "outpost")
    r = subprocess.run([str(link)], capture_output=True, text=True,
                       env=dict(os.environ, OUTPOST_CONFIG=str(daemon.conf)))
    assert r.returncode == 0, r.stderr
    assert "b@example.net" in r.stdout
