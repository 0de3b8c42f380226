#!/usr/bin/env python3
"""A fixed SMTP load for load-independent measures (syscalls and
instructions per message, bench/README.md "Per-message cost"): N messages of
SIZE octets, one connection per message, sent one after the other, so the
same binary sees the same sequence of reads every run.

    speed_load.py PORT N SIZE [lockstep|pipelined]

lockstep waits for each reply as smtp-source does; pipelined sends
MAIL, RCPT and DATA in one write (RFC 2920) and then the text and QUIT."""
import socket
import sys


def replies(sock, buf, n):
    """Reads until n whole replies have arrived; returns the rest of buf."""
    while True:
        done = 0
        for line in buf.split(b"\r\n")[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                done += 1
        if done >= n:
            if not buf.endswith(b"\r\n"):
                raise SystemExit("partial reply %r" % buf)
            for line in buf.split(b"\r\n")[:-1]:
                if line[:1] not in (b"2", b"3"):
                    raise SystemExit("refused: %r" % line)
            return b""
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("closed: %r" % buf)
        buf += chunk


def body(size):
    line = b"x" * 76 + b"\r\n"
    head = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: load\r\n\r\n"
    text = head + line * max(1, (size - len(head)) // len(line))
    return text + b".\r\n"


def main():
    port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "lockstep"
    text = body(size)
    env = [b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.net>\r\n", b"DATA\r\n"]
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        buf = replies(s, b"", 1)
        s.sendall(b"EHLO load.test\r\n")
        replies(s, buf, 1)
        if mode == "pipelined":
            s.sendall(b"".join(env))
            replies(s, b"", 3)
        else:
            for c in env:
                s.sendall(c)
                replies(s, b"", 1)
        s.sendall(text)
        replies(s, b"", 1)
        s.sendall(b"QUIT\r\n")
        replies(s, b"", 1)
        s.close()


main()
