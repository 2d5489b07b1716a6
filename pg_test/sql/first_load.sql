-- Without preloading, a backend loads the library in the middle of some statement: the
-- extension's statement hooks then missed what ran before, so no account change is made
-- in that statement (a retryable indirect_call). A table owner's code that loads it
-- there (a policy calling a function that changes the reader's account) is refused; so
-- is a developer's SQL function, inlined into the reader's plan before the library was
-- there to see it, now and later; the request's own call, retried, works. This file must
-- call no auth_ext function before each case, so that its session loads the library
-- during it.
\set SHOW_CONTEXT never
-- Each attack is the victim's own statement, as its client sends it; psql prints the
-- error, and the transaction goes on past it.
\set ON_ERROR_ROLLBACK on
-- The owner's table, and a signed-in reader made with plain SQL: no auth_ext function runs
-- before the read (the users table's triggers, which call one, are skipped). psql
-- variables, so that each backend below sets them up alike.
\set owners_table 'create role fl_owner nologin; grant usage on schema auth to fl_owner; grant execute on function auth.update_user(jsonb) to fl_owner; create table public.fl_notes (body text); insert into public.fl_notes values (''a note''); alter table public.fl_notes owner to fl_owner; alter table public.fl_notes enable row level security; grant select on public.fl_notes to authenticated;'
\set signed_in_reader 'set local session_replication_role = replica; insert into auth.users (id, email, email_confirmed_at) values (''00000000-0000-0000-0000-0000000f1a01'', ''fl@example.com'', now()); insert into auth.sessions (id, user_id) values (''00000000-0000-0000-0000-0000000f1a02'', ''00000000-0000-0000-0000-0000000f1a01''); reset session_replication_role; select set_config(''request.jwt.claims'', ''{"role": "authenticated", "sub": "00000000-0000-0000-0000-0000000f1a01", "session_id": "00000000-0000-0000-0000-0000000f1a02", "aud": "authenticated"}'', true) is not null as claims_set;'
begin;
:owners_table
create function public.fl_take_over() returns int language plpgsql as $$
declare
    r record;
begin
    for r in select auth.update_user('{"data": {"owned": true}}') as u loop
    end loop;
    return 1;
end
$$;
alter function public.fl_take_over() owner to fl_owner;
create policy fl_read on public.fl_notes for select to authenticated using (public.fl_take_over() = 1);
:signed_in_reader
set local role authenticated;
-- policy_on_first_load:
select count(*) from public.fl_notes;
reset role;
select raw_user_meta_data ? 'owned' as metadata_changed from auth.users where id = '00000000-0000-0000-0000-0000000f1a01';
rollback;

-- Variant, in a backend of its own: the policy's function runs inside an application
-- function that reads the table by PERFORM (no portal of its own), called by an RPC.
\c
begin;
:owners_table
create function public.fl_grab() returns int language plpgsql as $$
begin
    perform auth.update_user('{"data": {"owned": true}}');
    return 1;
end
$$;
alter function public.fl_grab() owner to fl_owner;
create policy fl_read on public.fl_notes for select to authenticated using (public.fl_grab() = 1);
create function public.fl_feed() returns bigint language plpgsql as $$
declare
    n bigint;
begin
    select count(*) into n from public.fl_notes;
    return n;
end
$$;
:signed_in_reader
set local role authenticated;
-- rpc_reading_the_table_on_first_load:
select public.fl_feed();
reset role;
rollback;
-- A developer's SQL function that changes the caller's account, which the planner
-- inlines into the caller's own statement: planned before the library was loaded, and
-- again after.
\c
begin;
:owners_table
create function public.fl_stats() returns jsonb language sql as
  $$ select auth.update_user('{"data": {"owned": true}}') $$;
alter function public.fl_stats() owner to fl_owner;
:signed_in_reader
set local role authenticated;
-- inlined_on_first_load:
select public.fl_stats();
-- inlined_later:
select public.fl_stats();
reset role;
select raw_user_meta_data ? 'owned' as metadata_changed from auth.users where id = '00000000-0000-0000-0000-0000000f1a01';
rollback;
-- The request's own change, made in the statement that loads the library, is refused
-- (retryable); made again, in a statement of its own, it works.
\c
begin;
:signed_in_reader
set local role authenticated;
-- own_change_on_first_load:
select auth.update_user('{"data": {"theme": "dark"}}');
select auth.update_user('{"data": {"theme": "dark"}}')->'user_metadata'->>'theme' as own_change_retried;
reset role;
rollback;
