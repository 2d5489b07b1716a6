-- Signing keys, sessions, refresh tokens and the audit log.

-- Private key material lives here and nowhere else; no application role is granted
-- anything on this table. auth.jwks() publishes the public halves.
create table auth.signing_keys (
    kid         text primary key,
    alg         text not null,
    -- PKCS#8 PEM for ES256/EdDSA/RS256; the shared secret for HS256.
    private_key text not null,
    -- The public JWK (with kid, alg, use); NULL for HS256.
    public_jwk  jsonb,
    -- The newest current key signs; the others only verify. (Not a unique flag: after a
    -- restore, the key CREATE EXTENSION made and the restored current key both carry it.)
    is_current  boolean not null default false,
    created_at  timestamptz not null default now(),
    constraint signing_keys_alg check (alg in ('ES256', 'EdDSA', 'RS256', 'HS256')),
    constraint signing_keys_public_jwk check ((alg = 'HS256') = (public_jwk is null))
);


-- A restore (pg_restore, or psql with a dump) runs CREATE EXTENSION, which makes a first
-- key, then loads the dumped keys: the key it made goes again, so that the restore
-- gives back exactly the dumped rows and one current key. That key is known by its
-- transaction, the one that created the extension, and by not being among the rows
-- loaded (a single-transaction restore loads them in that same transaction).
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

-- The key that signs new tokens, with its private material: for SECURITY DEFINER callers only.
create function auth.current_signing_key()
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
create function auth.signing_keys_immutable()
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

create trigger signing_keys_immutable
    before update on auth.signing_keys
    for each row execute function auth.signing_keys_immutable();

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
-- It also takes the request's credentials (the bearer token, the API key, cookies) out
-- of request.headers and request.cookies: code that runs inside the request (a trigger,
-- a default, a policy of an application table's owner) could otherwise read the
-- caller's token and use it as the caller. request.jwt.claims, which no one can sign
-- in with, stays.
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

create table auth.sessions (
    id             uuid primary key default gen_random_uuid(),
    user_id        uuid not null references auth.users (id) on delete cascade,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    -- Last refresh; with created_at, what the inactivity timeout measures.
    refreshed_at   timestamptz,
    -- A hard end set by an administrator; the time-box setting applies besides.
    not_after      timestamptz,
    ip             inet,
    user_agent     text,
    aal            text not null default 'aal1',
    -- How the user signed in: [{"method": "password", "timestamp": 1700000000}].
    amr            jsonb not null default '[]',
    constraint sessions_aal check (aal in ('aal1', 'aal2', 'aal3')),
    constraint sessions_user_agent_length check (length(user_agent) <= 1024)
);

create index sessions_user_id_idx on auth.sessions (user_id);

-- Sessions revoked because a spent refresh token was replayed (signing out deletes a
-- session instead). A table of its own, without a foreign key, so that a worker can
-- commit a revocation while the refresh that detected the replay still holds the
-- session's row, before that refresh answers: once a client hears "revoked", it is.
-- The cleanup removes entries whose session is gone.
create table auth.session_revocations (
    session_id uuid primary key,
    reason     text not null,
    revoked_at timestamptz not null default now()
);

-- Server-side secrets, readable by no application role. 'refresh_token' derives a
-- refresh token's child from the token itself (sessions.rs), so that every client
-- holding one token gets the same child. Made on first use, never at CREATE EXTENSION,
-- so that a restore brings back the original.
create table auth.secrets (
    name  text primary key,
    value bytea not null,
    constraint secrets_value_length check (length(value) >= 32)
);

-- The secret named, made from the server's strong random source on first use.
create function auth.secret(p_name text)
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

-- Refresh tokens are opaque random strings; only their SHA-256 is stored.
-- Each refresh spends the session's live token and mints its child.
create table auth.refresh_tokens (
    id         bigint generated always as identity primary key,
    session_id uuid not null references auth.sessions (id) on delete cascade,
    -- Its session's user. No foreign key (as in Supabase): the token goes with its
    -- session, which goes with its user, and a key would cost a check on every sign-in
    -- and refresh, and a cascade for every deleted user.
    user_id    uuid not null,
    token_hash bytea not null,
    -- The token it was exchanged from (no foreign key: spent tokens are purged).
    parent_id  bigint,
    created_at timestamptz not null default now(),
    -- When it was exchanged for its child; NULL while it is the session's live token.
    -- (A revoked session is recorded in auth.session_revocations, not here.)
    spent_at   timestamptz,
    constraint refresh_tokens_token_hash_key unique (token_hash),
    constraint refresh_tokens_token_hash_length check (length(token_hash) = 32)
);

-- At most one live token per session: two branches can never both refresh.
create unique index refresh_tokens_one_live_per_session on auth.refresh_tokens (session_id) where spent_at is null;
-- Every foreign key has an index, so that deleting a session or a user never scans.
create index refresh_tokens_session_id_idx on auth.refresh_tokens (session_id, id);
create index refresh_tokens_parent_id_idx on auth.refresh_tokens (parent_id);

-- Who did what, when, from where. No foreign key: entries outlive their users.
create table auth.audit_log_entries (
    id         bigint generated always as identity primary key,
    created_at timestamptz not null default now(),
    actor_id   uuid,
    action     text not null,
    ip         inet,
    payload    jsonb not null default '{}'
);

create index audit_log_entries_created_at_idx on auth.audit_log_entries (created_at);
create index audit_log_entries_actor_id_idx on auth.audit_log_entries (actor_id);

-- The user object of Supabase Auth's API, as returned in sessions and by get_user.
-- A user as Supabase Auth's API shows it: the one shape of every answer that carries a
-- user, real (auth.user_json) or made up (auth.sign_up_decoy).
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

create function auth.user_json(user_id uuid)
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

-- What sign_up answers for an address that is registered already: a new, unconfirmed
-- user as auth.user_json would show it (a fresh id, the address's identity, the
-- caller's own metadata), so that the answer tells nothing and carries nothing of the
-- account that has the address.
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

-- The public keys as a JWKS document, newest first, for PostgREST and other verifiers.
create function auth.jwks()
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
create function auth.sign_in_state(u auth.users)
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
create function auth.session_state(s auth.sessions, timebox_seconds int, inactivity_seconds int)
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
create function auth.call_hook(hook text, event jsonb, wrap_errors boolean default true)
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
create function auth.revoke_session(p_session_id uuid, reason text)
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
