#!/bin/sh
# Installs this build of auth_ext into the PostgreSQL that pg_config names, and
# auth_ext_gateway into BINDIR. Run it as the owner of that PostgreSQL's files (root).
#   ./install.sh                         pg_config from PATH, BINDIR=/usr/local/bin
#   PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config BINDIR=/opt/bin ./install.sh
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
built_for="$(cat "$here/PG_MAJOR")"
PG_CONFIG="${PG_CONFIG:-pg_config}"
BINDIR="${BINDIR:-/usr/local/bin}"
major="$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')"
if [ "$major" != "$built_for" ]; then
    echo "install.sh: this build is for PostgreSQL $built_for; $PG_CONFIG is PostgreSQL ${major:-unknown} (set PG_CONFIG)" >&2
    exit 1
fi
libdir="$("$PG_CONFIG" --pkglibdir)"; sharedir="$("$PG_CONFIG" --sharedir)"
install -d "$sharedir/extension" "$BINDIR"
install -m 644 "$here"/share/extension/auth_ext* "$sharedir/extension/"
# A new file, then a rename: writing over a library a running server has loaded crashes it.
install -m 755 "$here/lib/auth_ext.so" "$libdir/.auth_ext.so.$$"
mv -f "$libdir/.auth_ext.so.$$" "$libdir/auth_ext.so"
install -m 755 "$here/bin/auth_ext_gateway" "$BINDIR/.auth_ext_gateway.$$"
mv -f "$BINDIR/.auth_ext_gateway.$$" "$BINDIR/auth_ext_gateway"
echo "auth_ext $(cat "$here/VERSION") installed for PostgreSQL $major: $libdir/auth_ext.so, $sharedir/extension/, $BINDIR/auth_ext_gateway"
echo "Next: CREATE EXTENSION auth_ext; (and for the cleanup worker and durable writes, shared_preload_libraries = 'auth_ext')"
