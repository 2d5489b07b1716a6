#!/usr/bin/env bash
# Builds the extension and installs it into the system Postgres. The shared library is
# replaced atomically (a new file, then a rename): writing over a library that running
# servers have loaded would crash their backends. Pass --release for a release build.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
profile=(--debug)
for arg in "$@"; do [ "$arg" = --release ] && profile=(); done
out="$REPO_ROOT/target/package"
sharedir="$("$PG_CONFIG" --sharedir)"; libdir="$("$PG_CONFIG" --pkglibdir)"
log "building and installing auth_ext into $sharedir/extension"
rm -rf "$out"
cargo pgrx package --pg-config "$PG_CONFIG" "${profile[@]}" --out-dir "$out" 2>&1 \
    | grep -vE '^\s+(Compiling|Checking|Downloaded|Downloading)' >&2
# Upgrade scripts from each earlier release, built from sql/upgrades/ and the function
# files (and the Rust functions of the install script just generated).
python3 scripts/build-sql.py "$out$sharedir/extension/auth_ext--$(extension_version).sql" "$out$sharedir/extension"
# The package mirrors the install layout under $out.
install -m 644 "$out$sharedir"/extension/auth_ext* "$sharedir/extension/"
tmp="$libdir/.auth_ext.so.$$"
install -m 755 "$out$libdir/auth_ext.so" "$tmp"
mv -f "$tmp" "$libdir/auth_ext.so"
# The HTTP gateway (gateway/), in the same profile.
log "building auth_ext_gateway"
gateway_profile=(); [ ${#profile[@]} -eq 0 ] && gateway_profile=(--release)
cargo build --quiet -p auth_ext_gateway "${gateway_profile[@]}"
