"""DMARC aggregate reports: `outpost dmarc import`, the rua mailbox of the
daemon, and `outpost dmarc report` joining each source IP to a route.

Reports from real reporters are in tests/data/dmarc (parsedmarc's samples,
Apache-2.0, see the LICENSE there); the others are generated here: gzip,
zip, several records, optional fields left out, broken XML.  The world:
route `direct` sends from 192.0.2.10 and 192.0.2.11; route `ses` is a relay
at email-smtp.us-east-1.amazonaws.com, whose provider's SPF include
(amazonses.com, served by dnslib) lists 198.51.100.0/24; 203.0.113.66 is
nobody outpost knows."""
import gzip
import io
import json
import smtplib
import subprocess
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import BIN
from peers import DNS

DATA = Path(__file__).resolve().parent.parent / "data" / "dmarc"
RUA = "dmarc-reports@example.org"


def report(report_id, records, reporter="google.com", begin=None, email=True):
    """records: (ip, count, dkim, spf)."""
    begin = begin or int(time.time()) - 86400
    rows = "".join(
        "<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row>"
        "<identifiers><header_from>example.org</header_from></identifiers></record>" % r for r in records)
    return ('<?xml version="1.0"?><feedback><report_metadata><org_name>%s</org_name>%s'
            "<report_id>%s</report_id><date_range><begin>%d</begin><end>%d</end></date_range>"
            "</report_metadata><policy_published><domain>example.org</domain><p>reject</p>"
            "</policy_published>%s</feedback>"
            % (reporter, "<email>noreply-dmarc-support@google.com</email>" if email else "",
               report_id, begin, begin + 86399, rows)).encode()


def zipped(data, name="x"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return b.getvalue()


@pytest.fixture
def world(make_daemon, tmp_path):
    dns = DNS().start()
    dns.zone.add("amazonses.com", "TXT", "v=spf1 ip4:198.51.100.0/24 -all")
    dns.zone.add("example.org", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")   # the domain exists
    d = make_daemon(['resolver = "%s";' % dns.spec,
                     'routes = { direct = { type = "mx"; source = ( { address = "192.0.2.10"; }, '
                     '{ address = "192.0.2.11"; } ); }; ses = { type = "relay"; '
                     'host = "email-smtp.us-east-1.amazonaws.com:587"; }; };',
                     'rules = ( { via = [ "direct" ]; } );',
                     'dmarc = { rua = "%s"; threshold = 90; };' % RUA])
    yield d, tmp_path
    dns.stop()


def imp(d, *files):
    return d.cli("dmarc", "import", *[str(f) for f in files], check=False)


def test_import_of_every_container_and_duplicates_count_once(world):
    d, tmp = world
    files = {"plain.bin": report("r1", [("192.0.2.10", 5, "pass", "pass"), ("198.51.100.7", 4, "pass", "fail")]),
             "gz.data": gzip.compress(report("r2", [("192.0.2.11", 3, "pass", "pass")])),
             "zip.whatever": zipped(report("r3", [("203.0.113.66", 2, "fail", "fail")], email=False), "r.xml")}
    for name, data in files.items():        # names say nothing: content decides
        (tmp / name).write_bytes(data)
    r = imp(d, *(tmp / n for n in files), DATA / "fastmail.xml.gz", DATA / "infonacot.zip",
            DATA / "twilight.eml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(", stored") == 6
    again = imp(d, tmp / "gz.data")
    assert again.returncode == 0 and "1 records, duplicate" in again.stdout


def test_malformed_reports_are_refused_with_their_reason(world):
    d, tmp = world
    (tmp / "broken").write_bytes(report("b1", [("192.0.2.10", 1, "pass", "pass")])[:-20])
    (tmp / "badip").write_bytes(report("b2", [("192.0.2.300", 1, "pass", "pass")]))
    (tmp / "trunc.gz").write_bytes(gzip.compress(report("b3", [("192.0.2.10", 1, "pass", "pass")]))[:60])
    r = imp(d, tmp / "broken", tmp / "badip", tmp / "trunc.gz", DATA / "invalid_xml.xml")
    assert r.returncode == 1
    err = r.stderr
    assert "broken: no DMARC aggregate report found: broken XML at line 1" in err
    assert 'record 1: row/source_ip "192.0.2.300" is not an IP address' in err
    assert "trunc.gz: no DMARC aggregate report found: gzip: truncated" in err
    assert "invalid_xml.xml: no DMARC aggregate report found: broken XML at line 31" in err


def test_report_joins_sources_to_routes_and_lists_others(world):
    d, tmp = world
    (tmp / "a").write_bytes(report("j1", [("192.0.2.10", 9, "pass", "pass"), ("192.0.2.11", 1, "fail", "fail"),
                                          ("198.51.100.7", 10, "pass", "fail"),
                                          ("198.51.100.8", 10, "fail", "fail"),
                                          ("203.0.113.66", 4, "fail", "fail")]))
    (tmp / "old").write_bytes(report("j0", [("192.0.2.10", 100, "fail", "fail")], begin=int(time.time()) - 30 * 86400))
    assert imp(d, tmp / "a", tmp / "old").returncode == 0
    r = d.cli("dmarc", "report", "--since", "7d", "--json", check=False)
    assert r.returncode == 1, r.stderr        # ses is under the threshold
    rep = json.loads(r.stdout)
    routes = {x["route"]: x for x in rep["routes"]}
    assert routes["direct"]["messages"] == 10 and routes["direct"]["dmarc_pass"] == 90.0
    assert routes["ses"]["messages"] == 20 and routes["ses"]["dmarc_pass"] == 50.0
    assert routes["ses"]["spf_aligned"] == 0.0 and routes["ses"]["dkim_aligned"] == 50.0
    assert [x["source_ip"] for x in rep["not_outpost"]] == ["203.0.113.66"]
    (finding,) = rep["findings"]
    assert finding["route"] == "ses" and "custom MAIL FROM domain" in finding["fix"]
    text = d.cli("dmarc", "report", check=False).stdout
    assert "FINDING route ses" in text and "sources that are not outpost" in text
    # the doctor says the same about the domain's routes
    r = d.cli("doctor", "example.org", "--json", "--timeout-ms", "3000", check=False)
    found = {f["subject"]: f for f in json.loads(r.stdout)["findings"] if f["subject"].endswith("DMARC reports")}
    assert found["route ses in DMARC reports"]["status"] == "warn", found
    assert "custom MAIL FROM domain" in found["route ses in DMARC reports"]["fix"]
    assert found["route direct in DMARC reports"]["status"] == "pass"
    assert "90.0% of 10 messages pass DMARC" in found["route direct in DMARC reports"]["evidence"]


def test_reports_mailed_to_the_rua_address_are_stored(world):
    d, tmp = world
    msg = EmailMessage()
    msg["From"] = "noreply-dmarc-support@google.com"
    msg["To"] = RUA
    msg["Subject"] = "Report domain: example.org Submitter: google.com Report-ID: m1"
    msg.set_content("A DMARC aggregate report.")
    msg.add_attachment(gzip.compress(report("m1", [("192.0.2.10", 2, "pass", "pass")])),
                       maintype="application", subtype="gzip", filename="google.com!example.org.xml.gz")
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.send_message(msg)
        with pytest.raises(smtplib.SMTPDataError) as e:     # nothing in it: refused, with the reason
            s.sendmail("x@google.com", [RUA], "Subject: hi\r\n\r\nno report here\r\n")
        assert e.value.smtp_code == 550 and b"no DMARC aggregate report found" in e.value.smtp_error
    assert "event=dmarc_report" in d.log_text()
    rep = json.loads(d.cli("dmarc", "report", "--json", check=False).stdout)
    assert {x["route"]: x["messages"] for x in rep["routes"]} == {"direct": 2}


def test_import_speed_of_a_large_generated_report(world):
    """Figure: records per second (printed with -s); no assertion on time."""
    d, tmp = world
    n = 20000
    recs = [("10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), 1, "pass", "fail") for i in range(n)]
    (tmp / "large").write_bytes(gzip.compress(report("big", recs)))
    t0 = time.time()
    r = imp(d, tmp / "large")
    secs = time.time() - t0
    assert r.returncode == 0 and "%d records, stored" % n in r.stdout
    print("dmarc import: %d records in %.2f s (%s): %.0f records/s" % (n, secs, BIN, n / secs))
