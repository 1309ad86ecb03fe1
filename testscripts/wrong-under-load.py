#!/usr/bin/env python3
"""Fixture: a helper that answers right alone and wrong under concurrency.

It knows the demo users (like sample.py), but it passes each answer through
a scratch file that every copy of it shares, a classic bug in real scripts
(`check > /tmp/result; cat /tmp/result`): it writes its answer there, waits
a moment (a slow database, say), and answers whatever the file then holds.
One helper at a time is always right. Several helpers answering at once
read each other's answers, and a wrong password can be let in.

    wrong-under-load.py SCRATCH_FILE

`authpool bench` must catch it: every answer is checked, and a wrong one
makes it exit 1.
"""

import os
import signal
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
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) != 2:
        sys.stderr.write("usage: wrong-under-load.py SCRATCH_FILE\n")
        return 2
    scratch = sys.argv[1]
    for line in sys.stdin.buffer:
        answer = b"1" if handle(line.rstrip(b"\n")) else b"0"
        with open(scratch, "wb") as f:  # the bug: one file for every copy
            f.write(answer)
        time.sleep(0.002)
        try:
            with open(scratch, "rb") as f:
                answer = f.read(1) or b"0"
        except OSError:
            answer = b"0"
        sys.stdout.buffer.write(answer + b"\n")
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
