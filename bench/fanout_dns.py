#!/usr/bin/env python3
"""DNS for bench/fanout.sh: MX for N domains d0.bench.test .. d{N-1}.bench.test,
domain i on MX host mx{i % M}.bench.test, and mx{j}.bench.test A 127.0.1.{j+1}
(one smtp-sink there on port 25).  Anything else: NXDOMAIN.

    fanout_dns.py ADDRESS PORT N M      (runs until killed)
"""
import sys
import time

from dnslib import MX, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSServer


class Fanout(BaseResolver):
    def __init__(self, n, m):
        self.n, self.m = n, m

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        label, _, zone = name.partition(".")
        if zone != "bench.test" or len(label) < 2 or not label[1:].isdigit():
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        i = int(label[1:])
        if label[0] == "d" and i < self.n:
            if qtype == "MX":
                reply.add_answer(RR(name, QTYPE.MX, ttl=3600, rdata=MX("mx%d.bench.test" % (i % self.m), 10)))
        elif label[0] == "m" and label.startswith("mx") and label[2:].isdigit() and int(label[2:]) < self.m:
            if qtype == "A":
                reply.add_answer(RR(name, QTYPE.A, ttl=3600, rdata=A("127.0.1.%d" % (int(label[2:]) + 1))))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main():
    addr, port, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    servers = [DNSServer(Fanout(n, m), address=addr, port=port, tcp=tcp) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
