#!/usr/bin/env bash
# The SQL regression suite in pg_test/: each sql/NAME.sql is run by pg_regress
# against the installed extension in a throwaway cluster and its output compared
# with expected/NAME.out. Pass test names to run a subset.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

# setup creates the helpers the others share, so it always runs first.
tests=(setup)
if [ $# -gt 0 ]; then
    tests+=("$@")
else
    for f in pg_test/sql/*.sql; do
        name="$(basename "$f" .sql)"
        [ "$name" = setup ] || tests+=("$name")
    done
fi

# Messages to one user are spaced out only where a test asks (auth_ext.*_max_frequency).
# A key to seal providers' client secrets with (providers.sql); a test's, not a secret.
cluster_start regress "auth_ext.mailer_max_frequency = 0" "auth_ext.sms_max_frequency = 0" \
    "auth_ext.provider_secret_key = 'regress-only-sealing-key-0123456789'"
trap cluster_stop EXIT

out="$REPO_ROOT/target/regress"
rm -rf "$out"; mkdir -p "$out"
log "pg_regress: ${tests[*]}"
status=0
"$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
    --bindir="$(pg_bindir)" \
    --inputdir=pg_test \
    --outputdir="$out" \
    --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --dbname=auth_ext_regress \
    --load-extension=auth_ext \
    "${tests[@]}" || status=$?
if [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
    cat "$out/regression.diffs"
fi
exit $status
