#!/usr/bin/env python3
"""Fixture: a helper that writes every password it is sent to stderr.

NOT a sample to copy. Helpers that print their input for debugging exist,
and authpool must keep what they print out of its log. For every request
with a password, this one writes these stderr lines, each a way scripts
print a string:

  raw        the bytes as they arrived
  bytes      repr() of the bytes:            b'p\\xc3\\xa4ss'
  str        repr() of the str (surrogateescape for bytes that are not
             UTF-8, which Python does on a C locale): 'päss', '\\udcff'
  ascii      ascii() of the str:             'p\\xe4ss'
  json       json.dumps (ASCII only):        "p\\u00e4ss"
  json8      json.dumps(ensure_ascii=False): "päss"
  url        urllib.parse.quote(safe=''):    p%C3%A4ss
  form       urllib.parse.quote_plus:        a+b
  shell      shlex.quote:                    'it'"'"'s'
  long       1000 bytes of padding, then the password, then more, so a cut
             at 1 KiB would fall inside it
  earlier    the password of the request four requests before this one

It answers 0 to everything, after the lines are flushed. The number of lines
per request is LINES, which tests read from `--lines`.
"""

import collections
import json
import shlex
import signal
import sys
import urllib.parse

LINES = 11


def forms(pw, earlier):
    s = pw.decode("utf-8", "surrogateescape")
    yield b"raw " + pw
    yield b"bytes " + repr(pw).encode()
    yield b"str " + repr(s).encode("utf-8", "surrogateescape")
    yield b"ascii " + ascii(s).encode()
    yield b"json " + json.dumps(s).encode()
    yield b"json8 " + json.dumps(s, ensure_ascii=False).encode("utf-8", "surrogateescape")
    yield b"url " + urllib.parse.quote(pw, safe="").encode()
    yield b"form " + urllib.parse.quote_plus(pw).encode()
    yield b"shell " + shlex.quote(s).encode("utf-8", "surrogateescape")
    yield b"long " + b"x" * 1000 + pw + b"y" * 1000
    yield b"earlier " + earlier


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if sys.argv[1:] == ["--lines"]:
        print(LINES)
        return 0
    err, out = sys.stderr.buffer, sys.stdout.buffer
    recent = collections.deque([b"(none)"] * 4, maxlen=4)
    for line in sys.stdin.buffer:
        fields = line.rstrip(b"\n").split(b":", 3)
        if len(fields) == 4:
            pw = fields[3]
            for f in forms(pw, recent[0]):
                err.write(f + b"\n")
            err.flush()
            recent.append(pw)
        out.write(b"0\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
