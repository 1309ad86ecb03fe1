#!/usr/bin/env python3
"""Stray-answer helper: a test fixture for authpool's out-of-step breaker.

NOT a sample to copy. It answers every request honestly, like sample.py
(generic protocol, the demo users or a users file given as the first
argument), but it also writes "1" lines nobody asked for, at random moments:

  --prompted P   with probability P, right after reading a request, write a
                 stray "1\\n", wait --gap-ms, then write the real answer: the
                 stray that wins the race, read as the answer to a request
                 that was just sent (default 0.5)
  --extra P      with probability P, write a second "1\\n" right after an
                 answer (default 0.2)
  --interval MS  from a background thread, write "1\\n" at random moments,
                 exponentially distributed gaps with this mean in
                 milliseconds; 0 turns it off (default 20)
  --after N      answer the first N requests honestly, without a stray
                 (the background thread waits for them too) (default 0)
  --quiet-file PATH  while PATH exists, write no stray line at all, so a test
                 can make the helper behave again
  --pidfile PATH     append "helper PID" to PATH at start

Every write is one os.write of whole lines, so strays never cut an answer in
two.
"""

import argparse
import os
import random
import sys
import threading
import time

DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}

lock = threading.Lock()


def write(b):
    with lock:
        os.write(1, b)


def load_users(path):
    users = {}
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n").rstrip(b"\r")
            if line.startswith(b"#") or b":" not in line:
                continue
            key, password = line.split(b":", 1)
            users[key] = password
    return users


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("users_file", nargs="?")
    p.add_argument("--prompted", type=float, default=0.5)
    p.add_argument("--extra", type=float, default=0.2)
    p.add_argument("--gap-ms", type=float, default=2.0)
    p.add_argument("--interval", type=float, default=20.0)
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--quiet-file")
    p.add_argument("--pidfile")
    args = p.parse_args()

    users = load_users(args.users_file) if args.users_file else DEMO_USERS
    if args.pidfile:
        with open(args.pidfile, "a") as f:
            f.write("helper %d\n" % os.getpid())
    rng = random.Random(os.getpid() ^ int(time.time() * 1e6))

    served = [0]

    def straying():
        if served[0] < args.after:
            return False
        return not (args.quiet_file and os.path.exists(args.quiet_file))

    def background():
        while True:
            time.sleep(rng.expovariate(1000.0 / args.interval))
            if straying():
                write(b"1\n")

    if args.interval > 0:
        threading.Thread(target=background, daemon=True).start()

    for line in sys.stdin.buffer:
        stray = straying()
        if stray and rng.random() < args.prompted:
            write(b"1\n")
            time.sleep(args.gap_ms / 1000.0)
        fields = line.rstrip(b"\n").split(b":", 3)
        ok = False
        if len(fields) >= 3:
            known = fields[1] + b"@" + fields[2]
            if fields[0] == b"auth" and len(fields) == 4:
                ok = users.get(known) == fields[3]
            elif fields[0] == b"isuser" and len(fields) == 3:
                ok = known in users
        answer = b"1\n" if ok else b"0\n"
        if stray and rng.random() < args.extra:
            answer += b"1\n"
        write(answer)
        served[0] += 1


if __name__ == "__main__":
    main()
