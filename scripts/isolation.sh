#!/usr/bin/env bash
# Isolation specs in pg_test/isolation: races between concurrent sessions, played step
# by step by Postgres' own isolation tester against the installed extension.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
    for f in pg_test/isolation/specs/*.spec; do specs+=("$(basename "$f" .spec)"); done
fi
# Races send many messages to one user at once (auth_ext.*_max_frequency spaces them out).
cluster_start isolation "auth_ext.mailer_max_frequency = 0" "auth_ext.sms_max_frequency = 0"
trap cluster_stop EXIT
out="$REPO_ROOT/target/isolation"
rm -rf "$out"; mkdir -p "$out"
log "pg_isolation_regress: ${specs[*]}"
status=0
"$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress" \
    --bindir="$(pg_bindir)" \
    --inputdir=pg_test/isolation \
    --outputdir="$out" \
    --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --dbname=auth_ext_isolation \
    --load-extension=auth_ext \
    "${specs[@]}" || status=$?
if [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
    cat "$out/regression.diffs"
fi
exit $status
