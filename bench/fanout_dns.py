#!/usr/bin/env python3
"""DNS for bench/fanout.sh: MX for N domains d0.bench.example.org .. d{N-1}.bench.example.org,
domain i on MX host mx{i % M}.bench.example.org, and mx{j}.bench.example.org A 127.0.1.{j+1}
(one smtp-sink there on port 25).  Anything else: NXDOMAIN.

    fanout_dns.py ADDRESS PORT N M      (runs until killed)
"""
import sys
import time

from dnslib import MX, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Fanout(BaseResolver):
    def __init__(self, n, m):
        self.n, self.m = n, m

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        label, _, zone = name.partition(".")
        prefix = label.rstrip("0123456789")
        number = label[len(prefix):]
        if zone != "bench.example.org" or not number or (prefix, qtype) not in (("d", "MX"), ("mx", "A"),
                                                                        ("d", "A"), ("mx", "MX"), ("d", "AAAA"),
                                                                        ("mx", "AAAA")):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        i = int(number)
        if i >= (self.n if prefix == "d" else self.m):
            reply.header.rcode = RCODE.NXDOMAIN
        elif (prefix, qtype) == ("d", "MX"):
            reply.add_answer(RR(name, QTYPE.MX, ttl=3600, rdata=MX("mx%d.bench.example.org" % (i % self.m), 10)))
        elif (prefix, qtype) == ("mx", "A"):
            reply.add_answer(RR(name, QTYPE.A, ttl=3600, rdata=A("127.0.1.%d" % (i + 1))))
        # other types of a name that exists: NODATA
        return reply


def main():
    addr, port, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    servers = [DNSServer(Fanout(n, m), address=addr, port=port, tcp=tcp, logger=quiet) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
