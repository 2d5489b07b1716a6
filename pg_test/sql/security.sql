-- Trust boundaries, tried from the attacker's side. Each mechanism gets the attack that
-- was reported and a second variant of it. `dev` is an application developer (owns
-- application tables and hook functions, not a superuser); anon, authenticated and
-- service_role are the application roles.
\set SHOW_CONTEXT never
-- Account changes must be the client's own statements (not inside error_of's EXECUTE):
-- psql prints their errors, and the transaction goes on past them.
\set ON_ERROR_ROLLBACK on
begin;
set local auth_ext.anonymous_sign_ins = on;
-- Other tests of this run sent mail from this address too; 8c tests this limit.
set local auth_ext.rate_limit_email_per_client = 1000;
create role dev nologin;
grant usage, create on schema public to dev;
grant service_role to dev;
-- What the README says an application table's owner needs to point a foreign key at users.
grant references (id) on auth.users to dev;

-- 1. Nothing of the extension runs with the installer's rights.
select count(*) as superuser_owned_security_definer
from pg_proc where prosecdef and proowner in (select oid from pg_roles where rolsuper);
select count(*) filter (where proowner <> 'auth_ext_admin'::regrole) as functions_not_owned_by_auth_ext_admin,
       count(*) filter (where prosecdef and not exists (select from unnest(proconfig) c where c like 'search_path=%')) as definer_without_search_path
from pg_proc where pronamespace in ('auth'::regnamespace, 'auth_api'::regnamespace);
select count(*) as tables_not_owned_by_auth_ext_admin
from pg_class where relnamespace = 'auth'::regnamespace and relkind in ('r', 'S', 'v') and relowner <> 'auth_ext_admin'::regrole;
select rolname, rolsuper, rolbypassrls, rolcanlogin, rolcreaterole
from pg_roles where rolname in ('auth_ext_admin', 'auth_ext_app', 'auth_ext_gateway') order by 1;

-- Who ran the application's code, and whether it could become superuser from there.
create table public.escalations (via text, ran_as text, became_superuser text);
grant insert on public.escalations to public;
-- Besides: whether it could write another developer's table that merges may touch,
-- and whether a plain SET it makes outlives it (it would choose the search_path of the
-- extension's statements that follow).
create role dev2 nologin;
create table public.other_devs_rows (user_id uuid, note text);
alter table public.other_devs_rows owner to dev2;
grant select, update, delete on public.other_devs_rows to auth_ext_app;
alter table public.escalations add column wrote_other_table text;
create function public.try_escalation(via text) returns void language plpgsql as $$
declare
    outcome text;
    other text;
begin
    begin
        execute 'alter role dev superuser';
        outcome := 'yes';
    exception when others then
        outcome := sqlstate;
    end;
    begin
        execute 'delete from public.other_devs_rows';
        other := 'yes';
    exception when others then
        other := sqlstate;
    end;
    perform set_config('search_path', 'public, pg_catalog', false);
    insert into public.escalations values (via, current_user, outcome, other);
end $$;

-- 1a. A trigger on an application table with a foreign key to auth.users, fired by a
--     merge: it runs as the table's owner, as Postgres runs foreign-key actions.
set local role dev;
create table public.notes (user_id uuid not null references auth.users (id) on delete cascade, body text);
create function public.notes_audit() returns trigger language plpgsql as $$
begin
    perform public.try_escalation('trigger on notes');
    return new;
end $$;
create trigger notes_audit after update on public.notes for each row execute function public.notes_audit();
grant select, update on public.notes to auth_ext_app;
reset role;
select auth.admin_create_user('{"email": "target@example.com", "password": "correct horse battery", "email_confirm": true}') as target \gset
select auth.sign_in_anonymously() as visitor \gset
insert into public.notes values ((:'visitor'::jsonb->'user'->>'id')::uuid, 'hello');
select auth.sign_in_with_password('target@example.com', 'correct horse battery') as target_session \gset
select auth.set_session(:'target_session'::jsonb->>'access_token') is not null as signed_in_as_target;
set local role authenticated;
select auth.merge_anonymous_user(:'visitor'::jsonb->>'access_token')->'moved'->0->>'moved' as notes_moved;
reset role;

-- 1b. A merge handler registered by its owner: it runs as its owner too.
set local role dev;
create table public.wishlists (user_id uuid not null references auth.users (id) on delete cascade, item text, primary key (user_id, item));
create function public.merge_wishlists(anonymous_user uuid, target_user uuid) returns void language plpgsql as $$
begin
    perform public.try_escalation('merge handler');
    delete from public.wishlists w where w.user_id = anonymous_user
      and exists (select from public.wishlists t where t.user_id = target_user and t.item = w.item);
end $$;
grant select, update, delete on public.wishlists to auth_ext_app;
select auth.register_merge_handler('public.wishlists', 'public.merge_wishlists(uuid, uuid)');
reset role;
select auth.sign_in_anonymously() as visitor2 \gset
insert into public.wishlists values ((:'visitor2'::jsonb->'user'->>'id')::uuid, 'tea'), ((:'target'::jsonb->>'id')::uuid, 'tea');
set local role authenticated;
select auth.merge_anonymous_user(:'visitor2'::jsonb->>'access_token')->'moved' as wishlist_merge;
reset role;

-- 1c. The custom access token hook and the anonymous hooks, owned by dev, run as dev.
set local role dev;
create function public.token_hook(event jsonb) returns jsonb language plpgsql as $$
begin
    perform public.try_escalation('access token hook');
    return jsonb_build_object('claims', event->'claims');
end $$;
create function public.anonymous_hook(event jsonb) returns jsonb language plpgsql as $$
begin
    perform public.try_escalation('anonymous hook');
    return null;
end $$;
reset role;
set local auth_ext.custom_access_token_hook = 'public.token_hook';
set local auth_ext.anonymous_before_create_hook = 'public.anonymous_hook';
set local role anon;
select (auth.sign_in_anonymously())->>'token_type' as hooks_ran;
reset role;
select via, ran_as, became_superuser, wrote_other_table from public.escalations order by via;
-- Their plain SETs ended with them.
select current_setting('search_path') as search_path_after;
select rolsuper as dev_is_superuser from pg_roles where rolname = 'dev';

-- 1d. A hook that reads the signing keys, or returns a role or a lifetime it may not.
--     (Owned by a superuser, these run as auth_ext_app, never with a superuser's rights.)
create function public.steal_keys(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || jsonb_build_object('k', (select count(*) from auth.signing_keys))) $$;
create function public.grant_service_role(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || '{"role": "service_role"}') $$;
create function public.grant_postgres(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || '{"role": "postgres"}') $$;
create function public.live_forever(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || '{"exp": 4102444800}') $$;
create function public.drop_iat(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || '{"iat": 4102444800}') $$;
set local auth_ext.anonymous_before_create_hook = '';
select hook, regress.error_of(format($$set local auth_ext.custom_access_token_hook = %L;
                                      select auth.sign_in_anonymously()$$, hook)) as result,
       regress.detail_of(format($$set local auth_ext.custom_access_token_hook = %L;
                                  select auth.sign_in_anonymously()$$, hook)) as detail
from unnest(array['public.steal_keys', 'public.grant_service_role', 'public.grant_postgres', 'public.live_forever',
                  'public.drop_iat']) hook;
-- A superuser may list roles a hook may grant.
set local auth_ext.allowed_token_roles = 'service_role';
set local auth_ext.custom_access_token_hook = 'public.grant_service_role';
select regress.jwt_part(auth.sign_in_anonymously()->>'access_token', 2)->>'role' as listed_role;
reset auth_ext.allowed_token_roles;
reset auth_ext.custom_access_token_hook;
reset auth_ext.anonymous_before_create_hook;
-- The admin API cannot put an unlisted role in a user's tokens either.
set local role service_role;
select regress.error_of(format('select auth.admin_update_user_by_id(%L, %L)', :'target'::jsonb->>'id', '{"role": "postgres"}')) as admin_role_postgres;
reset role;

-- 2. Registration takes only what the caller owns.
create table public.superuser_table (user_id uuid references auth.users (id));
create function public.superuser_fn(a uuid, b uuid) returns void language sql as $$ select $$;
create temporary table temp_owned (user_id uuid);
create function pg_temp.temp_handler(a uuid, b uuid) returns void language sql as $$ select $$;
grant select on temp_owned to dev;
set local role dev;
select case_name, regress.error_of(statement) as result from (values
    ('someone else''s table', $$select auth.register_merge_column('public.superuser_table', 'user_id')$$),
    ('someone else''s function', $$select auth.register_merge_handler('public.wishlists', 'public.superuser_fn(uuid, uuid)')$$),
    ('temporary table', format('select auth.register_merge_column(%L, %L)', 'pg_temp.temp_owned', 'user_id')),
    ('temporary function', format('select auth.register_merge_handler(%L, %L)', 'public.wishlists', 'pg_temp.temp_handler(uuid, uuid)'))
) t(case_name, statement);
reset role;

-- 3. A merge touches only tables the application granted, never half-finishes, and never
--    silently deletes rows it could not move.
-- 3a. A banned user resets his moderation record with keep_anonymous: refused, naming the table.
create table public.moderation (user_id uuid primary key references auth.users (id) on delete cascade, strikes int not null);
create table public.carts (user_id uuid not null references auth.users (id) on delete cascade, item text);
grant select, update, delete on public.carts to auth_ext_app;
insert into public.moderation values ((:'target'::jsonb->>'id')::uuid, 3);
select auth.sign_in_anonymously() as clean \gset
insert into public.moderation values ((:'clean'::jsonb->'user'->>'id')::uuid, 0);
insert into public.carts values ((:'clean'::jsonb->'user'->>'id')::uuid, 'tea');
set local role authenticated;
-- keep_anonymous, with its detail:
\set VERBOSITY default
select auth.merge_anonymous_user(:'clean'::jsonb->>'access_token', 'keep_anonymous');
reset role;
select strikes as target_strikes_kept,
       (select count(*) from public.carts where user_id = (:'target'::jsonb->>'id')::uuid) as carts_not_moved,
       (select count(*) from auth.users where id = (:'clean'::jsonb->'user'->>'id')::uuid) as anonymous_kept
from public.moderation where user_id = (:'target'::jsonb->>'id')::uuid;
-- 3b. The table is granted, but row-level security hides the rows from auth_ext_app: the
--     merge fails rather than cascade-delete them with the anonymous user.
grant select, update, delete on public.moderation to auth_ext_app;
alter table public.moderation enable row level security;
set local role authenticated;
-- hidden_rows:
select auth.merge_anonymous_user(:'clean'::jsonb->>'access_token', 'keep_target');
reset role;
select (select count(*) from public.moderation where user_id = (:'clean'::jsonb->'user'->>'id')::uuid) as anonymous_row_kept,
       (select count(*) from public.carts where user_id = (:'clean'::jsonb->'user'->>'id')::uuid) as cart_not_half_moved;
-- With a policy for auth_ext_app the application allows it, and the merge goes through.
create policy auth_ext_merge on public.moderation to auth_ext_app using (true);
set local role authenticated;
select auth.merge_anonymous_user(:'clean'::jsonb->>'access_token', 'keep_target')->'moved' as allowed_merge;
reset role;
select strikes as target_strikes_after_keep_target from public.moderation where user_id = (:'target'::jsonb->>'id')::uuid;
-- 3c. The helpers a merge or a hook runs through are executable by every role, and do
--     only what their caller could do anyway: a visitor calling them directly to move
--     the target's cart to himself, or to run a function he may not, gets nowhere.
set local role anon;
select regress.error_of(format('select auth.merge_column(%L, %L, %L, %L, %L, %L, null)', 'public.carts', 'user_id', 'uuid',
    :'target'::jsonb->>'id', gen_random_uuid(), 'merge')) as merge_helper;
select regress.error_of($$select auth.call_hook('pg_catalog.pg_reload_conf()', '{}')$$) as hook_helper;
select auth.hook_function('pg_catalog.jsonb_strip_nulls(jsonb)') is not null as resolves_only,
       auth.hook_function('pg_catalog.pg_reload_conf()') is null as only_jsonb_hooks;
reset role;
select count(*) as target_carts_untouched from public.carts where user_id = (:'target'::jsonb->>'id')::uuid;

-- 4. Identities come only from a trusted party.
-- 4a. A visitor signs up claiming someone's Feishu identity: no identity is made, and the
--     victim's first Feishu sign-in creates the victim's own user.
set local role anon;
select auth.sign_up('mallory@example.com', 'correct horse battery',
                    '{"oauth_provider": "feishu", "oauth_open_id": "ou_victim"}')->>'id' as mallory \gset
reset role;
select count(*) as preclaimed_feishu from auth.user_identities where provider = 'feishu' and provider_id = 'ou_victim';
set local role service_role;
select (auth.sign_in_with_idp('feishu', 'ou_victim'))->'user'->>'id' <> :'mallory' as victim_gets_own_user;
reset role;
-- 4b. Claiming an email identity through metadata, so that its owner can never sign up.
set local role anon;
select auth.sign_up('mallory2@example.com', 'correct horse battery',
                    '{"oauth_provider": "email", "oauth_open_id": "victim@example.com"}') is not null as signed_up;
reset role;
select count(*) as preclaimed_email from auth.user_identities where provider_id = 'victim@example.com';
set local role anon;
select auth.sign_up('victim@example.com', 'victims own password')->>'email' as victim_signs_up;
reset role;
-- 4b'. Skipping identities for restored rows is no loophole: a sign-up run inside COPY
--      by an end user still gets its email identity.
set local role anon;
copy (select auth.sign_up('copied@example.com', 'correct horse battery') is not null) to stdout;
reset role;
select count(*) as copied_email_identity from auth.user_identities where provider = 'email' and provider_id = 'copied@example.com';
-- 4c. The recipe's trusted path still works: service_role creates the user with oauth metadata.
set local role service_role;
select auth.admin_create_user('{"email": "feishu_ou_ok@oauth.local", "email_confirm": true,
  "user_metadata": {"oauth_provider": "feishu", "oauth_open_id": "ou_ok"}}')->'identities' @> '[{"provider": "feishu"}]' as recipe_identity;
-- 4d. Errors name no other user: a taken identity, and a sign-up for a registered address.
select regress.detail_of($$select auth.link_identity('feishu', 'ou_ok', '{}', (select id from auth.users where email = 'target@example.com'))$$) as taken_identity_detail;
reset role;
set local role anon;
select auth.sign_up('target@example.com', 'another good password') as taken \gset
reset role;
select :'taken'::jsonb->>'id' <> :'target'::jsonb->>'id' as looks_new,
       :'taken'::jsonb->'identities'->0->>'user_id' = :'taken'::jsonb->>'id' as its_own_identity,
       (select encrypted_password from auth.users where email = 'target@example.com') like '$argon2id$%' as password_unchanged,
       (select count(*) from auth.outbox where recipient = 'target@example.com' and payload->>'reason' = 'signup_attempt') as owner_mailed;
select auth.sign_in_with_password('target@example.com', 'correct horse battery')->>'token_type' as owner_password_still_works;

-- 5. Accounts cannot be taken before their owner arrives.
-- 5a. Mallory signs up Olga's address with his password; Olga signs in by magic link.
set local role anon;
select auth.sign_up('olga@example.com', 'mallorys password 1') is not null as preregistered;
reset role;
set local role service_role;
select auth.admin_generate_link('magiclink', 'olga@example.com')->>'hashed_token' as olga_link \gset
reset role;
set local role anon;
select (auth.verify_otp(token_hash => :'olga_link', type => 'magiclink'))->'user'->>'email' as olga_signed_in;
select regress.error_of($$select auth.sign_in_with_password('olga@example.com', 'mallorys password 1')$$) as mallorys_password;
reset role;
-- 5b. The same through a recovery link.
set local role anon;
select auth.sign_up('petra@example.com', 'mallorys password 2') is not null as preregistered;
reset role;
set local role service_role;
select auth.admin_generate_link('recovery', 'petra@example.com')->>'hashed_token' as petra_link \gset
reset role;
set local role anon;
select (auth.verify_otp(token_hash => :'petra_link', type => 'recovery'))->'user'->>'email' as petra_recovered;
select regress.error_of($$select auth.sign_in_with_password('petra@example.com', 'mallorys password 2')$$) as mallorys_password;
-- 5c. Quinn signs up after Mallory pre-registered his address: the sign-up is accepted,
--     but two passwords were set for one address, so confirming proves the address
--     only: neither password works, and Quinn sets his through recovery.
select auth.sign_up('quinn@example.com', 'mallorys password 3') is not null as preregistered;
select auth.sign_up('quinn@example.com', 'quinns own password')->>'email' as quinn_signs_up;
reset role;
select payload->>'token_hash' as quinn_link from auth.outbox where recipient = 'quinn@example.com' order by id desc limit 1 \gset
set local role anon;
select (auth.verify_otp(token_hash => :'quinn_link', type => 'signup'))->'user'->>'email' as quinn_confirmed;
select regress.error_of($$select auth.sign_in_with_password('quinn@example.com', 'mallorys password 3')$$) as mallorys_password;
select regress.error_of($$select auth.sign_in_with_password('quinn@example.com', 'quinns own password')$$) as quinns_password;
reset role;
set local role service_role;
select auth.admin_generate_link('recovery', 'quinn@example.com')->>'hashed_token' as quinn_recovery \gset
reset role;
set local role anon;
select auth.verify_otp(token_hash => :'quinn_recovery', type => 'recovery') as quinn_recovered \gset
reset role;
select auth.set_session(:'quinn_recovered'::jsonb->>'access_token') is not null as quinn_signed_in;
set local role authenticated;
select auth.update_user('{"password": "quinns new password"}')->>'email' as quinn_sets_password;
reset role;
set local auth_ext.verified_claims = '';
select auth.sign_in_with_password('quinn@example.com', 'quinns new password')->>'token_type' as quinns_password;
-- 5d. Someone who signs up twice with the same password (the first mail got lost) keeps it.
set local role anon;
select auth.sign_up('rhea@example.com', 'rheas own password') is not null as first_try,
       auth.sign_up('rhea@example.com', 'rheas own password') is not null as second_try;
reset role;
select payload->>'token_hash' as rhea_link from auth.outbox where recipient = 'rhea@example.com' order by id desc limit 1 \gset
set local role anon;
select (auth.verify_otp(token_hash => :'rhea_link', type => 'signup'))->'user'->>'email' as rhea_confirmed;
select auth.sign_in_with_password('rhea@example.com', 'rheas own password')->>'token_type' as rheas_password;
reset role;

-- 6. sign_out acts only on a standing session of the claims' user.
set local auth_ext.verified_claims = '';
select auth.sign_in_with_password('target@example.com', 'correct horse battery') as victim_session \gset
select count(*) as victim_sessions_before from auth.sessions where user_id = (:'target'::jsonb->>'id')::uuid \gset
select auth.sign_in_anonymously() as attacker \gset
set local role authenticated;
-- 6a. Forged claims: the victim's id and a made-up session.
select set_config('request.jwt.claims', jsonb_build_object('sub', :'target'::jsonb->>'id', 'role', 'authenticated',
    'session_id', gen_random_uuid())::text, true) is not null as forged;
-- forged_global (terse: the detail names the made-up session):
\set VERBOSITY terse
select auth.sign_out('global');
-- 6b. The victim's id with the attacker's own, real session.
select set_config('request.jwt.claims', jsonb_build_object('sub', :'target'::jsonb->>'id', 'role', 'authenticated',
    'session_id', regress.jwt_part(:'attacker'::jsonb->>'access_token', 2)->>'session_id')::text, true) is not null as forged;
-- forged_others:
select auth.sign_out('others');
\set VERBOSITY default
select set_config('request.jwt.claims', '', true) is not null as cleared;
reset role;
select count(*) = :victim_sessions_before as victim_sessions_intact from auth.sessions where user_id = (:'target'::jsonb->>'id')::uuid;

-- 7. Secure email change cannot be bypassed by unlinking the confirmed email first.
select auth.set_session(:'victim_session'::jsonb->>'access_token') is not null as signed_in;
select auth.link_identity('feishu', 'ou_target_second') is not null as second_identity;
set local role authenticated;
-- unlink_email:
select auth.unlink_identity((select id from auth.user_identities where provider = 'email' and user_id = (:'target'::jsonb->>'id')::uuid));
-- 7b. Nor after starting a change: the current address must still confirm.
select auth.update_user('{"email": "new-target@example.com"}')->>'new_email' as pending;
-- unlink_during_change:
select auth.unlink_identity((select id from auth.user_identities where provider = 'email' and user_id = (:'target'::jsonb->>'id')::uuid));
reset role;
select email from auth.users where id = (:'target'::jsonb->>'id')::uuid;

-- 8. Limits are keyed on what the caller cannot choose.
set local auth_ext.rate_limit_anonymous = 2;
set local role anon;
-- 8a. The ip argument is for trusted callers only.
select regress.error_of($$select auth.sign_in_anonymously('{}', '198.51.100.1')$$) as anon_chooses_ip;
-- 8b. Rotating x-forwarded-for changes nothing without a trusted proxy header: one bucket.
select count(*) filter (where r like '%over_request_rate_limit%') as refused
from (select regress.error_of(format($$select set_config('request.headers', %L, true);
                                      select auth.sign_in_anonymously()$$,
                                     jsonb_build_object('x-forwarded-for', '198.51.100.' || i)::text)) as r
      from generate_series(1, 5) i) t;
reset role;
set local role service_role;
select (auth.sign_in_anonymously('{}', '198.51.100.200'))->>'token_type' as trusted_caller_reports_ip;
reset role;
reset auth_ext.rate_limit_anonymous;
-- 8c. The mail budget per client: one client cannot use up everyone's.
set local auth_ext.rate_limit_email_per_client = 2;
set local auth_ext.trusted_proxy_header = 'x-real-ip';
set local role anon;
select set_config('request.headers', '{"x-real-ip": "203.0.113.1"}', true) is not null as client_one;
select i, regress.error_of(format('select auth.sign_in_with_otp(%L)', 'mail' || i || '@example.com')) as result
from generate_series(1, 3) i;
select set_config('request.headers', '{"x-real-ip": "203.0.113.2"}', true) is not null as client_two;
select regress.error_of($$select auth.sign_in_with_otp('mail4@example.com')$$) as other_client;
-- 8d. Nor can a client spend a victim's budget: the per-recipient limit counts per
-- recipient and client, so the victim's own request still gets its mail.
reset role;
set local auth_ext.rate_limit_email_per_recipient = 2;
set local role anon;
select set_config('request.headers', '{"x-real-ip": "203.0.113.3"}', true) is not null as attacker;
select i, regress.error_of($$select auth.reset_password_for_email('target@example.com')$$) as attacker_result
from generate_series(1, 3) i;
select set_config('request.headers', '{"x-real-ip": "198.51.100.7"}', true) is not null as victim;
select regress.error_of($$select auth.reset_password_for_email('target@example.com')$$) as victim_result;
reset role;
select count(*) as recovery_messages_to_target from auth.outbox where kind = 'recovery' and recipient = 'target@example.com';
reset auth_ext.rate_limit_email_per_recipient;
reset auth_ext.trusted_proxy_header;
set local auth_ext.rate_limit_email_per_client = 1000;

-- 9. Guessing: failed passwords are counted although each failing call rolls back.
-- 9a. Per account and client: once a client reached the limit for an account, even the
--     right password is refused to that client; the owner, from another address, still
--     signs in (a stranger's guesses lock nobody out), and other accounts are unaffected.
--     (Quinn has tries counted from 5c, from this connection: the limit is 2 more.)
select auth.rate_limit_hits('failed_sign_in_account',
           left(encode(sha256(convert_to('quinn@example.com', 'UTF8')), 'hex'), 32) || ' 127.0.0.1') + 2 as user_limit \gset
set local auth_ext.rate_limit_failed_sign_ins_per_user = :user_limit;
set local role anon;
select i, regress.error_of($$select auth.sign_in_with_password('quinn@example.com', 'a wrong guess')$$) as result
from generate_series(1, 4) i;
select regress.error_of($$select auth.sign_in_with_password('quinn@example.com', 'quinns new password')$$) as right_password_same_client;
select auth.sign_in_with_password('target@example.com', 'correct horse battery')->>'token_type' as other_account;
reset role;
set local auth_ext.trusted_proxy_header = 'x-real-ip';
set local role anon;
select set_config('request.headers', '{"x-real-ip": "198.51.100.7"}', true) is not null as owner_elsewhere;
select auth.sign_in_with_password('quinn@example.com', 'quinns new password')->>'token_type' as owner_signs_in;
-- An unknown address answers alike: the same count, the same refusal, the same words.
select set_config('request.headers', '{"x-real-ip": "203.0.113.3"}', true) is not null as prober;
with tries as materialized (
    select i, regress.error_of($$select auth.sign_in_with_password('nobody-at-all@example.com', 'a wrong guess')$$) as unknown,
              regress.error_of($$select auth.sign_in_with_password('quinn@example.com', 'a wrong guess')$$) as known
    from generate_series(1, :user_limit + 1) i)
select i, unknown, known, unknown = known as alike from tries where i >= :user_limit;
select set_config('request.headers', '', true) is not null as cleared;
reset role;
reset auth_ext.trusted_proxy_header;
-- 9b. Per client address, across accounts, existing or not.
select auth.rate_limit_hits('failed_sign_in', '127.0.0.1') + 2 as address_limit \gset
set local auth_ext.rate_limit_failed_sign_ins = :address_limit;
set local role anon;
select regress.error_of($$select auth.sign_in_with_password('nobody-1@example.com', 'a wrong guess')$$) as unknown_1,
       regress.error_of($$select auth.sign_in_with_password('target@example.com', 'a wrong guess')$$) as known_2,
       regress.error_of($$select auth.sign_in_with_password('nobody-3@example.com', 'a wrong guess')$$) as refused_3;
reset role;

-- 10. Recovery, resend and phone codes, as anon.
-- 10a. reset_password_for_email and resend answer alike whether or not the address is
-- registered, and count the same send limits, so neither answers nor limits enumerate.
select auth.rate_limit_hits('email_recipient', 'target@example.com 127.0.0.1') as known_before,
       auth.rate_limit_hits('email_recipient', 'stranger@example.com 127.0.0.1') as unknown_before,
       (select coalesce(max(id), 0) from auth.outbox) as outbox_before \gset
set local role anon;
select format('[%s]', auth.reset_password_for_email('target@example.com')) as known_answer,
       format('[%s]', auth.reset_password_for_email('stranger@example.com')) as unknown_answer,
       format('[%s]', auth.resend('signup', 'target@example.com')) as confirmed_resend,
       format('[%s]', auth.resend('signup', 'stranger@example.com')) as unknown_resend;
reset role;
select auth.rate_limit_hits('email_recipient', 'target@example.com 127.0.0.1') - :known_before as known_counted,
       auth.rate_limit_hits('email_recipient', 'stranger@example.com 127.0.0.1') - :unknown_before as unknown_counted,
       (select count(*) from auth.outbox where recipient = 'stranger@example.com') as stranger_mailed;
-- 10b. A victim's address can be sent its own messages only: recovery and resend go to
-- the account's addresses, never to one the caller names besides.
select kind, recipient from auth.outbox where id > :outbox_before order by id;
-- 10c. A phone code for someone else's phone: asking sends it to that phone, makes no
-- second account, and gives the caller nothing; it is never accepted through email =>.
set local role service_role;
select auth.admin_create_user('{"phone": "+1 202 555 0147", "phone_confirm": true}')->>'id' as phone_owner \gset
reset role;
set local role anon;
select format('[%s]', auth.sign_in_with_otp(phone => '+1 (202) 555-0147')) as asked;
reset role;
select count(*) as accounts_with_that_phone, (select recipient from auth.outbox where kind = 'sms' order by id desc limit 1) as code_went_to
from auth.users where phone = '12025550147';
set local role anon;
select regress.error_of($$select auth.verify_otp(email => '12025550147', token => '000000', type => 'sms')$$) as through_email,
       regress.error_of($$select auth.verify_otp(token_hash => 'guess', type => 'sms')$$) as by_guessed_link,
       regress.error_of($$select auth.verify_otp(phone => '+12025550147', token => '000000', type => 'email')$$) as email_type_by_phone;
-- 10d. API keys and PostgREST's secrets are out of reach.
select regress.error_of($$select auth.create_api_key('service_role')$$) as mint,
       regress.error_of($$select auth.postgrest_config()$$) as read_secrets,
       regress.error_of($$select count(*) from auth.api_keys$$) as list_keys;
reset role;

-- 11. Claims and headers are believed only from PostgREST's login role (a member of
--     auth_ext_postgrest, which verified the token) and superusers. Anyone else who can
--     run SQL can set them to anything, and claims are no secret: a table owner's trigger
--     sees every request's, session_id included.
select auth.admin_create_session((:'target'::jsonb->>'id')::uuid) as harvested \gset
set local auth_ext.verified_claims = '';
create role sql_client login;
grant anon, authenticated to sql_client;
set local auth_ext.trusted_proxy_header = 'x-forwarded-for';
set local session authorization sql_client;
set local role authenticated;
select set_config('request.jwt.claims', (regress.jwt_part(:'harvested'::jsonb->>'access_token', 2))::text, true) is not null as forged;
select auth.uid() is null as claims_ignored, auth.jwt() is null as jwt_ignored;
-- harvested_sign_out:
select auth.sign_out('global');
-- harvested_update_user:
select auth.update_user('{"email": "thief@example.com"}');
-- Variant: a forged client address, to spread guesses over many limit buckets.
set local role anon;
select set_config('request.headers', '{"x-forwarded-for": "10.9.9.9"}', true) is not null as forged_header;
select auth.sign_in_anonymously() is not null as signed_in_anonymously;
reset role;
reset session authorization;
select count(*) as sessions_from_forged_address from auth.sessions where ip = '10.9.9.9';
-- PostgREST's own login role: its claims and headers stand, as its pre-request keeps
-- them before any of the request's code runs.
create role postgrest_login login noinherit;
grant anon, authenticated, auth_ext_postgrest to postgrest_login;
set local session authorization postgrest_login;
set local role authenticated;
select set_config('request.jwt.claims', (regress.jwt_part(:'harvested'::jsonb->>'access_token', 2))::text, true) is not null as from_postgrest,
       set_config('request.headers', '{"x-forwarded-for": "10.8.8.8"}', true) is not null as headers_from_postgrest;
select auth.uid() is null as not_before_the_pre_request;
select auth.postgrest_pre_request();
select auth.uid() = (:'target'::jsonb->>'id')::uuid as postgrest_claims_believed;
-- Variant: code in the request rewrites the claims, to become another user in every
-- policy, and the headers, to spread its guesses over addresses of its choosing; what
-- the pre-request kept stands.
select set_config('request.jwt.claims', jsonb_build_object('sub', gen_random_uuid(), 'role', 'authenticated')::text, true) is not null as rewritten,
       set_config('request.headers', '{"x-forwarded-for": "10.7.7.7"}', true) is not null as headers_rewritten;
select auth.postgrest_pre_request();
select auth.uid() = (:'target'::jsonb->>'id')::uuid as kept_claims_stand, auth.jwt()->>'sub' = :'target'::jsonb->>'id' as jwt_too;
set local role anon;
select auth.sign_in_anonymously() is not null as signed_in_anonymously;
reset role;
reset session authorization;
select ip, count(*) as sessions from auth.sessions where ip in ('10.8.8.8', '10.7.7.7') group by ip order by ip;

-- 12. Nobody but a superuser names a function or operator like a built-in: PostgREST calls
--     json_agg, json_build_array, ... by name with its request's search path, and one in
--     public whose argument types match better than the built-in's would run in its place,
--     in every request, seeing every body (passwords) and answer (sessions).
create role shadow_owner login;
grant create, usage on schema public to shadow_owner;
set local role shadow_owner;
-- shadow_aggregate:
create function public.grab(state json, v jsonb) returns json language sql as $$ select state $$;
create aggregate public.json_agg(jsonb) (sfunc = public.grab, stype = json);
-- shadow_function:
create function public.json_build_array(v json) returns json language sql as $$ select v $$;
-- Variant: made under another name, then renamed.
create function public.innocent(v json) returns json language sql as $$ select v $$;
-- shadow_by_rename:
alter function public.innocent(json) rename to json_build_array;
-- Variant: an operator PostgREST's filters use.
create function public.pick(j json, k text) returns text language sql as $$ select 'x' $$;
-- shadow_operator:
create operator public.->> (leftarg = json, rightarg = text, function = public.pick);
-- Variant: a range type, whose constructors are named after it.
-- shadow_range_constructor:
create type public.concat as range (subtype = text);
reset role;
select count(*) as shadows from pg_proc where pronamespace = 'public'::regnamespace and proname in ('json_agg', 'json_build_array');

rollback;
