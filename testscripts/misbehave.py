#!/usr/bin/env python3
"""Misbehaving authentication helper: a test fixture for authpool.

NOT a sample to copy. It answers like sample.py (generic protocol, the
default) or ejabberd.py (--protocol ejabberd), with the same demo users or a
users file given as the first argument, but the USER field of a request can
ask for a failure. Answers are flushed explicitly unless a behaviour says
otherwise.

Per-request behaviour, chosen by the USER field (any operation):

  crash    exit(3) without answering
  kill9    SIGKILL itself without answering
  hang     sleep 3600 s without answering (SIGTERM/SIGKILL still kill it,
           unless --ignore-sigterm)
  late     sleep --late-seconds, then answer TRUE (a late true answer that
           must never be taken as the answer to a later request)
  garbage  answer "xyz\\n" (generic) or the frame 00 02 00 07 (ejabberd)
  double   answer false, then 50 ms later a second TRUE answer in a separate
           write (an extra answer while no request is outstanding)
  double1  answer false and TRUE in ONE write ("0\\n1\\n" or two frames)
  slow     sleep --slow-seconds, then answer honestly (for load tests)
  split    answer in pieces with flush and 20 ms sleeps between them
           (generic: "1" then "\\n"; ejabberd: one byte at a time)
  crlf     answer "1\\r\\n" / "0\\r\\n" (generic; framed as usual in ejabberd mode)
  noise    write stderr noise (as --stderr-noise), then answer
  echo     TRUE iff the password bytes equal the bytes of the file named by
           $AUTHPOOL_TEST_EXPECT (or --expect-file), read afresh for every
           request; false if neither is set or the file cannot be read.
           isuser/removeuser on echo answer TRUE.
  other    the normal user database (auth, isuser, setpass; ejabberd also
           tryregister, removeuser, removeuser3)

split, crlf, noise and slow answer as "virtual users" whose password is their own
name: auth (and removeuser3) is TRUE iff PASSWORD equals the user name,
isuser is TRUE, everything else false. So `auth:split:x:split` answers 1 and
`auth:split:x:nope` answers 0. Unknown or malformed requests answer false.

Options: see --help. Lines written to pid files: `helper PID`,
`grandchild PID` and `escaped PID`, appended, one write per line.
"""

import argparse
import os
import signal
import struct
import subprocess
import sys
import time

DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}

GENERIC_OPS = {b"auth": 4, b"isuser": 3, b"setpass": 4}
EJABBERD_OPS = {**GENERIC_OPS, b"tryregister": 4, b"removeuser": 3, b"removeuser3": 4}

VIRTUAL_USERS = {b"split", b"crlf", b"noise", b"slow"}


def parse_args():
    p = argparse.ArgumentParser(description="Misbehaving auth helper for authpool tests.")
    p.add_argument("users_file", nargs="?", help="users file, lines user@server:password")
    p.add_argument("--protocol", choices=("generic", "ejabberd"), default="generic")
    p.add_argument("--ignore-sigterm", action="store_true",
                   help="ignore SIGTERM for the whole life (a grandchild inherits this)")
    p.add_argument("--grandchild", metavar="PIDFILE",
                   help="start `sleep 3600` holding our stdin/stdout/stderr (the pty), "
                        "same session and process group; append `helper PID` and "
                        "`grandchild PID` to PIDFILE")
    p.add_argument("--escaped-grandchild", metavar="PIDFILE",
                   help="start `sleep 3600` in a session of its own (setsid), with stdio "
                        "on /dev/null: it leaves our process group; append `helper PID` "
                        "and `escaped PID` to PIDFILE")
    p.add_argument("--pidfile", metavar="PATH", help="append `helper PID` to PATH at start")
    p.add_argument("--stderr-noise", action="store_true",
                   help="write answer-like noise and junk to stderr before every answer")
    p.add_argument("--crash-at-start", action="store_true",
                   help="exit(1) right after writing the pid file lines")
    p.add_argument("--slow-seconds", type=float, default=0.2, metavar="S",
                   help="delay of the `slow` behaviour, which then answers honestly (default 0.2)")
    p.add_argument("--late-seconds", type=float, default=1.0, metavar="S",
                   help="delay of the `late` behaviour (default 1.0)")
    p.add_argument("--expect-file", metavar="PATH",
                   help="file for the `echo` behaviour when $AUTHPOOL_TEST_EXPECT is not set")
    p.add_argument("--banner", action="store_true",
                   help="write a greeting line on stdout at start, before any request")
    p.add_argument("--echo-requests", action="store_true",
                   help="write each request back on stdout before its answer (a debug print, or terminal echo)")
    p.add_argument("--stdout-warning", action="store_true",
                   help="write a warning line on stdout before every answer (PHP's display_errors)")
    p.add_argument("--start-delay", type=float, default=0.0, metavar="S",
                   help="sleep S seconds before reading the first request (a slow start)")
    p.add_argument("--answer-delay", type=float, default=0.0, metavar="S",
                   help="sleep S seconds before every answer (a slow backend)")
    return p.parse_args()


def load_users(path):
    users = {}
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b"#") or b":" not in line:
                continue
            key, password = line.split(b":", 1)
            users[key] = password
    return users


def append_line(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Helper:
    def __init__(self, args):
        self.args = args
        self.ejabberd = args.protocol == "ejabberd"
        self.ops = EJABBERD_OPS if self.ejabberd else GENERIC_OPS
        self.users = load_users(args.users_file) if args.users_file else dict(DEMO_USERS)
        self.out = sys.stdout.buffer
        self.err = sys.stderr.buffer

    # ---- output -------------------------------------------------------

    def write(self, data):
        self.out.write(data)
        self.out.flush()

    def encode(self, value):
        if self.ejabberd:
            return struct.pack(">HH", 2, 1 if value else 0)
        return b"1\n" if value else b"0\n"

    def noise(self):
        e = self.err
        e.write(b"1\n0\n")
        e.write(b"\x00\x02\x00\x01\n")
        e.write(b"misbehave: a warning on stderr\n")
        e.flush()
        e.write(b"x" * 10000)          # a long line, newline in a separate write
        e.flush()
        e.write(b"\n")
        e.write(bytes(b for b in range(256) if b != 0x0A) + b"\n")  # junk bytes
        e.flush()

    def answer(self, value):
        """Write one ordinary answer (with noise first if --stderr-noise)."""
        time.sleep(self.args.answer_delay)
        if self.args.stderr_noise:
            self.noise()
        if self.args.stdout_warning:
            self.write(b"Warning: Undefined variable $db in /srv/auth.php on line 12\n")
        self.write(self.encode(value))

    # ---- decisions ----------------------------------------------------

    def valid(self, fields):
        return self.ops.get(fields[0]) == len(fields)

    def normal(self, fields):
        if not self.valid(fields):
            return False
        op, user, server = fields[0], fields[1], fields[2]
        key = user + b"@" + server
        password = fields[3] if len(fields) == 4 else None
        users = self.users
        if op == b"auth":
            return users.get(key) == password
        if op == b"isuser":
            return key in users
        if op == b"setpass":
            if key not in users:
                return False
            users[key] = password
            return True
        if op == b"tryregister":
            if key in users:
                return False
            users[key] = password
            return True
        if op == b"removeuser":
            return users.pop(key, None) is not None
        if op == b"removeuser3":
            if key not in users or users[key] != password:
                return False
            del users[key]
            return True
        return False

    def virtual(self, fields):
        """Result for a special user whose password is its own name."""
        if not self.valid(fields):
            return False
        op = fields[0]
        if op in (b"auth", b"removeuser3"):
            return fields[3] == fields[1]
        return op in (b"isuser",)

    def echo(self, fields):
        if not self.valid(fields):
            return False
        if len(fields) == 3:            # isuser, removeuser
            return fields[0] in (b"isuser", b"removeuser")
        path = os.environ.get("AUTHPOOL_TEST_EXPECT") or self.args.expect_file
        if not path:
            return False
        try:
            with open(path, "rb") as f:
                expected = f.read()
        except OSError:
            return False
        return fields[3] == expected

    # ---- one request --------------------------------------------------

    def handle(self, request):
        if self.args.echo_requests:
            self.write(struct.pack(">H", len(request)) + request if self.ejabberd else request + b"\n")
        fields = request.split(b":", 3)
        user = fields[1] if len(fields) >= 2 else b""
        if user == b"crash":
            sys.exit(3)
        elif user == b"kill9":
            os.kill(os.getpid(), signal.SIGKILL)
        elif user == b"hang":
            time.sleep(3600)
        elif user == b"late":
            time.sleep(self.args.late_seconds)
            self.answer(True)
        elif user == b"slow":
            time.sleep(self.args.slow_seconds)
            self.answer(self.virtual(fields))
        elif user == b"garbage":
            if self.args.stderr_noise:
                self.noise()
            self.write(b"\x00\x02\x00\x07" if self.ejabberd else b"xyz\n")
        elif user == b"double":
            self.answer(False)
            time.sleep(0.05)
            self.answer(True)
        elif user == b"double1":
            if self.args.stderr_noise:
                self.noise()
            self.write(self.encode(False) + self.encode(True))
        elif user == b"split":
            if self.args.stderr_noise:
                self.noise()
            data = self.encode(self.virtual(fields))
            pieces = [data[i:i + 1] for i in range(len(data))] if self.ejabberd else [data[:1], data[1:]]
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(0.02)
                self.write(piece)
        elif user == b"crlf" and not self.ejabberd:
            if self.args.stderr_noise:
                self.noise()
            self.write(b"1\r\n" if self.virtual(fields) else b"0\r\n")
        elif user == b"noise":
            self.noise()
            self.answer(self.virtual(fields))
        elif user == b"echo":
            self.answer(self.echo(fields))
        elif user in VIRTUAL_USERS:     # crlf in ejabberd mode
            self.answer(self.virtual(fields))
        else:
            self.answer(self.normal(fields))

    def run(self):
        stdin = sys.stdin.buffer
        if self.ejabberd:
            while True:
                header = read_exact(stdin, 2)
                if header is None:
                    return
                request = read_exact(stdin, struct.unpack(">H", header)[0])
                if request is None:
                    return
                self.handle(request)
        else:
            for line in stdin:
                if line.endswith(b"\n"):
                    line = line[:-1]
                self.handle(line)


def main():
    args = parse_args()
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    helper_line = "helper %d" % os.getpid()
    if args.pidfile:
        append_line(args.pidfile, helper_line)
    if args.grandchild:
        # Inherits stdin/stdout/stderr (so it holds the pty open), stays in
        # our session and process group, and inherits an ignored SIGTERM.
        child = subprocess.Popen(["sleep", "3600"], start_new_session=False)
        if args.grandchild != args.pidfile:
            append_line(args.grandchild, helper_line)
        append_line(args.grandchild, "grandchild %d" % child.pid)
    if args.escaped_grandchild:
        # A daemon-like grandchild: setsid, so a signal to our process group
        # never reaches it.
        child = subprocess.Popen(["sleep", "3600"], start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        append_line(args.escaped_grandchild, helper_line)
        append_line(args.escaped_grandchild, "escaped %d" % child.pid)
    if args.crash_at_start:
        sys.exit(1)

    time.sleep(args.start_delay)
    helper = Helper(args)
    if args.banner:
        helper.write(b"misbehave.py 1.0 ready\n")
    helper.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
