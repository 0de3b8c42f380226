"""Inbox-placement probes against a real Dovecot on loopback.

The test starts Dovecot (tests/integration/dovecot/dovecot.conf.in: IMAP on
a free loopback port, no TLS, one passwd-file user `probe`, maildirs in a
temporary directory) with a junk folder found by its SPECIAL-USE \\Junk
attribute ("Junk E-mail", outpost on plain IMAP) or by its name alone
("[Gmail]/Spam", outpost on IMAPS, the certificate verified with ca_file).
outpost has three routes, each to its own aiosmtpd receiver on loopback:
`direct` (an mx route: the seed domain's MX resolves to 127.0.0.1) files
what it receives into INBOX, `junky` (a relay) into the junk folder, and
`lossy` (a relay) accepts and drops.  The seed mailbox is
probe@seed.example; a second seed has a wrong password, so its mailbox
cannot be looked at.  Two rounds run (interval 10 s).  Before them, the
junk folder holds a late probe of an earlier round, which must be swept,
and mail that is not outpost's, which must stay.  The recorded results
must say where each route's probe was filed, the probes must be gone from
the mailbox afterwards, `outpost placement` must show them with their
trend, and `outpost monitor` must list the spam route.  /metrics (checked
by promtool) counts each probe by route and result and gives each route's
inbox share of the latest round; each probe is a signed `placement` webhook
event at a Python receiver, as the spool recorded it."""
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, free_port
from peers import DNS, Sink
from test_observe import get, promtool_check, sample
from test_webhook_events import api_events, hook
from test_webhooks import Receiver, verify

HERE = Path(__file__).parent
SEED = "probe@seed.example"
BAD_SEED = "other@seed.example"
IMAP_USER, IMAP_PASS = "probe", "probe pass 1"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"   # Debian's dovecot-imapd (scripts/deps.sh)


class Dovecot:
    """Dovecot as a child of the test, on an unprivileged loopback port."""

    def __init__(self, junk, special_use, tls_files):
        self.dir = Path(tempfile.mkdtemp(prefix="outpost-dovecot-"))
        self.dir.chmod(0o755)       # its login processes run as another user
        self.port, self.tls_port = free_port(), free_port()
        if os.geteuid() == 0:       # mail never runs as root: nobody owns the mailboxes
            uid, gid = pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid
            login, internal = "dovenull", "dovecot"
        else:
            uid, gid = os.getuid(), os.getgid()
            login = internal = pwd.getpwuid(uid).pw_name
        for d in ("mail", "home"):
            (self.dir / d).mkdir()
            os.chown(self.dir / d, uid, gid)
        text = (HERE / "dovecot" / "dovecot.conf.in").read_text()
        for k, v in (("DIR", self.dir), ("PORT", self.port), ("UID", uid), ("GID", gid),
                     ("LOGIN_USER", login), ("INTERNAL_USER", internal), ("JUNK", junk),
                     ("SPECIAL_USE", "special_use = \\Junk" if special_use else ""),
                     ("IMAPS_PORT", self.tls_port), ("CERT", tls_files[0]), ("KEY", tls_files[1])):
            text = text.replace("@%s@" % k, str(v))
        (self.dir / "dovecot.conf").write_text(text)
        (self.dir / "passwd").write_text("%s:{PLAIN}%s\n" % (IMAP_USER, IMAP_PASS))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.imap().logout()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start: %s" % self.log())

    def log(self):
        p = self.dir / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def imap(self):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login(IMAP_USER, IMAP_PASS)
        return m

    def append(self, folder, data):
        m = self.imap()
        typ, _ = m.append(quote(folder), None, None, data)
        m.logout()
        assert typ == "OK"

    def messages(self, folder):
        """The X-Outpost-Placement values of the messages in folder ("" when none)."""
        m = self.imap()
        typ, _ = m.select(quote(folder))
        assert typ == "OK"
        typ, data = m.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            typ, d = m.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (X-Outpost-Placement)])")
            field = d[0][1].decode().strip()
            found.append(field.split(":", 1)[1].strip() if field else "")
        m.logout()
        return found

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def quote(name):
    return '"%s"' % name


class Filing(Sink):
    """A receiver that files what it gets for the seed into a Dovecot folder
    (IMAP APPEND), or drops it (folder None)."""

    def __init__(self, dovecot, folder):
        super().__init__()
        self.filed = []
        orig = self.controller.handler.handle_DATA

        async def handle_DATA(server, session, envelope):
            reply = await orig(server, session, envelope)
            data = envelope.original_content or envelope.content
            if folder and SEED in envelope.rcpt_tos:
                dovecot.append(folder, data)
                self.filed.append(data)
            return reply
        self.controller.handler.handle_DATA = handle_DATA


@pytest.fixture(params=[("Junk E-mail", True, "imap"), ("[Gmail]/Spam", False, "imaps")],
                ids=["special-use-imap", "by-name-imaps"])
def dovecot(request, tls_files):
    junk, special_use, scheme = request.param
    d = Dovecot(junk, special_use, tls_files).start()
    d.junk = junk
    # outpost reaches it by plain IMAP on loopback, or by IMAPS verified with the test's CA
    d.settings = ('imap = "imap://127.0.0.1:%d";' % d.port if scheme == "imap" else
                  'imap = "imaps://localhost:%d"; ca_file = "%s";' % (d.tls_port, tls_files[0]))
    yield d
    d.stop()


def keygen(tmp):
    out = tmp / "s1.pem"
    r = subprocess.run([str(BIN / "outpost"), "dkim", "keygen", "--domain", "example.com", "--selector", "s1",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def wait_for(pred, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


STALE = (b"From: outpost placement probe <outpost-placement@example.com>\r\nSubject: Delivery check opstale\r\n"
         b"X-Outpost-Placement: opstale\r\n\r\na probe of an earlier round that came after its look\r\n")
FOREIGN = (b"From: someone@else.example\r\nSubject: hello\r\nX-Outpost-Placement: opforeign\r\n\r\n"
           b"not outpost's: must stay\r\n")
PLAIN = b"From: friend@else.example\r\nSubject: lunch?\r\n\r\nmust stay\r\n"


# outpost's own line, not a webhook_sent line that names the event
PLACEMENT_LINE = re.compile(r"event=placement (qid=\S+ route=.*)")


def results(log):
    """{(route, seed): [fields of each event=placement line, oldest first]}"""
    got = {}
    for line in PLACEMENT_LINE.findall(log):
        kv = {k: v.strip('"') for k, v in re.findall(r'(\w+)=(".*?"|\S+)', line)}
        got.setdefault((kv["route"], kv["seed"].strip("<>")), []).append(kv)
    return got


def test_placement_records_where_each_route_lands_and_deletes_the_probes(make_daemon, tmp_path, dovecot):
    dns = DNS().start()
    # the seed's provider is told by its MX host (as gmail.com's is by google.com's)
    dns.zone.add("seed.example", "MX", (10, "mx1.mailhost.example"))
    dns.zone.add("mx1.mailhost.example", "A", "127.0.0.1")
    inbox, junk, lossy = Filing(dovecot, "INBOX"), Filing(dovecot, dovecot.junk), Filing(dovecot, None)
    for s in (inbox, junk, lossy):
        s.start()
    dovecot.append(dovecot.junk, STALE)
    dovecot.append(dovecot.junk, FOREIGN)
    dovecot.append("INBOX", PLAIN)
    good, bad = tmp_path / "probe.pass", tmp_path / "bad.pass"
    good.write_text(IMAP_PASS + "\n")
    bad.write_text("not the password\n")
    good.chmod(0o600)
    bad.chmod(0o600)
    hook_port, http_port = free_port(), free_port()
    receiver = Receiver(hook_port, failures=0)
    try:
        d = make_daemon([hook(tmp_path, hook_port, ["placement"]), 'http = { listen = "127.0.0.1:%d"; };' % http_port,
            'resolver = "%s";' % dns.spec,
            'routes = { direct = { type = "mx"; port = %d; tls = "none"; }; '
            'junky = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; '
            'lossy = { type = "relay"; host = "127.0.0.1:%d"; tls = "none"; }; };'
            % (inbox.port, junk.port, lossy.port),
            'rules = ( { via = [ "direct" ]; } );',
            'dkim = ( { domain = "example.com"; selector = "s1"; key = "%s"; } );' % keygen(tmp_path),
            'placement = { interval = "10s"; wait = "2s"; seeds = ( '
            '{ address = "%s"; %s user = "%s"; password_file = "%s"; }, '
            '{ address = "%s"; %s user = "%s"; password_file = "%s"; } ); };'
            % (SEED, dovecot.settings, IMAP_USER, good, BAD_SEED, dovecot.settings, IMAP_USER, bad)])
        # two rounds: 3 routes x 2 seeds each
        assert wait_for(lambda: len(PLACEMENT_LINE.findall(d.log_text())) >= 12), d.log_text()[-4000:]
        check_metrics(http_port)
        check_events(http_port, receiver, dovecot.junk)
        d.stop()                   # no third round while the mailbox is looked at
        log = d.log_text()
        got = results(log)
        rounds = len(got[("direct", SEED)])
        assert rounds >= 2 and all(len(v) == rounds for v in got.values()), got
        for r in range(rounds):
            # where each route's probe was filed
            assert got[("direct", SEED)][r]["result"] == "inbox" and got[("direct", SEED)][r]["folder"] == "INBOX"
            assert got[("junky", SEED)][r]["result"] == "spam" and got[("junky", SEED)][r]["folder"] == dovecot.junk
            assert got[("lossy", SEED)][r]["result"] == "missing"
            for route in ("direct", "junky", "lossy"):
                assert got[(route, BAD_SEED)][r]["result"] == "error", got[(route, BAD_SEED)]
                assert "mailbox not looked at: IMAP: Login denied" in got[(route, BAD_SEED)][r]["detail"]
        assert all(v[0]["provider"] == "mailhost.example" for v in got.values()), got
        # the probes were real, signed mail carrying the token in a field and the subject
        assert len(inbox.filed) == rounds and len(junk.filed) == rounds and len(lossy.messages) == 2 * rounds
        for sink, route in ((inbox, "direct"), (junk, "junky")):
            for r in range(rounds):
                token = got[(route, SEED)][r]["token"]
                text = sink.filed[r].decode()
                assert "X-Outpost-Placement: %s" % token in text and "Subject: Delivery check %s" % token in text
                assert "DKIM-Signature:" in text
                assert "From: outpost placement probe <outpost-placement@example.com>" in text
        # ... and deleted afterwards, with the late one of an earlier round; nothing else was touched
        assert dovecot.messages(dovecot.junk) == ["opforeign"]
        assert dovecot.messages("INBOX") == [""]
        assert "event=placement_swept seed=<%s> folder=\"%s\" probes=1" % (SEED, dovecot.junk) in log
        check_cli(d, rounds)
    finally:
        receiver.stop()
        for s in (inbox, junk, lossy):
            s.stop()
        dns.stop()


def check_metrics(http_port):
    """Probes by route and result (the bad seed's cannot be looked at:
    error), and the inbox share of the latest round among the probes looked
    at.  A round is counted in one go on the loop /metrics is served on, so
    the counts agree with each other."""
    text = get("http://127.0.0.1:%d/metrics" % http_port)[2]
    promtool_check(text)
    rounds = sample(text, "outpost_placement_results_total", route="direct", result="inbox")
    assert rounds is not None and rounds >= 2, text
    assert sample(text, "outpost_placement_results_total", route="junky", result="spam") == rounds
    assert sample(text, "outpost_placement_results_total", route="lossy", result="missing") == rounds
    for route in ("direct", "junky", "lossy"):
        assert sample(text, "outpost_placement_results_total", route=route, result="error") == rounds
    assert sample(text, "outpost_placement_results_total", route="direct", result="spam") is None
    assert sample(text, "outpost_placement_inbox_ratio", route="direct") == 1.0
    assert sample(text, "outpost_placement_inbox_ratio", route="junky") == 0.0
    assert sample(text, "outpost_placement_inbox_ratio", route="lossy") == 0.0


def check_events(http_port, receiver, junk):
    """A `placement` event per probe, at the receiver as the spool has it."""
    deadline = time.time() + 30
    while time.time() < deadline and len(receiver.got) < 12:
        time.sleep(0.1)
    assert len(receiver.got) >= 12, receiver.got
    spooled = api_events(http_port, ["placement"])
    got = []
    for headers, raw in receiver.got:
        verify(headers, raw)
        got.append(json.loads(raw))
    assert got == spooled[:len(got)]
    by = {(e["route"], e["recipient"]): e for e in got[:12]}
    assert by[("junky", SEED)]["detail"]["result"] == "spam" and by[("junky", SEED)]["qid"]
    assert by[("junky", SEED)]["detail"]["folder"] == junk
    assert by[("direct", SEED)]["detail"] == {"seed": SEED, "provider": "mailhost.example", "result": "inbox",
                                              "folder": "INBOX", "detail": ""}
    assert by[("lossy", SEED)]["detail"]["result"] == "missing"
    assert by[("lossy", BAD_SEED)]["detail"]["result"] == "error"
    assert "Login denied" in by[("lossy", BAD_SEED)]["detail"]["detail"]


def check_cli(d, rounds):
    r = d.cli("placement", "--json", check=False)
    assert r.returncode == 1, r.stderr      # a route lands in spam
    res = {(e["route"], e["seed"]): e for e in json.loads(r.stdout)}
    assert res[("direct", SEED)]["result"] == "inbox"
    assert res[("direct", SEED)]["trend"] == {"probes": rounds, "inbox": rounds, "spam": 0, "missing": 0,
                                              "inbox_share": 1.0}
    assert res[("junky", SEED)]["trend"]["spam"] == rounds and res[("junky", SEED)]["trend"]["inbox_share"] == 0.0
    assert res[("lossy", SEED)]["trend"]["missing"] == rounds
    assert res[("lossy", BAD_SEED)]["result"] == "error" and res[("lossy", BAD_SEED)]["trend"]["probes"] == 0
    last = d.cli("placement", "--json", "--last", "1", check=False)
    assert [e["trend"]["probes"] for e in json.loads(last.stdout) if e["route"] == "junky" and e["seed"] == SEED] == [1]
    text = d.cli("placement", check=False)
    assert text.returncode == 1
    assert re.search(r"^junky\s+probe@seed\.example\s+mailhost\.example\s+spam\s", text.stdout, re.M), text.stdout
    mon = d.cli("monitor", check=False)
    assert mon.returncode == 1, mon.stdout + mon.stderr
    assert "fail placement  route junky to probe@seed.example" in mon.stdout
    assert "route direct" not in mon.stdout and "route lossy" not in mon.stdout
