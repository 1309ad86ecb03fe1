#!/usr/bin/env python3
"""Sample authentication helper for authpool, generic (Prosody) line protocol.

Copy and adapt this: replace load_users()/the USERS dict with your own
user store.

Protocol, one request per line on stdin, one answer per line on stdout:

    auth:USER:SERVER:PASSWORD     -> 1 if the password is right, else 0
    isuser:USER:SERVER            -> 1 if the user exists, else 0
    setpass:USER:SERVER:PASSWORD  -> 1 if the password was changed, else 0

Anything else is answered with 0. A line is split at most 3 times on ':', so
the password keeps its colons. Input is handled as bytes and never decoded:
a password may hold any byte except a newline. Every answer is flushed at
once, so this helper works over a pipe as well as under a pty.

Users: the built-in demo users below, or a file given as the first argument
with lines `user@server:password` ('#' comments and blank lines ignored).
Password changes (setpass) live in memory only. Exits 0 at end of input.
"""

import hmac
import os
import signal
import sys

# Built-in demo users, used when no users file is given. Keys and passwords
# are bytes: that is what arrives on stdin.
DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}


def load_users(path):
    """Read `user@server:password` lines from path into a dict of bytes."""
    users = {}
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line.endswith(b"\r"):  # tolerate a file saved with CRLF ends
                line = line[:-1]
            if line.startswith(b"#") or b":" not in line:
                continue
            key, password = line.split(b":", 1)
            users[key] = password
    return users


def handle(request, users):
    """Answer one request (bytes, without its newline): True or False."""
    fields = request.split(b":", 3)
    op = fields[0]
    if op == b"auth" and len(fields) == 4:
        _, user, server, password = fields
        stored = users.get(user + b"@" + server)
        return stored is not None and hmac.compare_digest(stored, password)
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
    return False  # unknown or malformed request


def main():
    # Die quietly, without a traceback, if the daemon closes our stdout.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) > 2:
        sys.stderr.write("usage: %s [USERS_FILE]\n" % os.path.basename(sys.argv[0]))
        return 2
    try:
        users = load_users(sys.argv[1]) if len(sys.argv) == 2 else dict(DEMO_USERS)
    except OSError as e:
        sys.stderr.write("%s: cannot read users file: %s\n" % (os.path.basename(sys.argv[0]), e))
        return 1

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        if line.endswith(b"\n"):
            line = line[:-1]
        stdout.write(b"1\n" if handle(line, users) else b"0\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
