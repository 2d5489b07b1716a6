#!/usr/bin/env bash
# A user with only a PostgreSQL server (17 by default; PACKAGE_CHECK_MAJOR) installs the
# packaged build (make package's tarball) with its install.sh, into a copy of that
# server's install that has never seen our build tree, then plays the README's
# walkthrough (demo/walkthrough.sql), and the packaged gateway signs a guest in over HTTP.
# make test packages the debug build (PACKAGE_PROFILE=debug); make package, release.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
major="${PACKAGE_CHECK_MAJOR:-17}"
export PG_MAJOR="$major" PG_CONFIG; PG_CONFIG="$(pg_config_of "$major")"
PACKAGE_PROFILE="${PACKAGE_PROFILE:-debug}" PACKAGE_MAJORS="$major" scripts/package.sh >/dev/null
name="auth_ext-$(extension_version)-pg$major-linux-x86_64"

# The server's own files only: its programs, and its library and share folders without
# anything of auth_ext's (Postgres finds those folders from where its programs are).
user_home="$(cluster_root)/package-user"
rm -rf "$user_home"; mkdir -p "$user_home"
server="$user_home/server"
bindir="$("$PG_CONFIG" --bindir)"; libdir="$("$PG_CONFIG" --pkglibdir)"; sharedir="$("$PG_CONFIG" --sharedir)"
mkdir -p "$server$bindir" "$server$libdir" "$server$sharedir"
cp -a "$bindir/." "$server$bindir/"
(cd "$libdir" && tar --exclude='auth_ext*' -cf - .) | tar -C "$server$libdir" -xf -
(cd "$sharedir" && tar --exclude='extension/auth_ext*' -cf - .) | tar -C "$server$sharedir" -xf -
export PG_CONFIG="$server$bindir/pg_config" PATH="$server$bindir:$PATH"
[ ! -e "$("$PG_CONFIG" --pkglibdir)/auth_ext.so" ] || { echo "package check: the server copy already has auth_ext" >&2; exit 1; }

log "installing $name.tar.gz with its install.sh into PostgreSQL $major's own folders"
tar -C "$user_home" -xzf "target/dist/$name.tar.gz"
BINDIR="$user_home/bin" "$user_home/$name/install.sh"

cluster_start package-check
trap cluster_stop EXIT
createdb walkthrough
out="$(psql -X -v ON_ERROR_STOP=1 --pset=pager=off -d walkthrough -c 'create extension auth_ext' -f demo/walkthrough.sql 2>&1)" \
    || { echo "$out" >&2; echo "package check: the walkthrough failed on PostgreSQL $major" >&2; exit 1; }
grep -q '^Done\.' <<<"$out" || { echo "$out" >&2; echo "package check: the walkthrough did not finish" >&2; exit 1; }
loaded="$(psql -X -At -d walkthrough -c "select setting from pg_settings where name = 'server_version_num'")"
[ "${loaded:0:2}" = "$major" ] || { echo "package check: server is $loaded, not $major" >&2; exit 1; }

# The packaged gateway, in front of the same database: a guest signs in.
createdb app
psql -X -q -v ON_ERROR_STOP=1 -d app -f examples/postgrest/setup.sql -f examples/gateway/setup.sql >/dev/null
psql -X -q -d app -c 'alter database app set auth_ext.anonymous_sign_ins = on'
anon_key="$(psql -X -At -d app -c "select auth.create_api_key('anon', description => 'package check')")"
BASE_URL=http://127.0.0.1:9 GATEWAY_BIN="$user_home/bin/auth_ext_gateway" gateway_start app
trap 'gateway_stop; cluster_stop' EXIT
answer="$(curl -sS -X POST "$GATEWAY_URL/auth/v1/signup" -H "apikey: $anon_key" -H 'Content-Type: application/json' -d '{}')"
python3 -c 'import json, sys; s = json.loads(sys.argv[1]); assert s["token_type"] == "bearer" and s["user"]["is_anonymous"], s' "$answer" \
    || { echo "package check: the packaged gateway did not sign a guest in: $answer" >&2; exit 1; }
gateway_stop; cluster_stop

# The .deb, in place of the tarball: dpkg puts its files at Debian's paths under the
# copy's root, which are where that copy's pg_config looks.
deb="target/dist/postgresql-$major-auth-ext_$(extension_version)_amd64.deb"
rm -f "$("$PG_CONFIG" --pkglibdir)"/auth_ext* "$("$PG_CONFIG" --sharedir)"/extension/auth_ext*
root="$server${bindir%/usr/lib/postgresql/*}"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"; touch "$root/var/lib/dpkg/status"
# Its dependency, postgresql-$major, is the copied server, which this dpkg database does not list.
dpkg --root="$root" --force-depends -i "$deb" >/dev/null
cluster_start package-check-deb
trap cluster_stop EXIT
version="$(psql -X -q -At -d postgres -c 'create extension auth_ext' -c "select extversion from pg_extension where extname = 'auth_ext'")"
[ "$version" = "$(extension_version)" ] || { echo "package check: the .deb's extension is $version" >&2; exit 1; }
[ -x "$root/usr/bin/auth_ext_gateway" ] || { echo "package check: the .deb has no gateway" >&2; exit 1; }
echo "package check: PostgreSQL $major with only $name installed: the walkthrough played, the gateway signed a guest in; the .deb installs too"
