#!/usr/bin/env python3
"""Fixture: a helper whose memory grows with every request it answers.

It answers like sample.py (the demo users) but keeps a "cache" of every
request it has seen that is never trimmed, each entry padded to about
KIB kibibytes (default 16): a leaking script. `authpool bench` must report
its growth.

    leaky.py [KIB]
"""

import signal
import sys

USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}

cache = []  # the leak


def handle(request):
    fields = request.split(b":", 3)
    if fields[0] == b"auth" and len(fields) == 4:
        return USERS.get(fields[1] + b"@" + fields[2]) == fields[3]
    if fields[0] == b"isuser" and len(fields) == 3:
        return fields[1] + b"@" + fields[2] in USERS
    return False


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    pad = (int(sys.argv[1]) if len(sys.argv) > 1 else 16) * 1024
    for line in sys.stdin.buffer:
        line = line.rstrip(b"\n")
        cache.append(bytes(line[:1]) * pad)  # written, so truly resident
        sys.stdout.buffer.write(b"1\n" if handle(line) else b"0\n")
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
