"""outpost doctor against a DNS world on loopback.

A dnslib server on 127.0.0.1 serves every record the doctor asks about
(SPF, DKIM, DMARC, MTA-STS, TLS-RPT TXT records, PTR and A records of the
source addresses, MX of the domains, blocklist zones such as
zen.spamhaus.org); an aiosmtpd MX with STARTTLS listens on 127.0.0.2 at
the mx route's port.  `good.example.org` publishes everything right and
gets exit status 0 with only passes.  Each bad domain is the good one with
exactly one thing broken, and must fail exactly that check (plus the
bulk-sender summary, which rests on it) while every other check passes.
Nothing here talks to the internet; the doctor's resolver forwards every
query, blocklist zones included, to the test server."""
import base64
import json
import re
import ssl
import subprocess

import pytest
from dnslib import MX, PTR, QTYPE, RCODE, RR, TXT, A

from conftest import BIN
from peers import DNS, Sink, Zone, free_port

GOOD = "good.example.org"
HOST = "mx-out.example.net"          # hostname and EHLO of the first source
SOURCES = {"10.0.0.1": HOST, "10.0.0.2": "mx-out2.example.net", "10.0.0.6": "mx-out6.example.net"}
PTR_MISMATCH_IP = "10.0.0.3"         # PTR names a host that is not the EHLO name
LISTED_IP = "10.0.0.4"               # on zen.spamhaus.org: 127.0.0.2 (SBL)
REFUSED_IP = "10.0.0.5"              # zen.spamhaus.org answers 127.255.255.254
OUTSIDE_SPF_IP = "10.1.0.9"          # good PTR, but not in the domains' SPF records
MULTI_IP = "10.0.0.7"                # on zen.spamhaus.org twice: 127.0.0.4 (XBL) and 127.0.0.10 (PBL)
RELAY_HOST = "smtp.relay.example.net"
# Every list's RFC 5782 test points: "listed" answers; "not listed" has no record.
IP_LISTS = ["zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "dnsbl-1.uceprotect.net",
            "dnsbl-2.uceprotect.net", "dnsbl-3.uceprotect.net", "psbl.surriel.com", "bl.mailspike.net"]
TEST_POINTS = [("2.0.0.127." + z, "127.0.0.2") for z in IP_LISTS] + [
    ("2.0.0.127.list.dnswl.org", "127.0.10.0"), ("dbltest.com.dbl.spamhaus.org", "127.0.1.2"),
    ("test.surbl.org.multi.surbl.org", "127.0.0.8")]
MX_HOST = "mx.example.net"


class DoctorZone(Zone):
    """peers.Zone plus TXT (a string, or a list of strings for one record)
    and PTR."""

    def resolve(self, request, handler):
        q = request.q
        qtype = QTYPE[q.qtype]
        if qtype not in ("TXT", "PTR"):
            return super().resolve(request, handler)
        reply = request.reply()
        name = str(q.qname).rstrip(".").lower()
        with self.lock:
            values = list(self.records.get((name, qtype), []))
            exists = any(k[0] == name for k in self.records)
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        for v in values:
            if qtype == "PTR":
                reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(v), ttl=1))
            else:
                # one string: in character-strings of at most 255 octets
                strings = [v[i:i + 200] for i in range(0, len(v), 200)] if isinstance(v, str) else v
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT([s.encode() for s in strings]), ttl=1))
        return reply


def reverse(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def dkim_txt(key):
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def publish_domain(zone, domain, key_txt, broken=None):
    """Everything a well-kept sending domain publishes, but `broken`."""
    if broken != "spf_missing":
        zone.add(domain, "TXT", "v=spf1 ip4:10.0.0.0/24 -all")
    if broken == "spf_lookups":
        zone.records[(domain, "TXT")] = [
            "v=spf1 " + " ".join("include:l%d.%s" % (i, domain) for i in range(11))
            + " ip4:10.0.0.0/24 -all"]
        for i in range(11):
            zone.add("l%d.%s" % (i, domain), "TXT", "v=spf1 ip4:198.51.100.%d -all" % (i + 1))
    zone.add("s1._domainkey." + domain, "TXT", key_txt + ("; t=y" if broken == "dkim_testing" else ""))
    if broken != "dmarc_missing":
        zone.add("_dmarc." + domain, "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@%s" % domain)
    zone.add(domain, "MX", (10, MX_HOST))
    zone.add("_mta-sts." + domain, "TXT",
             "v=STSv1;" if broken == "sts_bad" else "v=STSv1; id=20260101T000000")
    zone.add("_smtp._tls." + domain, "TXT", "v=TLSRPTv1; rua=mailto:tls@%s" % domain)


def make_world(tmp):
    """Starts the DNS server and the MX, writes tmp/outpost.conf; returns a
    dict (conf, dns, mx, tmp) and a function that stops the servers.  Also
    used by bench/doctor.sh."""
    keys = {}
    for name in ("good", "other"):
        keys[name] = tmp / (name + ".pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(keys[name])], check=True, capture_output=True)
    certdir = tmp / "tls"
    certdir.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + MX_HOST, "-keyout", str(certdir / "key.pem"),
                    "-out", str(certdir / "cert.pem")], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certdir / "cert.pem"), str(certdir / "key.pem"))
    mx = Sink("127.0.0.2", tls_context=ctx).start()

    dns = DNS()
    dns.zone = DoctorZone()
    dns.server.server.resolver = dns.zone
    z = dns.zone
    good_txt, other_txt = dkim_txt(keys["good"]), dkim_txt(keys["other"])
    domains = {"good": None, "nospf": "spf_missing", "spflimit": "spf_lookups",
               "dkimbad": None, "nodmarc": "dmarc_missing", "badsts": "sts_bad",
               "dkimtest": "dkim_testing"}
    for label, broken in domains.items():
        publish_domain(z, "%s.example.org" % label, other_txt if label == "dkimbad" else good_txt, broken)
    z.add(MX_HOST, "A", "127.0.0.2")
    for ip, name in list(SOURCES.items()) + [(ip, HOST) for ip in (LISTED_IP, REFUSED_IP, OUTSIDE_SPF_IP)]:
        z.add(reverse(ip), "PTR", name)
        z.add(name, "A", ip)
    z.add(reverse(PTR_MISMATCH_IP), "PTR", "static-3.cloud.example.com")
    z.add("static-3.cloud.example.com", "A", PTR_MISMATCH_IP)
    z.add(".".join(reversed(LISTED_IP.split("."))) + ".zen.spamhaus.org", "A", "127.0.0.2")
    z.add(".".join(reversed(REFUSED_IP.split("."))) + ".zen.spamhaus.org", "A", "127.255.255.254")
    z.add(reverse(MULTI_IP), "PTR", HOST)
    z.add(".".join(reversed(MULTI_IP.split("."))) + ".zen.spamhaus.org", "A", "127.0.0.4")
    z.add(".".join(reversed(MULTI_IP.split("."))) + ".zen.spamhaus.org", "A", "127.0.0.10")
    for name, code in TEST_POINTS:
        z.add(name, "A", code)
    z.add(RELAY_HOST, "A", "127.0.0.1")
    dns.start()

    dkim = ", ".join('{ domain = "%s.example.org"; selector = "s1"; key = "%s"; }'
                     % (label, keys["good"]) for label in domains)
    sources = ", ".join('{ address = "%s"; helo = "%s"; }' % kv for kv in SOURCES.items())
    conf = tmp / "outpost.conf"
    conf.write_text("\n".join([
        'hostname = "%s";' % HOST,
        'spool = "%s";' % (tmp / "spool"),
        'resolver = "%s";' % dns.spec,
        'routes = { direct = { type = "mx"; port = %d; source = ( %s ); }; };' % (mx.port, sources),
        'rules = ( { via = [ "direct" ]; } );',
        "dkim = ( %s );" % dkim,
    ]) + "\n")

    def stop():
        dns.stop()
        mx.stop()
    return {"conf": conf, "dns": dns, "mx": mx, "tmp": tmp, "tls": ctx}, stop


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w, stop = make_world(tmp_path_factory.mktemp("doctor"))
    yield w
    stop()


def doctor(conf, *args):
    r = subprocess.run([str(BIN / "outpost"), "-c", str(conf), "doctor", "--json", "--timeout-ms", "3000"]
                       + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1, 2), "exit %d: %s" % (r.returncode, r.stderr)
    return r.returncode, json.loads(r.stdout)


def by_status(report, status):
    return [f for f in report["findings"] if f["status"] == status]


def checks_with(report, status):
    return sorted({f["check"] for f in by_status(report, status)})


def test_good_domain_passes_every_check(world):
    rc, rep = doctor(world["conf"], GOOD)
    assert by_status(rep, "fail") == [] and by_status(rep, "warn") == [], rep
    assert rc == 0 and rep["status"] == "pass"
    # every check reported, and each source address was looked at
    assert checks_with(rep, "pass") == ["bulk", "dkim", "dmarc", "dnsbl", "rdns", "spf", "transport"]
    subjects = " ".join(f["subject"] + " " + f["evidence"] for f in rep["findings"])
    for ip in SOURCES:
        assert "check_host(%s" % ip in subjects and "PTR %s" % ip in subjects
    assert "STARTTLS offered" in subjects


def test_missing_spf_fails_with_the_record_to_publish(world):
    rc, rep = doctor(world["conf"], "nospf.example.org")
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "spf"], rep
    record = [f for f in by_status(rep, "fail") if f["subject"] == "TXT nospf.example.org"][0]
    assert record["fix"] == ('publish nospf.example.org. TXT '
                             '"v=spf1 ip4:10.0.0.1 ip4:10.0.0.2 ip4:10.0.0.6 ~all"')


def test_spf_over_ten_lookups_is_permerror(world):
    rc, rep = doctor(world["conf"], "spflimit.example.org")
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "spf"], rep
    fails = [f for f in by_status(rep, "fail") if f["check"] == "spf"]
    assert len(fails) == len(SOURCES) and all("= permerror" in f["evidence"] for f in fails)
    assert all("10 DNS-querying terms" in f["fix"] for f in fails)


def test_dkim_key_mismatch_fails_with_the_record_to_publish(world):
    rc, rep = doctor(world["conf"], "dkimbad.example.org")
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "dkim"], rep
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "dkim"]
    assert "mismatch" in f["evidence"]
    good_record = dkim_txt(world["tmp"] / "good.pem").split("p=")[1]
    assert f["fix"].startswith('publish s1._domainkey.dkimbad.example.org. TXT "v=DKIM1; k=rsa; p=')
    # a zone file's TXT: character-strings of at most 255 octets, joined by the receiver
    strings = re.findall(r'"([^"]*)"', f["fix"])
    assert len(strings) == 2 and len(strings[0]) == 255
    assert good_record in "".join(strings)


def test_dkim_record_left_in_testing_mode_warns(world):
    rc, rep = doctor(world["conf"], "dkimtest.example.org")
    assert rc == 1 and by_status(rep, "fail") == [], rep
    (w, bulk) = by_status(rep, "warn")
    assert w["check"] == "dkim" and "t=y" in w["evidence"] and w["fix"] == "remove t=y from the record"
    assert bulk["check"] == "bulk" and "not verified (see the warnings): DKIM" in bulk["evidence"]


def test_no_dmarc_fails_after_the_organisational_domain(world):
    rc, rep = doctor(world["conf"], "nodmarc.example.org")
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "dmarc"], rep
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "dmarc"]
    assert "nor at _dmarc.example.org" in f["evidence"]
    assert f["fix"] == ('publish _dmarc.nodmarc.example.org. TXT "v=DMARC1; p=none; '
                        'rua=mailto:dmarc-reports@nodmarc.example.org"')


def test_malformed_mta_sts_record_fails_the_transport_check(world):
    rc, rep = doctor(world["conf"], "badsts.example.org")
    assert rc == 2 and checks_with(rep, "fail") == ["transport"], rep
    (f,) = by_status(rep, "fail")
    assert f["subject"] == "MTA-STS" and "no id= field" in f["evidence"]


def test_ptr_not_matching_the_helo_name_fails(world):
    rc, rep = doctor(world["conf"], GOOD, "--ip", PTR_MISMATCH_IP)
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "rdns"], rep
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "rdns"]
    assert "static-3.cloud.example.com" in f["evidence"] and "EHLO %s" % HOST in f["evidence"]
    assert 'helo = "static-3.cloud.example.com"' in f["fix"]


def test_listed_address_fails_with_the_decoded_listing(world):
    rc, rep = doctor(world["conf"], GOOD, "--ip", LISTED_IP)
    assert rc == 2 and checks_with(rep, "fail") == ["dnsbl"], rep
    (f,) = by_status(rep, "fail")
    assert f["subject"] == "%s on Spamhaus ZEN" % LISTED_IP
    assert "SBL" in f["evidence"] and "check.spamhaus.org" in f["fix"]


def test_refused_resolver_code_warns_and_is_not_a_listing(world):
    rc, rep = doctor(world["conf"], GOOD, "--ip", REFUSED_IP)
    assert rc == 1 and by_status(rep, "fail") == [], rep
    (w,) = by_status(rep, "warn")
    assert w["check"] == "dnsbl" and "127.255.255.254" in w["evidence"]
    assert "could not test" in w["evidence"]


def test_route_without_source_address_asks_for_ip(world, tmp_path):
    conf = tmp_path / "nosource.conf"
    lines = world["conf"].read_text().splitlines()
    conf.write_text("\n".join(
        'routes = { direct = { type = "mx"; port = %d; }; };' % world["mx"].port
        if line.startswith("routes") else line for line in lines) + "\n")
    rc, rep = doctor(conf, GOOD)
    assert rc == 1, rep
    (w, bulk) = by_status(rep, "warn")
    assert w["check"] == "sources" and "--ip" in w["fix"]
    # no address, so no PTR was checked: never "met"
    assert bulk["check"] == "bulk" and "): PTR (FCrDNS); met: SPF, DKIM, DMARC aligned, TLS" in bulk["evidence"]


def test_address_outside_the_spf_record_gets_a_corrected_record(world):
    rc, rep = doctor(world["conf"], GOOD, "--ip", OUTSIDE_SPF_IP)
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "spf"], rep
    fixes = [f["fix"] for f in by_status(rep, "fail") if f["check"] == "spf"]
    assert "add ip4:%s to the SPF record of %s" % (OUTSIDE_SPF_IP, GOOD) in fixes
    assert 'publish instead: "v=spf1 ip4:10.0.0.0/24 ip4:%s -all"' % OUTSIDE_SPF_IP in fixes


def test_relay_without_dkim_cannot_align_and_needs_the_relays_include(world, tmp_path):
    conf = tmp_path / "relay.conf"
    keep = [line for line in world["conf"].read_text().splitlines()
            if not line.startswith(("routes", "rules", "dkim"))]
    ses = Sink(tls_context=world["tls"]).start()     # the relay the doctor connects to
    world["dns"].zone.add("email-smtp.us-east-1.amazonaws.com", "A", "127.0.0.1")
    conf.write_text("\n".join(keep + [
        'routes = { direct = { type = "mx"; port = %d; source = "10.0.0.1"; helo = "%s"; };'
        ' ses = { type = "relay"; host = "email-smtp.us-east-1.amazonaws.com:%d"; }; };'
        % (world["mx"].port, HOST, ses.port),
        'rules = ( { via = [ "ses", "direct" ]; } );']) + "\n")
    try:
        rc, rep = doctor(conf, GOOD)
    finally:
        ses.stop()
    assert rc == 2 and checks_with(rep, "fail") == ["bulk", "dkim", "dmarc"], rep
    (relay,) = [f for f in by_status(rep, "fail") if f["check"] == "dmarc"]
    assert relay["subject"] == "route ses" and "dkim = (" in relay["fix"]
    (mx,) = [f for f in by_status(rep, "warn") if f["check"] == "dmarc"]
    assert mx["subject"] == "route direct"        # SPF alone still aligns there
    (inc, record) = [f for f in by_status(rep, "warn") if f["check"] == "spf"]
    assert inc["subject"].startswith("relay route ses") and "include:amazonses.com" in inc["fix"]
    assert record["subject"] == "TXT " + GOOD
    assert record["fix"] == 'publish instead: "v=spf1 ip4:10.0.0.0/24 include:amazonses.com -all"'


def test_mx_refusing_the_connection_is_reported_with_the_route_port(world, tmp_path):
    closed = free_port("127.0.0.2")                # nothing listens there
    conf = tmp_path / "closed.conf"
    conf.write_text(world["conf"].read_text().replace("port = %d;" % world["mx"].port,
                                                      "port = %d;" % closed))
    rc, rep = doctor(conf, GOOD)
    assert rc == 1 and by_status(rep, "fail") == [], rep
    (w,) = by_status(rep, "warn")
    assert w["check"] == "transport" and w["subject"] == "MX %s port %d" % (MX_HOST, closed)
    assert "[127.0.0.2]:%d: Connection refused" % closed in w["evidence"]


def test_text_report_groups_by_severity_without_colour_off_a_terminal(world):
    r = subprocess.run([str(BIN / "outpost"), "-c", str(world["conf"]), "doctor", GOOD,
                        "--ip", LISTED_IP], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "\033[" not in r.stdout
    lines = r.stdout.splitlines()
    first_fail = next(i for i, l in enumerate(lines) if l.startswith("FAIL"))
    first_pass = next(i for i, l in enumerate(lines) if l.startswith("PASS"))
    assert first_fail < first_pass
    assert "fix:" in r.stdout and lines[-1].startswith("1 failed")


def relay_conf(world, tmp_path, port, tls="required", password="secret"):
    """Relay routes only: the doctor has no source address to check."""
    auth = tmp_path / "relay.auth"
    auth.write_text("user@example.org:%s\n" % password)
    auth.chmod(0o600)
    conf = tmp_path / "relayonly.conf"
    keep = [line for line in world["conf"].read_text().splitlines()
            if not line.startswith(("routes", "rules"))]
    conf.write_text("\n".join(keep + [
        'routes = { smarthost = { type = "relay"; host = "%s:%d"; tls = "%s"; auth = "%s"; }; };'
        % (RELAY_HOST, port, tls, auth),
        'rules = ( { via = [ "smarthost" ]; } );']) + "\n")
    return conf


@pytest.fixture
def relay(world):
    sink = Sink(tls_context=world["tls"], auth=("user@example.org", "secret")).start()
    yield sink
    sink.stop()


def test_relay_route_is_probed_with_starttls_and_auth_and_nothing_sent(world, relay, tmp_path):
    rc, rep = doctor(relay_conf(world, tmp_path, relay.port), GOOD)
    (f,) = [f for f in rep["findings"] if f["subject"] == "relay route smarthost"]
    assert f["status"] == "pass", f
    assert "%s:%d [127.0.0.1]" % (RELAY_HOST, relay.port) in f["evidence"]
    assert "TLSv1." in f["evidence"] and "AUTH as user@example.org accepted" in f["evidence"]
    assert relay.messages == [] and relay.mail_attempts == []
    # no MX route: no source address, so PTR was not checked and is not "met"
    (bulk,) = [f for f in rep["findings"] if f["subject"] == "Gmail/Yahoo 2024"]
    assert bulk["status"] == "warn" and "not checked" in bulk["evidence"]
    met = bulk["evidence"].split("met: ")[-1]
    assert "PTR" in bulk["evidence"] and "PTR" not in met, bulk


def test_relay_refusing_the_credentials_fails_with_the_fix(world, relay, tmp_path):
    rc, rep = doctor(relay_conf(world, tmp_path, relay.port, password="wrong"), GOOD)
    assert rc == 2
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "transport"]
    assert f["subject"] == "relay route smarthost" and "535" in f["evidence"]
    assert "credentials" in f["fix"]


def test_relay_certificate_that_does_not_verify_fails_when_the_route_requires_it(world, relay, tmp_path):
    rc, rep = doctor(relay_conf(world, tmp_path, relay.port, tls="verify"), GOOD)
    assert rc == 2
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "transport"]
    assert "certificate verification failed" in f["evidence"] and "certificate" in f["fix"]


def test_zen_answer_with_several_codes_reports_every_list(world):
    rc, rep = doctor(world["conf"], GOOD, "--ip", MULTI_IP)
    assert rc == 2
    (f,) = [f for f in by_status(rep, "fail") if f["check"] == "dnsbl"]
    assert f["subject"] == "%s on Spamhaus ZEN" % MULTI_IP
    assert "127.0.0.4: XBL" in f["evidence"] and "127.0.0.10: PBL" in f["evidence"], f


def test_resolver_answering_nxdomain_for_everything_cannot_test(world):
    """A resolver that knows nothing gives no confident advice: every
    finding that rests on DNS is "could not test", never pass or fail."""
    empty = DNS().start()            # NXDOMAIN for every name
    try:
        rc, rep = doctor(world["conf"], GOOD, "--resolver", empty.spec)
    finally:
        empty.stop()
    assert rc == 1 and by_status(rep, "fail") == [], rep
    for f in rep["findings"]:
        if f["check"] in ("spf", "dkim", "dmarc", "rdns", "dnsbl", "transport"):
            assert f["status"] == "warn" and f["evidence"].startswith("could not test: "), f
    assert any("SOA %s: NXDOMAIN" % GOOD in f["evidence"] for f in rep["findings"])
    assert any("2.0.0.127.zen.spamhaus.org" in f["evidence"] for f in rep["findings"])
    (bulk,) = [f for f in rep["findings"] if f["subject"] == "Gmail/Yahoo 2024"]
    assert bulk["evidence"].endswith("met: TLS"), bulk


def test_list_failing_its_rfc5782_test_points_is_not_judged(world):
    z = world["dns"].zone
    name = "1.0.0.127.bl.spamcop.net"      # must not be listed: this "list" lists everything
    z.add(name, "A", "127.0.0.2")
    try:
        rc, rep = doctor(world["conf"], GOOD)
    finally:
        with z.lock:
            del z.records[(name, "A")]
    spamcop = [f for f in rep["findings"] if f["subject"].endswith(" on SpamCop")]
    assert len(spamcop) == len(SOURCES), rep
    assert all(f["status"] == "warn" and f["evidence"].startswith("could not test: ")
               and "1.0.0.127.bl.spamcop.net" in f["evidence"] for f in spamcop)
    passes = " ".join(f["evidence"] for f in by_status(rep, "pass") if f["check"] == "dnsbl")
    assert "Barracuda" in passes and "SpamCop" not in passes
