"""Real mail, signed: every message of a corpus of real messages nobody here wrote
(bounces, auto-replies and reports from many MTAs, in many languages: tests/data/bounces,
or the *.eml files of the directory OUTPOST_DKIM_CORPUS names) is relayed through one
outpost daemon with an rsa and an ed25519 key (`all = true`) to an aiosmtpd receiver,
and every signature outpost added is verified there with dkimpy and with Perl Mail::DKIM
(rsa: Debian 12's Mail::DKIM predates ed25519).  Each file is handed over the way an
app's mail library hands a file (its lines ended with CRLF, a leading mbox "From " line
dropped, BODY=8BITMIME when it holds 8-bit octets).  All must be signed and verify; the only refusals allowed are the size
cap and a NUL octet (which no SMTP message may carry: issue 11)."""
import os
import re
import smtplib
import subprocess
from pathlib import Path

import dkim

from test_dkim import DOMAIN, world  # noqa: F401 (the fixture)

HERE = Path(__file__).parent
CORPUS = Path(os.environ.get("OUTPOST_DKIM_CORPUS", HERE.parent / "data" / "bounces"))
SELECTORS = {b"r1": b"rsa-sha256", b"e1": b"ed25519-sha256"}


def as_an_app_sends(raw):
    """Lines ended with CRLF, whatever ended them in the file (smtplib's own rule), and
    without the mbox "From " envelope line a file may start with (sendmail drops it)."""
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    return raw.split(b"\r\n", 1)[1] if raw.startswith(b"From ") else raw


def signatures(data):
    """(index among the DKIM-Signature fields, d=, s=) for each, in order."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = re.sub(rb"\r\n[ \t]", b" ", head).split(b"\r\n")
    sigs = [f for f in fields if f.lower().startswith(b"dkim-signature:")]
    tag = lambda f, t: (re.search(rb"[;:\s]%s=\s*([^;\s]+)" % t, f) or [None, b""])[1]
    return [(i, tag(f, b"d"), tag(f, b"s")) for i, f in enumerate(sigs)]


def relay_all(d, files):
    """Sends each file; returns ({qid: file}, {file: refusal reply})."""
    queued, refused = {}, {}
    with smtplib.SMTP("127.0.0.1", d.port, timeout=60) as s:
        s.ehlo("app.example.org")
        for f in files:
            msg = as_an_app_sends(f.read_bytes())
            opts = ["BODY=8BITMIME"] if any(b >= 0x80 for b in msg) else []
            s.mail("app@example.com", opts)
            s.rcpt("user@example.net")
            code, text = s.data(msg)
            if code == 250:
                queued[re.search(rb"queued as (\S+)", text).group(1).decode()] = f
            else:
                refused[f] = "%d %s" % (code, text.decode(errors="replace"))
                s.rset()
    return queued, refused


def perl_verdicts(world, paths):
    """{file name: [result line, ...]} from one Mail::DKIM run over all files."""
    r = subprocess.run(["perl", str(HERE / "dkim_verify.pl"), str(world.dns.port)] +
                       [str(p) for p in paths], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    out = {}
    for line in r.stdout.decode(errors="replace").splitlines():
        name, result = line.split("\t", 1)
        out.setdefault(Path(name).name, []).append(result)
    return out


def test_every_real_message_is_signed_and_verifies(world, tmp_path):
    files = sorted(CORPUS.glob("*.eml"))
    assert files, "no *.eml in %s" % CORPUS
    world.key("r1", "rsa")
    world.key("e1", "ed25519")
    d = world.daemon([(DOMAIN, "r1", "all = true; "), (DOMAIN, "e1", "all = true; ")])
    queued, refused = relay_all(d, files)
    # only what no outpost could send: over the size cap, or a NUL octet
    wrong = ["%s: %s" % (f.name, r) for f, r in refused.items()
             if not (r.startswith("552 5.3.4") or (b"\0" in f.read_bytes() and "NUL" in r))]
    assert not wrong, "\n".join(wrong)
    got = world.sink.wait(len(queued), timeout=60 + len(queued) / 2)
    assert len(got) == len(queued), "%d delivered of %d queued" % (len(got), len(queued))

    outdir = tmp_path / "delivered"
    outdir.mkdir()
    delivered, problems = {}, []
    for m in got:
        data = m.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        qid = re.search(rb"\(outpost\) with \S+ id (\S+)", data).group(1).decode()
        path = outdir / (qid + ".eml")
        path.write_bytes(data)
        delivered[qid] = (data, path)
        lines = data.split(b"\r\n")
        if any(len(line) > 998 for line in lines):
            problems.append("%s: a line over 998 octets left" % queued[qid].name)
        ours = [(i, s) for i, dom, s in signatures(data) if dom == DOMAIN.encode() and s in SELECTORS]
        if sorted(s for _, s in ours) != sorted(SELECTORS):
            problems.append("%s: signatures %s" % (queued[qid].name, ours))
            continue
        v = dkim.DKIM(data)
        for i, s in ours:
            if not v.verify(idx=i, dnsfunc=world.dnsfunc):
                problems.append("%s: dkimpy: s=%s fails" % (queued[qid].name, s.decode()))
    perl = perl_verdicts(world, [p for _, p in delivered.values()])
    perl_pass = 0
    for qid, (data, path) in delivered.items():
        mine = [r for r in perl.get(path.name, []) if " d=%s s=r1 " % DOMAIN in r or " d=%s s=e1 " % DOMAIN in r]
        rsa = [r for r in mine if "a=rsa-sha256" in r]
        if len(rsa) != 1 or not rsa[0].startswith("pass "):
            problems.append("%s: Mail::DKIM: %s" % (queued[qid].name, mine))
        else:
            perl_pass += 1
        for r in mine:
            if "a=ed25519-sha256" in r and not (r.startswith("pass ") or "unsupported algorithm" in r):
                problems.append("%s: Mail::DKIM: %s" % (queued[qid].name, r))
    print("\ncorpus %s: %d messages, %d queued, %d refused (%s), %d delivered, "
          "%d signed by both keys and verified by dkimpy (rsa+ed25519), %d verified by Mail::DKIM (rsa); "
          "problems: %d" % (CORPUS, len(files), len(queued), len(refused),
                            ", ".join("%s: %s" % (f.name, r) for f, r in refused.items()) or "none",
                            len(delivered), len(delivered) - len({p.split(":")[0] for p in problems}),
                            perl_pass, len(problems)))
    assert not problems, "\n".join(problems)
    # signatures the messages already carried are kept, under ours
    for qid, (data, _) in delivered.items():
        before = len(signatures(as_an_app_sends(queued[qid].read_bytes())))
        assert len(signatures(data)) == before + 2, queued[qid].name
