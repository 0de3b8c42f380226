#!/usr/bin/env python3
"""Injector for bench/fanout.sh: MESSAGES messages of about LENGTH octets, one
recipient each, u{i}@d{i % N}.bench.example.org, over SESSIONS parallel SMTP
sessions (smtp-source cannot spread recipients over domains).

    fanout_inject.py HOST PORT MESSAGES SESSIONS LENGTH N
"""
import smtplib
import sys
import threading


def main():
    host, port, total, sessions, length, n = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])
    line = "x" * 76 + "\r\n"
    body = line * max(1, length // len(line))
    errors = []

    def session(k):
        try:
            with smtplib.SMTP(host, port, timeout=60) as s:
                for i in range(k, total, sessions):
                    rcpt = "u%d@d%d.bench.example.org" % (i, i % n)
                    msg = ("From: <from@example.com>\r\nTo: <%s>\r\nSubject: fanout %d\r\n\r\n%s"
                           % (rcpt, i, body))
                    s.sendmail("from@example.com", [rcpt], msg)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("fanout_inject: %s" % errors[0], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
