#!/usr/bin/env python3
"""Sample authentication helper for authpool, generic (Prosody) line protocol.

Copy and adapt this: replace the Users class with your own user store.

Protocol, one request per line on stdin, one answer per line on stdout:

    auth:USER:SERVER:PASSWORD     -> 1 if the password is right, else 0
    isuser:USER:SERVER            -> 1 if the user exists, else 0
    setpass:USER:SERVER:PASSWORD  -> 1 if the password was changed, else 0

Anything else is answered with 0. A line is split at most 3 times on ':', so
the password keeps its colons. Input is handled as bytes and never decoded:
a password may hold any byte except a newline. Every answer is flushed at
once, so this helper works over a pipe as well as under a pty. Exits 0 at
end of input. Nothing it writes to stderr contains a password.

Users: a users file given as the first argument, with lines
`user@server:password` ('#' comments and blank lines ignored), or, without
one, the built-in demo users below.

authpool runs several copies of a helper at once, and any of them may get
the next request, so a password change must reach all of them. With a users
file, setpass changes the file: under an exclusive lock on USERS_FILE.lock
(so two changes at once cannot undo each other), it reads the file afresh,
replaces the user's password, writes the result to a new file in the same
directory and renames it over the old one (so a reader sees the old file or
the new one, never half of one). Every request first checks whether the file
was replaced or changed, and reads it again if so. The helper must be able
to write in the file's directory. Without a users file a change could not
reach the other copies, so setpass answers 0.
"""

import fcntl
import hmac
import os
import signal
import stat
import sys
import tempfile

# Built-in demo users, used when no users file is given. Keys and passwords
# are bytes: that is what arrives on stdin.
DEMO_USERS = {
    b"alice@example.com": b"wonderland",
    b"bob@example.com": b"builder",
    b"carol@example.com": b"a:b:c",
    b"dave@example.com": "pässwörd€".encode("utf-8"),
}


def parse_entry(line):
    """Split a users-file line into (key, password), or None for a comment."""
    if line.endswith(b"\r"):  # tolerate a file saved with CRLF ends
        line = line[:-1]
    if line.startswith(b"#") or b":" not in line:
        return None
    key, password = line.split(b":", 1)
    return key, password


def log(message):
    """A diagnostic line on stderr, which authpool logs. Never a password."""
    sys.stderr.write("%s: %s\n" % (os.path.basename(sys.argv[0]), message))
    sys.stderr.flush()


class Users:
    """The users, from a file that other helper processes may change."""

    def __init__(self, path, users=None):
        self.path = path
        self.users = users or {}
        self.version = None  # what the file looked like when it was read
        if path is not None:
            self.load()  # an OSError here is a setup error: the caller exits

    def load(self):
        """Read the file again if it was replaced or changed."""
        st = os.stat(self.path)
        version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if version != self.version:
            with open(self.path, "rb") as f:
                self.users = dict(filter(None, map(parse_entry, f.read().split(b"\n"))))
            self.version = version

    def refresh(self):
        """load(), answering no to everything while the file is unreadable."""
        if self.path is None:
            return
        try:
            self.load()
        except OSError as e:
            if self.version != "unreadable":
                log("cannot read the users file, answering no: %s" % e.strerror)
            self.users, self.version = {}, "unreadable"

    def check(self, key, password):
        stored = self.users.get(key)
        return stored is not None and hmac.compare_digest(stored, password)

    def exists(self, key):
        return key in self.users

    def set_password(self, key, password):
        """Change key's password in the file; False if there is no such user."""
        if self.path is None or b"\r" in password:
            return False
        lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when lock is closed
            with open(self.path, "rb") as f:
                lines = f.read().split(b"\n")
            found = False
            for i, line in enumerate(lines):
                entry = parse_entry(line)
                if entry is not None and entry[0] == key:
                    lines[i] = key + b":" + password
                    found = True
            if found:
                replace_file(self.path, b"\n".join(lines))
            return found
        finally:
            os.close(lock)


def replace_file(path, data):
    """Put data in path at once: write a new file beside it, rename it over."""
    directory = os.path.dirname(os.path.abspath(path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".users-")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the users file's mode, not mkstemp's
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dirfd = os.open(directory, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def handle(request, users):
    """Answer one request (bytes, without its newline): True or False."""
    fields = request.split(b":", 3)
    op = fields[0]
    if op == b"auth" and len(fields) == 4:
        _, user, server, password = fields
        return users.check(user + b"@" + server, password)
    if op == b"isuser" and len(fields) == 3:
        _, user, server = fields
        return users.exists(user + b"@" + server)
    if op == b"setpass" and len(fields) == 4:
        _, user, server, password = fields
        try:
            return users.set_password(user + b"@" + server, password)
        except OSError as e:
            log("cannot change the users file: %s" % e.strerror)
            return False
    return False  # unknown or malformed request


def main():
    # Die quietly, without a traceback, if the daemon closes our stdout.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) > 2:
        log("usage: %s [USERS_FILE]" % os.path.basename(sys.argv[0]))
        return 2
    try:
        users = Users(sys.argv[1]) if len(sys.argv) == 2 else Users(None, dict(DEMO_USERS))
    except OSError as e:
        log("cannot read the users file: %s" % e.strerror)
        return 1

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        if line.endswith(b"\n"):
            line = line[:-1]
        users.refresh()
        stdout.write(b"1\n" if handle(line, users) else b"0\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
