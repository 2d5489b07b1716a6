-- Behind PostgREST: its configuration and its pre-request.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Every key that verifies, as the JWKS PostgREST reads: the public keys, and HS256
-- secrets as `oct` keys. Secrets make this private: it is PostgREST's db-pre-config,
-- granted only to its authenticator (never public, unlike auth.jwks()).
create or replace function auth.postgrest_config()
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
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

-- PostgREST's db-pre-request: refuses a revoked API key. Tokens of sessions carry a
-- session_id and pass untouched (their revocation is checked where auth_ext verifies them).
-- It also takes the request's credentials (the bearer token, the API key, cookies) out
-- of request.headers and request.cookies: code that runs inside the request (a trigger,
-- a default, a policy of an application table's owner) could otherwise read the
-- caller's token and use it as the caller. request.jwt.claims, which no one can sign
-- in with, stays.
create or replace function auth.postgrest_pre_request()
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
    headers jsonb := nullif(pg_catalog.current_setting('request.headers', true), '')::jsonb;
begin
    -- Loads the extension's library in this statement, before the request's own (account
    -- changes refuse to run in the statement that loads it, src/core/statements.rs), and
    -- ends the settings that an earlier request's code left on the connection.
    perform auth.begin_pooled_request();
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

-- Refuses a function, aggregate or operator named like a built-in one (a range type's
-- constructors too), made or renamed
-- by anyone but a superuser (an event trigger, sql/access.sql). PostgREST calls built-ins
-- by name (json_agg, json_build_array, ...) with its request's search path, which holds
-- schemas that application owners may create in; one there whose argument types match
-- better than the built-in's polymorphic ones (a json_agg(jsonb)) runs in its place, in
-- every user's request, and sees every body and answer, passwords and sessions included.
create or replace function auth.refuse_builtin_names()
returns event_trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    made record;
    taken text;
begin
    if (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user) then
        return;
    end if;
    for made in select * from pg_catalog.pg_event_trigger_ddl_commands() loop
        taken := null;
        if made.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass then
            select p.proname into taken from pg_catalog.pg_proc p
            where p.oid = made.objid and p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
              and exists (select from pg_catalog.pg_proc b
                          where b.pronamespace = 'pg_catalog'::pg_catalog.regnamespace and b.proname = p.proname);
        elsif made.classid = 'pg_catalog.pg_type'::pg_catalog.regclass then
            -- A range type brings constructor functions named after it and its multirange.
            select p.proname into taken from pg_catalog.pg_proc p, pg_catalog.pg_type t
            where t.oid = made.objid and p.pronamespace = t.typnamespace
              and p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
              and p.prorettype in (t.oid, coalesce((select r.rngmultitypid from pg_catalog.pg_range r where r.rngtypid = t.oid), 0))
              and exists (select from pg_catalog.pg_proc b
                          where b.pronamespace = 'pg_catalog'::pg_catalog.regnamespace and b.proname = p.proname)
            limit 1;
        elsif made.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass then
            select o.oprname into taken from pg_catalog.pg_operator o
            where o.oid = made.objid and o.oprnamespace <> 'pg_catalog'::pg_catalog.regnamespace
              and exists (select from pg_catalog.pg_operator b
                          where b.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace and b.oprname = o.oprname);
        end if;
        if taken is not null then
            raise exception 'not_admin: only a superuser may make a function or operator named like a built-in one'
                using errcode = '42501',
                      -- Built-in types unqualified: majors differ in which ones they qualify.
                      detail = pg_catalog.format('%s is %s; clients that call the built-in by name (PostgREST does) could run it instead',
                                                 pg_catalog.replace(made.object_identity, 'pg_catalog.', ''), taken),
                      hint = 'Give it another name.';
        end if;
    end loop;
end
$$;
