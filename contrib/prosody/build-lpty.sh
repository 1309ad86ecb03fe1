#!/bin/sh
# Build lpty, the Lua pty library that Prosody's mod_auth_external_insecure
# needs, for Lua 5.4 from Debian's lua-lpty source, into OUTDIR/lpty.so.
# Debian packages lpty only for older Lua versions. Needs root for apt-get
# (it adds a deb-src line when there is none), gcc and liblua5.4-dev.
#
#   contrib/prosody/build-lpty.sh OUTDIR
#
# Then load it with LUA_CPATH="OUTDIR/?.so;;" (or copy lpty.so into
# /usr/local/lib/lua/5.4/).
set -eu
out=${1:?usage: build-lpty.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$out/lpty.so" ] && { echo "$out/lpty.so is already built"; exit 0; }

if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
			>/etc/apt/sources.list.d/authpool-deb-src.sources
	else
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/authpool-deb-src.list
	fi
	apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# Only the upstream tarball is needed: a missing Debian patch tarball
# (seen on snapshot mirrors) is not an error here.
apt-get source --download-only lua-lpty >apt.log 2>&1 || true
orig=$(ls lua-lpty_*.orig.tar.gz 2>/dev/null | head -n 1)
[ -n "$orig" ] || { cat apt.log >&2; echo "build-lpty.sh: could not download lua-lpty's source" >&2; exit 1; }
tar xzf "$orig"
src=$(ls -d lua-lpty-*/ | head -n 1)
${CC:-cc} -O2 -shared -fPIC -I/usr/include/lua5.4 -o "$out/lpty.so" "$src/lpty.c"
echo "built $out/lpty.so from $orig"
