#!/usr/bin/env python3
"""DNS for bench/monitor.sh: everything outpost's monitor asks about, on loopback.

    monitor_dns.py PORT SOURCES DOMAINS DKIM_TXT        (runs until killed)
    monitor_dns.py --count PORT                          (prints the queries answered so far)

Source address i (1..SOURCES) is 203.0.113.i (RFC 5737; nothing is sent
from it) with PTR m{i}.bench.example.org, whose A record is the address.
Domain j (1..DOMAINS) is d{j}.bench.example.org: an SOA answer (NOERROR),
SPF "v=spf1 ip4:203.0.113.0/24 -all", the DKIM key DKIM_TXT under selector
bm, and DMARC p=reject with rua at the domain itself.  Every blocklist the
doctor asks answers its RFC 5782 test points (127.0.0.2 listed, 127.0.0.1
not; the domain lists' documented test names) and lists nothing else.
Every answer has TTL 0 and every negative one an SOA with TTL and minimum
0, so libunbound caches nothing: each lookup of the monitor is a query
here, the worst case for its cost.  The queries answered so far are the
answer to TXT count.bench.invalid (not counted itself), which --count asks."""
import sys
import threading

from dnslib import PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

COUNT_NAME = "count.bench.invalid"
IP_LISTS = ["zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "dnsbl-1.uceprotect.net",
            "dnsbl-2.uceprotect.net", "dnsbl-3.uceprotect.net", "psbl.surriel.com", "bl.mailspike.net"]


def records(nsrc, ndom, dkim_txt):
    r = {}
    for z in IP_LISTS:
        r[("2.0.0.127." + z, "A")] = ["127.0.0.2"]
    r[("2.0.0.127.list.dnswl.org", "A")] = ["127.0.10.0"]
    r[("dbltest.com.dbl.spamhaus.org", "A")] = ["127.0.1.2"]
    r[("test.surbl.org.multi.surbl.org", "A")] = ["127.0.0.8"]
    for i in range(1, nsrc + 1):
        r[("%d.113.0.203.in-addr.arpa" % i, "PTR")] = ["m%d.bench.example.org" % i]
        r[("m%d.bench.example.org" % i, "A")] = ["203.0.113.%d" % i]
    for j in range(1, ndom + 1):
        d = "d%d.bench.example.org" % j
        r[(d, "SOA")] = []
        r[(d, "TXT")] = ["v=spf1 ip4:203.0.113.0/24 -all"]
        r[("bm._domainkey." + d, "TXT")] = [dkim_txt]
        r[("_dmarc." + d, "TXT")] = ["v=DMARC1; p=reject; rua=mailto:dmarc@" + d]
    return r


class World(BaseResolver):
    def __init__(self, recs):
        self.recs = recs
        self.names = {name for name, _ in recs}
        self.count = 0
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        with self.lock:
            if name == COUNT_NAME:
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(str(self.count)), ttl=0))
                return reply
            self.count += 1
        for v in self.recs.get((name, qtype), []):
            if qtype == "A":
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(v), ttl=0))
            elif qtype == "PTR":
                reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(v), ttl=0))
            elif qtype == "TXT":
                strings = [v[i:i + 255] for i in range(0, len(v), 255)]
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT([s.encode() for s in strings]), ttl=0))
        if not reply.rr:
            if name not in self.names:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR(q.qname, QTYPE.SOA, ttl=0,
                              rdata=SOA("ns.bench.example.org", "hostmaster.bench.example.org", (1, 60, 60, 60, 0))))
        return reply


def count(port):
    reply = DNSRecord.parse(DNSRecord.question(COUNT_NAME, "TXT").send("127.0.0.1", port, timeout=5))
    print(str(reply.rr[0].rdata).strip('"'))


def main():
    if sys.argv[1] == "--count":
        return count(int(sys.argv[2]))
    port, nsrc, ndom, dkim_txt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    world = World(records(nsrc, ndom, dkim_txt))
    server = DNSServer(world, port=port, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated"))
    server.start_thread()
    threading.Event().wait()


if __name__ == "__main__":
    main()
