#!/usr/bin/env python3
"""Chaos helper: a test fixture for authpool's reliability tests.

NOT a sample to copy. Generic protocol. The right answers are computed from
the request itself, so a test knows them without a user database:

  auth:USER:SERVER:PASS     true iff PASS == "pw-" + USER
  isuser:USER:SERVER        true iff USER does not start with "x"
  setpass:USER:SERVER:PASS  true

For each request it picks, at random (rate --fault-rate), one misbehaviour:

  crash    exit(3) without answering
  kill     SIGKILL itself without answering
  hang     sleep for an hour without answering
  late     sleep --late-seconds, then answer (after the host gave up)
  garbage  answer "yes\\n"
  double   answer right and wrong in ONE write ("1\\n0\\n"), which the host
           must refuse as a whole
  split    answer right, one byte at a time with flushes (honest)
  flood    write 200 lines to stderr, then answer right (honest)

otherwise it answers right. The pool's own probes (user authpool-probe) are
always answered right. Before acting it appends "PID USER ACTION" to
the --log file (one write per line, O_APPEND), and "PID start" when it
starts, so the test can tell which requests were answered honestly and
account for every helper process.
"""

import argparse
import os
import random
import signal
import sys
import time

FAULTS = ["crash", "kill", "hang", "late", "garbage", "double", "split", "flood"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", required=True, help="file to append PID USER ACTION lines to")
    p.add_argument("--fault-rate", type=float, default=0.05)
    p.add_argument("--late-seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()

    pid = os.getpid()
    rng = random.Random(args.seed if args.seed is not None else pid ^ int(time.time() * 1e6))
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    out = sys.stdout.buffer
    os.write(log, b"%d start\n" % pid)

    def send(b):
        out.write(b)
        out.flush()

    for line in sys.stdin.buffer:
        fields = line.rstrip(b"\n").split(b":", 3)
        op, user = fields[0], fields[1] if len(fields) > 1 else b""
        if op == b"auth" and len(fields) == 4:
            right = fields[3] == b"pw-" + user
        elif op == b"isuser" and len(fields) == 3:
            right = not user.startswith(b"x")
        elif op == b"setpass" and len(fields) == 4:
            right = True
        else:
            right = False
        answer = b"1\n" if right else b"0\n"

        action = "honest"
        # The pool's own probes (user authpool-probe) are answered
        # honestly: a fault there only stops a daemon from starting, which
        # is not what a chaos run is about.
        if user != b"authpool-probe" and rng.random() < args.fault_rate:
            action = rng.choice(FAULTS)
        os.write(log, b"%d %s %s\n" % (pid, user, action.encode()))

        if action == "crash":
            os._exit(3)
        elif action == "kill":
            os.kill(pid, signal.SIGKILL)
        elif action == "hang":
            time.sleep(3600)
        elif action == "late":
            time.sleep(args.late_seconds)
            send(answer)
        elif action == "garbage":
            send(b"yes\n")
        elif action == "double":
            send(answer + (b"0\n" if right else b"1\n"))
        elif action == "split":
            for i in range(len(answer)):
                send(answer[i:i + 1])
                time.sleep(0.002)
        elif action == "flood":
            for i in range(200):
                sys.stderr.write("chaos: stderr flood line %d\n" % i)
            sys.stderr.flush()
            send(answer)
        else:
            send(answer)


if __name__ == "__main__":
    main()
