-- What a policy's claim function costs per row, against comparing with a literal.
-- :rows rows (one in a thousand the user's), one core (no parallel workers), best of
-- nine runs each; request claims read in a superuser's session, in a verified session,
-- and in PostgREST's. Prints mode|predicate|ms|ratio lines for scripts/bench.sh.
\set QUIET on
\pset footer off
\pset tuples_only on
\pset format unaligned
create table bench_rows as
select case when n % 1000 = 0 then '5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b'::uuid else gen_random_uuid() end as user_id
from generate_series(1, :rows) n;
vacuum analyze bench_rows;
insert into auth.users (id, email) values ('5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b', 'bench@example.com');

\ir claims_report.sql

select set_config('request.jwt.claims', '{"sub": "5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b", "role": "authenticated", "is_anonymous": false}', false) is not null as claims_set \gset
select * from pg_temp.report('request claims, superuser session');

select set_config('request.jwt.claims', '', false) is not null as cleared \gset
begin;
select auth.set_session(auth.admin_create_session('5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b')->>'access_token') is not null as verified \gset
select * from pg_temp.report('verified session');
commit;

-- A request as PostgREST makes it: its authenticator's session (the superuser's above
-- reads request.jwt.claims as it is; PostgREST's, as its pre-request kept them), the
-- token's role, the claims, the pre-request.
grant select on bench_rows to authenticated;
\c - authenticator
\ir claims_report.sql
begin;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b", "role": "authenticated", "is_anonymous": false}', true) is not null as claims_set \gset
select auth.postgrest_pre_request() is null as pre_request \gset
select * from pg_temp.report('PostgREST request');
commit;
