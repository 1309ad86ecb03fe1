#!/usr/bin/env python3
"""Fixture: a helper that writes more than its answers on stdout.

NOT a sample to copy. It answers like sample.py (generic protocol, the demo
users), flushing every write, but also writes, on stdout:

  --banner     a greeting line at start, before any request ("noisy.py 1.0
               ready"), as many scripts do
  --echo       each request back, before its answer: a debug print of the
               input, or what a terminal with echo turned on does (the echo
               of an auth request holds its password)
  --warning    a warning line before every answer, as PHP does with
               display_errors on, or a library that prints to stdout

A caller reading stdout takes each of these for an answer, or for junk.
`authpool doctor` must name each. Exits 0 at end of input.
"""

import argparse
import sys

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
    p = argparse.ArgumentParser(description="A helper that writes more than its answers.")
    p.add_argument("--banner", action="store_true")
    p.add_argument("--echo", action="store_true")
    p.add_argument("--warning", action="store_true")
    args = p.parse_args()
    out = sys.stdout.buffer
    if args.banner:
        out.write(b"noisy.py 1.0 ready\n")
        out.flush()
    for line in sys.stdin.buffer:
        line = line.rstrip(b"\n")
        if args.echo:
            out.write(line + b"\n")
        if args.warning:
            out.write(b"Warning: Undefined variable $db in /srv/auth.php on line 12\n")
        out.write(b"1\n" if handle(line) else b"0\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
