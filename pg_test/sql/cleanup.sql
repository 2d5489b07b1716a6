-- Cleanup of stale anonymous users. CALL commits between batches, so this test runs
-- outside a transaction block and removes what it made at the end.
\set SHOW_CONTEXT never
set client_min_messages = notice;
create table public.notes (user_id uuid references auth.users (id) on delete cascade, body text);
create table public.invoices (user_id uuid references auth.users (id) on delete restrict, total int);

-- Stale anonymous users (created 40 days ago, never seen since), in number.
insert into auth.users (id, is_anonymous, created_at, updated_at)
select ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, true, now() - interval '40 days', now() - interval '40 days'
from generate_series(1, 25) n;
insert into public.notes select id, 'scribble' from auth.users where is_anonymous;
-- Old but still active: a sign-in last week, a refresh yesterday.
update auth.users set last_sign_in_at = now() - interval '7 days', updated_at = now() - interval '7 days'
where id = '00000000-0000-0000-0000-000000000001';
insert into auth.sessions (user_id, refreshed_at) values ('00000000-0000-0000-0000-000000000002', now() - interval '1 day');
-- Held by a restricting foreign key: skipped and reported, never an aborted run.
insert into public.invoices values ('00000000-0000-0000-0000-000000000003', 10);
-- Converted: permanent now, however old.
update auth.users set is_anonymous = false, email = 'kept@example.com' where id = '00000000-0000-0000-0000-000000000004';
-- A permanent user and a fresh anonymous one.
insert into auth.users (id, email, created_at) values ('00000000-0000-0000-0000-0000000000aa', 'old@example.com', now() - interval '5 years');
insert into auth.users (id, is_anonymous) values ('00000000-0000-0000-0000-0000000000bb', true);

-- Dry run: counts, deletes nothing.
call auth.cleanup_anonymous_users(dry_run => true);
select count(*) as anonymous_users from auth.users where is_anonymous;

-- The real run, in batches of 10 that each commit.
call auth.cleanup_anonymous_users(older_than => '30 days', batch_size => 10);
select id, is_anonymous from auth.users order by id;
select count(*) as notes_left, count(*) filter (where user_id = '00000000-0000-0000-0000-000000000003') as held_users_notes
from public.notes;
select action, payload->>'deleted' as deleted, payload->>'skipped' as skipped, payload->'skipped_user_ids' as skipped_ids
from auth.audit_log_entries where action like 'anonymous_cleanup%' order by id;

-- Run again: nothing more to do (the held user is reported again).
call auth.cleanup_anonymous_users(batch_size => 10);
-- The function form deletes one batch and returns how many.
insert into auth.users (is_anonymous, created_at, updated_at)
select true, now() - interval '60 days', now() - interval '60 days' from generate_series(1, 3);
select auth.cleanup_anonymous_users_once('30 days', 100);
-- A shorter idle time reaches the users active last week and yesterday.
select auth.cleanup_anonymous_users_once('12 hours', 100);
select count(*) as anonymous_users_left from auth.users where is_anonymous;
select regress.error_of($$select auth.cleanup_anonymous_users_once('-1 day')$$) as negative;
select regress.error_of($$select auth.cleanup_anonymous_users_once('1 day', 0)$$) as zero_batch;

-- Who may run it.
select r.rolname, has_function_privilege(r.rolname, 'auth.cleanup_anonymous_users_once(interval, integer, boolean)', 'execute') as function_form,
       has_function_privilege(r.rolname, 'auth.cleanup_anonymous_batch(interval, integer, boolean, timestamptz, uuid)', 'execute') as batch
from (values ('anon'), ('authenticated'), ('service_role')) r(rolname) order by 1;

-- Spent refresh tokens are kept as a bounded history: the newest of each session.
select auth.admin_create_session((select id from auth.users where not is_anonymous order by id limit 1)) as s0 \gset
select :'s0'::jsonb->>'refresh_token' as token \gset
select set_config('regress.token', :'token', false) is not null as kept;
do $$
declare
    t text := current_setting('regress.token');
begin
    for i in 1..20 loop
        t := auth.refresh_session(t)->>'refresh_token';
    end loop;
    perform set_config('regress.token', t, false);
end $$;
select count(*) filter (where spent_at is not null) as spent, count(*) filter (where spent_at is null) as live
from auth.refresh_tokens where session_id = (regress.jwt_part(:'s0'::jsonb->>'access_token', 2)->>'session_id')::uuid;
select auth.purge_spent_refresh_tokens(5) as purged;
select count(*) filter (where spent_at is not null) as spent, count(*) filter (where spent_at is null) as live
from auth.refresh_tokens where session_id = (regress.jwt_part(:'s0'::jsonb->>'access_token', 2)->>'session_id')::uuid;
-- The live token still refreshes, and the first token, now forgotten, is simply unknown.
select auth.refresh_session(current_setting('regress.token'))->>'token_type' as live_still_refreshes;
select regress.error_of(format('select auth.refresh_session(%L)', :'token')) as purged_token;
select r.rolname, has_function_privilege(r.rolname, 'auth.purge_spent_refresh_tokens(integer, integer)', 'execute') as may_purge
from (values ('anon'), ('authenticated'), ('service_role')) r(rolname) order by 1;

delete from public.invoices;
drop table public.invoices, public.notes;
delete from auth.users;
delete from auth.audit_log_entries;
