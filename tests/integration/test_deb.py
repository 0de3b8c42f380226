"""The Debian package: scripts/build-deb.sh builds it from the tree, `dpkg -i`
installs it (the outpost user and group, the spool 0700 and maildrop 1730
owned by outpost, the setgid outpost-postdrop, the unit, the conffile
/etc/outpost/outpost.conf), `outpost check-config` passes on the installed
default, the installed outpostd drops to outpost and queues what a user
without any privilege left in the maildrop while it was down, and `dpkg -P`
removes it all.  Runs only as root on a machine without another MTA or an
earlier outpost package (CI: a fresh machine)."""
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("dpkg-deb") is None,
                                reason="installs a package: needs root and dpkg")


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, **kw)


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # a TIME_WAIT is no listener
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def installed(tmp_path):
    if run("dpkg-query", "-W", "-f=${Status}", "outpost").stdout.startswith("install ok"):
        pytest.skip("an outpost package is installed already; not touching it")
    if run("dpkg", "-S", "/usr/sbin/sendmail").returncode == 0:
        pytest.skip("another mail transport agent owns /usr/sbin/sendmail")
    build = run(str(ROOT / "scripts" / "build-deb.sh"), str(tmp_path))
    assert build.returncode == 0, build.stderr
    deb = build.stdout.strip().splitlines()[-1]
    r = run("dpkg", "-i", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    yield deb
    r = run("dpkg", "-P", "outpost")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not Path("/usr/sbin/outpostd").exists() and not Path("/etc/outpost").exists()
    assert not Path("/var/spool/outpost").exists()


def mode(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name, st.st_gid


def test_package_installs_checks_runs_and_purges(installed):
    outpost = pwd.getpwnam("outpost")
    assert outpost.pw_shell == "/usr/sbin/nologin"
    assert mode("/var/spool/outpost/queue") == (0o700, "outpost", outpost.pw_gid)
    assert mode("/var/spool/outpost/maildrop") == (0o1730, "outpost", outpost.pw_gid)
    assert mode("/usr/libexec/outpost-postdrop") == (0o2755, "root", outpost.pw_gid)
    assert mode("/etc/outpost/outpost.conf")[0] == 0o644
    assert Path("/usr/lib/systemd/system/outpostd.service").is_file()
    assert os.readlink("/usr/sbin/sendmail") == "/usr/bin/outpost"
    assert "/etc/outpost/outpost.conf" in run("dpkg-query", "-W", "-f=${Conffiles}", "outpost").stdout
    if shutil.which("systemd-analyze"):      # the unit as installed, with its man pages
        r = run("systemd-analyze", "verify", "/usr/lib/systemd/system/outpostd.service")
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    r = run("/usr/bin/outpost", "check-config")
    assert r.returncode == 0, r.stderr
    assert "/etc/outpost/outpost.conf: ok" in r.stdout

    # the daemon is down: a user with no privilege at all hands cron-style mail to sendmail
    nobody = pwd.getpwnam("nobody")
    r = run("/usr/sbin/sendmail", "-t", "-i", input="To: ops@example.invalid\nSubject: while down\n\nkept\n",
            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], cwd="/")
    assert r.returncode == 0, r.stderr
    if not port_free(25):
        pytest.skip("port 25 is taken here: the installed default listens on it")
    log = open("/tmp/outpostd-deb-test.log", "w+")
    print("log: /tmp/outpostd-deb-test.log")
    d = subprocess.Popen(["/usr/sbin/outpostd", "-f"], stdout=log, stderr=log)
    try:
        deadline = time.time() + 20
        text = ""
        while time.time() < deadline and "event=maildrop_queued" not in text:
            time.sleep(0.2)
            log.seek(0)
            text = log.read()
            assert d.poll() is None, text
        assert "event=privileges user=outpost" in text and "event=maildrop_queued" in text, text
        status = Path("/proc/%d/status" % d.pid).read_text()
        assert ("Uid:\t%d\t" % outpost.pw_uid) in status
        assert "from=<nobody@" in text, text       # the message nobody left, queued
        r = run("/usr/bin/mailq")                 # (example.invalid bounces at once: its DSN may be listed)
        assert r.returncode == 0, r.stderr
    finally:
        d.terminate()
        d.wait(timeout=60)
        log.close()
        os.unlink("/tmp/outpostd-deb-test.log")
