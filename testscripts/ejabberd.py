#!/usr/bin/env python3
"""Sample authentication helper for authpool, ejabberd (extauth) framing.

Copy and adapt this: replace load_users()/DEMO_USERS with your own store.

Every request on stdin is a 2-byte big-endian length followed by exactly
that many bytes of payload; every answer is the 2-byte length 2 followed by
a 16-bit 1 (true) or 0 (false):

    auth:USER:SERVER:PASSWORD         password is right
    isuser:USER:SERVER                user exists
    setpass:USER:SERVER:PASSWORD      change the password of an existing user
    tryregister:USER:SERVER:PASSWORD  create a user that does not exist yet
    removeuser:USER:SERVER            delete a user
    removeuser3:USER:SERVER:PASSWORD  delete a user if the password is right

    answer: 00 02 00 01 (true) or 00 02 00 00 (false)

The length counts BYTES, not characters ("€" is 3 bytes), so the payload is
read as bytes with an exact-count loop and never decoded. The payload is
split at most 3 times on ':', so the password keeps its colons. Anything
not understood is answered false. Every answer is flushed at once.

Users: the built-in demo users below, or a file given as the first argument
with lines `user@server:password` ('#' comments and blank lines ignored).
Changes live in memory only. Exits 0 at end of input.
"""

import hmac
import os
import signal
import struct
import sys

DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}

TRUE = struct.pack(">HH", 2, 1)   # 00 02 00 01
FALSE = struct.pack(">HH", 2, 0)  # 00 02 00 00


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


def read_exact(stream, n):
    """Read exactly n bytes; return None at end of input."""
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def check(users, key, password):
    stored = users.get(key)
    return stored is not None and hmac.compare_digest(stored, password)


def handle(request, users):
    """Answer one request payload (bytes): True or False."""
    fields = request.split(b":", 3)
    op = fields[0]
    if len(fields) == 3:
        _, user, server = fields
        key = user + b"@" + server
        if op == b"isuser":
            return key in users
        if op == b"removeuser":
            return users.pop(key, None) is not None
    elif len(fields) == 4:
        _, user, server, password = fields
        key = user + b"@" + server
        if op == b"auth":
            return check(users, key, password)
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
        if op == b"removeuser3":
            if not check(users, key, password):
                return False
            del users[key]
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
    while True:
        header = read_exact(stdin, 2)
        if header is None:
            return 0
        (length,) = struct.unpack(">H", header)
        request = read_exact(stdin, length)
        if request is None:
            return 0
        stdout.write(TRUE if handle(request, users) else FALSE)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
