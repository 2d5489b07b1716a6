-- Who may do what. Runs last, once every function exists; part of every upgrade script
-- too (scripts/build-sql.py), so each statement may run again.
-- Nothing in `auth` is usable by an application role unless granted here.

alter table auth.users enable row level security;
alter table auth.user_identities enable row level security;

-- A signed-in user reads their own rows and nothing else. `(select auth.uid())`
-- is planned once per query rather than called once per row.
drop policy if exists users_select_own on auth.users;
create policy users_select_own on auth.users
    for select to authenticated
    using (id = (select auth.uid()));

drop policy if exists user_identities_select_own on auth.user_identities;
create policy user_identities_select_own on auth.user_identities
    for select to authenticated
    using (user_id = (select auth.uid()));

-- No insert/update/delete policy or grant for application roles: a user who could
-- rewrite provider/provider_id could hijack someone else's future sign-in.
-- Changes go through the extension's functions.

grant usage on schema auth to anon, authenticated, service_role;

revoke all on all tables in schema auth from public;
revoke execute on all routines in schema auth from public;

-- Every column but the password hash.
grant select (id, aud, role, email, phone, email_confirmed_at, phone_confirmed_at, confirmed_at,
              last_sign_in_at, raw_app_meta_data, raw_user_meta_data, is_anonymous, banned_until,
              email_change, email_change_confirm_status, phone_change, created_at, updated_at, deleted_at,
              invited_at, confirmation_sent_at, recovery_sent_at, email_change_sent_at, phone_change_sent_at,
              reauthentication_sent_at)
    on auth.users to authenticated, service_role;
grant select on auth.user_identities to authenticated, service_role;

-- The claim functions only read the caller's own request settings, and any role that
-- queries a table with a policy calling them needs them: granted to everyone.
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email(),
    auth.is_anonymous(), auth.session_id(), auth.is_permanent() to public;

-- Raising one of our errors reveals nothing; SQL parts of the extension that run as
-- the caller (the users_normalize trigger) need it.
grant execute on function auth.raise_error(text, text, text, text) to public;
grant execute on function auth.error_codes() to public;

-- Sessions, refresh tokens, signing keys and the audit log: no application role
-- reads them directly (RLS on as a second line of defence, with no policies).
alter table auth.sessions enable row level security;
alter table auth.refresh_tokens enable row level security;
alter table auth.signing_keys enable row level security;
alter table auth.audit_log_entries enable row level security;
alter table auth.session_revocations enable row level security;
alter table auth.secrets enable row level security;

-- Public keys are public.
grant execute on function auth.jwks() to public;

-- Entry points that act only on a token the caller presents or on the caller's own
-- verified session: open to every role, including an application's own login role
-- on a direct connection.
grant execute on function auth.refresh_session(text), auth.set_session(text), auth.get_user(text),
    auth.sign_out(text) to public;

-- Administration: service_role (and the owner) only.
grant execute on function auth.admin_create_session(uuid, text), auth.add_signing_key(text, text),
    auth.rotate_signing_key(text), auth.remove_signing_key(text) to service_role;

-- pg_dump keeps the data of these tables (an extension's tables are otherwise skipped).
-- Signing keys included: after a restore the key CREATE EXTENSION made signs, and the
-- restored keys keep verifying the tokens they signed.
select pg_catalog.pg_extension_config_dump('auth.users', '');
select pg_catalog.pg_extension_config_dump('auth.user_identities', '');
select pg_catalog.pg_extension_config_dump('auth.sessions', '');
select pg_catalog.pg_extension_config_dump('auth.refresh_tokens', '');
select pg_catalog.pg_extension_config_dump('auth.refresh_tokens_id_seq', '');
select pg_catalog.pg_extension_config_dump('auth.session_revocations', '');
select pg_catalog.pg_extension_config_dump('auth.secrets', '');
select pg_catalog.pg_extension_config_dump('auth.signing_keys', '');
select pg_catalog.pg_extension_config_dump('auth.audit_log_entries', '');
select pg_catalog.pg_extension_config_dump('auth.audit_log_entries_id_seq', '');

-- The first signing key: ES256, from the OS CSPRNG (an upgrade keeps the keys it has).
select auth.add_signing_key('ES256') where not exists (select from auth.signing_keys);

-- Sign-in flows (issue: sign-in flows).
alter table auth.one_time_tokens enable row level security;
alter table auth.rate_limits enable row level security;
alter table auth.serial_locks enable row level security;
alter table auth.rate_bursts enable row level security;
alter table auth.outbox enable row level security;

-- What a visitor may do before signing in: sign up, sign in, verify, recover, refresh.
grant execute on function auth.sign_in_anonymously(jsonb, inet, text), auth.sign_up(text, text, jsonb, text, text, text),
    auth.sign_in_with_password(text, text), auth.sign_in_with_phone_password(text, text),
    auth.sign_in_with_otp(text, boolean, text, jsonb, text, text), auth.verify_otp(text, text, text, text, text),
    auth.reset_password_for_email(text, text, text), auth.resend(text, text, text)
    to anon, authenticated, service_role;

-- Only the application's server vouches for an external identity or administers users.
grant execute on function auth.sign_in_with_idp(text, text, jsonb), auth.admin_create_user(jsonb),
    auth.admin_update_user_by_id(uuid, jsonb), auth.admin_delete_user(uuid, boolean),
    auth.admin_list_users(integer, integer, text, boolean), auth.admin_generate_link(text, text, jsonb),
    auth.claim_outbox(integer), auth.admin_get_user_by_id(uuid), auth.invite_user_by_email(text, jsonb, text)
    to service_role;
-- The sender (service_role) leases messages and reports on them; what became of each can
-- be read, without the secrets, in auth.outbox_status.
grant execute on function auth.lease_outbox(integer, integer, text), auth.outbox_sent(bigint),
    auth.outbox_retry(bigint, text, boolean) to service_role;
grant select on auth.outbox_status to service_role;
alter table auth.email_templates enable row level security;
drop policy if exists email_templates_server on auth.email_templates;
create policy email_templates_server on auth.email_templates to service_role using (true) with check (true);
grant select, insert, update, delete on auth.email_templates to service_role;
select pg_catalog.pg_extension_config_dump('auth.email_templates', '');

select pg_catalog.pg_extension_config_dump('auth.one_time_tokens', '');

-- Behind PostgREST (issue: PostgREST as Supabase users expect it). API keys are made
-- and revoked by the database's administrators only. auth.postgrest_config() hands
-- out HS256 secrets: granted to PostgREST's authenticator by the set-up, by name,
-- since a NOINHERIT role does not use its memberships' rights.
alter table auth.api_keys enable row level security;
select pg_catalog.pg_extension_config_dump('auth.api_keys', '');
grant execute on function auth.postgrest_pre_request() to anon, authenticated, service_role;
select pg_catalog.pg_extension_config_dump('auth.outbox', '');
select pg_catalog.pg_extension_config_dump('auth.outbox_id_seq', '');

-- Nobody but a superuser names a function or operator like a built-in one (see
-- auth.refuse_builtin_names). An event trigger belongs to a superuser; made once.
do $builtins$
begin
    if not exists (select from pg_catalog.pg_event_trigger where evtname = 'auth_ext_refuse_builtin_names') then
        create event trigger auth_ext_refuse_builtin_names on ddl_command_end
            when tag in ('CREATE FUNCTION', 'CREATE AGGREGATE', 'CREATE PROCEDURE', 'CREATE OPERATOR',
                         'CREATE TYPE', 'ALTER FUNCTION', 'ALTER AGGREGATE', 'ALTER PROCEDURE')
            execute function auth.refuse_builtin_names();
    end if;
end
$builtins$;

-- The HTTP front (issue: a Supabase-compatible front door). PKCE: a followed link gives
-- an auth code, exchanged with its verifier; both are entry points of a visitor.
alter table auth.flow_state enable row level security;
select pg_catalog.pg_extension_config_dump('auth.flow_state', '');
grant execute on function auth.verify_link(text, text), auth.exchange_code_for_session(text, text),
    auth.settings() to anon, authenticated, service_role;

-- Third-party sign-in providers (issue: social sign-in), managed by the application's
-- server. Dumped with their secrets sealed (auth_ext.provider_secret_key is not in the
-- database).
alter table auth.oauth_providers enable row level security;
select pg_catalog.pg_extension_config_dump('auth.oauth_providers', '');
grant execute on function auth.admin_create_oauth_provider(jsonb), auth.admin_update_oauth_provider(text, jsonb),
    auth.admin_delete_oauth_provider(text), auth.admin_list_oauth_providers() to service_role;
-- Signing in through them: the callback's steps are the HTTP front's alone (they check
-- that themselves); flows are not dumped.
alter table auth.oauth_flows enable row level security;
grant execute on function auth.oauth_authorize(text, text, text, text, text, boolean),
    auth.oauth_store_discovery(text, jsonb), auth.oauth_callback_begin(text, text),
    auth.oauth_callback_finish(text, jsonb) to anon, authenticated, service_role;
-- ID tokens (signInWithIdToken) are anyone's to present; the provider's keys are fetched
-- by the HTTP front or the application's server (the functions check which).
grant execute on function auth.sign_in_with_id_token(text, text, text, text), auth.oauth_keys_source(text),
    auth.oauth_store_keys(text, jsonb) to anon, authenticated, service_role;

-- Anonymous to permanent (issue: update_user, linking, merging).
alter table auth.merge_handlers enable row level security;
alter table auth.merge_columns enable row level security;
alter table auth.one_time_token_attempts enable row level security;
alter table auth.sign_up_passwords enable row level security;

-- A signed-in user's own account.
grant execute on function auth.update_user(jsonb), auth.reauthenticate(), auth.unlink_identity(uuid),
    auth.merge_anonymous_user(text, text) to authenticated, service_role;
-- Multi-factor authentication: a signed-in user's own factors (the functions refuse
-- anonymous users). A user may read its own factors' public columns, so that
-- Supabase's restrictive aal2 policy (which counts them) works as written; the secret
-- column and the challenges are no application role's to read.
alter table auth.mfa_factors enable row level security;
alter table auth.mfa_challenges enable row level security;
grant select (id, user_id, friendly_name, factor_type, status, phone, created_at, updated_at, last_challenged_at)
    on auth.mfa_factors to authenticated;
drop policy if exists mfa_factors_own on auth.mfa_factors;
create policy mfa_factors_own on auth.mfa_factors for select to authenticated using (user_id = auth.uid());
grant execute on function auth.mfa_enroll(text, text, text, text), auth.mfa_challenge(uuid, text),
    auth.mfa_verify(uuid, uuid, text), auth.mfa_unenroll(uuid) to authenticated, service_role;
grant execute on function auth.admin_list_factors(uuid), auth.admin_delete_factor(uuid, uuid) to service_role;
-- Linking needs the application's server to have verified the identity with its provider.
grant execute on function auth.link_identity(text, text, jsonb, uuid) to service_role;
grant execute on function auth.register_merge_handler(regclass, regprocedure),
    auth.register_merge_column(regclass, name) to service_role;

select pg_catalog.pg_extension_config_dump('auth.merge_handlers', '');
select pg_catalog.pg_extension_config_dump('auth.merge_columns', '');
select pg_catalog.pg_extension_config_dump('auth.one_time_token_attempts', '');

-- Cleanup and RLS helpers (issue: cleanup that runs itself, RLS helpers).
-- The procedure runs as its caller (it commits); what it calls is SECURITY DEFINER.
grant execute on function auth.cleanup_anonymous_batch(interval, integer, boolean, timestamptz, uuid),
    auth.cleanup_anonymous_users_once(interval, integer, boolean) to service_role;
grant execute on procedure auth.cleanup_anonymous_users(interval, integer, boolean) to service_role;
grant execute on function auth.purge_spent_refresh_tokens(integer, integer), auth.purge_past_rate_limits() to service_role;
-- They run as their caller, so only a table's owner can use them on it.
grant execute on function auth.enable_owner_policies(regclass, name, boolean),
    auth.disable_owner_policies(regclass), auth.drop_owner_policies(regclass) to public;

-- Trust boundaries (issue: trust boundaries).
-- auth_ext_app runs application code: it may call what that code needs of ours and
-- nothing else in auth. The application grants it rights on its own objects.
grant usage on schema auth to auth_ext_admin, auth_ext_app;
-- Hooks and merges run as the owner of the code or table (or auth_ext_app for a
-- superuser's); these run as their caller and do only what it could do anyway.
grant execute on function auth.hook_function(text), auth.call_hook(text, jsonb, boolean),
    auth.merge_column(regclass, name, text, uuid, uuid, text, regprocedure) to public;

-- What PostgREST exposes (issue: PostgREST as Supabase users expect it): schema
-- auth_api, one thin wrapper for each function of auth granted to anon, authenticated
-- or service_role by name, with its arguments, defaults, result and grants. Schema auth
-- itself is never exposed: it also holds what PUBLIC may execute because code runs with
-- it (the claim functions, call_hook, merge_column), which is no API.
-- The wrappers set no search_path (their bodies name everything by schema), so that the
-- planner inlines them: an account change must be a call in the client's own plan
-- (src/statements.rs), and an inlined wrapper's call is.
grant execute on function auth.refresh_session(text), auth.set_session(text), auth.get_user(text),
    auth.sign_out(text), auth.jwks() to anon, authenticated, service_role;
create schema if not exists auth_api;
comment on schema auth_api is 'auth_ext: the functions PostgREST exposes (db-schemas); each calls its namesake in auth';
grant usage on schema auth_api to anon, authenticated, service_role;
do $api$
declare
    f record;
    call_args text;
begin
    -- An upgrade makes them afresh, from the functions and grants as they are now.
    for f in select p.oid::regprocedure as signature from pg_catalog.pg_proc p
             where p.pronamespace = 'auth_api'::regnamespace loop
        execute pg_catalog.format('drop function %s', f.signature);
    end loop;
    for f in
        select p.oid, p.proname, p.pronargs, p.proretset, p.proargnames,
               case p.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end as volatility,
               pg_catalog.pg_get_function_arguments(p.oid) as arguments,
               pg_catalog.pg_get_function_identity_arguments(p.oid) as identity,
               pg_catalog.pg_get_function_result(p.oid) as result,
               array(select a.grantee::regrole::text from pg_catalog.aclexplode(p.proacl) a
                     where a.privilege_type = 'EXECUTE'
                       and a.grantee in ('anon'::regrole, 'authenticated'::regrole, 'service_role'::regrole)
                     order by 1) as callers
        from pg_catalog.pg_proc p
        where p.pronamespace = 'auth'::regnamespace and p.prokind = 'f'
          and exists (select from pg_catalog.aclexplode(p.proacl) a
                      where a.privilege_type = 'EXECUTE'
                        and a.grantee in ('anon'::regrole, 'authenticated'::regrole, 'service_role'::regrole))
    loop
        select coalesce(string_agg(case when coalesce(f.proargnames[i], '') = '' then pg_catalog.format('$%s', i)
                                        else pg_catalog.format('%I => $%s', f.proargnames[i], i) end, ', ' order by i), '')
        into call_args from pg_catalog.generate_series(1, f.pronargs) i;
        execute pg_catalog.format(
            'create function auth_api.%I(%s) returns %s language sql %s as %L',
            f.proname, f.arguments, f.result, f.volatility,
            case when f.proretset then pg_catalog.format('select * from auth.%I(%s)', f.proname, call_args)
                 else pg_catalog.format('select auth.%I(%s)', f.proname, call_args) end);
        execute pg_catalog.format('revoke execute on function auth_api.%I(%s) from public', f.proname, f.identity);
        execute pg_catalog.format('grant execute on function auth_api.%I(%s) to %s', f.proname, f.identity,
                                  pg_catalog.array_to_string(f.callers, ', '));
    end loop;
end
$api$;

-- Everything of the extension belongs to auth_ext_admin, never to the superuser who
-- ran CREATE EXTENSION: a SECURITY DEFINER function runs with its owner's rights.
-- Only its members: whatever else someone put in schema auth keeps its owner.
-- (A table's identity sequences and indexes follow it.)
do $owners$
declare
    obj record;
begin
    for obj in
        select d.classid, d.objid from pg_catalog.pg_depend d
        where d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
          and d.refobjid = (select oid from pg_catalog.pg_extension where extname = 'auth_ext')
    loop
        if obj.classid = 'pg_class'::regclass
                and (select relkind from pg_catalog.pg_class where oid = obj.objid) in ('r', 'p', 'v', 'm') then
            execute pg_catalog.format('alter table %s owner to auth_ext_admin', obj.objid::regclass);
        elsif obj.classid = 'pg_proc'::regclass then
            execute pg_catalog.format('alter %s %s owner to auth_ext_admin',
                case (select prokind from pg_catalog.pg_proc where oid = obj.objid) when 'p' then 'procedure' else 'function' end,
                obj.objid::regprocedure);
        elsif obj.classid = 'pg_type'::regclass
                and (select typtype from pg_catalog.pg_type where oid = obj.objid) in ('e', 'd') then
            execute pg_catalog.format('alter type %s owner to auth_ext_admin', obj.objid::regtype);
        end if;
    end loop;
end
$owners$;
