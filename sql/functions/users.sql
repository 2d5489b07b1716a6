-- Users: addresses, metadata, the user object of the API, who may sign in.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- What is wrong with an address (already normalised), or null: Supabase Auth's email form
-- (the checkmail library's) of at most 255 characters ('email'), or its E.164 phone
-- number form ('phone'). The one rule; check_address_format raises it.
create or replace function auth.address_problem(address text, kind text)
returns text
language sql
immutable
as $$
    select case
        when kind = 'email' and length(address) > 255 then 'An email address is too long'
        when kind = 'email' and address !~ '^[a-zA-Z0-9.!#$%&''*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$'
            then 'Unable to validate email address: invalid format'
        when kind = 'phone' and address !~ '^[1-9][0-9]{1,14}$' then 'Invalid phone number format (E.164 required)'
    end
$$;

-- Raises validation_failed unless the address is well formed (address_problem).
create or replace function auth.check_address_format(address text, kind text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
    problem text := auth.address_problem(address, kind);
begin
    if problem is not null then
        perform auth.raise_error('validation_failed', problem,
            pg_catalog.format('%s %L', kind, left(address, 300)));
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
set search_path = pg_catalog, pg_temp
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
-- PostgREST take (32 kB), and at 32 levels of nesting, well within what JSON readers
-- take (serde_json's 128, which the extension's own reads of a user go through). The
-- users trigger checks every write; sign_up checks its data first too, so that its
-- answer and its counts never depend on the address's state.
create or replace function auth.check_metadata_size(p_user_meta jsonb, p_app_meta jsonb)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
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
    -- An item 33 levels down: strict, as lax mode would look into arrays on its own.
    if pg_catalog.jsonb_path_exists(p_user_meta, 'strict $.**{33}') then
        perform auth.raise_error('validation_failed', 'user_metadata is nested too deeply',
            'at most 32 levels of arrays and objects');
    end if;
    if pg_catalog.jsonb_path_exists(p_app_meta, 'strict $.**{33}') then
        perform auth.raise_error('validation_failed', 'app_metadata is nested too deeply',
            'at most 32 levels of arrays and objects');
    end if;
end
$$;

-- Normalises addresses before they reach the unique constraints.
create or replace function auth.users_normalize()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- Only the addresses a row has (an anonymous user has none): each call costs.
    if new.email is not null then new.email := auth.normalize_address(new.email, 'email'); end if;
    if new.email_change is not null then new.email_change := auth.normalize_address(new.email_change, 'email'); end if;
    if new.phone is not null then new.phone := auth.normalize_address(new.phone, 'phone'); end if;
    if new.phone_change is not null then new.phone_change := auth.normalize_address(new.phone_change, 'phone'); end if;
    -- Checked when they change: a user stored under an earlier rule still signs in.
    if new.email is not null and (tg_op = 'INSERT' or new.email is distinct from old.email) then
        perform auth.check_address_format(new.email, 'email');
    end if;
    if new.phone is not null and (tg_op = 'INSERT' or new.phone is distinct from old.phone) then
        perform auth.check_address_format(new.phone, 'phone');
    end if;
    if new.email_change is not null and (tg_op = 'INSERT' or new.email_change is distinct from old.email_change) then
        perform auth.check_address_format(new.email_change, 'email');
    end if;
    if new.phone_change is not null and (tg_op = 'INSERT' or new.phone_change is distinct from old.phone_change) then
        perform auth.check_address_format(new.phone_change, 'phone');
    end if;
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

-- The user object of Supabase Auth's API, as returned in sessions and by get_user.
-- A user as Supabase Auth's API shows it: the one shape of every answer that carries a
-- user, real (auth.user_json) or made up (auth.sign_up_decoy).
-- Plain SQL without a SET clause or a subquery (and stable: timestamps' text depends on
-- the TimeZone), so that Postgres inlines it into the statements that build a user (every
-- sign-in): a call of its own would parse and plan it anew each time. Every caller pins
-- search_path.
create or replace function auth.user_object(u auth.users, identities jsonb)
returns jsonb
language sql
stable
as $$
    -- GoTrue omits these keys when they are empty (its omitempty fields), and so do we:
    -- jsonb_strip_nulls drops them (their values are scalars, nothing nested is touched).
    select pg_catalog.jsonb_build_object(
        'id', u.id,
        'aud', u.aud,
        'role', u.role,
        'email', coalesce(u.email, ''),
        'phone', coalesce(u.phone, ''),
        'app_metadata', u.raw_app_meta_data,
        'user_metadata', u.raw_user_meta_data,
        'identities', identities,
        'is_anonymous', u.is_anonymous,
        'created_at', u.created_at,
        'updated_at', u.updated_at)
        || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'email_confirmed_at', u.email_confirmed_at,
               'invited_at', u.invited_at,
               'phone_confirmed_at', u.phone_confirmed_at,
               'confirmation_sent_at', u.confirmation_sent_at,
               'confirmed_at', u.confirmed_at,
               'recovery_sent_at', u.recovery_sent_at,
               'new_email', nullif(u.email_change, ''),
               'email_change_sent_at', u.email_change_sent_at,
               'new_phone', nullif(u.phone_change, ''),
               'phone_change_sent_at', u.phone_change_sent_at,
               'reauthentication_sent_at', u.reauthentication_sent_at,
               'last_sign_in_at', u.last_sign_in_at,
               'banned_until', u.banned_until))
$$;

-- Inlined, as auth.user_object.
create or replace function auth.identity_object(i auth.user_identities)
returns jsonb
language sql
stable
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

create or replace function auth.user_json(user_id uuid)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    u auth.users;
    sent jsonb;
begin
    select * into u from auth.users where id = user_id;
    if not found then
        return null;
    end if;
    -- When each kind of message last went out: from its tokens (auth.message_field), or
    -- as stored on the user (imported from Supabase). An invitation is also a confirmation.
    select jsonb_object_agg(f, at) into sent from (
        select auth.message_field(t.token_type) as f, max(t.created_at) as at
        from auth.one_time_tokens t where t.user_id = u.id group by 1
        union all
        select 'confirmation_sent_at', max(t.created_at)
        from auth.one_time_tokens t where t.user_id = u.id and t.token_type = 'invite') s
    where f is not null and at is not null;
    if sent is not null then
        u.confirmation_sent_at := greatest(u.confirmation_sent_at, (sent->>'confirmation_sent_at')::timestamptz);
        u.invited_at := greatest(u.invited_at, (sent->>'invited_at')::timestamptz);
        u.recovery_sent_at := greatest(u.recovery_sent_at, (sent->>'recovery_sent_at')::timestamptz);
        u.email_change_sent_at := greatest(u.email_change_sent_at, (sent->>'email_change_sent_at')::timestamptz);
        u.phone_change_sent_at := greatest(u.phone_change_sent_at, (sent->>'phone_change_sent_at')::timestamptz);
        u.reauthentication_sent_at := greatest(u.reauthentication_sent_at, (sent->>'reauthentication_sent_at')::timestamptz);
    end if;
    -- Its factors, verified or not, as Supabase Auth lists them; no key when it has none.
    return auth.user_object(u, coalesce((
        select jsonb_agg(auth.identity_object(i) order by i.created_at, i.id)
        from auth.user_identities i where i.user_id = u.id), '[]'))
        || coalesce((select jsonb_build_object('factors', jsonb_agg(auth.factor_json(f) order by f.created_at, f.id))
                     from auth.mfa_factors f where f.user_id = u.id having count(*) > 0), '{}');
end
$$;

-- The one rule for who may sign in, and keep using a session: a user that exists, is
-- not deleted and is not banned right now. 'ok', 'banned' or 'not_found'.
-- Plain SQL without a SET clause, so that Postgres inlines it (as auth.session_state).
create or replace function auth.sign_in_state(u auth.users)
returns text
language sql
stable
as $$
    select case when u.id is null or u.deleted_at is not null then 'not_found'
                when u.banned_until > pg_catalog.now() then 'banned'
                else 'ok' end
$$;

-- Which password a confirmation was issued for: a digest of the hash stored then. A
-- confirmation proves only that password; any later change of it (a stranger's sign-up)
-- leaves the confirmation proving nothing.
create or replace function auth.password_digest(p_hash text)
returns text
language sql
immutable
as $$
    select left(encode(sha256(convert_to(p_hash, 'UTF8')), 'hex'), 32)
$$;

-- Metadata merged one level deep, as Supabase merges user and app metadata: keys of
-- the patch replace the old ones, and a key set to null is removed.
create or replace function auth.merge_metadata(old jsonb, patch jsonb)
returns jsonb
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
    select (old || patch) - coalesce((select array_agg(key) from jsonb_each(patch) where value = 'null'::jsonb), '{}'));
end
$$;

-- Adds a provider to app_metadata.providers (dropping "anonymous"), and makes it the
-- provider when the user was anonymous.
create or replace function auth.add_provider(app_meta jsonb, provider text)
returns jsonb
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
    select app_meta || jsonb_build_object(
        'provider', coalesce(nullif(app_meta->>'provider', 'anonymous'), provider),
        'providers', (select coalesce(jsonb_agg(distinct p order by p), '[]')
                      from jsonb_array_elements_text(coalesce(app_meta->'providers', '[]') || to_jsonb(provider)) p
                      where p <> 'anonymous'))
$$;

-- The one rule for an anonymous user becoming permanent, when an address of its own is
-- confirmed or an identity linked: the same id, no longer anonymous, with the provider
-- among its app metadata's providers.
create or replace function auth.become_permanent(p_user_id uuid, p_provider text)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
    update auth.users set is_anonymous = false, raw_app_meta_data = auth.add_provider(raw_app_meta_data, p_provider)
    where id = p_user_id
$$;
