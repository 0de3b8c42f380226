"""Webhooks: every event as a signed JSON POST, durable in the spool.
A Python HTTP receiver is down for a while (outpostd is killed with -9
meanwhile), then answers 500, then 200: every event arrives exactly once,
as the spool recorded it, in order, and every signature verifies."""
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port
from peers import Behaviour
from test_delivery import World, send

SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def world(make_daemon, tmp_path):
    w = World(make_daemon, tmp_path)
    yield w
    w.close()


class Receiver:
    """Answers `failures` POSTs with 500, then 200; records what it got (and
    from which client port, in `peers`).  keepalive: HTTP/1.1, connections
    stay open between requests."""

    def __init__(self, port, failures, keepalive=False):
        self.got, self.refused, self.failures, self.peers = [], 0, failures, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keepalive else "HTTP/1.0"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.refused < outer.failures:
                    outer.refused += 1
                    self.send_response(500)
                else:
                    outer.got.append((dict(self.headers), body))
                    outer.peers.append(self.client_address[1])
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def verify(headers, body):
    sig = dict(kv.split("=", 1) for kv in headers["X-Outpost-Signature"].split(","))
    want = hmac.new(SECRET.encode(), sig["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], want), headers
    assert abs(int(sig["t"]) - time.time()) < 600


def spool_events(http_port):
    """The spool's raw events as the daemon reads them (GET /api/v1/events),
    oldest first, in the webhook body's terms.  (Not opened from this
    process while the daemon runs: see the report on spool_check.c.)"""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/events?limit=10000" % http_port, timeout=10) as r:
        rows = json.loads(r.read())
    return [{"id": e["id"], "time": e["time"], "event": e["event"], "qid": e["qid"] or None,
             "route": e["route"] or None, "recipient": e["rcpt"] or None, "detail": e["detail"] or None}
            for e in reversed(rows)]


def test_webhook_outage_500_then_200_across_kill9(world, tmp_path):
    world.sink("127.0.0.2", Behaviour(rcpt_replies={"gone@example.net": "550 5.1.1 No such user"}))
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    port, http_port = free_port(), free_port()
    hook = ('webhooks = ( { url = "http://127.0.0.1:%d/hook"; secret_file = "%s";'
            ' events = [ "received", "delivered", "deferred", "bounced" ]; } );' % (port, secret))
    d = world.daemon(extra=[hook, 'http = { listen = "127.0.0.1:%d"; };' % http_port])
    send(d, ["a@example.net"], subject="one")
    send(d, ["gone@example.net"], subject="two")
    deadline = time.time() + 20
    while time.time() < deadline and d.log_text().count("event=webhook_failed") < 2:
        time.sleep(0.1)
    assert "event=webhook_failed" in d.log_text()      # the receiver is down
    d.kill9()
    d.start()
    # up as soon as the daemon is: each refused connection before it doubles
    # the back-off (1, 2, 4, 8 s...), and three 500s follow
    receiver = Receiver(port, failures=3)
    try:
        send(d, ["b@example.net"], subject="three")
        deadline = time.time() + 120
        want = None
        while time.time() < deadline:
            events = spool_events(http_port)
            want = [e for e in events if e["event"] in ("received", "delivered", "deferred", "bounced")]
            if len(want) >= 7 and len(receiver.got) == len(want):
                break
            time.sleep(0.2)
        got = receiver.got
    finally:
        receiver.stop()
    assert receiver.refused == 3, d.log_text()[-4000:]
    # received x3, delivered a@ and b@ and the DSN of the bounce, bounced gone@
    kinds = sorted(e["event"] for e in want)
    assert kinds == ["bounced", "delivered", "delivered", "delivered", "received", "received", "received"], want
    bodies = [json.loads(b) for _, b in got]
    assert [b["id"] for b in bodies] == [e["id"] for e in want], "each once, in order"
    for (headers, raw), e in zip(got, want):
        verify(headers, raw)
        assert json.loads(raw) == e, "as the spool recorded it"
        assert headers["X-Outpost-Event"] == e["event"] and headers["X-Outpost-Event-Id"] == str(e["id"])
    assert "event=webhook_failed" in d.log_text() and "status=500" in d.log_text()
