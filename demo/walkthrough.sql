-- A short tour of auth_ext, played by `make demo`.
\set QUIET on
\pset footer off
\set SHOW_CONTEXT never

\echo
\echo '== 1. CREATE EXTENSION auth_ext gave this database an auth schema'
select table_name from information_schema.tables where table_schema = 'auth' order by 1;

\echo
\echo '== 2. Users arrive three ways; the handle_new_user trigger records their identities'
\echo '--   a Feishu user, created the way the Supabase recipe does it (placeholder email + oauth_* metadata)'
insert into auth.users (id, email, email_confirmed_at, raw_user_meta_data) values (
    '11111111-1111-1111-1111-111111111111', 'feishu_ou_7f3a@oauth.local', now(),
    '{"oauth_provider": "feishu", "oauth_open_id": "ou_7f3a", "name": "张伟", "tenant_key": "2ed2"}');
\echo '--   an email sign-up (stored lower-cased)'
insert into auth.users (id, email) values ('22222222-2222-2222-2222-222222222222', 'Ada@Example.com');
\echo '--   an anonymous visitor: no email, no identity'
insert into auth.users (id, is_anonymous) values ('33333333-3333-3333-3333-333333333333', true);

select u.id, coalesce(u.email, '(none)') as email, u.is_anonymous,
       coalesce(string_agg(i.provider || ':' || i.provider_id, ', ' order by i.provider), '(none)') as identities
from auth.users u left join auth.user_identities i on i.user_id = u.id
group by u.id order by u.id;

\echo
\echo '--   a second account claiming the same Feishu open_id is refused, and nothing is written:'
\set ON_ERROR_STOP off
insert into auth.users (email, raw_user_meta_data)
values ('mallory@example.com', '{"oauth_provider": "feishu", "oauth_open_id": "ou_7f3a"}');
\set ON_ERROR_STOP on
select count(*) as mallory_rows from auth.users where email = 'mallory@example.com';

\echo
\echo '== 3. An application table with the policies from Supabase''s anonymous sign-in guide'
create table public.todos (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    task text not null
);
alter table public.todos enable row level security;
create policy "owners manage their todos" on public.todos for all to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "only permanent users add todos" on public.todos as restrictive for insert to authenticated
    with check ((select (auth.jwt()->>'is_anonymous')::boolean) is false);
grant select, insert on public.todos to authenticated;
\echo 'created public.todos with an owner policy and a restrictive "permanent users only" insert policy'

\echo
\echo '== 4. A request from Ada, as PostgREST presents it (role + request.jwt.claims)'
begin;
set local role authenticated;
select set_config('request.jwt.claims',
    '{"sub": "22222222-2222-2222-2222-222222222222", "role": "authenticated", "email": "ada@example.com", "is_anonymous": false}',
    true) is not null as claims_set;
select auth.uid(), auth.role(), auth.email(), auth.is_anonymous();
insert into public.todos (task) values ('write the launch post');
select id, task from public.todos;
select id, email from auth.users;
commit;

\echo
\echo '== 5. A request from the anonymous visitor: the insert is refused, and Ada''s todo is invisible'
begin;
set local role authenticated;
select set_config('request.jwt.claims',
    '{"sub": "33333333-3333-3333-3333-333333333333", "role": "authenticated", "is_anonymous": true}',
    true) is not null as claims_set;
select auth.uid(), auth.jwt()->'is_anonymous' as is_anonymous_claim;
\set ON_ERROR_STOP off
insert into public.todos (task) values ('sneak in');
\set ON_ERROR_STOP on
commit;
begin;
set local role authenticated;
select set_config('request.jwt.claims',
    '{"sub": "33333333-3333-3333-3333-333333333333", "role": "authenticated", "is_anonymous": true}', true) is not null as claims_set;
select count(*) as todos_visible from public.todos;
commit;

\echo
\echo '== 6. Malformed claims are a clear error, not a crash'
\set ON_ERROR_STOP off
select set_config('request.jwt.claims', '{"sub": oops}', false) is not null as claims_set;
select auth.uid();
\set ON_ERROR_STOP on
select set_config('request.jwt.claims', '', false) is not null as claims_cleared;

\echo
\echo '== 7. Sessions: Postgres signs the tokens itself (ES256 key made by CREATE EXTENSION)'
select auth.admin_create_session('22222222-2222-2222-2222-222222222222', 'password') as ada_session \gset
select :'ada_session'::jsonb->>'token_type' as token_type, :'ada_session'::jsonb->>'expires_in' as expires_in,
       left(:'ada_session'::jsonb->>'access_token', 24) || '...' as access_token,
       left(:'ada_session'::jsonb->>'refresh_token', 12) || '...' as refresh_token;
\echo '--   the public key, for PostgREST or an API gateway:'
select k->>'kty' as kty, k->>'crv' as crv, k->>'alg' as alg, k->>'kid' as kid from jsonb_array_elements(auth.jwks()->'keys') k;

\echo
\echo '--   a direct connection verifies the token in the database, for one transaction:'
begin;
select auth.set_session(:'ada_session'::jsonb->>'access_token')->>'email' as verified_email;
select auth.uid() as uid_inside_transaction;
commit;
select auth.uid() is null as identity_gone_after_commit;

\echo
\echo '--   refresh rotates the refresh token; replaying an old one later is treated as theft:'
select auth.refresh_session(:'ada_session'::jsonb->>'refresh_token') as ada_refreshed \gset
select :'ada_refreshed'::jsonb->>'refresh_token' <> :'ada_session'::jsonb->>'refresh_token' as new_refresh_token;
set auth_ext.refresh_token_reuse_interval = 0;
select auth.refresh_session(:'ada_refreshed'::jsonb->>'refresh_token') as ada_latest \gset
\set ON_ERROR_STOP off
select auth.refresh_session(:'ada_session'::jsonb->>'refresh_token');
\set ON_ERROR_STOP on
reset auth_ext.refresh_token_reuse_interval;
\echo '--   (a worker of its own committed the revocation before the call failed)'
select r.reason from auth.session_revocations r join auth.sessions s on s.id = r.session_id
where s.user_id = '22222222-2222-2222-2222-222222222222';
\set ON_ERROR_STOP off
select auth.refresh_session(:'ada_latest'::jsonb->>'refresh_token');
\set ON_ERROR_STOP on
select action, payload->>'reason' as reason from auth.audit_log_entries
where actor_id = '22222222-2222-2222-2222-222222222222' order by id;

\echo
\echo '== 8. Anonymous sign-in: a visitor gets a real user and session, no email asked'
set auth_ext.anonymous_sign_ins = on;
select auth.sign_in_anonymously('{"cart": ["green tea"]}', '198.51.100.23') as visitor \gset
select :'visitor'::jsonb->'user'->>'id' as user_id, :'visitor'::jsonb->'user'->'is_anonymous' as is_anonymous,
       :'visitor'::jsonb->'user'->'user_metadata' as user_metadata;
\echo '--   at most auth_ext.rate_limit_anonymous per address and hour (3 here):'
set auth_ext.rate_limit_anonymous = 3;
select (auth.sign_in_anonymously('{}', '198.51.100.23'))->>'token_type' as second,
       (auth.sign_in_anonymously('{}', '198.51.100.23'))->>'token_type' as third;
\set ON_ERROR_STOP off
select auth.sign_in_anonymously('{}', '198.51.100.23');
\set ON_ERROR_STOP on
reset auth_ext.rate_limit_anonymous;

\echo
\echo '== 9. Feishu sign-in: the app server exchanged the OAuth code; the database finds or creates the user'
set role service_role;
select auth.sign_in_with_idp('feishu', 'ou_demo_1', '{"name": "李娜", "tenant_key": "2ed2", "en_name": "Li Na"}') as feishu \gset
select :'feishu'::jsonb->'user'->>'id' as user_id, :'feishu'::jsonb->'user'->'user_metadata'->>'name' as name,
       :'feishu'::jsonb->'user'->'identities'->0->>'provider' as provider,
       :'feishu'::jsonb->'user'->'identities'->0->>'id' as open_id;
\echo '--   the next sign-in of the same open_id is the same user, with what Feishu returned this time:'
select (auth.sign_in_with_idp('feishu', 'ou_demo_1', '{"name": "李娜 (Nina)"}'))->'user'->>'id' = :'feishu'::jsonb->'user'->>'id' as same_user;
reset role;
select raw_user_meta_data->>'name' as name_now, raw_user_meta_data->>'tenant_key' as tenant_key
from auth.users where id = (:'feishu'::jsonb->'user'->>'id')::uuid;

\echo
\echo '== 10. Email sign-up: a confirmation goes to the outbox; a sender claims it; the code confirms'
select auth.sign_up('grace@example.com', 'a long and unusual passphrase')->>'email' as signed_up;
select id, kind, recipient, payload->>'email_otp' as code from auth.claim_outbox() \gset claimed_
select :'claimed_kind' as kind, :'claimed_recipient' as recipient, 'code ' || :'claimed_code' as delivered;
select (auth.verify_otp(:'claimed_recipient', :'claimed_code', 'signup'))->>'token_type' as confirmed_session;
select (auth.sign_in_with_password('grace@example.com', 'a long and unusual passphrase'))->'user'->>'email_confirmed_at' is not null as signed_in_confirmed;

\echo
\echo '== 11. A cart travels from an anonymous visitor into a permanent account'
create table public.cart_items (
    user_id uuid not null references auth.users (id) on delete cascade,
    product text not null,
    qty int not null,
    primary key (user_id, product)
);
select auth.sign_in_anonymously() as shopper \gset
begin;
select auth.set_session(:'shopper'::jsonb->>'access_token') is not null as shopper_verified;
insert into public.cart_items values (auth.uid(), 'green tea', 2), (auth.uid(), 'teapot', 1);
commit;
\echo '--   (a) the visitor adds an email; confirming it keeps the same user id and the cart:'
begin;
select auth.set_session(:'shopper'::jsonb->>'access_token') is not null as shopper_verified;
select auth.update_user('{"email": "visitor@example.com"}')->>'new_email' as pending_email;
commit;
select payload->>'email_otp' as code from auth.claim_outbox() where recipient = 'visitor@example.com' \gset
begin;
select auth.set_session(:'shopper'::jsonb->>'access_token') is not null as shopper_verified;
select auth.verify_otp('visitor@example.com', :'code', 'email_change') as converted \gset
commit;
select u.id = (:'shopper'::jsonb->'user'->>'id')::uuid as same_user_id, u.email, u.is_anonymous,
       (select string_agg(product || ' x' || qty, ', ' order by product) from public.cart_items c where c.user_id = u.id) as cart
from auth.users u where u.email = 'visitor@example.com';

\echo '--   (b) another visitor fills a cart, then signs in to Ada''s existing account: one call merges the carts'
insert into public.cart_items values ('22222222-2222-2222-2222-222222222222', 'green tea', 1);
create function public.merge_cart_items(anonymous_user uuid, target_user uuid) returns void language sql as $$
    update public.cart_items t set qty = t.qty + s.qty from public.cart_items s
    where s.user_id = anonymous_user and t.user_id = target_user and t.product = s.product;
    delete from public.cart_items s where s.user_id = anonymous_user
      and exists (select from public.cart_items t where t.user_id = target_user and t.product = s.product);
$$;
select auth.register_merge_handler('public.cart_items', 'public.merge_cart_items(uuid, uuid)');
\echo '--   merges move rows as auth_ext_app, only in tables the application granted it:'
grant select, update, delete on public.cart_items to auth_ext_app;
select auth.sign_in_anonymously() as visitor2 \gset
begin;
select auth.set_session(:'visitor2'::jsonb->>'access_token') is not null as visitor_verified;
insert into public.cart_items values (auth.uid(), 'green tea', 3), (auth.uid(), 'honey', 1);
commit;
select auth.admin_create_session('22222222-2222-2222-2222-222222222222', 'password') as ada_again \gset
begin;
select auth.set_session(:'ada_again'::jsonb->>'access_token') is not null as ada_verified;
select m->>'table' as tbl, m->>'moved' as moved, m->>'handler' as handler
from jsonb_array_elements(auth.merge_anonymous_user(:'visitor2'::jsonb->>'access_token')->'moved') m;
commit;
select string_agg(product || ' x' || qty, ', ' order by product) as adas_cart
from public.cart_items where user_id = '22222222-2222-2222-2222-222222222222';
select count(*) as anonymous_visitor_left from auth.users where id = (:'visitor2'::jsonb->'user'->>'id')::uuid;

\echo
\echo '== 12. One call protects an application table with owner policies'
create table public.journal (id bigint generated always as identity primary key,
                             user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
                             entry text not null);
grant select, insert, update, delete on public.journal to authenticated;
select auth.enable_owner_policies('public.journal', anonymous_can_write => false);
select polname, case when polpermissive then 'permissive' else 'restrictive' end as kind
from pg_policy where polrelid = 'public.journal'::regclass order by polname;

\echo
\echo '== 13. Stale anonymous visitors are cleaned up (here by hand; a background worker does it on a schedule)'
insert into auth.users (is_anonymous, created_at, updated_at)
select true, now() - interval '45 days', now() - interval '45 days' from generate_series(1, 250);
select count(*) filter (where is_anonymous) as anonymous_users, count(*) filter (where not is_anonymous) as permanent_users
from auth.users;
call auth.cleanup_anonymous_users(older_than => '30 days', dry_run => true);
call auth.cleanup_anonymous_users(older_than => '30 days', batch_size => 100);
select count(*) filter (where is_anonymous) as anonymous_users, count(*) filter (where not is_anonymous) as permanent_users
from auth.users;
select action, payload->>'deleted' as deleted from auth.audit_log_entries where action = 'anonymous_cleanup' order by id;

\echo
\echo 'Done. `make demo-shell` runs this and leaves you in psql.'
