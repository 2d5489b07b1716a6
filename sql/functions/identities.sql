-- Identities: made with a user, linked, kept in step with its addresses.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Links an identity to a user. Raises identity_already_exists when the identity
-- belongs to another user: an identity never moves silently.
create or replace function auth.insert_identity(p_user_id uuid, p_provider text, p_provider_id text, p_identity_data jsonb)
returns uuid
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
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
create or replace function auth.address_identity_data(p_user_id uuid, p_kind text, p_address text, p_confirmed boolean)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
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
create or replace function auth.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
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
set search_path = pg_catalog, pg_temp
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

-- Makes a user's `email` or `phone` identity match its address: renamed, created or removed.
create or replace function auth.sync_address_identity(p_user_id uuid, p_provider text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
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
