#!/usr/bin/env python3
"""Fixture: a helper that is slow to start, or to answer.

NOT a sample to copy. It answers like sample.py (generic protocol, the demo
users), but:

  --start S    sleeps S seconds before it reads its first request, like a
               script that loads a large module or opens a slow database
               connection at start
  --answer S   sleeps S seconds before every answer, like a check against a
               slow backend

`authpool doctor` must report it against --start-timeout and --timeout.
Exits 0 at end of input.
"""

import argparse
import sys
import time

USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}


def handle(request):
    fields = request.split(b":", 3)
    if fields[0] == b"auth" and len(fields) == 4:
        return USERS.get(fields[1] + b"@" + fields[2]) == fields[3]
    if fields[0] == b"isuser" and len(fields) == 3:
        return fields[1] + b"@" + fields[2] in USERS
    return False


def main():
    p = argparse.ArgumentParser(description="A helper that is slow to start or to answer.")
    p.add_argument("--start", type=float, default=0.0, metavar="S")
    p.add_argument("--answer", type=float, default=0.0, metavar="S")
    args = p.parse_args()
    time.sleep(args.start)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        time.sleep(args.answer)
        out.write(b"1\n" if handle(line.rstrip(b"\n")) else b"0\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
