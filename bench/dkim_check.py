#!/usr/bin/python3
"""Counts and verifies the DKIM signatures of the messages in an smtp-sink dump.

    /usr/bin/python3 bench/dkim_check.py DUMP SAMPLE [NAME=TXT ...]

DUMP is a multi-message file written by `smtp-sink -D`: each message is
smtp-sink's own lines (X-Client-Addr:, ..., a three-line Received:), then the
message as received, then an empty line.  Every message is counted: how many
carry an rsa-sha256 and an ed25519-sha256 DKIM-Signature, how many neither.
SAMPLE messages spread evenly over the dump (0: all of them) have every
signature verified by dkimpy (Debian's python3-dkim, python3-nacl for
ed25519), independent of both signers, with the DNS answers given as
NAME=TXT arguments (e.g. r2026._domainkey.example.com="v=DKIM1; k=rsa; p=...").
The lines smtp-sink put on top are unsigned header fields and the empty line
it appends is an empty body line: neither changes a relaxed or simple
verification.

Prints one line of key=value pairs for bench/dkim.sh:
    messages= rsa= ed25519= both= unsigned= malformed= sampled= sigs_verified= pass= fail= [first_fail="..."]
"""
import re
import sys

import dkim

SPLIT = re.compile(rb"\n\nX-Client-Addr: ")
ALG = re.compile(rb"(?:^|;)\s*a\s*=\s*([a-z0-9-]+)", re.I)


def headers(msg):
    """Unfolded header fields of msg (LF lines) as (name, value) bytes."""
    head = msg.split(b"\n\n", 1)[0]
    out = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + b" " + line.strip())
        elif b":" in line:
            n, v = line.split(b":", 1)
            out.append((n.strip().lower(), v.strip()))
    return out


def main():
    path, sample = sys.argv[1], int(sys.argv[2])
    records = {}
    for arg in sys.argv[3:]:
        name, txt = arg.split("=", 1)
        records[name.rstrip(".").lower()] = txt.encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.rstrip(".").lower())

    with open(path, "rb") as f:
        data = f.read()
    msgs = []
    if data:
        msgs = SPLIT.split(data)
        # the split eats the "X-Client-Addr: " of every message but the first
        msgs[1:] = [b"X-Client-Addr: " + m for m in msgs[1:]]
    c = dict(messages=len(msgs), rsa=0, ed25519=0, both=0, unsigned=0, malformed=0,
             sampled=0, sigs_verified=0, signed_sampled=0, all_pass=0, fail=0)
    first_fail = None
    step = 1 if sample <= 0 else max(1, len(msgs) // sample)
    for i, m in enumerate(msgs):
        h = headers(m)
        if b"\n\n" not in m or not any(n == b"from" for n, _ in h):
            c["malformed"] += 1
        algs = []
        for n, v in h:
            if n == b"dkim-signature":
                a = ALG.search(v)
                algs.append(a.group(1).lower() if a else b"?")
        r, e = b"rsa-sha256" in algs, b"ed25519-sha256" in algs
        c["rsa"] += r
        c["ed25519"] += e
        c["both"] += r and e
        c["unsigned"] += not algs
        if i % step or (sample > 0 and c["sampled"] >= sample):
            continue
        c["sampled"] += 1
        if not algs:
            continue
        c["signed_sampled"] += 1
        crlf = m.replace(b"\n", b"\r\n")
        ok = True
        for idx in range(len(algs)):
            c["sigs_verified"] += 1
            try:
                good = dkim.DKIM(crlf).verify(idx=idx, dnsfunc=dnsfunc)
                why = "verify returned False"
            except Exception as ex:  # dkimpy raises on a broken signature or key
                good, why = False, "%s: %s" % (type(ex).__name__, ex)
            if not good:
                ok = False
                c["fail"] += 1
                if first_fail is None:
                    first_fail = "message %d signature %d (%s): %s" % (
                        i + 1, idx + 1, algs[idx].decode(), why)
        c["all_pass"] += ok
    line = " ".join("%s=%d" % kv for kv in c.items())
    if first_fail:
        line += ' first_fail="%s"' % first_fail.replace('"', "'")
    print(line)


if __name__ == "__main__":
    main()
