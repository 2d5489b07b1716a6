-- auth_ext schema: users and their identities. Column names follow Supabase Auth's
-- `auth` schema so that SQL written for it (docs, policies, cleanup queries) runs unchanged.
-- The extension's control file places everything in schema `auth`.

-- Application roles, as PostgREST and Supabase name them. NOLOGIN: a login role
-- (PostgREST's `authenticator`) switches into them per request.
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

create table auth.users (
    id                          uuid primary key default gen_random_uuid(),
    aud                         text not null default 'authenticated',
    role                        text not null default 'authenticated',
    email                       text,
    phone                       text,
    encrypted_password          text,
    email_confirmed_at          timestamptz,
    phone_confirmed_at          timestamptz,
    -- As in Supabase: confirmed once either address is.
    confirmed_at                timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    last_sign_in_at             timestamptz,
    raw_app_meta_data           jsonb not null default '{}',
    raw_user_meta_data          jsonb not null default '{}',
    is_anonymous                boolean not null default false,
    banned_until                timestamptz,
    -- A pending new email address, and how many of its two confirmations are done.
    email_change                text,
    email_change_confirm_status smallint not null default 0,
    phone_change                text,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    deleted_at                  timestamptz,
    constraint users_email_key unique (email),
    constraint users_phone_key unique (phone),
    constraint users_email_format check (email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$' and length(email) <= 255),
    constraint users_phone_format check (phone ~ '^[0-9]{7,15}$'),
    constraint users_email_change_confirm_status_range check (email_change_confirm_status between 0 and 2),
    constraint users_app_meta_data_is_object check (jsonb_typeof(raw_app_meta_data) = 'object'),
    constraint users_user_meta_data_is_object check (jsonb_typeof(raw_user_meta_data) = 'object'),
    -- An anonymous user has no address; adding one is what makes a user permanent.
    constraint users_anonymous_has_no_address check (not is_anonymous or (email is null and phone is null))
);

comment on table auth.users is 'One row per user, permanent or anonymous. Columns follow Supabase Auth.';

-- Finding stale anonymous users stays cheap however many permanent users there are.
-- Serves Supabase's documented cleanup query (`where is_anonymous and created_at < ...`)
-- and auth.cleanup_anonymous_users, which walks it in (created_at, id) order.
create index users_anonymous_created_at_idx on auth.users (created_at, id) where is_anonymous;

create table auth.user_identities (
    id              uuid primary key default gen_random_uuid(),
    user_id         uuid not null references auth.users (id) on delete cascade,
    -- 'email', 'phone', 'feishu', 'wechat', 'google', ...
    provider        text not null,
    -- The provider's subject: open_id, email address, phone number.
    provider_id     text not null,
    -- Everything the provider returned; new providers never need a schema change.
    identity_data   jsonb not null default '{}',
    last_sign_in_at timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint user_identities_provider_id_key unique (provider, provider_id),
    constraint user_identities_provider_format check (provider ~ '^[a-z0-9_.-]{1,64}$'),
    constraint user_identities_provider_id_length check (length(provider_id) between 1 and 512),
    constraint user_identities_data_is_object check (jsonb_typeof(identity_data) = 'object')
);

comment on table auth.user_identities is 'One row per way a user signs in; unique on (provider, provider_id).';

create index user_identities_user_id_idx on auth.user_identities (user_id);

-- Raises validation_failed unless the address (already normalised) is a plausible
-- email ('email') or E.164 phone number ('phone').
create function auth.check_address_format(address text, kind text)
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
create function auth.normalize_address(address text, kind text)
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

-- Normalises addresses before they reach the unique constraints.
create function auth.users_normalize()
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

create trigger users_normalize
    before insert or update on auth.users
    for each row execute function auth.users_normalize();

-- Links an identity to a user. Raises identity_already_exists when the identity
-- belongs to another user: an identity never moves silently.
create function auth.insert_identity(p_user_id uuid, p_provider text, p_provider_id text, p_identity_data jsonb)
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

-- What an `email` or `phone` identity records of its address, as Supabase Auth has it.
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
create function auth.handle_new_user()
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

create trigger auth_ext_handle_new_user
    after insert on auth.users
    for each row execute function auth.handle_new_user();

create function auth.user_identities_touch()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create trigger user_identities_touch
    before update on auth.user_identities
    for each row execute function auth.user_identities_touch();
