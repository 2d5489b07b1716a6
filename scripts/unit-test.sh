#!/usr/bin/env bash
# The Rust-level #[pg_test]s, run by pgrx against a real Postgres 15.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
args=(pg$PG_MAJOR)
if [ "$(id -u)" = 0 ]; then
    # Postgres will not run as root: pgrx starts it as the postgres user.
    pgdata="$(cluster_root)/pgrx-test"
    rm -rf "$pgdata"
    # pgrx creates its PGDATA inside this as the postgres user.
    mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
    args+=(--runas postgres --pgdata "$pgdata")
fi
log "cargo pgrx test ${args[*]}"
cargo pgrx test "${args[@]}" "$@"
log "cargo test -p auth_ext_gateway"
cargo test --quiet -p auth_ext_gateway
