#!/usr/bin/env python3
"""Generic-protocol helper that never flushes: works only when stdout is a tty.

Test fixture for authpool (and a warning, not a sample to copy). It speaks
the same generic (Prosody) protocol with the same users as sample.py, but it
writes every answer with sys.stdout.write() and NEVER calls flush(), like
many real-world helper scripts do.

Python's sys.stdout is line buffered when stdout is a terminal and block
buffered (8 KiB) when it is a pipe or a file. So:

  * under a pty (authpool's default transport), each answer leaves the
    process at its newline and the helper works;
  * over a pipe, answers pile up in the buffer and are only written when the
    buffer fills or when the helper exits at end of input: a daemon that
    waits for each answer waits forever (until its timeout).

That is exactly the case the pty transport exists for. This script must not
be run with `python3 -u` or with PYTHONUNBUFFERED set, which would hide the
problem (authpool gives helpers a minimal environment without it).

Users: the built-in demo users, or a file given as the first argument with
lines `user@server:password`. Exits 0 at end of input.
"""

import sys

DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}


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


def handle(request, users):
    fields = request.split(b":", 3)
    op = fields[0]
    if op == b"auth" and len(fields) == 4:
        _, user, server, password = fields
        return users.get(user + b"@" + server) == password
    if op == b"isuser" and len(fields) == 3:
        _, user, server = fields
        return user + b"@" + server in users
    if op == b"setpass" and len(fields) == 4:
        _, user, server, password = fields
        key = user + b"@" + server
        if key not in users:
            return False
        users[key] = password
        return True
    return False


def main():
    users = load_users(sys.argv[1]) if len(sys.argv) > 1 else dict(DEMO_USERS)
    # Requests are read as bytes; answers go through the buffered *text*
    # stream sys.stdout, deliberately without any flush().
    for line in sys.stdin.buffer:
        if line.endswith(b"\n"):
            line = line[:-1]
        sys.stdout.write("1\n" if handle(line, users) else "0\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
