#!/usr/bin/env bash
# The upgrade path: installs the previous release (sql/releases/), upgrades it with the
# built upgrade script (ALTER EXTENSION auth_ext UPDATE), and checks that the result is
# the same, fact by fact, as a fresh install of this version (pg_test/upgrade/snapshot.sql).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
version="$(extension_version)"
extdir="$("$PG_CONFIG" --sharedir)/extension"
cluster_start upgrade
# The previous releases' install scripts are needed only here: installed for this check.
cleanup() { cluster_stop; for r in sql/releases/auth_ext--*.sql; do rm -f "$extdir/$(basename "$r")"; done; }
trap cleanup EXIT
install -m 644 sql/releases/auth_ext--*.sql "$extdir/"
"$(pg_bindir)/createdb" fresh
"$(pg_bindir)/createdb" upgraded
psql -X -q -v ON_ERROR_STOP=1 -d fresh -c "create extension auth_ext"
for release in sql/releases/auth_ext--*.sql; do
    previous="$(basename "$release" .sql)"; previous="${previous#auth_ext--}"
    log "upgrade check: $previous -> $version"
    "$(pg_bindir)/dropdb" --if-exists upgraded; "$(pg_bindir)/createdb" upgraded
    psql -X -q -v ON_ERROR_STOP=1 -d upgraded -c "create extension auth_ext version '$previous'" >/dev/null
    # Data written by the previous release survives the upgrade, in its new shape.
    if [ -f "pg_test/upgrade/data-$previous.sql" ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d upgraded -f "pg_test/upgrade/data-$previous.sql" >/dev/null
    fi
    psql -X -q -v ON_ERROR_STOP=1 -d upgraded -c "alter extension auth_ext update" >/dev/null
    if [ -f "pg_test/upgrade/check-$previous.sql" ]; then
        result="$(psql -X -q -At -v ON_ERROR_STOP=1 -d upgraded -f "pg_test/upgrade/check-$previous.sql")"
        if [ "$result" != "$(cat "pg_test/upgrade/check-$previous.expected")" ]; then
            echo "upgrade check: $previous data after the upgrade: expected"; cat "pg_test/upgrade/check-$previous.expected"
            echo "got"; echo "$result"; exit 1
        fi
    fi
    psql -X -q -d fresh -f pg_test/upgrade/snapshot.sql >"$CLUSTER_DIR/fresh.txt"
    psql -X -q -d upgraded -f pg_test/upgrade/snapshot.sql >"$CLUSTER_DIR/upgraded.txt"
    if ! diff -u "$CLUSTER_DIR/fresh.txt" "$CLUSTER_DIR/upgraded.txt" >"$CLUSTER_DIR/upgrade.diff"; then
        echo "upgrade check: $previous -> $version differs from a fresh install (- fresh, + upgraded):"
        cat "$CLUSTER_DIR/upgrade.diff"
        exit 1
    fi
    echo "upgrade check: $previous -> $version equals a fresh install ($(wc -l <"$CLUSTER_DIR/fresh.txt") facts)"
done
