-- auth_ext 0.1.0 -> 0.2.0, by hand. Trust boundaries: an owner role instead of the
-- installer, application code run as its owner, identities only from trusted parties,
-- limits on guessing, one home per rule. Reliability: restores lose nothing, read paths
-- work on a standby, refreshes converge, revocations commit before they are reported.
-- scripts/upgrade-check.sh checks that the result equals a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION auth_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Roles: the owner of everything, the rights of application code, an HTTP front.
do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
        -- The admin role of an application's server: reads every user, as in Supabase.
        create role service_role nologin noinherit bypassrls;
    end if;
    -- auth_ext_admin owns the auth tables and every SECURITY DEFINER function, so that
    -- nothing the extension runs has the installer's (a superuser's) rights.
    -- auth_ext_app is what application code (hooks, merge handlers, merges' row moves)
    -- runs as: no rights in auth, and on application tables only what the application
    -- grants it. Members of auth_ext_gateway (an HTTP front's login role) may pass the
    -- client's address. All three must be plain roles, whoever created them.
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_admin') then
        create role auth_ext_admin nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_app') then
        create role auth_ext_app nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_gateway') then
        create role auth_ext_gateway nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if exists (select from pg_catalog.pg_roles
               where rolname in ('auth_ext_admin', 'auth_ext_app', 'auth_ext_gateway')
                 and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb or rolreplication
                      or (rolcanlogin and rolname <> 'auth_ext_gateway'))) then
        raise exception 'auth_ext: roles auth_ext_admin, auth_ext_app and auth_ext_gateway must not be superuser, BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION'
            using errcode = '42501', hint = 'ALTER ROLE them to NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION, or drop them.';
    end if;
    if exists (select from pg_catalog.pg_auth_members m
               where m.member in (select oid from pg_catalog.pg_roles where rolname in ('auth_ext_admin', 'auth_ext_app'))) then
        raise exception 'auth_ext: roles auth_ext_admin and auth_ext_app must not be members of other roles'
            using errcode = '42501';
    end if;
end
$roles$;

comment on role auth_ext_admin is 'auth_ext: owns the auth schema''s tables and SECURITY DEFINER functions. NOLOGIN; never runs application code.';
comment on role auth_ext_app is 'auth_ext: the rights application code (hooks, merge handlers, merges'' row moves) runs with. Grant it what they need.';
comment on role auth_ext_gateway is 'auth_ext: members (an HTTP front''s login role) may pass the client''s address and user agent.';

-- Token kinds: one SQL type instead of two CHECK lists.
create domain auth.one_time_token_type as text check (value in
    ('confirmation', 'invite', 'magiclink', 'recovery', 'email_change_current', 'email_change_new',
     'phone_change', 'reauthentication', 'sms'));
alter table auth.one_time_tokens drop constraint one_time_tokens_type;
alter table auth.one_time_tokens alter column token_type type auth.one_time_token_type;
alter table auth.outbox drop constraint outbox_kind;
alter table auth.outbox alter column kind type auth.one_time_token_type;

-- Revocations move out of auth.sessions, into a table a worker can write while the
-- refresh that detected the replay still holds the session.
create table auth.session_revocations (
    session_id uuid primary key,
    reason     text not null,
    revoked_at timestamptz not null default now()
);
insert into auth.session_revocations (session_id, reason, revoked_at)
select id, coalesce(revoked_reason, 'revoked'), revoked_at from auth.sessions where revoked_at is not null;
alter table auth.sessions drop column revoked_at, drop column revoked_reason;

create table auth.secrets (
    name  text primary key,
    value bytea not null,
    constraint secrets_value_length check (length(value) >= 32)
);

-- Refresh tokens: spent_at says when a token was exchanged (revoked meant "spent");
-- every foreign key indexed; no foreign key on parent_id (spent tokens are purged) nor
-- on user_id (the token goes with its session, which goes with its user).
alter table auth.refresh_tokens add column spent_at timestamptz;
update auth.refresh_tokens set spent_at = updated_at where revoked;
drop index auth.refresh_tokens_one_live_per_session;
alter table auth.refresh_tokens drop constraint refresh_tokens_parent_id_fkey;
alter table auth.refresh_tokens drop constraint refresh_tokens_user_id_fkey;
alter table auth.refresh_tokens drop column revoked, drop column updated_at;
create unique index refresh_tokens_one_live_per_session on auth.refresh_tokens (session_id) where spent_at is null;
create index refresh_tokens_session_id_idx on auth.refresh_tokens (session_id, id);

-- Our trigger no longer takes the name Supabase's guides give theirs.
alter trigger on_auth_user_created on auth.users rename to auth_ext_handle_new_user;

-- Code attempts count per client address: a stranger's guesses use up only the stranger's tries.
alter table auth.one_time_tokens add column requested_from text;
drop index auth.one_time_tokens_one_live;
create unique index one_time_tokens_one_live on auth.one_time_tokens (user_id, token_type, coalesce(requested_from, ''))
    where consumed_at is null;
alter table auth.one_time_token_attempts add column client text;
update auth.one_time_token_attempts set client = 'unknown';
alter table auth.one_time_token_attempts alter column client set not null,
    drop constraint one_time_token_attempts_pkey, add primary key (token_id, client);

-- Functions whose arguments changed, or that are gone.
drop function auth.session_expired(auth.sessions, integer, integer);
drop function auth.confirm_email(uuid);
drop function auth.count_otp_attempt(uuid);
drop function auth.merge_column(regclass, name, text, uuid, uuid, text);
-- verify_otp takes Supabase's named arguments (email | phone, token, type, token_hash);
-- sign_in_with_otp a phone and data.
drop function auth.verify_otp(text, text);
drop function auth.verify_otp(text, text, text);
drop function auth.sign_in_with_otp(text, boolean);

-- New functions in Rust.
-- auth_ext::roles::acting_role_oid
CREATE  FUNCTION "acting_role_oid"() RETURNS oid /* pg_sys :: Oid */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'acting_role_oid_wrapper';
-- auth_ext::roles::referencing_user_ids
CREATE  FUNCTION "referencing_user_ids"(
	"tbl" oid, /* pg_sys :: Oid */
	"col" TEXT, /* & str */
	"ids" uuid[] /* Vec < pgrx :: Uuid > */
) RETURNS uuid[] /* Result < Vec < pgrx :: Uuid > , pgrx :: pg_sys :: panic :: ErrorReport > */
STRICT STABLE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'referencing_user_ids_wrapper';
-- auth_ext::users::delete_users
CREATE  FUNCTION "delete_users"(
	"ids" uuid[] /* Vec < pgrx :: Uuid > */
) RETURNS bigint /* Result < i64, pgrx :: pg_sys :: panic :: ErrorReport > */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'delete_users_wrapper';

-- Every SQL function as 0.2.0 defines it.
-- Raises validation_failed unless the address (already normalised) is a plausible
-- email ('email') or E.164 phone number ('phone').
create or replace function auth.check_address_format(address text, kind text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
    if kind = 'email' and (length(address) > 255 or address !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$') then
        perform auth.raise_error('validation_failed', 'invalid email address',
            pg_catalog.format('email %L is not of the form name@domain (at most 255 characters)', left(address, 300)));
    elsif kind = 'phone' and address !~ '^[0-9]{7,15}$' then
        perform auth.raise_error('validation_failed', 'invalid phone number',
            pg_catalog.format('phone %L is not 7 to 15 digits in E.164 form', left(address, 64)));
    end if;
end
$$;

-- The one rule for how an address is stored and looked up: an email trimmed and
-- lower-cased, a phone as E.164 digits without '+' (as Supabase stores phones); '' is
-- no address. 'Alice@Example.com' and 'alice@example.com' are one user. Every lookup,
-- the users_normalize trigger and the Rust side (users::normalize_address) use it.
create or replace function auth.normalize_address(address text, kind text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
    return case kind
        when 'email' then lower(nullif(btrim(address), ''))
        when 'phone' then nullif(pg_catalog.translate(btrim(address), '+ -()', ''), '')
    end;
end
$$;

-- Normalises addresses before they reach the unique constraints.
-- User and app metadata both go into every access token: capped (as JSON text, user
-- 8192 bytes, app 4096) so that a token stays within what set_session, the gateway and
-- PostgREST take (32 kB). The users trigger checks every write; sign_up checks its data
-- first too, so that its answer and its counts never depend on the address's state.
create function auth.check_metadata_size(p_user_meta jsonb, p_app_meta jsonb)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
    if pg_catalog.octet_length(p_user_meta::text) > 8192 then
        perform auth.raise_error('validation_failed', 'user_metadata is too large',
            pg_catalog.format('user_metadata is %s bytes as JSON text; at most 8192', pg_catalog.octet_length(p_user_meta::text)));
    end if;
    if pg_catalog.octet_length(p_app_meta::text) > 4096 then
        perform auth.raise_error('validation_failed', 'app_metadata is too large',
            pg_catalog.format('app_metadata is %s bytes as JSON text; at most 4096', pg_catalog.octet_length(p_app_meta::text)));
    end if;
end
$$;

create or replace function auth.users_normalize()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- Only the addresses a row has (an anonymous user has none): each call costs.
    if new.email is not null then new.email := auth.normalize_address(new.email, 'email'); end if;
    if new.email_change is not null then new.email_change := auth.normalize_address(new.email_change, 'email'); end if;
    if new.phone is not null then new.phone := auth.normalize_address(new.phone, 'phone'); end if;
    if new.phone_change is not null then new.phone_change := auth.normalize_address(new.phone_change, 'phone'); end if;
    if new.email is not null then perform auth.check_address_format(new.email, 'email'); end if;
    if new.phone is not null then perform auth.check_address_format(new.phone, 'phone'); end if;
    if new.email_change is not null then perform auth.check_address_format(new.email_change, 'email'); end if;
    if new.phone_change is not null then perform auth.check_address_format(new.phone_change, 'phone'); end if;
    -- Checked only when they change: sign-ins update the row too.
    if tg_op = 'INSERT' or new.raw_user_meta_data is distinct from old.raw_user_meta_data
            or new.raw_app_meta_data is distinct from old.raw_app_meta_data then
        perform auth.check_metadata_size(new.raw_user_meta_data, new.raw_app_meta_data);
    end if;

    -- Kept when the update sets it itself (an import, a back-dated test row).
    if tg_op = 'UPDATE' and new.updated_at is not distinct from old.updated_at then
        new.updated_at := now();
    end if;
    return new;
end
$$;

-- Links an identity to a user. Raises identity_already_exists when the identity
-- belongs to another user: an identity never moves silently.
create or replace function auth.insert_identity(p_user_id uuid, p_provider text, p_provider_id text, p_identity_data jsonb)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
    new_id uuid;
    owner_id uuid;
begin
    insert into auth.user_identities (user_id, provider, provider_id, identity_data)
    values (p_user_id, p_provider, p_provider_id, coalesce(p_identity_data, '{}'))
    on conflict (provider, provider_id) do nothing
    returning id into new_id;

    if new_id is null then
        select user_id into owner_id from auth.user_identities
        where provider = p_provider and provider_id = p_provider_id;
        if owner_id is distinct from p_user_id then
            perform auth.raise_error('identity_already_exists',
                'the identity already belongs to another user', null,
                'Sign in as that user, or unlink the identity from it first.');
        end if;
        select id into new_id from auth.user_identities
        where provider = p_provider and provider_id = p_provider_id;
    end if;
    return new_id;
end
$$;

-- Creates the identity rows of a new user: the OAuth identity named in its metadata
-- (the Feishu/WeChat recipe's `oauth_provider` / `oauth_open_id`), an `email` identity,
-- a `phone` identity. Anonymous users get none. Never fails an ordinary sign-up.
--
-- Metadata makes an identity only when a trusted party inserted the user: the
-- application's server through admin_create_user (which vouches for it, setting
-- auth_ext.metadata_vouched around its insert), or a role that writes auth.users
-- directly. Data that reaches the sign-up flows (sign_up's data, whoever relays it)
-- never does, and `email` / `phone` identities come only from the addresses
-- themselves, which their own flows confirm.
create or replace function auth.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    meta constant jsonb := new.raw_user_meta_data;
    oauth_provider constant text := lower(nullif(btrim(meta->>'oauth_provider'), ''));
    oauth_open_id constant text := nullif(btrim(meta->>'oauth_open_id'), '');
    acting constant oid := auth.acting_role_oid();
begin
    -- A restore (pg_restore, or psql with a dump, which turns row_security off; by COPY
    -- or --inserts) brings every user's identities in the same load: making them here
    -- too would clash with those and fail it. Only a role that may write auth.users
    -- directly restores; the sign-up flows, whatever the caller's query, never skip.
    if new.is_anonymous then
        return null;
    end if;
    if pg_catalog.has_table_privilege(acting, 'auth.users', 'INSERT')
            and (pg_catalog.current_query() ~* '^\s*copy\s' or pg_catalog.current_setting('row_security') = 'off') then
        return null;
    end if;

    if oauth_provider is not null and oauth_open_id is not null and oauth_provider not in ('email', 'phone')
            and (pg_catalog.current_setting('auth_ext.metadata_vouched', true) = 'on'
                 or pg_catalog.has_table_privilege(acting, 'auth.users', 'INSERT')) then
        perform auth.insert_identity(new.id, oauth_provider, oauth_open_id,
            meta || jsonb_build_object('sub', oauth_open_id, 'provider', oauth_provider));
    end if;

    if new.email is not null then
        perform auth.insert_identity(new.id, 'email', new.email,
            auth.address_identity_data(new.id, 'email', new.email, new.email_confirmed_at is not null));
    end if;

    if new.phone is not null then
        perform auth.insert_identity(new.id, 'phone', new.phone,
            auth.address_identity_data(new.id, 'phone', new.phone, new.phone_confirmed_at is not null));
    end if;

    return null;
end
$$;

create or replace function auth.user_identities_touch()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

-- The key that signs new tokens, with its private material: for SECURITY DEFINER callers only.
create or replace function auth.current_signing_key()
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select jsonb_build_object('kid', kid, 'alg', alg, 'material', private_key)
        from auth.signing_keys where is_current
        order by created_at desc, kid
        limit 1);
end
$$;

-- Backends cache parsed keys by kid, so the material under a kid never changes.
create or replace function auth.signing_keys_immutable()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.kid <> old.kid or new.alg <> old.alg or new.private_key <> old.private_key
            or new.public_jwk is distinct from old.public_jwk then
        perform auth.raise_error('validation_failed', 'signing key material cannot change',
            'add a new key with auth.add_signing_key() and remove the old one instead');
    end if;
    return new;
end
$$;

-- The secret named, made from the server's strong random source on first use.
create or replace function auth.secret(p_name text)
returns bytea
language plpgsql
set search_path = ''
as $$
declare
    found bytea;
begin
    select value into found from auth.secrets where name = p_name;
    if found is null then
        insert into auth.secrets (name, value)
        values (p_name, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                                       || gen_random_uuid()::text, '-', ''), 'hex'))
        on conflict (name) do nothing;
        select value into found from auth.secrets where name = p_name;
        if found is null then
            -- Another transaction made it after this one's snapshot (repeatable read).
            perform auth.raise_error('unexpected_failure', 'a server secret was being created concurrently',
                null, 'Try again.');
        end if;
    end if;
    return found;
end
$$;

-- The user object of Supabase Auth's API, as returned in sessions and by get_user.
create or replace function auth.user_json(user_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select auth.user_object(u, coalesce((
                   select jsonb_agg(auth.identity_object(i) order by i.created_at, i.id)
                   from auth.user_identities i where i.user_id = u.id), '[]'))
        from auth.users u
        where u.id = user_id);
end
$$;

-- The public keys as a JWKS document, newest first, for PostgREST and other verifiers.
create or replace function auth.jwks()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object('keys', coalesce(jsonb_agg(public_jwk order by is_current desc, created_at desc), '[]'))
    from auth.signing_keys
    where public_jwk is not null
$$;

-- The one rule for who may sign in, and keep using a session: a user that exists, is
-- not deleted and is not banned right now. 'ok', 'banned' or 'not_found'.
create or replace function auth.sign_in_state(u auth.users)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
    return case when u.id is null or u.deleted_at is not null then 'not_found'
                when u.banned_until > now() then 'banned'
                else 'ok' end;
end
$$;

-- The one rule for whether a session still stands. Signing out deletes a session
-- (its refresh tokens go with it); only a replayed refresh token revokes one, keeping
-- it so that the replay is recognised. 'active'; 'revoked'; 'expired' (its not_after,
-- the time-box or the inactivity timeout, in seconds, 0 = off, passed in from the
-- auth_ext.* settings).
create or replace function auth.session_state(s auth.sessions, timebox_seconds int, inactivity_seconds int)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select case
            when exists (select from auth.session_revocations r where r.session_id = s.id) then 'revoked'
            when (s.not_after is not null and s.not_after <= now())
              or (timebox_seconds > 0 and s.created_at + make_interval(secs => timebox_seconds) <= now())
              or (inactivity_seconds > 0
                  and coalesce(s.refreshed_at, s.created_at) + make_interval(secs => inactivity_seconds) <= now())
                then 'expired'
            else 'active' end);
end
$$;

-- The function a hook setting names: `schema.function` (taking jsonb) or with its
-- signature; NULL when there is none. The one rule both the caller (to run a hook as
-- its owner) and call_hook resolve it by.
create function auth.hook_function(hook text)
returns regprocedure
language plpgsql
stable
set search_path = ''
as $$
declare
    parts text[];
begin
    -- Read from the catalog, not by to_regprocedure: that checks the caller's USAGE on the
    -- hook's schema, which the extension's role need not have (the hook runs as its owner).
    parts := pg_catalog.parse_ident(pg_catalog.regexp_replace(hook, '\(\s*jsonb\s*\)\s*$', ''));
    if pg_catalog.array_length(parts, 1) <> 2 then
        return null;
    end if;
    return (select p.oid::regprocedure
            from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
            where n.nspname = parts[1] and p.proname = parts[2] and p.proargtypes = '3802'::pg_catalog.oidvector);
exception
    when invalid_parameter_value or syntax_error then
        return null;
end
$$;

-- Calls the hook function a setting names, with or without its (jsonb) signature.
-- With wrap_errors, anything it raises becomes hook_failed (the access token hook);
-- without, its own error reaches the caller (a before-sign-in hook refusing).
create or replace function auth.call_hook(hook text, event jsonb, wrap_errors boolean default true)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    fn regprocedure := auth.hook_function(hook);
    call text;
    result jsonb;
begin
    if fn is null then
        perform auth.raise_error('hook_failed', 'the hook function does not exist',
            pg_catalog.format('no function %s taking jsonb', hook), 'Check the auth_ext.*_hook settings: schema.function.');
    end if;
    -- regproc output is a properly quoted, schema-qualified name.
    call := pg_catalog.format('select %s($1)', fn::regproc);
    if not wrap_errors then
        execute call using event into result;
        return result;
    end if;
    begin
        execute call using event into result;
    exception when others then
        perform auth.raise_error('hook_failed', 'the hook raised an error', pg_catalog.format('%s: %s', fn, sqlerrm));
    end;
    return result;
end
$$;

-- Revokes a session (a spent refresh token was replayed), and says so in the audit log.
-- Written by a durable-write worker while the caller still holds the session's row:
-- it takes no lock the caller holds. Its refresh tokens stop working with it.
create or replace function auth.revoke_session(p_session_id uuid, reason text)
returns void
language sql
set search_path = ''
as $$
    with revoked as (
        insert into auth.session_revocations (session_id, reason) values (p_session_id, reason)
        on conflict (session_id) do nothing
        returning session_id)
    insert into auth.audit_log_entries (actor_id, action, payload)
    select s.user_id, 'token_revoked', jsonb_build_object('session_id', r.session_id, 'reason', reason)
    from revoked r left join auth.sessions s on s.id = r.session_id
$$;

-- Counts a hit in the current hour's window, without purging old windows: durable-write
-- workers use it, and must never need a row that the caller waiting for them may hold.
create or replace function auth.rate_limit_count(p_bucket text, p_key text)
returns int
language plpgsql
set search_path = ''
as $$
declare
    counted int;
begin
    insert into auth.rate_limits as r (bucket, key, window_start, hits)
    values (p_bucket, p_key, date_trunc('hour', now(), 'UTC'), 1)
    on conflict (bucket, key, window_start) do update set hits = r.hits + 1
    returning hits into counted;
    return counted;
end
$$;

-- Counts a hit; true while the key is within its limit for the current hour.
create or replace function auth.rate_limit_hit(p_bucket text, p_key text, p_limit int)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    return auth.rate_limit_count(p_bucket, p_key) <= p_limit;
end
$$;

-- Hits so far this hour, counting none: what a limit checks before a try whose failure
-- is then counted by a durable-write worker.
create or replace function auth.rate_limit_hits(p_bucket text, p_key text)
returns int
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select coalesce((select hits from auth.rate_limits
                         where bucket = p_bucket and key = p_key and window_start = date_trunc('hour', now(), 'UTC')), 0));
end
$$;

create or replace function auth.outbox_notify()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform pg_catalog.pg_notify('auth_outbox', '');
    return null;
end
$$;

-- Hands unclaimed messages to a sender, each exactly once however many senders run
-- (SKIP LOCKED), and scrubs their one-time secrets from the table as it does.
create or replace function auth.claim_outbox(max int default 100)
returns table (id bigint, kind text, recipient text, payload jsonb, created_at timestamptz)
language sql
security definer
set search_path = ''
as $$
    with claimed as (
        select o.id, o.payload from auth.outbox o
        where o.claimed_at is null
        order by o.id
        limit greatest(least(coalesce(max, 100), 1000), 0)
        for update skip locked),
    scrubbed as (
        update auth.outbox o
        set claimed_at = now(), payload = o.payload - array['email_otp', 'token_hash', 'action_link']
        from claimed c where o.id = c.id
        returning o.id, o.kind, o.recipient, o.created_at)
    select s.id, s.kind, s.recipient, c.payload, s.created_at
    from scrubbed s join claimed c on c.id = s.id
    order by s.id
$$;

-- Which password a confirmation was issued for: a digest of the hash stored then. A
-- confirmation proves only that password; any later change of it (a stranger's sign-up)
-- leaves the confirmation proving nothing.
create function auth.password_digest(p_hash text)
returns text
language sql
immutable
set search_path = ''
as $$
    select left(encode(sha256(convert_to(p_hash, 'UTF8')), 'hex'), 32)
$$;

-- Marks a user's email (or phone) confirmed, on the user and on its identity. Only the
-- sign-up link proves the password chosen at sign-up (p_proves_password): confirming
-- through anything else (a magic link or code, a recovery, an invite) proves the address
-- alone, so an unconfirmed user's password, which nobody proved, is cleared. Whoever
-- signed up someone else's address cannot keep a way in once its owner arrives.
create or replace function auth.confirm_address(p_user_id uuid, p_phone boolean, p_proves_password boolean, p_password_digest text)
returns void
language sql
set search_path = ''
as $$
    update auth.users
    set email_confirmed_at = case when p_phone then email_confirmed_at else coalesce(email_confirmed_at, now()) end,
        phone_confirmed_at = case when p_phone then coalesce(phone_confirmed_at, now()) else phone_confirmed_at end,
        encrypted_password = case
            when email_confirmed_at is not null or phone_confirmed_at is not null then encrypted_password
            when p_proves_password
                 and auth.password_digest(encrypted_password) = p_password_digest
                 and not exists (
                     select from auth.one_time_tokens t
                     where t.user_id = p_user_id and t.consumed_at is null and not t.options ? 'proves_password'
                       and t.token_type = any (case when p_phone then '{sms}'::text[]
                                                    else '{confirmation,magiclink,recovery,invite}'::text[] end))
                then encrypted_password
        end
    where id = p_user_id;
    update auth.user_identities
    set identity_data = identity_data || pg_catalog.jsonb_build_object(
            case when p_phone then 'phone_verified' else 'email_verified' end, true)
    where user_id = p_user_id and provider = case when p_phone then 'phone' else 'email' end;
$$;

-- Counts a code tried against a one-time token by a client, and against the client's address;
-- committed by a worker of its own before the code is compared, so no failed
-- verification can undo it.
create or replace function auth.count_otp_attempt(p_token_id uuid, p_client text)
returns void
language sql
set search_path = ''
as $$
    insert into auth.one_time_token_attempts as a (token_id, client, attempts) values (p_token_id, p_client, 1)
    on conflict (token_id, client) do update set attempts = a.attempts + 1;
    -- A client's tries of a user's codes, an hour, however many codes it asks for.
    select auth.rate_limit_count('otp_tries', t.user_id::text || ' ' || p_client)
    from auth.one_time_tokens t where t.id = p_token_id;
    -- Tries from any address but the one that asked for the code share one hourly pool per
    -- user, which asking for new codes does not refill.
    select auth.rate_limit_count('otp_strangers', t.user_id::text)
    from auth.one_time_tokens t where t.id = p_token_id and t.requested_from is distinct from p_client;
    select auth.rate_limit_count('verify', p_client);
    select auth.rate_burst_count('verify', p_client,
        coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_verify', true), '')::int, 360));
$$;

-- Counts a failed password sign-in against the client's address and the user (when
-- the account exists); committed by a worker, so the failing call cannot undo it.
create or replace function auth.count_failed_sign_in(p_account text, p_client text)
returns void
language sql
set search_path = ''
as $$
    select auth.rate_limit_count('failed_sign_in', p_client);
    select auth.rate_limit_count('failed_sign_in_account', p_account || ' ' || p_client);
$$;

-- The one entry point of the durable-write workers (src/workers.rs): performs a write
-- that must stand although the call that asked for it fails. Answers 'done', 'busy'
-- (a row it needs is still locked, by the failing caller: retried) or 'failed: ...';
-- never raises, so a worker never dies of it.
create or replace function auth.durable_write(kind text, target uuid, account text, client text)
returns text
language plpgsql
security definer
set search_path = ''
set lock_timeout = '200ms'
as $$
begin
    case kind
        when 'revoke_session' then perform auth.revoke_session(target, 'token_reuse');
        when 'count_otp_attempt' then perform auth.count_otp_attempt(target, client);
        when 'count_failed_sign_in' then perform auth.count_failed_sign_in(account, client);
        when 'count_address_probe' then perform auth.rate_limit_count('email_client', client);
        when 'count_password_work' then perform auth.rate_burst_count('password', client,
            coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_failed_sign_ins', true), '')::int, 360));
        else return 'failed: unknown kind ' || kind;
    end case;
    return 'done';
exception
    when lock_not_available then return 'busy';
    when others then return 'failed: ' || sqlerrm;
end
$$;

-- Makes a user's `email` or `phone` identity match its address: renamed, created or removed.
create or replace function auth.sync_address_identity(p_user_id uuid, p_provider text)
returns void
language plpgsql
set search_path = ''
as $$
declare
    address text;
    confirmed boolean;
begin
    if p_provider not in ('email', 'phone') then
        perform auth.raise_error('validation_failed', 'only email and phone identities follow an address');
    end if;
    select case p_provider when 'email' then email else phone end,
           case p_provider when 'email' then email_confirmed_at else phone_confirmed_at end is not null
    into address, confirmed
    from auth.users where id = p_user_id;
    if address is null then
        delete from auth.user_identities where user_id = p_user_id and provider = p_provider;
        return;
    end if;
    update auth.user_identities
    set provider_id = address,
        identity_data = identity_data || jsonb_build_object(p_provider, address, p_provider || '_verified', confirmed)
    where user_id = p_user_id and provider = p_provider;
    if not found then
        perform auth.insert_identity(p_user_id, p_provider, address,
            auth.address_identity_data(p_user_id, p_provider, address, confirmed));
    end if;
end
$$;

-- Metadata merged one level deep, as Supabase merges user and app metadata: keys of
-- the patch replace the old ones, and a key set to null is removed.
create or replace function auth.merge_metadata(old jsonb, patch jsonb)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
    select (old || patch) - coalesce((select array_agg(key) from jsonb_each(patch) where value = 'null'::jsonb), '{}')
$$;

-- Adds a provider to app_metadata.providers (dropping "anonymous"), and makes it the
-- provider when the user was anonymous.
create or replace function auth.add_provider(app_meta jsonb, provider text)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
    select app_meta || jsonb_build_object(
        'provider', coalesce(nullif(app_meta->>'provider', 'anonymous'), provider),
        'providers', (select coalesce(jsonb_agg(distinct p order by p), '[]')
                      from jsonb_array_elements_text(coalesce(app_meta->'providers', '[]') || to_jsonb(provider)) p
                      where p <> 'anonymous'))
$$;

-- Every (table, column) holding user ids outside schema auth: foreign keys to
-- auth.users(id), found from the catalog, plus registered columns.
create or replace function auth.user_id_columns()
returns table (tbl regclass, col name, col_type text)
language sql
stable
set search_path = ''
as $$
    select c.conrelid::regclass, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
    from pg_catalog.pg_constraint c
    join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.contype = 'f' and c.confrelid = 'auth.users'::regclass and cardinality(c.conkey) = 1
      and c.connamespace <> 'auth'::regnamespace
    union
    select m.tbl, m.col, pg_catalog.format_type(a.atttypid, a.atttypmod)
    from auth.merge_columns m
    join pg_catalog.pg_attribute a on a.attrelid = m.tbl and a.attname = m.col and not a.attisdropped
    order by 1, 2
$$;

-- Moves one column's rows from source to target. Runs as auth_ext_app (the caller
-- switches to it), so it touches only what the application granted that role, and the
-- table's triggers run with no more than those rights. Rows whose move would break a unique
-- index (one that includes the column) are settled by the strategy first:
-- keep_target drops the source's, keep_anonymous drops the target's, merge calls the
-- table's handler or fails naming the table. Returns {moved, dropped, replaced, handler}.
create or replace function auth.merge_column(p_tbl regclass, p_col name, p_type text, source uuid, target uuid, strategy text,
                                   handler regprocedure)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    -- For each unique index on plain columns that includes this one: "a target row t
    -- equals source row s on the index's other columns".
    clashes text[];
    clash text;
    clashing bigint;
    dropped bigint := 0;
    replaced bigint := 0;
    moved bigint;
    n bigint;
    -- Named before the handler runs: it may change settings (search_path) until this returns.
    handler_name constant text := handler::text;
    -- The column's type, as Postgres names it: a type, never SQL (it is pasted below).
    col_type constant text := p_type::pg_catalog.regtype::text;
begin
    select coalesce(array_agg(pg_catalog.format('exists (select from %1$s t where t.%2$I = $2::%3$s and %4$s)',
                                                p_tbl, p_col, col_type, coalesce(others, 'true'))), '{}')
    into clashes
    from (select (select string_agg(pg_catalog.format('t.%1$I = s.%1$I', a.attname), ' and ')
                  from unnest(i.indkey) k
                  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
                  where a.attname <> p_col) as others
          from pg_catalog.pg_index i
          where i.indrelid = p_tbl and i.indisunique and i.indpred is null and i.indexprs is null
            and (select attnum from pg_catalog.pg_attribute where attrelid = p_tbl and attname = p_col) = any (i.indkey)) u;

    foreach clash in array clashes loop
        if strategy = 'keep_target' then
            execute pg_catalog.format('delete from %1$s s where s.%2$I = $1::%3$s and %4$s', p_tbl, p_col, col_type, clash)
                using source, target;
            get diagnostics n = row_count;
            dropped := dropped + n;
        elsif strategy = 'keep_anonymous' then
            -- The same condition seen from the target's side: t is now the row deleted.
            execute pg_catalog.format('delete from %1$s s where s.%2$I = $2::%3$s and %4$s', p_tbl, p_col, col_type,
                                      replace(clash, '$2', '$1'))
                using source, target;
            get diagnostics n = row_count;
            replaced := replaced + n;
        end if;
    end loop;

    if strategy = 'merge' then
        clashing := 0;
        foreach clash in array clashes loop
            execute pg_catalog.format('select count(*) from %1$s s where s.%2$I = $1::%3$s and %4$s', p_tbl, p_col, col_type, clash)
                into n using source, target;
            clashing := clashing + n;
        end loop;
        if clashing > 0 then
            if handler is null then
                perform auth.raise_error('merge_conflict',
                    pg_catalog.format('rows of %s clash with the target user''s', p_tbl),
                    pg_catalog.format('%s row(s) of %s would break a unique index on %I if moved', clashing, p_tbl, p_col),
                    pg_catalog.format('Register a handler with auth.register_merge_handler(%L, ...), or merge with strategy keep_target or keep_anonymous.', p_tbl::text));
            end if;
            execute pg_catalog.format('select %s($1, $2)', handler::regproc) using source, target;
        end if;
    end if;

    begin
        execute pg_catalog.format('update %1$s set %2$I = $2::%3$s where %2$I = $1::%3$s', p_tbl, p_col, col_type)
            using source, target;
        get diagnostics moved = row_count;
    exception when unique_violation then
        -- Clashes left by a handler, or under a unique index this function cannot reason
        -- about (partial, or on an expression).
        perform auth.raise_error('merge_conflict',
            pg_catalog.format('rows of %s clash with the target user''s', p_tbl),
            sqlerrm, 'Register a merge handler for this table, or make it merge all clashing rows.');
    end;
    return jsonb_build_object('moved', moved, 'dropped', dropped, 'replaced', replaced,
                              'handler', case when clashing > 0 then handler_name end);
end
$$;

-- Registration takes only objects the caller owns (a role it has the privileges of),
-- outside temporary schemas: nobody registers someone else's table or function.
create or replace function auth.check_registrable(tbl regclass, handler regprocedure default null)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
    acting constant oid := auth.acting_role_oid();
    rel record;
    fn record;
begin
    select c.relowner, c.relpersistence, c.relkind into rel from pg_catalog.pg_class c where c.oid = tbl;
    if rel.relpersistence = 't' or rel.relkind not in ('r', 'p') then
        perform auth.raise_error('validation_failed', 'only permanent tables can be registered',
            pg_catalog.format('%s is temporary or not a table', tbl));
    end if;
    if not pg_catalog.pg_has_role(acting, rel.relowner, 'USAGE') then
        perform auth.raise_error('no_authorization', 'only the table''s owner can register it',
            pg_catalog.format('%s is owned by %s', tbl, rel.relowner::regrole));
    end if;
    if handler is not null then
        select p.proowner, n.nspname like 'pg_temp%' as temporary into fn
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace where p.oid = handler;
        if fn.temporary then
            perform auth.raise_error('validation_failed', 'a temporary function cannot be a merge handler',
                pg_catalog.format('%s', handler));
        end if;
        if not pg_catalog.pg_has_role(acting, fn.proowner, 'USAGE') then
            perform auth.raise_error('no_authorization', 'only the function''s owner can register it as a handler',
                pg_catalog.format('%s is owned by %s', handler, fn.proowner::regrole));
        end if;
    end if;
end
$$;

-- Registers the function that merges a table's clashing rows:
-- handler(anonymous_user uuid, target_user uuid), called before the remaining rows move.
create or replace function auth.register_merge_handler(tbl regclass, handler regprocedure)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not exists (select from pg_catalog.pg_proc p where p.oid = handler and p.pronargs = 2
                   and p.proargtypes[0] = 'uuid'::regtype and p.proargtypes[1] = 'uuid'::regtype) then
        perform auth.raise_error('validation_failed', 'a merge handler takes (anonymous_user uuid, target_user uuid)',
            pg_catalog.format('%s has another signature', handler));
    end if;
    perform auth.check_registrable(tbl, handler);
    insert into auth.merge_handlers (tbl, handler) values (tbl, handler)
    on conflict on constraint merge_handlers_pkey do update set handler = excluded.handler;
end
$$;

-- Registers a column that holds user ids without a foreign key, so merges move it too.
create or replace function auth.register_merge_column(tbl regclass, col name)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not exists (select from pg_catalog.pg_attribute
                   where attrelid = tbl and attname = col and attnum > 0 and not attisdropped
                     and atttypid in ('uuid'::regtype, 'text'::regtype)) then
        perform auth.raise_error('validation_failed', 'the column must exist and be uuid or text',
            pg_catalog.format('%s.%I', tbl, col));
    end if;
    perform auth.check_registrable(tbl);
    insert into auth.merge_columns (tbl, col) values (tbl, col) on conflict do nothing;
end
$$;

-- A user's last activity: the latest of its creation, last change (update_user, a
-- conversion), last sign-in and last refresh.
create or replace function auth.last_activity(p_user_id uuid)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select greatest(u.created_at, u.updated_at, u.last_sign_in_at,
                        (select max(coalesce(s.refreshed_at, s.created_at)) from auth.sessions s where s.user_id = u.id))
        from auth.users u where u.id = p_user_id);
end
$$;

-- One batch of the cleanup: up to batch_size anonymous users, taken in (created_at, id)
-- order after the cursor, whose last activity is older than older_than. Rows another
-- transaction holds (a sign-in, a conversion, a refresh) are skipped, never waited for.
-- Users that an application row references through a restricting foreign key are
-- skipped and reported. Returns {deleted, skipped, scanned, cursor_created_at, cursor_id}.
create or replace function auth.cleanup_anonymous_batch(
    older_than interval, batch_size int, dry_run boolean,
    after_created_at timestamptz default '-infinity', after_id uuid default '00000000-0000-0000-0000-000000000000')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    cutoff constant timestamptz := now() - older_than;
    scanned uuid[];
    last_created timestamptz;
    last_id uuid;
    busy uuid[];
    stale uuid[];
    held uuid[] := '{}';
    fk record;
    victims uuid[];
    deleted bigint := 0;
    one uuid;
begin
    if older_than is null or older_than < interval '0' or batch_size is null or batch_size < 1 or batch_size > 100000 then
        perform auth.raise_error('validation_failed', 'older_than must be a non-negative interval and batch_size 1 to 100000');
    end if;
    -- A dry run reads only, but takes the same row locks as a real one: a standby cannot.
    if pg_catalog.pg_is_in_recovery() then
        perform auth.raise_error('read_only_replica', 'this server is a read-only replica', null,
            'Run the cleanup on the primary.');
    end if;

    -- Candidates by creation time (activity is never earlier), locked unless busy.
    select array_agg(id order by created_at, id), max(created_at), (array_agg(id order by created_at desc, id desc))[1]
    into scanned, last_created, last_id
    from (select u.id, u.created_at from auth.users u
          where u.is_anonymous and u.created_at < cutoff and (u.created_at, u.id) > (after_created_at, after_id)
          order by u.created_at, u.id
          limit batch_size
          for update skip locked) c;
    if scanned is null then
        return jsonb_build_object('deleted', 0, 'skipped', 0, 'scanned', 0);
    end if;

    -- A session in use (being refreshed right now) means the user is active: skip it.
    select coalesce(array_agg(distinct s.user_id), '{}') into busy
    from auth.sessions s
    where s.user_id = any (scanned)
      and s.id not in (select s2.id from auth.sessions s2 where s2.user_id = any (scanned) for update skip locked);

    -- A fresh statement, after the locks: still anonymous, and idle long enough.
    select coalesce(array_agg(u.id), '{}') into stale
    from auth.users u
    where u.id = any (scanned) and u.is_anonymous and not (u.id = any (busy))
      and auth.last_activity(u.id) < cutoff;

    -- Users an application row holds through a restricting foreign key are skipped.
    -- The application's table is read as its owner (auth_ext_admin has no rights on it),
    -- as Postgres itself checks foreign keys.
    for fk in
        select c.conrelid as tbl, a.attname as col
        from pg_catalog.pg_constraint c
        join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.contype = 'f' and c.confrelid = 'auth.users'::regclass and c.confdeltype in ('r', 'a')
          and cardinality(c.conkey) = 1
    loop
        held := held || auth.referencing_user_ids(fk.tbl, fk.col, stale);
    end loop;
    select coalesce(array_agg(x), '{}') into victims from unnest(stale) x where not (x = any (held));

    if not dry_run and cardinality(victims) > 0 then
        begin
            deleted := auth.delete_users(victims);
        exception when foreign_key_violation or restrict_violation then
            -- A restriction further down a cascade: one user at a time.
            deleted := 0;
            foreach one in array victims loop
                begin
                    deleted := deleted + auth.delete_users(array[one]);
                exception when foreign_key_violation or restrict_violation then
                    held := held || one;
                end;
            end loop;
        end;
    elsif dry_run then
        deleted := cardinality(victims);
    end if;

    if deleted > 0 or cardinality(held) > 0 then
        insert into auth.audit_log_entries (actor_id, action, payload)
        values (null, case when dry_run then 'anonymous_cleanup_dry_run' else 'anonymous_cleanup' end,
                jsonb_build_object('deleted', deleted, 'skipped', cardinality(held),
                                   'skipped_user_ids', to_jsonb(held), 'older_than', older_than::text));
    end if;
    return jsonb_build_object('deleted', deleted, 'skipped', cardinality(held) + cardinality(busy),
                              'scanned', cardinality(scanned),
                              'cursor_created_at', last_created, 'cursor_id', last_id);
end
$$;

-- One batch, for callers that cannot CALL a procedure: the number of users deleted.
create or replace function auth.cleanup_anonymous_users_once(
    older_than interval default '30 days', batch_size int default 1000, dry_run boolean default false)
returns bigint
language sql
security definer
set search_path = ''
as $$
    select (auth.cleanup_anonymous_batch(older_than, batch_size, dry_run)->>'deleted')::bigint
$$;

-- Deletes anonymous users idle for longer than older_than, batch by batch, committing
-- after each batch, so concurrent sign-ins are never blocked for long and an
-- interrupted run can simply be run again. (A procedure that commits can be neither
-- SECURITY DEFINER nor pinned with SET: this one only calls the batch function.)
create or replace procedure auth.cleanup_anonymous_users(
    older_than interval default '30 days', batch_size int default 1000, dry_run boolean default false)
language plpgsql
as $$
declare
    batch jsonb;
    total_deleted bigint := 0;
    total_skipped bigint := 0;
    cursor_created timestamptz := '-infinity';
    cursor_id uuid := '00000000-0000-0000-0000-000000000000';
begin
    loop
        batch := auth.cleanup_anonymous_batch(older_than, batch_size, dry_run, cursor_created, cursor_id);
        total_deleted := total_deleted + (batch->>'deleted')::bigint;
        total_skipped := total_skipped + (batch->>'skipped')::bigint;
        commit;
        exit when (batch->>'scanned')::int < batch_size;
        cursor_created := (batch->>'cursor_created_at')::timestamptz;
        cursor_id := (batch->>'cursor_id')::uuid;
    end loop;
    raise notice 'auth_ext: % anonymous users % (idle over %), % skipped',
        total_deleted, case when dry_run then 'would be deleted' else 'deleted' end, older_than, total_skipped;
end
$$;

-- Keeps a bounded history of spent refresh tokens: the newest keep_per_session of each
-- session (enough to answer a client that lost a refresh's answer, to let tabs
-- converge, and to recognise the replay of a recent token as theft), deleting older
-- ones, at most max_rows a call. Also forgets revocations of sessions that are gone.
-- The cleanup worker calls it every round; without preloading, schedule it.
create or replace function auth.purge_spent_refresh_tokens(keep_per_session int default 16, max_rows int default 10000)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
    purged bigint;
begin
    if keep_per_session is null or keep_per_session < 1 or max_rows is null or max_rows < 1 then
        perform auth.raise_error('validation_failed', 'keep_per_session and max_rows must be positive');
    end if;
    with doomed as (
        select t.id from (
            select r.id, row_number() over (partition by r.session_id order by r.id desc) as newer
            from auth.refresh_tokens r where r.spent_at is not null) t
        where t.newer > keep_per_session
        limit max_rows)
    delete from auth.refresh_tokens r using doomed d where r.id = d.id;
    get diagnostics purged = row_count;
    delete from auth.session_revocations v where not exists (select from auth.sessions s where s.id = v.session_id);
    return purged;
end
$$;

-- Enables RLS on an application table and creates the standard owner policies:
-- owners (auth.uid() = owner_column) select, insert, update and delete their own rows;
-- with anonymous_can_write false, restrictive policies keep anonymous users to reading.
-- Idempotent; the policies are named auth_ext_owner_* and auth_ext_permanent_*.
-- Runs as its caller: only the table's owner may change its security, as with ALTER TABLE.
create or replace function auth.enable_owner_policies(tbl regclass, owner_column name default 'user_id',
                                           anonymous_can_write boolean default true)
returns void
language plpgsql
set search_path = ''
as $$
declare
    owner_check constant text := pg_catalog.format('%I = (select auth.uid())', owner_column);
    -- A restrictive policy only narrows what a permissive one allows; the owner
    -- policies are the permissive ones it needs beside it.
    permanent constant text := '(select auth.is_permanent())';
    was_enabled boolean;
begin
    if not exists (select from pg_catalog.pg_attribute
                   where attrelid = tbl and attname = owner_column and attnum > 0 and not attisdropped) then
        perform auth.raise_error('validation_failed', pg_catalog.format('%s has no column %I', tbl, owner_column));
    end if;
    -- Whether RLS was on before the first call: kept from an earlier call, else read now.
    select coalesce(
        (select pg_catalog.obj_description(p.oid, 'pg_policy') = 'auth_ext: row level security was already enabled'
         from pg_catalog.pg_policy p where p.polrelid = tbl and p.polname = 'auth_ext_owner_select'),
        (select relrowsecurity from pg_catalog.pg_class where oid = tbl))
    into was_enabled;
    execute pg_catalog.format('alter table %s enable row level security', tbl);

    perform auth.drop_owner_policies(tbl);
    execute pg_catalog.format('create policy auth_ext_owner_select on %s for select to authenticated using (%s)', tbl, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_insert on %s for insert to authenticated with check (%s)', tbl, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_update on %s for update to authenticated using (%s) with check (%s)', tbl, owner_check, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_delete on %s for delete to authenticated using (%s)', tbl, owner_check);
    execute pg_catalog.format('comment on policy auth_ext_owner_select on %s is %L', tbl,
        case when was_enabled then 'auth_ext: row level security was already enabled'
             else 'auth_ext: row level security was enabled by auth.enable_owner_policies' end);
    if not anonymous_can_write then
        execute pg_catalog.format('create policy auth_ext_permanent_insert on %s as restrictive for insert to authenticated with check (%s)', tbl, permanent);
        execute pg_catalog.format('create policy auth_ext_permanent_update on %s as restrictive for update to authenticated using (%s) with check (%s)', tbl, permanent, permanent);
        execute pg_catalog.format('create policy auth_ext_permanent_delete on %s as restrictive for delete to authenticated using (%s)', tbl, permanent);
    end if;
end
$$;

-- Drops the policies enable_owner_policies creates on a table (and no other).
create or replace function auth.drop_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
    policy name;
begin
    for policy in
        select polname from pg_catalog.pg_policy
        where polrelid = tbl
          and polname in ('auth_ext_owner_select', 'auth_ext_owner_insert', 'auth_ext_owner_update', 'auth_ext_owner_delete',
                          'auth_ext_permanent_insert', 'auth_ext_permanent_update', 'auth_ext_permanent_delete')
    loop
        execute pg_catalog.format('drop policy %I on %s', policy, tbl);
    end loop;
end
$$;

-- Removes exactly what enable_owner_policies created: its policies, and row-level
-- security if it turned it on, unless other policies now rely on it (turning it off
-- then would open the table). Runs as its caller, like enable_owner_policies.
create or replace function auth.disable_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
    enabled_by_us boolean;
begin
    select pg_catalog.obj_description(p.oid, 'pg_policy') = 'auth_ext: row level security was enabled by auth.enable_owner_policies'
    into enabled_by_us
    from pg_catalog.pg_policy p where p.polrelid = tbl and p.polname = 'auth_ext_owner_select';
    perform auth.drop_owner_policies(tbl);
    if enabled_by_us and not exists (select from pg_catalog.pg_policy where polrelid = tbl) then
        execute pg_catalog.format('alter table %s disable row level security', tbl);
    end if;
end
$$;

-- Seconds until the current window ends: when a refused client may try again
-- (the hint and PostgREST's Retry-After).
create function auth.rate_limit_retry_after()
returns int
language sql
stable
set search_path = ''
as $$
    select ceil(extract(epoch from date_trunc('hour', now(), 'UTC') + interval '1 hour' - now()))::int
$$;

-- Behind PostgREST: keys it reloads by itself, API keys, revocation; password recovery,
-- resend and phone codes (issue: PostgREST as Supabase users expect it).
-- auth_ext::keys::create_api_key
CREATE  FUNCTION "create_api_key"(
	"role" TEXT, /* Option < & str > */
	"kid" TEXT DEFAULT NULL, /* Option < & str > */
	"expires_in" interval DEFAULT '10 years', /* Option < pgrx :: datum :: Interval > */
	"description" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* Result < String, ErrorReport > */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'create_api_key_wrapper';

-- auth_ext::flows::reset_password_for_email
CREATE  FUNCTION "reset_password_for_email"(
	"email" TEXT /* Option < & str > */
) RETURNS VOID /* Result < (), ErrorReport > */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reset_password_for_email_wrapper';

-- auth_ext::flows::resend_message
CREATE  FUNCTION "resend_message"(
	"resend_type" TEXT, /* Option < & str > */
	"email" TEXT DEFAULT NULL, /* Option < & str > */
	"phone" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS VOID /* Result < (), ErrorReport > */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'resend_message_wrapper';

-- auth_ext::flows::verify_one_time_token
CREATE  FUNCTION "verify_one_time_token"(
	"email" TEXT, /* Option < & str > */
	"token" TEXT, /* Option < & str > */
	"verification_type" TEXT, /* Option < & str > */
	"phone" TEXT, /* Option < & str > */
	"token_hash" TEXT /* Option < & str > */
) RETURNS jsonb /* Result < pgrx :: JsonB, ErrorReport > */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'verify_one_time_token_wrapper';

-- auth_ext::flows::sign_in_with_otp
CREATE  FUNCTION "sign_in_with_otp"(
	"email" TEXT DEFAULT NULL, /* Option < & str > */
	"create_user" bool DEFAULT true, /* bool */
	"phone" TEXT DEFAULT NULL, /* Option < & str > */
	"data" jsonb DEFAULT '{}' /* Option < pgrx :: JsonB > */
) RETURNS VOID /* Result < (), ErrorReport > */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sign_in_with_otp_wrapper';

-- PostgREST learns the keys from auth.postgrest_config() (its db-pre-config); tell it
-- to read them again whenever they change, once the change commits.
create function auth.signing_keys_changed()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform pg_catalog.pg_notify('pgrst', 'reload config');
    return null;
end
$$;

create trigger signing_keys_notify_postgrest
    after insert or update or delete or truncate on auth.signing_keys
    for each statement execute function auth.signing_keys_changed();

-- Every key that verifies, as the JWKS PostgREST reads: the public keys, and HS256
-- secrets as `oct` keys. Secrets make this private: it is PostgREST's db-pre-config,
-- granted only to its authenticator (never public, unlike auth.jwks()).
create function auth.postgrest_config()
returns void
language sql
volatile
security definer
set search_path = ''
as $$
    select pg_catalog.set_config('pgrst.jwt_secret', pg_catalog.jsonb_build_object('keys', coalesce(
               pg_catalog.jsonb_agg(coalesce(public_jwk, pg_catalog.jsonb_build_object(
                   'kty', 'oct', 'alg', alg, 'use', 'sig', 'kid', kid,
                   'k', pg_catalog.rtrim(pg_catalog.translate(
                       pg_catalog.encode(pg_catalog.convert_to(private_key, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')))
                   order by is_current desc, created_at desc), '[]'))::text, true),
           pg_catalog.set_config('pgrst.jwt_secret_is_base64', 'false', true),
           pg_catalog.set_config('pgrst.jwt_aud',
               coalesce(nullif(pg_catalog.current_setting('auth_ext.jwt_aud', true), ''), 'authenticated'), true)
    from auth.signing_keys
$$;

-- Long-lived API keys: the `anon` and `service_role` JWTs every Supabase client sends
-- as `apikey`. The key itself is not stored (it is a signed token); its jti is this id.
create table auth.api_keys (
    id          uuid primary key default gen_random_uuid(),
    role        text not null,
    -- The signing key that signed it: removing that key also ends it.
    kid         text not null,
    description text,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    constraint api_keys_role check (role in ('anon', 'service_role'))
);

-- Ends an API key at once behind PostgREST (auth.postgrest_pre_request refuses it).
create function auth.revoke_api_key(id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    update auth.api_keys k set revoked_at = coalesce(k.revoked_at, pg_catalog.now()) where k.id = revoke_api_key.id;
    if not found then
        perform auth.raise_error('api_key_not_found', 'no API key has that id');
    end if;
end
$$;

-- PostgREST's db-pre-request: refuses a revoked API key. Tokens of sessions carry a
-- session_id and pass untouched (their revocation is checked where auth_ext verifies them).
create function auth.postgrest_pre_request()
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
    headers jsonb := nullif(pg_catalog.current_setting('request.headers', true), '')::jsonb;
begin
    if claims ? 'jti' and not claims ? 'session_id' and not exists (
            select from auth.api_keys k
            where k.id::text = claims->>'jti' and k.revoked_at is null) then
        perform auth.raise_error('api_key_revoked', 'this API key was revoked',
            pg_catalog.format('jti %s', pg_catalog.left(claims->>'jti', 64)),
            'Use a current key; auth.create_api_key() makes one.');
    end if;
    if headers is not null then
        perform pg_catalog.set_config('request.headers', (headers - 'authorization' - 'apikey' - 'cookie')::text, true);
    end if;
    perform pg_catalog.set_config('request.cookies', '{}', true);
end
$$;

create function auth.verify_otp(email text default null, token text default null, type text default null,
                                phone text default null, token_hash text default null)
returns jsonb language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$ select auth.verify_one_time_token(email, token, type, phone, token_hash) $$;
create function auth.resend(type text, email text default null, phone text default null)
returns void language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$ select auth.resend_message(type, email, phone) $$;

-- Grants: new functions are executable by no one but the owner unless granted here.
revoke execute on function auth.acting_role_oid(), auth.referencing_user_ids(oid, text, uuid[]), auth.delete_users(uuid[]),
    auth.normalize_address(text, text), auth.secret(text), auth.sign_in_state(auth.users),
    auth.session_state(auth.sessions, integer, integer), auth.rate_limit_count(text, text), auth.rate_limit_hits(text, text),
    auth.confirm_address(uuid, boolean, boolean, text), auth.count_otp_attempt(uuid, text), auth.count_failed_sign_in(text, text),
    auth.durable_write(text, uuid, text, text), auth.check_registrable(regclass, regprocedure),
    auth.purge_spent_refresh_tokens(integer, integer), auth.merge_column(regclass, name, text, uuid, uuid, text, regprocedure),
    auth.hook_function(text), auth.create_api_key(text, text, interval, text), auth.reset_password_for_email(text),
    auth.resend_message(text, text, text), auth.verify_one_time_token(text, text, text, text, text),
    auth.sign_in_with_otp(text, boolean, text, jsonb), auth.signing_keys_changed(), auth.postgrest_config(),
    auth.revoke_api_key(uuid), auth.postgrest_pre_request(), auth.verify_otp(text, text, text, text, text),
    auth.resend(text, text, text), auth.rate_limit_retry_after()
    from public;
revoke all on auth.api_keys from public;
grant execute on function auth.sign_in_with_otp(text, boolean, text, jsonb), auth.verify_otp(text, text, text, text, text),
    auth.reset_password_for_email(text), auth.resend(text, text, text)
    to anon, authenticated, service_role;
grant execute on function auth.postgrest_pre_request() to anon, authenticated, service_role;
alter table auth.api_keys enable row level security;
select pg_catalog.pg_extension_config_dump('auth.api_keys', '');
revoke all on auth.session_revocations, auth.secrets from public;
grant execute on function auth.purge_spent_refresh_tokens(integer, integer) to service_role;
-- Hooks and merges run as the code's or table's owner; these run as their caller.
grant execute on function auth.hook_function(text), auth.call_hook(text, jsonb, boolean),
    auth.merge_column(regclass, name, text, uuid, uuid, text, regprocedure) to public;
grant usage on schema auth to auth_ext_admin, auth_ext_app;
alter table auth.session_revocations enable row level security;
alter table auth.secrets enable row level security;
select pg_catalog.pg_extension_config_dump('auth.session_revocations', '');
select pg_catalog.pg_extension_config_dump('auth.secrets', '');

-- A Supabase-compatible front door (issue: the HTTP gateway). PKCE challenges and
-- phone numbers reach sign-up, magic links and recovery: new signatures.
drop function auth.sign_up(text, text, jsonb);
drop function auth.sign_in_with_otp(text, boolean, text, jsonb);
drop function auth.reset_password_for_email(text);
-- auth_ext::flows::sign_up
CREATE  FUNCTION "sign_up"(
	"email" TEXT,
	"password" TEXT,
	"data" jsonb DEFAULT '{}',
	"phone" TEXT DEFAULT NULL,
	"code_challenge" TEXT DEFAULT NULL,
	"code_challenge_method" TEXT DEFAULT NULL
) RETURNS jsonb
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'sign_up_wrapper';

-- auth_ext::flows::sign_in_with_otp
CREATE  FUNCTION "sign_in_with_otp"(
	"email" TEXT DEFAULT NULL,
	"create_user" bool DEFAULT true,
	"phone" TEXT DEFAULT NULL,
	"data" jsonb DEFAULT '{}',
	"code_challenge" TEXT DEFAULT NULL,
	"code_challenge_method" TEXT DEFAULT NULL
) RETURNS VOID
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'sign_in_with_otp_wrapper';

-- auth_ext::flows::reset_password_for_email
CREATE  FUNCTION "reset_password_for_email"(
	"email" TEXT,
	"code_challenge" TEXT DEFAULT NULL,
	"code_challenge_method" TEXT DEFAULT NULL
) RETURNS VOID
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'reset_password_for_email_wrapper';

-- auth_ext::pkce::exchange_code_for_session
CREATE  FUNCTION "exchange_code_for_session"(
	"auth_code" TEXT,
	"code_verifier" TEXT
) RETURNS jsonb
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'exchange_code_for_session_wrapper';

-- auth_ext::flows::verify_link
CREATE  FUNCTION "verify_link"(
	"token_hash" TEXT,
	"verification_type" TEXT
) RETURNS jsonb
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'verify_link_wrapper';

-- auth_ext::gateway::gateway_request
CREATE  FUNCTION "gateway_request"(
	"apikey" TEXT,
	"access_token" TEXT,
	"ip" inet,
	"user_agent" TEXT
) RETURNS TEXT
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'gateway_request_wrapper';

-- auth_ext::admin::invite_user_by_email
CREATE  FUNCTION "invite_user_by_email"(
	"email" TEXT,
	"data" jsonb DEFAULT '{}',
	"redirect_to" TEXT DEFAULT NULL
) RETURNS jsonb
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'invite_user_by_email_wrapper';

-- PKCE flows whose link was followed (pkce.rs): the auth code, of which only the
-- SHA-256 is kept, waits here for auth.exchange_code_for_session and its verifier, for
-- auth_ext.flow_state_exp. Taken once; the user's stale codes go when it gets a new one.
create table auth.flow_state (
    auth_code_hash        bytea primary key,
    user_id               uuid not null references auth.users (id) on delete cascade,
    code_challenge        text not null,
    code_challenge_method text not null,
    -- How the flow signed in (the session's amr method): magiclink, recovery, ...
    authentication_method text not null,
    created_at            timestamptz not null default now(),
    constraint flow_state_method check (code_challenge_method in ('s256', 'plain')),
    constraint flow_state_challenge_length check (length(code_challenge) between 43 and 128)
);

create index flow_state_user_id_idx on auth.flow_state (user_id, created_at);

-- GoTrue's GET /settings: which sign-in methods this database offers.
create function auth.settings()
returns jsonb language sql stable set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'external', pg_catalog.jsonb_build_object(
            'anonymous_users', coalesce(pg_catalog.current_setting('auth_ext.anonymous_sign_ins', true), 'off')::boolean,
            'email', true, 'phone', true,
            'apple', false, 'azure', false, 'bitbucket', false, 'discord', false, 'facebook', false,
            'figma', false, 'github', false, 'gitlab', false, 'google', false, 'keycloak', false,
            'kakao', false, 'linkedin_oidc', false, 'notion', false, 'spotify', false, 'slack_oidc', false,
            'twitch', false, 'twitter', false, 'workos', false, 'zoom', false),
        'disable_signup', false,
        'mailer_autoconfirm', coalesce(pg_catalog.current_setting('auth_ext.mailer_autoconfirm', true), 'off')::boolean,
        'phone_autoconfirm', coalesce(pg_catalog.current_setting('auth_ext.sms_autoconfirm', true), 'off')::boolean,
        'sms_provider', '',
        'saml_enabled', false)
$$;

-- One user by id, for the application's server (GoTrue's GET /admin/users/{id}).
create function auth.admin_get_user_by_id(id uuid)
returns jsonb language plpgsql stable security definer set search_path = ''
as $$
declare
    found jsonb := auth.user_json(id);
begin
    if found is null then
        perform auth.raise_error('user_not_found', 'no such user');
    end if;
    return found;
end
$$;

-- The HTTP front's first statement in each request's transaction (src/gateway.rs):
-- checks the API key and bearer token, records the client the front reports, and then
-- acts as the role they carry until the transaction ends, as PostgREST does. SECURITY
-- INVOKER, since only an invoker may change role; granted to the front's login role by
-- its set-up (examples/gateway/setup.sql), by name.
create function auth.gateway_begin(apikey text, access_token text default null, ip inet default null,
                                   user_agent text default null)
returns text language plpgsql volatile set search_path = ''
as $$
declare
    acting text := auth.gateway_request(apikey, access_token, ip, user_agent);
begin
    perform pg_catalog.set_config('role', acting, true);
    return acting;
end
$$;

revoke execute on function auth.sign_up(text, text, jsonb, text, text, text),
    auth.sign_in_with_otp(text, boolean, text, jsonb, text, text), auth.reset_password_for_email(text, text, text),
    auth.exchange_code_for_session(text, text), auth.verify_link(text, text), auth.gateway_request(text, text, inet, text),
    auth.invite_user_by_email(text, jsonb, text), auth.settings(), auth.admin_get_user_by_id(uuid),
    auth.gateway_begin(text, text, inet, text)
    from public;
grant execute on function auth.sign_up(text, text, jsonb, text, text, text),
    auth.sign_in_with_otp(text, boolean, text, jsonb, text, text), auth.reset_password_for_email(text, text, text),
    auth.verify_link(text, text), auth.exchange_code_for_session(text, text), auth.settings()
    to anon, authenticated, service_role;
grant execute on function auth.admin_get_user_by_id(uuid), auth.invite_user_by_email(text, jsonb, text) to service_role;
revoke all on auth.flow_state from public;
alter table auth.flow_state enable row level security;
select pg_catalog.pg_extension_config_dump('auth.flow_state', '');

-- Every foreign key has an index (issue: speed): deleting a user never scans these.
create index one_time_tokens_user_id_idx on auth.one_time_tokens (user_id);
create index outbox_user_id_idx on auth.outbox (user_id);

-- Speed (issue: speed): a rate-limit hit is one upsert (auth.rate_limit_hit above);
-- past windows are purged by the cleanup worker, or on a schedule. (The helpers every
-- sign-in, refresh and verification calls are PL/pgSQL, above, whose plans a backend
-- keeps: a SQL-language function with SET is parsed and planned in every statement.)
create function auth.purge_past_rate_limits()
returns bigint
language sql
security definer
set search_path = ''
as $$
    with purged as (delete from auth.rate_limits where window_start < now() - interval '1 hour' returning 1),
         refilled as (delete from auth.rate_bursts where tat < clock_timestamp())
    select count(*) from purged
$$;
revoke execute on function auth.purge_past_rate_limits() from public;
grant execute on function auth.purge_past_rate_limits() to service_role;
-- auth.uid() answers from its cache without pgrx's call wrapper (src/claims.rs).
create or replace function auth.uid() returns uuid
strict stable parallel safe language c as 'MODULE_PATHNAME', 'uid_fast';

-- The third attack run (issue: takeover, lockouts, revocation, operations). Bursts
-- beside hourly limits, as GoTrue's token bucket.
create table auth.rate_bursts (
    bucket text not null,
    key    text not null,
    tat    timestamptz not null,
    primary key (bucket, key)
);

create function auth.rate_burst_count(p_bucket text, p_key text, p_per_hour int)
returns void
language sql
set search_path = ''
as $$
    insert into auth.rate_bursts as b (bucket, key, tat)
    values (p_bucket, p_key, clock_timestamp() + make_interval(secs => 3600.0 / greatest(p_per_hour, 1)))
    on conflict (bucket, key) do update
    set tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => 3600.0 / greatest(p_per_hour, 1));
$$;

create function auth.rate_burst_wait(p_bucket text, p_key text, p_per_hour int, p_burst int)
returns int
language sql
stable
set search_path = ''
as $$
    select coalesce((
        select ceil(extract(epoch from b.tat - clock_timestamp())
                    - (greatest(p_burst, 1) - 1) * 3600.0 / greatest(p_per_hour, 1))::int
        from auth.rate_bursts b where b.bucket = p_bucket and b.key = p_key), 0)
$$;

-- One shape for every user in an answer, real or made up (sign_up for a registered
-- address answers a decoy); one rule for an address identity's data.
create function auth.address_identity_data(p_user_id uuid, p_kind text, p_address text, p_confirmed boolean)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object(
        'sub', p_user_id::text,
        p_kind, p_address,
        'email_verified', p_kind = 'email' and p_confirmed,
        'phone_verified', p_kind = 'phone' and p_confirmed)
$$;

create function auth.user_object(u auth.users, identities jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', u.id,
        'aud', u.aud,
        'role', u.role,
        'email', coalesce(u.email, ''),
        'phone', coalesce(u.phone, ''),
        'email_confirmed_at', u.email_confirmed_at,
        'phone_confirmed_at', u.phone_confirmed_at,
        'confirmed_at', u.confirmed_at,
        'new_email', u.email_change,
        'new_phone', u.phone_change,
        'last_sign_in_at', u.last_sign_in_at,
        'app_metadata', u.raw_app_meta_data,
        'user_metadata', u.raw_user_meta_data,
        'identities', identities,
        'is_anonymous', u.is_anonymous,
        'banned_until', u.banned_until,
        'created_at', u.created_at,
        'updated_at', u.updated_at)
$$;

create function auth.identity_object(i auth.user_identities)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object(
        'identity_id', i.id,
        'id', i.provider_id,
        'user_id', i.user_id,
        'identity_data', i.identity_data,
        'provider', i.provider,
        'email', i.identity_data->>'email',
        'last_sign_in_at', i.last_sign_in_at,
        'created_at', i.created_at,
        'updated_at', i.updated_at)
$$;

create function auth.sign_up_decoy(p_address text, p_kind text, p_user_meta jsonb, p_app_meta jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    u auth.users := jsonb_populate_record(null::auth.users, jsonb_build_object(
        'id', gen_random_uuid(), 'aud', 'authenticated', 'role', 'authenticated',
        p_kind, auth.normalize_address(p_address, p_kind), 'raw_user_meta_data', p_user_meta,
        'raw_app_meta_data', p_app_meta, 'is_anonymous', false, 'created_at', now(), 'updated_at', now()));
    i auth.user_identities := jsonb_populate_record(null::auth.user_identities, jsonb_build_object(
        'id', gen_random_uuid(), 'user_id', u.id, 'provider', p_kind,
        'provider_id', auth.normalize_address(p_address, p_kind),
        'identity_data', auth.address_identity_data(u.id, p_kind, auth.normalize_address(p_address, p_kind), false),
        'created_at', now(), 'updated_at', now()));
begin
    return auth.user_object(u, jsonb_build_array(auth.identity_object(i)));
end
$$;

-- An address goes to whoever proves it (a guest's confirmed change beats a squatter).
create function auth.take_address(p_user_id uuid, p_kind text, p_address text)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    holder auth.users;
begin
    select * into holder from auth.users
    where case p_kind when 'email' then email else phone end = p_address and id <> p_user_id
    for update;
    if not found then
        return true;
    end if;
    if (case p_kind when 'email' then holder.email_confirmed_at else holder.phone_confirmed_at end) is not null then
        return false;
    end if;
    if p_kind = 'email' then
        update auth.users set email = null, email_confirmed_at = null where id = holder.id;
    else
        update auth.users set phone = null, phone_confirmed_at = null where id = holder.id;
    end if;
    -- Nothing the holder was sent for the address may still sign anyone in as the holder.
    delete from auth.one_time_tokens where user_id = holder.id and relates_to = p_address and consumed_at is null;
    perform auth.sync_address_identity(holder.id, p_kind);
    if not exists (select from auth.users u where u.id = holder.id and (u.email is not null or u.phone is not null))
            and not exists (select from auth.user_identities i where i.user_id = holder.id) then
        perform auth.delete_users(array[holder.id]);
    end if;
    return true;
end
$$;

-- A restore gives back exactly the dumped keys: CREATE EXTENSION's own first key goes.
create function auth.signing_keys_restored()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (pg_catalog.current_query() ~* '^\s*copy\s' or pg_catalog.current_setting('row_security') = 'off')
            and exists (select from restored r where r.is_current) then
        delete from auth.signing_keys k
        where k.xmin = (select e.xmin from pg_catalog.pg_extension e where e.extname = 'auth_ext')
          and not exists (select from restored r where r.kid = k.kid);
    end if;
    return null;
end
$$;

create trigger signing_keys_restored
    after insert on auth.signing_keys
    referencing new table as restored
    for each statement execute function auth.signing_keys_restored();

revoke execute on function auth.rate_burst_count(text, text, integer), auth.rate_burst_wait(text, text, integer, integer),
    auth.check_metadata_size(jsonb, jsonb), auth.password_digest(text),
    auth.address_identity_data(uuid, text, text, boolean), auth.user_object(auth.users, jsonb),
    auth.identity_object(auth.user_identities), auth.sign_up_decoy(text, text, jsonb, jsonb),
    auth.take_address(uuid, text, text), auth.signing_keys_restored()
    from public;
revoke all on auth.rate_bursts from public;
alter table auth.rate_bursts enable row level security;

-- Account-changing functions act only for the request itself (src/roles.rs, for_request):
-- they switch to the extension's rights themselves, after checking who called them.
alter function auth.update_user(jsonb) security invoker;
alter function auth.reauthenticate() security invoker;
alter function auth.link_identity(text, text, jsonb, uuid) security invoker;
alter function auth.unlink_identity(uuid) security invoker;
alter function auth.merge_anonymous_user(text, text) security invoker;
alter function auth.sign_out(text) security invoker;

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
create schema auth_api;
comment on schema auth_api is 'auth_ext: the functions PostgREST exposes (db-schemas); each calls its namesake in auth';
grant usage on schema auth_api to anon, authenticated, service_role;
do $api$
declare
    f record;
    call_args text;
begin
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

-- Everything of the extension belongs to auth_ext_admin (as in a fresh install).
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
