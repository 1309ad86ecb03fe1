#!/bin/bash
# Fixture: a helper that writes every password it is sent to stderr, the
# way shell scripts print a value: NOT a sample to copy.
#
# For every request with a password it writes two stderr lines, bash's
# printf %q of the password (backslash escapes, or $'...' with octal
# escapes for bytes that are not printable) and `declare -p` of it, then
# answers 0. Tests check that authpool logs neither.
LC_ALL=C
export LC_ALL
while IFS= read -r line; do
    rest=${line#*:}; rest=${rest#*:}
    case $rest in
        *:*)
            pw=${rest#*:}
            printf 'q %q\n' "$pw" >&2
            declare -p pw >&2
            ;;
    esac
    printf '0\n'
done
