"""Real peers on loopback for delivery tests: aiosmtpd receivers (MX hosts,
relays) and a dnslib DNS server the daemon is pointed at.  Nothing here
mocks outpost; these are the other ends of its conversations."""
import asyncio
import socket
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from dnslib import MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Received:
    def __init__(self, mail_from, rcpts, data, peer):
        self.mail_from, self.rcpts, self.data, self.peer = mail_from, rcpts, data, peer

    @property
    def text(self):
        return self.data.decode("utf-8", errors="replace")


class Behaviour:
    """How a receiver answers.  rcpt_replies: {address: "550 5.1.1 ..."};
    greylist_once: 4xx the first RCPT of each (sender, rcpt) pair;
    data_reply: a fixed reply to DATA's end; drop_in_data: close the
    connection after the body arrives, before replying; stall: seconds to
    wait before answering DATA's end; mail_reply: a fixed reply to MAIL FROM
    (a receiver that blocks the sender), changeable while it runs."""

    def __init__(self, rcpt_replies=None, greylist_once=False, data_reply=None, drop_in_data=False,
                 stall=0, mail_reply=None):
        self.mail_reply = mail_reply
        self.rcpt_replies = dict(rcpt_replies or {})
        self.greylist_once = greylist_once
        self.data_reply = data_reply
        self.drop_in_data = drop_in_data
        self.stall = stall
        self.seen_pairs = set()


class Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.sink.mail_attempts.append((address, time.time()))
        if self.sink.behaviour.mail_reply:
            return self.sink.behaviour.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        b = self.sink.behaviour
        self.sink.rcpt_attempts.append((address, time.time()))
        if address in b.rcpt_replies:
            return b.rcpt_replies[address]
        pair = (envelope.mail_from, address)
        if b.greylist_once and pair not in b.seen_pairs:
            b.seen_pairs.add(pair)
            return "450 4.2.0 Greylisted, see https://postgrey.schweikert.ch/help/test.html"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        b = self.sink.behaviour
        if b.drop_in_data:
            session_transport = server.transport
            session_transport.close()
            return "421 4.4.2 gone"  # never reaches the client
        if b.stall:
            await asyncio.sleep(b.stall)
        if b.data_reply:
            return b.data_reply
        self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                           envelope.original_content or envelope.content, session.peer))
        return "250 2.0.0 Ok: stored"


class Sink:
    """An aiosmtpd receiver on host:port, recording what it accepted."""

    def __init__(self, host="127.0.0.1", port=None, behaviour=None, tls_context=None, auth=None):
        self.host, self.port = host, port or free_port(host)
        self.behaviour = behaviour or Behaviour()
        self.messages, self.rcpt_attempts, self.mail_attempts = [], [], []
        kw = {}
        if tls_context is not None:
            kw["tls_context"] = tls_context
        if auth is not None:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, data):
                ok = isinstance(data, LoginPassword) and data.login.decode() == user \
                    and data.password.decode() == password
                return AuthResult(success=True) if ok else AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")
            kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
        self.controller = Controller(Handler(self), hostname=host, port=self.port,
                                     server_hostname="sink.test", ready_timeout=10, **kw)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait(self, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        return self.messages


class Zone(BaseResolver):
    """Records by (name, type); special answers: "SERVFAIL", "TIMEOUT" (no answer)."""

    def __init__(self):
        self.records = {}
        self.lock = threading.Lock()

    def add(self, name, qtype, value):
        with self.lock:
            self.records.setdefault((name.rstrip(".").lower(), qtype), []).append(value)

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        with self.lock:
            values = list(self.records.get((name, qtype), []))
            exists = any(k[0] == name for k in self.records)
        if "TIMEOUT" in values:
            return None
        if "SERVFAIL" in values:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for v in values:
            if qtype == "A":
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(v), ttl=1))
            elif qtype == "MX":
                pref, host = v
                reply.add_answer(RR(q.qname, QTYPE.MX, rdata=MX(host, pref), ttl=1))
            elif qtype == "TXT":
                # a str is split into 255-octet character-strings, as zone tools do
                strings = v if isinstance(v, list) else [v[i:i + 255] for i in range(0, len(v), 255)]
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT([x.encode() for x in strings]), ttl=1))
        return reply


class DNS:
    def __init__(self):
        self.zone = Zone()
        self.port = free_port()
        self.server = DNSServer(self.zone, port=self.port, address="127.0.0.1")

    def start(self):
        self.server.start_thread()
        return self

    def stop(self):
        self.server.stop()

    @property
    def spec(self):
        return "127.0.0.1@%d" % self.port
