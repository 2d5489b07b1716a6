-- Signing keys (restored, current, immutable, published), API keys, secrets.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- A restore (pg_restore, or psql with a dump) runs CREATE EXTENSION, which makes a first
-- key, then loads the dumped keys: the key it made goes again, so that the restore
-- gives back exactly the dumped rows and one current key. That key is known by its
-- transaction, the one that created the extension, and by not being among the rows
-- loaded (a single-transaction restore loads them in that same transaction).
create or replace function auth.signing_keys_restored()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
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

-- The key that signs new tokens, with its private material: for SECURITY DEFINER callers only.
create or replace function auth.current_signing_key()
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
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
set search_path = pg_catalog, pg_temp
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

-- PostgREST learns the keys from auth.postgrest_config() (its db-pre-config); tell it
-- to read them again whenever they change, once the change commits.
create or replace function auth.signing_keys_changed()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_catalog.pg_notify('pgrst', 'reload config');
    return null;
end
$$;

-- Ends an API key at once behind PostgREST (auth.postgrest_pre_request refuses it).
create or replace function auth.revoke_api_key(id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    update auth.api_keys k set revoked_at = coalesce(k.revoked_at, pg_catalog.now()) where k.id = revoke_api_key.id;
    if not found then
        perform auth.raise_error('api_key_not_found', 'no API key has that id');
    end if;
end
$$;

-- The secret named, made from the server's strong random source on first use.
create or replace function auth.secret(p_name text)
returns bytea
language plpgsql
set search_path = pg_catalog, pg_temp
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

-- The public keys as a JWKS document, newest first, for PostgREST and other verifiers.
create or replace function auth.jwks()
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object('keys', coalesce(jsonb_agg(public_jwk order by is_current desc, created_at desc), '[]'))
    from auth.signing_keys
    where public_jwk is not null
$$;
