"""Issue 11 item 2: while a limit holds delivery (one relay route down with its
probe pending, the other's rate cut to a trickle), the daemon must idle, not
spin: its CPU time over the hold, read from /proc/PID/stat, stays a small share
of the wall time, a new SMTP client is served at once, and SIGTERM is acted on
promptly.  Relays are aiosmtpd receivers on the World's port; r1 (127.0.0.5)
has no listener at all."""
import smtplib
import time

from conftest import message
from peers import Behaviour
from test_delivery import world  # noqa: F401  (the fixture)
from test_faults import cpu_seconds

HEALTH = 'health = { failures = 1; probe = "1h"; probe_max = "1h"; };'


def test_held_delivery_does_not_spin_and_new_clients_are_served(world):
    r2 = world.sink("127.0.0.6", Behaviour(rcpt_replies={"slow0@anywhere.example": "451 4.7.1 Try again later"}))
    routes = " ".join('%s = { type = "relay"; host = "127.0.0.%d:%d"; tls = "none"; };' % (n, h, world.port)
                      for n, h in (("r1", 5), ("r2", 6)))
    d = world.daemon(routes=routes, rules='{ via = [ "r1", "r2" ]; }',
                     extra=[HEALTH, 'limits = ( { route = [ "r2" ]; rate = "2/min"; } );'])
    # (timeouts: a daemon that spins answers late or never; that must fail the test, not hang it)
    with smtplib.SMTP("127.0.0.1", d.port, timeout=20) as s:
        for i in range(8):
            rcpt = "slow%d@anywhere.example" % i
            try:
                s.sendmail("app@sender.example.org", [rcpt], message("m%d" % i))
            except smtplib.SMTPRecipientsRefused:
                pass
    # r1 refuses connections (down, probe in an hour); r2 takes at most the allowed burst,
    # then the rate (halved by the 451's back-off) holds the rest for tens of seconds
    deadline = time.time() + 15
    while time.time() < deadline and not r2.rcpt_attempts:
        time.sleep(0.1)
    assert r2.rcpt_attempts, d.log_text()[-3000:]
    time.sleep(1)
    pid = d.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.time()
    # a client connecting during the hold is served at once and its message accepted
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.sendmail("app@sender.example.org", ["late@anywhere.example"], message("late"))
    time.sleep(6)
    cpu = cpu_seconds(pid) - cpu0
    wall = time.time() - t0
    held = len([m for m in d.queue()])
    assert held >= 4, "the rate limit did not hold the mail: %d queued\n%s" % (held, d.log_text()[-3000:])
    assert cpu < 0.3 * wall, "outpostd used %.2f s of CPU in %.2f s while delivery was held" % (cpu, wall)
    t_stop = time.time()
    d.stop()
    assert time.time() - t_stop < 15, "SIGTERM took %.1f s" % (time.time() - t_stop)
