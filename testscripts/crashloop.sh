#!/bin/sh
# Test fixture for authpool: a helper that dies at once, for crash-loop and
# restart-backoff tests. If a file name is given, it first appends the line
# `helper PID` to it, so a test can count how often it was started.
# Exits 1 without reading stdin or writing stdout.
if [ -n "$1" ]; then
    printf 'helper %s\n' "$$" >> "$1"
fi
exit 1
