#!/usr/bin/env bash
# The Rust-level #[pg_test]s, run by pgrx against a real Postgres 15, the gateway's and
# the shared HTTP rules' unit tests, and the layers check (scripts/layers.py).
#
# pgrx installs the library it tests by writing auth_ext.so in place, which crashes every
# running server that has the installed one loaded. So the #[pg_test]s get a private
# copy of the Postgres install (binaries copied, since Postgres finds its library and
# share directories from where its binaries are; everything else linked, but for
# auth_ext's own files) and a pgrx home of their own that points at it.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

private="$(cluster_root)/pg-private"
bindir="$("$PG_CONFIG" --bindir)"; libdir="$("$PG_CONFIG" --pkglibdir)"
sharedir="$("$PG_CONFIG" --sharedir)"; includedir="$("$PG_CONFIG" --includedir-server)"
rm -rf "$private"
mkdir -p "$private$bindir" "$private$libdir" "$private$sharedir/extension" "$(dirname "$private$includedir")"
cp -a "$bindir/." "$private$bindir/"
link_all_but_ours() { # link_all_but_ours FROM TO: every entry of FROM but auth_ext's, linked into TO
    local entry
    for entry in "$1"/*; do
        case "$(basename "$entry")" in auth_ext*|extension) ;; *) ln -s "$entry" "$2/" ;; esac
    done
}
link_all_but_ours "$libdir" "$private$libdir"
link_all_but_ours "$sharedir" "$private$sharedir"
link_all_but_ours "$sharedir/extension" "$private$sharedir/extension"
ln -s "$includedir" "$private$includedir"
export PGRX_HOME="$private/pgrx-home"
mkdir -p "$PGRX_HOME"
printf '[configs]\npg%s = "%s"\n' "$PG_MAJOR" "$private$bindir/pg_config" >"$PGRX_HOME/config.toml"
[ "$("$private$bindir/pg_config" --pkglibdir)" = "$private$libdir" ] \
    || { echo "unit tests: the private pg_config does not point at the private install" >&2; exit 1; }

args=(pg$PG_MAJOR)
if [ "$(id -u)" = 0 ]; then
    # Postgres will not run as root: pgrx starts it as the postgres user.
    pgdata="$(cluster_root)/pgrx-test"
    rm -rf "$pgdata"
    # pgrx creates its PGDATA inside this as the postgres user.
    mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
    args+=(--runas postgres --pgdata "$pgdata")
fi
installed="$libdir/auth_ext.so"
before="$(stat -c '%i %Y' "$installed" 2>/dev/null || true)"
log "cargo pgrx test ${args[*]} (installing into $private)"
cargo pgrx test "${args[@]}" "$@"
if [ "$(stat -c '%i %Y' "$installed" 2>/dev/null || true)" != "$before" ]; then
    echo "unit tests: the installed $installed was written" >&2
    exit 1
fi
log "cargo test -p auth_ext_gateway -p auth_ext_http"
cargo test --quiet -p auth_ext_gateway -p auth_ext_http
log "layers: every import points down"
python3 scripts/layers.py
