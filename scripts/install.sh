#!/usr/bin/env bash
# Builds the extension and installs it into the system Postgres.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
log "building and installing auth_ext into $("$PG_CONFIG" --sharedir)/extension"
cargo pgrx install --pg-config "$PG_CONFIG" "$@" 2>&1 | grep -vE '^\s+(Compiling|Checking|Downloaded|Downloading)' >&2
