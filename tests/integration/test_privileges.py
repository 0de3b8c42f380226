"""Privileges: started as root, outpostd binds its listeners (a port below
1024 here) and then runs as the config's `user`; it refuses to stay root
unless `allow_root = true`; started as another user it runs as that user.
Private files (users file, DKIM keys, relay credentials) must belong to
the run user with no group/other bits: every one at fault is named with
its mode or owner, by outpostd and by `outpost check-config`, which lists
every error.  Relative paths resolve against the config file's directory."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, free_port

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: starts outpostd as root")
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def world():
    """A directory any user can traverse (pytest's tmp_path is root's, 0700)."""
    d = Path(tempfile.mkdtemp(prefix="outpost-privs-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def low_port():
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


def write_conf(d, lines):
    conf = d / "outpost.conf"
    conf.write_text("\n".join(['hostname = "relay.test";', 'spool = "spool";'] + lines) + "\n")
    conf.chmod(0o644)
    return conf


def start(conf, log, **kw):
    logf = open(log, "wb")
    p = subprocess.Popen([str(BIN / "outpostd"), "-f", "-c", str(conf)], stdout=logf, stderr=logf, **kw)
    deadline = time.time() + 20
    while time.time() < deadline and "event=started" not in log.read_text():
        if p.poll() is not None:
            raise AssertionError("outpostd exited %s: %s" % (p.returncode, log.read_text()))
        time.sleep(0.05)
    return p


def status_ids(pid):
    text = Path("/proc/%d/status" % pid).read_text()
    line = lambda k: [int(x) for x in text.split(k + ":")[1].split("\n")[0].split()]
    return line("Uid"), line("Gid")


def stop(p):
    p.terminate()
    assert p.wait(timeout=40) == 0


@root_only
def test_root_binds_low_port_then_runs_as_user(world):
    port = low_port()
    conf = write_conf(world, ['user = "nobody";', 'listen = ( { address = "127.0.0.1:%d"; } );' % port,
                              'client_networks = [ "127.0.0.0/8" ];'])
    p = start(conf, world / "log")
    try:
        uids, gids = status_ids(p.pid)
        assert uids == [NOBODY.pw_uid] * 4 and gids == [NOBODY.pw_gid] * 4
        log = (world / "log").read_text()
        assert "event=privileges user=nobody" in log
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            assert c.recv(512).startswith(b"220 ")
        import smtplib
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.sendmail("a@example.com", ["b@example.net"], "Subject: x\r\n\r\nx\r\n")
        spool = world / "spool"       # relative to the config file's directory
        assert spool.is_dir() and (spool / "queue.db").exists()
        for f in spool.iterdir():
            if f.name.startswith("queue.db"):
                assert f.stat().st_uid == NOBODY.pw_uid, f
    finally:
        stop(p)


@root_only
@pytest.mark.parametrize("user,why", [("no-such-user-x", 'user "no-such-user-x" does not exist'),
                                      ("root", 'user "root" is root')])
def test_root_refuses_to_stay_root(world, user, why):
    conf = write_conf(world, ['user = "%s";' % user])
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and why in r.stderr and "allow_root = true" in r.stderr


def test_started_as_another_user_runs_as_it(world):
    if os.geteuid() != 0:
        pytest.skip("needs root to start outpostd as nobody")
    (world / "spool").mkdir()
    os.chown(world / "spool", NOBODY.pw_uid, NOBODY.pw_gid)
    conf = write_conf(world, ['user = "no-such-user-x";', 'listen = ( { address = "127.0.0.1:%d"; } );'
                              % free_port()])
    p = start(conf, world / "log", user=NOBODY.pw_uid, group=NOBODY.pw_gid, extra_groups=[])
    try:
        assert status_ids(p.pid)[0] == [NOBODY.pw_uid] * 4
    finally:
        stop(p)


@root_only
def test_private_files_every_fault_named(world):
    users = world / "users"
    users.write_text("alice:$y$j9T$x$y:example.com\n")
    users.chmod(0o644)
    keygen = subprocess.run([str(BIN / "outpost"), "dkim", "keygen", "--domain", "example.com", "--selector",
                             "s1", "--type", "ed25519", "--out", str(world / "k.pem")], capture_output=True)
    assert keygen.returncode == 0
    secret = world / "relay.secret"
    secret.write_text("u:p\n")
    secret.chmod(0o600)
    os.chown(users, NOBODY.pw_uid, NOBODY.pw_gid)          # right owner, wrong mode
    os.chown(secret, NOBODY.pw_uid, NOBODY.pw_gid)         # right
    conf = write_conf(world, ['user = "nobody";', 'users = "users";',
                              'dkim = ( { domain = "example.com"; selector = "s1"; key = "k.pem"; } );',
                              'routes = { r = { type = "relay"; host = "127.0.0.1:1"; auth = "relay.secret"; }; };',
                              'rules = ( { via = "r"; } );'])
    r = subprocess.run([str(BIN / "outpostd"), "-f", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "users file %s: mode 0644" % users in r.stderr
    assert "dkim key %s: owned by root, but outpostd runs as nobody" % (world / "k.pem") in r.stderr
    assert "relay.secret" not in r.stderr
    # check-config from another directory finds the same (relative paths), one line each
    r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "check-config"], capture_output=True,
                       text=True, cwd="/")
    assert r.returncode == 1
    assert "users file %s: mode 0644" % users in r.stderr
    assert "dkim key %s: owned by root" % (world / "k.pem") in r.stderr


def test_check_config_lists_every_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('hostname = "x";\nbogus = 1;\ninbound = { max_recipients = 0; };\n'
                    'retry = { lifetime = "forever"; };\n')
    r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "check-config"], capture_output=True, text=True)
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if str(conf) in l]
    assert any(":2: unknown setting" in l for l in lines), r.stderr
    assert any(":3: max_recipients" in l for l in lines), r.stderr
    assert any(":4: lifetime" in l for l in lines), r.stderr
