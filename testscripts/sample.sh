#!/bin/sh
# Sample authentication helper for authpool, generic (Prosody) line protocol,
# in plain POSIX sh (dash, bash, busybox ash).
#
# Copy and adapt this: replace the USERS list with your own user store.
#
# Protocol, one request per line on stdin, one answer per line on stdout:
#
#     auth:USER:SERVER:PASSWORD     -> 1 if the password is right, else 0
#     isuser:USER:SERVER            -> 1 if the user exists, else 0
#     setpass:USER:SERVER:PASSWORD  -> 1 if the password was changed, else 0
#
# Anything else is answered with 0. The line is read whole (IFS= read -r) and
# cut at the first three ':' with parameter expansion, so the password keeps
# every ':' (also a trailing one, which `IFS=: read` would drop). printf is a
# builtin and writes each answer at once: no buffering problem over a pipe.
#
# The password never leaves the shell: it is compared with the `[` builtin
# and never passed to an external command (where `ps` could see it), echoed
# or logged.
#
# Users: the built-in demo users below, or a file given as the first argument
# with lines `user@server:password` ('#' comments and blank lines ignored).
# Password changes (setpass) live in memory only. Exits 0 at end of input.

# Compare and cut bytes, not characters, whatever the locale.
LC_ALL=C
export LC_ALL

nl='
'
cr=$(printf '\r')

# The user database: one `user@server:password` entry per line, every line
# ending in a newline. A password cannot contain a newline, so this is safe.
USERS='alice@example.com:wonderland
bob@example.com:builder
carol@example.com:a:b:c
dave@example.com:pässwörd€
'

if [ $# -gt 1 ]; then
    printf 'usage: %s [USERS_FILE]\n' "$0" >&2
    exit 2
fi
if [ $# -eq 1 ]; then
    if [ ! -r "$1" ]; then
        printf '%s: cannot read %s\n' "$0" "$1" >&2
        exit 1
    fi
    USERS=
    while IFS= read -r entry || [ -n "$entry" ]; do
        entry=${entry%"$cr"}              # tolerate a file saved with CRLF ends
        case $entry in
            '#'*) ;;                      # comment
            *:*) USERS=$USERS$entry$nl ;;
            *) ;;                         # blank or malformed line
        esac
    done < "$1"
fi

# lookup USER@SERVER: if the user exists, set $stored to the password and
# return 0; otherwise return 1.
lookup() {
    rest=$USERS
    while [ -n "$rest" ]; do
        entry=${rest%%"$nl"*}
        rest=${rest#*"$nl"}
        case $entry in
            "$1:"*)
                stored=${entry#"$1:"}
                return 0 ;;
        esac
    done
    return 1
}

# setpassword USER@SERVER PASSWORD: replace the entry of an existing user.
setpassword() {
    rest=$USERS
    new=
    while [ -n "$rest" ]; do
        entry=${rest%%"$nl"*}
        rest=${rest#*"$nl"}
        case $entry in
            "$1:"*) entry=$1:$2 ;;
        esac
        new=$new$entry$nl
    done
    USERS=$new
}

# handle REQUEST: decide one request; return 0 for yes, 1 for no.
handle() {
    req=$1
    case $req in *:*) ;; *) return 1 ;; esac
    op=${req%%:*};   req=${req#*:}
    case $req in *:*) ;; *) return 1 ;; esac
    user=${req%%:*}; req=${req#*:}
    case $op in
        auth|setpass)
            case $req in *:*) ;; *) return 1 ;; esac
            server=${req%%:*}
            pass=${req#*:}
            lookup "$user@$server" || return 1
            if [ "$op" = auth ]; then
                [ "$stored" = "$pass" ]
            else
                setpassword "$user@$server" "$pass"
            fi
            ;;
        isuser)
            case $req in *:*) return 1 ;; esac    # a fourth field: malformed
            server=$req
            lookup "$user@$server"
            ;;
        *)
            return 1 ;;                           # unknown request
    esac
}

# `|| [ -n "$line" ]` also answers a last line that has no newline.
while IFS= read -r line || [ -n "$line" ]; do
    if handle "$line"; then
        printf '1\n'
    else
        printf '0\n'
    fi
done
exit 0
