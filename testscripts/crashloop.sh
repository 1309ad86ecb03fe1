#!/bin/sh
# Test fixture for authpool: a helper that dies at once, for crash-loop and
# restart-backoff tests. If a file name is given, it first appends the line
# `helper PID` to it, so a test can count how often it was started.
# Exits 1 without reading stdin or writing stdout.
#
# If a second file name is given, it is a gate: while that file does not
# exist, the helper answers 0 to every request (so it passes the daemon's
# start-up probe); once it exists, the helper exits 1 at its next request,
# and every one started later exits at once.
if [ -n "$1" ]; then
    printf 'helper %s\n' "$$" >> "$1"
fi
if [ -n "$2" ]; then
    while [ ! -e "$2" ] && IFS= read -r line; do
        [ -e "$2" ] && break
        printf '0\n'
    done
fi
exit 1
