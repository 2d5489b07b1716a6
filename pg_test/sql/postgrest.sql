-- What PostgREST needs from us: the keys it verifies with (its db-pre-config), a
-- notification when they change, long-lived API keys, and their revocation (its
-- db-pre-request). Driven over HTTP by the PostgREST tier (pg_test/postgrest/).
\set SHOW_CONTEXT never
begin;
-- API keys: anon or service_role, signed by the current key or the kid given.
select auth.create_api_key('anon') as anon_key \gset
select regress.jwt_part(:'anon_key', 1)->>'kid' = (select kid from auth.signing_keys where is_current) as current_key,
       regress.jwt_part(:'anon_key', 2)->>'role' as role,
       (regress.jwt_part(:'anon_key', 2)->>'exp')::int8 - (regress.jwt_part(:'anon_key', 2)->>'iat')::int8 > 9 * 365 * 86400 as ten_years,
       regress.jwt_part(:'anon_key', 2) ? 'session_id' as has_session,
       (select role from auth.api_keys where id::text = regress.jwt_part(:'anon_key', 2)->>'jti') as recorded;
select auth.add_signing_key('HS256', repeat('s3cret-', 6)) as hs_kid \gset
select regress.jwt_part(auth.create_api_key('service_role', :'hs_kid', '1 day', 'ci'), 1)->>'alg' as alg;
select regress.error_of(format('select auth.create_api_key(%L)', r)) as refused from unnest(array['authenticated', 'postgres', null]) r;
select regress.error_of($$select auth.create_api_key('anon', 'no-such-kid')$$) as unknown_kid;
select regress.error_of($$select auth.create_api_key('anon', null, '-1 day')$$) as negative;
-- Only administrators make or revoke keys, or read what PostgREST is configured with.
set local role service_role;
select regress.error_of($$select auth.create_api_key('service_role')$$) as service_role_mints;
select regress.error_of($$select auth.postgrest_config()$$) as service_role_reads_secrets;
reset role;
set local role anon;
select regress.error_of($$select auth.revoke_api_key(gen_random_uuid())$$) as anon_revokes;
reset role;

-- The pre-config: every verifying key, the HS256 secret as an oct key; auth.jwks()
-- (public) never carries the secret.
select auth.postgrest_config();
select jsonb_array_length(current_setting('pgrst.jwt_secret')::jsonb->'keys') = (select count(*) from auth.signing_keys) as all_keys,
       (select k->>'kty' from jsonb_array_elements(current_setting('pgrst.jwt_secret')::jsonb->'keys') k where k->>'kid' = :'hs_kid') as hs_kty,
       (select convert_from(decode(rpad(translate(k->>'k', '-_', '+/'), (length(k->>'k') + 3) / 4 * 4, '='), 'base64'), 'UTF8')
        from jsonb_array_elements(current_setting('pgrst.jwt_secret')::jsonb->'keys') k where k->>'kid' = :'hs_kid') = repeat('s3cret-', 6) as secret_round_trips,
       current_setting('pgrst.jwt_aud') as aud,
       auth.jwks()::text like '%' || :'hs_kid' || '%' as jwks_has_hs256;

-- The pre-request: a session's token and a current key pass; a revoked key does not.
select set_config('request.jwt.claims', regress.jwt_part(:'anon_key', 2)::text, true) is not null as as_anon_key;
select auth.postgrest_pre_request();
select auth.revoke_api_key((regress.jwt_part(:'anon_key', 2)->>'jti')::uuid);
select regress.error_of('select auth.postgrest_pre_request()') as revoked;
select regress.error_of(format('select auth.revoke_api_key(%L)', gen_random_uuid())) as unknown_key;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "x", "session_id": "y", "jti": "z"}', true) is not null as as_session;
-- It also takes the request's credentials out of what code in the request can read.
select set_config('request.headers', '{"authorization": "Bearer t", "apikey": "k", "cookie": "c=1", "x-real-ip": "203.0.113.9"}', true) is not null as headers;
select set_config('request.cookies', '{"c": "1"}', true) is not null as cookies;
select auth.postgrest_pre_request();
select current_setting('request.headers') as headers_left, current_setting('request.cookies') as cookies_left;
commit;

-- PostgREST is told to reload its configuration when the keys change, once the change
-- commits (the PostgREST tier shows it taking effect with PostgREST running).
select tgname, tgtype from pg_trigger where tgrelid = 'auth.signing_keys'::regclass and not tgisinternal order by 1;
delete from auth.api_keys;
delete from auth.audit_log_entries;
delete from auth.signing_keys where alg = 'HS256';

-- auth_api, the schema PostgREST exposes: a wrapper for each function of auth granted
-- to anon, authenticated or service_role by name, with the same callers. No wrapper is
-- PUBLIC or SECURITY DEFINER, and none of auth's PUBLIC helpers is there.
select count(*) > 20 as wrappers,
       count(*) filter (where p.prosecdef) as security_definer,
       count(*) filter (where exists (select from aclexplode(p.proacl) a where a.grantee = 0)) as public,
       count(*) filter (where array(select a.grantee from aclexplode(p.proacl) a where a.grantee <> p.proowner order by 1)
                        is distinct from array(select a.grantee from pg_proc o, aclexplode(o.proacl) a
                                               where o.pronamespace = 'auth'::regnamespace and o.proname = p.proname
                                                 and pg_get_function_identity_arguments(o.oid) = pg_get_function_identity_arguments(p.oid)
                                                 and a.grantee not in (o.proowner, 0) order by 1)) as other_callers,
       count(*) filter (where p.proname in ('merge_column', 'call_hook', 'hook_function', 'raise_error', 'uid', 'jwt')) as helpers
from pg_proc p where p.pronamespace = 'auth_api'::regnamespace;
-- A wrapper is its namesake: the same answer, the same error and SQLSTATE.
begin;
set local role anon;
select regress.error_of($$select auth_api.verify_otp(token_hash => 'nope', type => 'magiclink')$$) as through_api;
select regress.error_of($$select auth_api.merge_column('auth.users', 'id', 'uuid', null, null, 'merge', null)$$) as helper;
rollback;
