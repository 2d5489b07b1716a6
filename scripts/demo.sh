#!/usr/bin/env bash
# Plays demo/walkthrough.sql against the installed extension in a throwaway cluster.
# --shell leaves you in psql afterwards; the cluster stops when you quit.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

cluster_start demo
trap cluster_stop EXIT
log "demo cluster on 127.0.0.1:$PGPORT"

psql=(psql -X -v ON_ERROR_STOP=1 --pset=pager=off -d auth_demo)
createdb_cmd=("$(pg_bindir)/createdb" auth_demo)
"${createdb_cmd[@]}"
"${psql[@]}" -q -c 'create extension auth_ext'
"${psql[@]}" -f demo/walkthrough.sql

if [ "${1:-}" = --shell ]; then
    log "psql on the demo database; \\q stops the cluster"
    "${psql[@]}"
fi
