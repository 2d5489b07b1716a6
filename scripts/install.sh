#!/usr/bin/env bash
# Builds the extension and installs it into the Postgres that $PG_CONFIG names (PG_MAJOR
# chooses: 15, Debian's, by default), and builds the HTTP gateway in the same profile.
# The shared library is replaced atomically (common.sh's install_built). Pass --release
# for a release build.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
release=""
for arg in "$@"; do [ "$arg" = --release ] && release=--release; done
out="$REPO_ROOT/target/install-pg$PG_MAJOR"
log "building and installing auth_ext into $("$PG_CONFIG" --sharedir)/extension"
build_extension "$out" $release
install_built "$out"
log "building auth_ext_gateway"
cargo build --quiet -p auth_ext_gateway $release
