"""The RFC 7208 test suite, run against `outpost spf check`.

Proves that outpost's SPF evaluator gives an accepted result for every test
of the openspf.org suite (release 2014.04), vendored with its licence in
tests/data/spf/rfc7208-tests.yml.  For each scenario (one YAML
document) a DNS server on 127.0.0.1 (a free port) serves the scenario's
`zonedata`; every test of the scenario then runs the built binary
($OUTPOST_BIN_DIR/outpost, default build-asan in the repository) with
`--resolver 127.0.0.1@PORT --timeout-ms 1500`, in parallel, and the result
word (and the explanation, when the test names one) is compared.

How the zone data is served (the suite's conventions, as pyspf's driver does):
  * TXT and SPF records are a string or a list of strings (the strings of
    one record); "NONE" is a placeholder that serves nothing.  An empty
    list (null-text) is served as one empty string: a TXT RR without any
    string is malformed and unbound would turn the answer into SERVFAIL.
  * SPF records are served as type SPF (99), which RFC 7208 evaluators
    ignore, and, when the name has no TXT entry at all, also as TXT: the
    suite's header asks drivers to duplicate SPF to TXT so that each test
    exercises the TXT lookup.  A "TXT: NONE" entry stops the duplication.
  * TIMEOUT: a query is never answered (so the resolver's timer expires and
    the result is temperror) unless a record of the asked type comes before
    TIMEOUT in the name's list.
  * CNAME entries are followed inside the zone; names absent from the zone
    are NXDOMAIN.

Accepted deviations (documented, not silent):
  * explanation "DEFAULT": pyspf's driver sets the default explanation to
    the word DEFAULT; outpost prints no explanation line when exp= gives
    none, so DEFAULT means "no explanation line".
  * v-macro-ip6: the suite expects the %{ir} nibbles of an IPv6 address in
    uppercase (pyspf's formatting); RFC 7208 section 7.4 writes them in
    lowercase, as outpost does, so that explanation is compared ignoring case.
  * Tests whose `result` is a list accept any of its results (the suite's
    own alternatives, e.g. ptr-limit, multispf1, invalid-domain-*).
"""
import concurrent.futures
import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "data" / "spf" / "rfc7208-tests.yml"
BIN_DIR = Path(os.environ.get("OUTPOST_BIN_DIR", ROOT / "build-asan")).resolve()
OUTPOST = BIN_DIR / "outpost"
TIMEOUT_MS = 1500
PARALLEL = 8

CASE_INSENSITIVE_EXPLANATION = {"v-macro-ip6"}


def name_labels(name):
    """Zone or query name to a tuple of lowercased label bytes (root: ())."""
    if isinstance(name, DNSLabel):
        return tuple(label.lower() for label in name.label)
    name = name.rstrip(".")
    if not name:
        return ()
    return tuple(label.lower() for label in name.encode("utf-8").split(b"."))


def dns_label(name):
    """A DNSLabel built from raw labels (dnslib's idna path rejects ':' etc.)."""
    name = name.rstrip(".")
    return DNSLabel(tuple(name.encode("utf-8").split(b".")) if name else ())


def txt_strings(value):
    strings = [value] if isinstance(value, str) else list(value)
    # A TXT RR with no strings at all ("null text") is malformed (RFC 1035
    # 3.3.14) and unbound drops the whole answer as SERVFAIL; serve the
    # closest legal form, one empty string.  outpost's own TXT decoder
    # accepts a zero-length rdata too (tests/unit/test_dns.c).
    return [s.encode("utf-8") for s in strings] or [b""]


def make_rr(owner, rtype, value):
    if rtype == "A":
        rdata = A(value)
    elif rtype == "AAAA":
        rdata = AAAA(value)
    elif rtype == "MX":
        pref, host = value
        rdata = MX(dns_label(host or "."), int(pref))
    elif rtype == "PTR":
        rdata = PTR(dns_label(value))
    elif rtype == "CNAME":
        rdata = CNAME(dns_label(value))
    elif rtype in ("TXT", "SPF"):
        rdata = TXT(txt_strings(value))
    else:
        raise ValueError("unsupported zonedata type %r" % rtype)
    return RR(owner, getattr(QTYPE, rtype), rdata=rdata, ttl=300)


class Zone:
    """A scenario's zonedata, with the suite's TIMEOUT and SPF conventions."""

    def __init__(self, zonedata):
        self.names = {}
        for name, records in (zonedata or {}).items():
            has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
            entries, generated = [], []
            for record in records:
                if record == "TIMEOUT":
                    entries.append(("TIMEOUT", None))
                    continue
                ((rtype, value),) = record.items()
                if rtype == "SPF" and not has_txt:
                    generated.append(("TXT", value))
                if value != "NONE":
                    entries.append((rtype, value))
            self.names[name_labels(name)] = entries + generated

    def answer(self, labels, owner, qtype, seen=()):
        """('drop', []) for no answer, ('nx', rrs) or ('ok', rrs)."""
        entries = self.names.get(labels)
        if entries is None:
            return "nx", []
        rrs, found = [], False
        for rtype, value in entries:
            if rtype == "TIMEOUT":
                if not found:
                    return "drop", []
                break
            if rtype == "CNAME" and qtype != "CNAME":
                rrs.append(make_rr(owner, "CNAME", value))
                target = name_labels(value)
                if target in seen or target == labels:
                    return "ok", rrs
                status, more = self.answer(target, dns_label(value), qtype, seen + (labels,))
                return status, (rrs + more if status != "drop" else [])
            if rtype == qtype:
                found = True
                rrs.append(make_rr(owner, rtype, value))
        return "ok", rrs


class ZoneServer:
    """A UDP DNS server on 127.0.0.1 serving one Zone, in a thread."""

    def __init__(self, zone):
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()
        self.sock.close()

    def serve(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            reply = self.handle(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def handle(self, data):
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - not DNS: ignore
            return None
        q = request.q
        try:
            qtype = QTYPE[q.qtype]
        except Exception:  # noqa: BLE001 - a type we do not know
            qtype = str(q.qtype)
        status, rrs = self.zone.answer(name_labels(q.qname), q.qname, qtype)
        if status == "drop":
            return None
        reply = request.reply()
        if status == "nx":
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in rrs:
            reply.add_answer(rr)
        return reply.pack()


def load_scenarios():
    with SUITE.open(encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    scenarios = []
    for doc in docs:
        slug = re.sub(r"[^a-z0-9]+", "-", doc["description"].lower()).strip("-")
        scenarios.append((slug, doc))
    return scenarios


SCENARIOS = load_scenarios()
PARAMS = [(i, name) for i, (_, doc) in enumerate(SCENARIOS) for name in doc["tests"]]
IDS = ["%s:%s" % (SCENARIOS[i][0], name) for i, name in PARAMS]
_results = {}


def run_check(port, test):
    cmd = [str(OUTPOST), "spf", "check", "--ip", str(test["host"]),
           "--mail-from", str(test["mailfrom"]), "--helo", str(test["helo"]),
           "--resolver", "127.0.0.1@%d" % port, "--timeout-ms", str(TIMEOUT_MS)]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), \
        proc.stderr.decode("utf-8", "replace")


def scenario_results(idx):
    """Runs every test of one scenario against one server, in parallel, once."""
    if idx not in _results:
        doc = SCENARIOS[idx][1]
        with ZoneServer(Zone(doc.get("zonedata"))) as server, \
                concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            futures = {name: pool.submit(run_check, server.port, test)
                       for name, test in doc["tests"].items()}
            _results[idx] = {name: f.result() for name, f in futures.items()}
    return _results[idx]


def test_suite_is_complete():
    assert len(SCENARIOS) >= 15
    assert len(PARAMS) >= 150


@pytest.mark.parametrize("idx,name", PARAMS, ids=IDS)
def test_rfc7208(idx, name):
    assert OUTPOST.exists(), "build outpost first (OUTPOST_BIN_DIR=%s)" % BIN_DIR
    test = SCENARIOS[idx][1]["tests"][name]
    rc, out, err = scenario_results(idx)[name]
    context = "stdout:\n%s\nstderr:\n%s" % (out, err)
    assert rc == 0, context
    lines = out.splitlines()
    assert lines, context
    accepted = test["result"] if isinstance(test["result"], list) else [test["result"]]
    assert lines[0] in accepted, context
    if "explanation" not in test:
        return
    got = [line[len("explanation: "):] for line in lines if line.startswith("explanation: ")]
    if test["explanation"] == "DEFAULT":
        assert got == [], context
    elif name in CASE_INSENSITIVE_EXPLANATION:
        assert [g.lower() for g in got] == [test["explanation"].lower()], context
    else:
        assert got == [test["explanation"]], context
