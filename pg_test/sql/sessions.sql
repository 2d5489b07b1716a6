-- Sessions and tokens: shape, claims, refresh rotation and reuse, verification of bad
-- tokens, set_session, require_verified_session, get_user, sign_out, limits, the claims hook.
\set SHOW_CONTEXT never
-- Account changes must be the client's own statements (not inside error_of's EXECUTE):
-- psql prints their errors, and the transaction goes on past them.
\set ON_ERROR_ROLLBACK on
begin;

insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data) values
    ('00000000-0000-0000-0000-0000000000f1', 'fay@example.com', '{"provider": "email", "plan": "free"}', '{"name": "Fay"}'),
    ('00000000-0000-0000-0000-0000000000f2', 'gus@example.com', '{}', '{}');

-- A session, in the shape Supabase Auth's clients know.
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1', 'password') as s1 \gset
select (select array_agg(k order by k) from jsonb_object_keys(:'s1'::jsonb) k) as session_fields;
select :'s1'::jsonb->>'token_type' as token_type, (:'s1'::jsonb->>'expires_in')::int as expires_in,
       length(:'s1'::jsonb->>'refresh_token') as refresh_token_length,
       (:'s1'::jsonb->>'expires_at')::bigint - extract(epoch from now())::bigint between 3590 and 3610 as expires_at_ok;
select (select array_agg(k order by k) from jsonb_object_keys(:'s1'::jsonb->'user') k) as user_fields;
select :'s1'::jsonb->'user'->>'email' as email, :'s1'::jsonb->'user'->'identities'->0->>'provider' as identity,
       :'s1'::jsonb->'user'->'last_sign_in_at' is not null as last_sign_in_set;

-- The access token: header and claims.
select regress.jwt_part(:'s1'::jsonb->>'access_token', 1) - 'kid' as header,
       regress.jwt_part(:'s1'::jsonb->>'access_token', 1)->>'kid' = (select kid from auth.signing_keys where is_current) as kid_is_current;
select (select array_agg(k order by k) from jsonb_object_keys(regress.jwt_part(:'s1'::jsonb->>'access_token', 2)) k) as claim_names;
select c->>'sub' as sub, c->>'role' as role, c->>'aud' as aud, c->>'iss' as iss, c->>'aal' as aal,
       c->'amr'->0->>'method' as amr_method, c->>'email' as email, c->'is_anonymous' as is_anonymous,
       c->'app_metadata' as app_metadata, c->'user_metadata' as user_metadata,
       (c->>'exp')::bigint - (c->>'iat')::bigint as lifetime,
       c->>'session_id' = (select id::text from auth.sessions where user_id = '00000000-0000-0000-0000-0000000000f1') as session_id_ok
from (select regress.jwt_part(:'s1'::jsonb->>'access_token', 2) as c) x;

-- auth_ext.jwt_exp sets the lifetime.
set local auth_ext.jwt_exp = '15min';
select (c->>'exp')::bigint - (c->>'iat')::bigint as lifetime
from (select regress.jwt_part(auth.admin_create_session('00000000-0000-0000-0000-0000000000f2')->>'access_token', 2) as c) x;
reset auth_ext.jwt_exp;

-- The refresh token is stored only as its SHA-256.
select count(*) filter (where token_hash = sha256(convert_to(:'s1'::jsonb->>'refresh_token', 'utf8'))) as hashed,
       count(*) filter (where position(convert_to(:'s1'::jsonb->>'refresh_token', 'utf8') in token_hash) > 0) as plain
from auth.refresh_tokens;

-- Refresh rotates: a new refresh token in the same session, the old one spent.
select auth.refresh_session(:'s1'::jsonb->>'refresh_token') as s2 \gset
select :'s2'::jsonb->>'refresh_token' <> :'s1'::jsonb->>'refresh_token' as new_refresh_token,
       regress.jwt_part(:'s2'::jsonb->>'access_token', 2)->>'session_id' = regress.jwt_part(:'s1'::jsonb->>'access_token', 2)->>'session_id' as same_session;
select count(*) as tokens, count(*) filter (where spent_at is null) as live from auth.refresh_tokens
where session_id = (regress.jwt_part(:'s1'::jsonb->>'access_token', 2)->>'session_id')::uuid;

-- Presenting the spent token again (another tab, or a client that lost the answer)
-- converges: the same child comes back, with a fresh access token, and nothing is minted.
select (auth.refresh_session(:'s1'::jsonb->>'refresh_token'))->>'refresh_token' = :'s2'::jsonb->>'refresh_token' as same_child;
select (auth.refresh_session(:'s1'::jsonb->>'refresh_token'))->>'refresh_token' = :'s2'::jsonb->>'refresh_token' as same_child_again;
select count(*) as tokens, count(*) filter (where spent_at is null) as live from auth.refresh_tokens
where session_id = (regress.jwt_part(:'s1'::jsonb->>'access_token', 2)->>'session_id')::uuid;

-- With no reuse interval, a spent token that is not the live token's parent is theft.
set local auth_ext.refresh_token_reuse_interval = 0;
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2') as a0 \gset
select auth.refresh_session(:'a0'::jsonb->>'refresh_token') as a1 \gset
-- The live token's parent still converges (a client that lost the answer)...
select (auth.refresh_session(:'a0'::jsonb->>'refresh_token'))->>'refresh_token' = :'a1'::jsonb->>'refresh_token' as parent_still_accepted;
-- ...until the next refresh: then it is neither, and its replay revokes the session.
select auth.refresh_session(:'a1'::jsonb->>'refresh_token') as a2 \gset
savepoint s;
select auth.refresh_session(:'a0'::jsonb->>'refresh_token');
rollback to s;
select regress.error_of(format('select auth.refresh_session(%L)', :'a0'::jsonb->>'refresh_token'));
reset auth_ext.refresh_token_reuse_interval;
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2') as b0 \gset
-- A tab that fell behind while another refreshed twice lands on the live token, not on
-- a spent one that would later look stolen.
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2') as c0 \gset
select auth.refresh_session(:'c0'::jsonb->>'refresh_token') as c1 \gset
select auth.refresh_session(:'c1'::jsonb->>'refresh_token') as c2 \gset
select auth.refresh_session(:'c0'::jsonb->>'refresh_token')->>'refresh_token' = :'c2'::jsonb->>'refresh_token' as lands_on_live;

-- Unknown, missing and absurd refresh tokens.
savepoint s;
select auth.refresh_session('not-a-token');
rollback to s;
savepoint s;
select auth.refresh_session(null);
rollback to s;
savepoint s;
select auth.refresh_session(repeat('x', 100000));
rollback to s;

-- set_session verifies the token and makes the claim functions answer from it.
select auth.set_session(:'s2'::jsonb->>'access_token')->>'sub' as verified_sub;
select auth.uid(), auth.role(), auth.email(), auth.is_anonymous(),
       auth.session_id()::text = regress.jwt_part(:'s2'::jsonb->>'access_token', 2)->>'session_id' as session_id_ok;
-- A verified session wins over request.jwt.claims and legacy claim settings.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000f2"}', true) is not null as set,
       set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-0000000000f2', true) is not null as set_legacy;
select auth.uid() as still_verified_user;
select set_config('request.jwt.claim.sub', '', true) is not null as cleared;

-- Undone with the (sub)transaction it was set in.
savepoint v;
select auth.set_session(:'b0'::jsonb->>'access_token')->>'sub' as inner_sub;
select auth.uid() as inner_uid;
rollback to v;
select auth.uid() as outer_uid_again;

-- require_verified_session: request claims are ignored; only set_session counts, even
-- when the backend has just answered auth.uid() from those claims (its cache).
savepoint r;
select set_config('auth_ext.verified_claims', '', true) is not null as cleared_verified;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000f2", "role": "authenticated"}', true) is not null as forged;
select auth.uid() as uid_cached_before_the_setting;
set local auth_ext.require_verified_session = on;
select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-0000000000f2', true) is not null as forged_legacy;
select auth.uid() as uid_from_forged_claims, auth.role() as role, auth.jwt() as jwt;
select auth.set_session(:'s2'::jsonb->>'access_token')->>'sub' as verified_sub;
select auth.uid() as uid_from_verified_session;
rollback to r;
-- ...and an application role cannot write the verified claims itself.
savepoint r;
set local role authenticated;
select set_config('auth_ext.verified_claims', '{"sub": "00000000-0000-0000-0000-0000000000f2"}', true);
rollback to r;

-- Bad tokens are refused by set_session (and get_user).
select auth.add_signing_key('HS256', 'a-shared-secret-of-at-least-32-characters') as hs_kid \gset
select jsonb_build_object('sub', '00000000-0000-0000-0000-0000000000f1', 'role', 'authenticated', 'aud', 'authenticated', 'iss', 'auth_ext',
    'session_id', regress.jwt_part(:'s2'::jsonb->>'access_token', 2)->>'session_id',
    'iat', extract(epoch from now())::bigint, 'exp', extract(epoch from now())::bigint + 600) as good_claims \gset
-- A token made with the shared secret by another implementation verifies.
select auth.set_session(regress.hs256(jsonb_build_object('alg', 'HS256', 'typ', 'JWT', 'kid', :'hs_kid'),
    :'good_claims'::jsonb, 'a-shared-secret-of-at-least-32-characters'))->>'sub' as crafted_hs256_ok;
select case_name, regress.error_of(format('select auth.set_session(%L)', token)) as result
from (values
    ('expired', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb || jsonb_build_object('exp', extract(epoch from now())::bigint - 5), 'a-shared-secret-of-at-least-32-characters')),
    ('not yet valid', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb || jsonb_build_object('nbf', extract(epoch from now())::bigint + 300), 'a-shared-secret-of-at-least-32-characters')),
    ('wrong audience', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb || '{"aud": "someone-else"}', 'a-shared-secret-of-at-least-32-characters')),
    ('no audience', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb - 'aud', 'a-shared-secret-of-at-least-32-characters')),
    ('wrong issuer', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb || '{"iss": "someone-else"}', 'a-shared-secret-of-at-least-32-characters')),
    ('no issuer', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb - 'iss', 'a-shared-secret-of-at-least-32-characters')),
    ('wrong secret', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb, 'another-secret-of-at-least-32-characters')),
    ('unknown kid', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', 'no-such-kid'),
        :'good_claims'::jsonb, 'a-shared-secret-of-at-least-32-characters')),
    ('no kid', regress.hs256(jsonb_build_object('alg', 'HS256'),
        :'good_claims'::jsonb, 'a-shared-secret-of-at-least-32-characters')),
    ('alg none', regress.b64url(convert_to(jsonb_build_object('alg', 'none', 'kid', :'hs_kid')::text, 'utf8')) || '.'
        || regress.b64url(convert_to((:'good_claims'::jsonb)::text, 'utf8')) || '.'),
    ('HS256 header on the ES256 key', regress.hs256(
        jsonb_build_object('alg', 'HS256', 'kid', (select kid from auth.signing_keys where alg = 'ES256' and is_current)),
        :'good_claims'::jsonb, (select private_key from auth.signing_keys where alg = 'ES256' and is_current))),
    ('tampered payload', split_part(:'s2'::jsonb->>'access_token', '.', 1) || '.'
        || regress.b64url(convert_to((regress.jwt_part(:'s2'::jsonb->>'access_token', 2) || '{"role": "service_role"}')::text, 'utf8'))
        || '.' || split_part(:'s2'::jsonb->>'access_token', '.', 3)),
    ('garbage', 'not.a.jwt'),
    ('empty', ''),
    ('huge', repeat('a', 40000)),
    ('no session', regress.hs256(jsonb_build_object('alg', 'HS256', 'kid', :'hs_kid'),
        :'good_claims'::jsonb || jsonb_build_object('session_id', gen_random_uuid()), 'a-shared-secret-of-at-least-32-characters'))
) t(case_name, token);

-- Tokens our HS256 key signs verify with pgcrypto's HMAC and the shared secret.
select auth.rotate_signing_key('HS256') = :'hs_kid' as rotated_to_hs256;
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as hs \gset
select regress.jwt_part(:'hs'::jsonb->>'access_token', 1)->>'alg' as alg,
       split_part(:'hs'::jsonb->>'access_token', '.', 3) = regress.b64url(hmac(
           split_part(:'hs'::jsonb->>'access_token', '.', 1) || '.' || split_part(:'hs'::jsonb->>'access_token', '.', 2),
           'a-shared-secret-of-at-least-32-characters', 'sha256')) as verified_by_pgcrypto;

-- Key rotation signs nobody out: tokens of the old key still verify until it is removed.
select auth.set_session(:'s2'::jsonb->>'access_token')->>'sub' as old_key_token_ok;
select (auth.refresh_session(:'s2'::jsonb->>'refresh_token'))->>'token_type' as refresh_after_rotation;
select auth.remove_signing_key((select kid from auth.signing_keys where alg = 'ES256'));
select regress.error_of(format('select auth.set_session(%L)', :'s2'::jsonb->>'access_token')) as after_removal;
select auth.rotate_signing_key('ES256') is not null as rotated_to_new_es256;

-- get_user: the user behind a token, or behind the current claims.
select auth.get_user(:'hs'::jsonb->>'access_token')->>'email' as by_token;
select auth.set_session(:'hs'::jsonb->>'access_token')->>'sub' as verified;
select auth.get_user()->>'email' as current_user_email;

-- Session limits. Time-box: measured from the session's creation.
set local auth_ext.session_timebox = '1h';
update auth.sessions set created_at = now() - interval '2 hours'
where id = (regress.jwt_part(:'hs'::jsonb->>'access_token', 2)->>'session_id')::uuid;
select regress.error_of(format('select auth.refresh_session(%L)', :'hs'::jsonb->>'refresh_token')) as timeboxed_refresh;
select regress.error_of(format('select auth.set_session(%L)', :'hs'::jsonb->>'access_token')) as timeboxed_verify;
reset auth_ext.session_timebox;
-- Inactivity: measured from the last refresh.
set local auth_ext.session_inactivity_timeout = '30min';
update auth.sessions set refreshed_at = now() - interval '31 minutes'
where id = (regress.jwt_part(:'hs'::jsonb->>'access_token', 2)->>'session_id')::uuid;
select regress.error_of(format('select auth.refresh_session(%L)', :'hs'::jsonb->>'refresh_token')) as idle_refresh;
select regress.error_of(format('select auth.set_session(%L)', :'hs'::jsonb->>'access_token')) as idle_verify;
update auth.sessions set refreshed_at = now() - interval '29 minutes'
where id = (regress.jwt_part(:'hs'::jsonb->>'access_token', 2)->>'session_id')::uuid;
select (auth.refresh_session(:'hs'::jsonb->>'refresh_token'))->>'token_type' as active_refresh;
reset auth_ext.session_inactivity_timeout;

-- Banned and deleted users can neither refresh nor sign in.
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2') as g \gset
update auth.users set banned_until = now() + interval '1 day' where id = '00000000-0000-0000-0000-0000000000f2';
select regress.error_of(format('select auth.refresh_session(%L)', :'g'::jsonb->>'refresh_token')) as banned_refresh;
select regress.error_of($$select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2')$$) as banned_sign_in;
select regress.error_of(format('select auth.set_session(%L)', :'g'::jsonb->>'access_token')) as banned_verify;
update auth.users set banned_until = null, deleted_at = now() where id = '00000000-0000-0000-0000-0000000000f2';
select regress.error_of(format('select auth.refresh_session(%L)', :'g'::jsonb->>'refresh_token')) as deleted_refresh;
select regress.error_of($$select auth.admin_create_session('00000000-0000-0000-0000-0000000000f2')$$) as deleted_sign_in;
select regress.error_of($$select auth.admin_create_session('00000000-0000-0000-0000-00000000dead')$$) as unknown_user;

-- sign_out scopes. Three sessions of Fay; the current one is x.
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as x \gset
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as y \gset
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as z \gset
select auth.set_session(:'x'::jsonb->>'access_token') is not null as verified;
select count(*) as fay_sessions from auth.sessions where user_id = '00000000-0000-0000-0000-0000000000f1';
select auth.sign_out('others');
select count(*) as after_others from auth.sessions where user_id = '00000000-0000-0000-0000-0000000000f1';
select regress.error_of(format('select auth.refresh_session(%L)', :'y'::jsonb->>'refresh_token')) as others_refresh;
select regress.error_of(format('select auth.get_user(%L)', :'z'::jsonb->>'access_token')) as others_get_user;
select auth.get_user(:'x'::jsonb->>'access_token')->>'email' as current_kept;
select auth.sign_out();
select regress.error_of(format('select auth.set_session(%L)', :'x'::jsonb->>'access_token')) as local_verify;
select regress.error_of(format('select auth.refresh_session(%L)', :'x'::jsonb->>'refresh_token')) as local_refresh;
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as p \gset
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as q \gset
select auth.set_session(:'p'::jsonb->>'access_token') is not null as verified;
select auth.sign_out('global');
select count(*) as after_global from auth.sessions where user_id = '00000000-0000-0000-0000-0000000000f1';
-- bad_scope:
select auth.sign_out('everywhere');
select action, payload->>'scope' as scope, jsonb_array_length(payload->'sessions') as sessions
from auth.audit_log_entries where action = 'logout' order by id;
select set_config('auth_ext.verified_claims', '', true) is not null as cleared,
       set_config('request.jwt.claims', '', true) is not null as cleared_request;
-- signed_out_without_session:
select auth.sign_out();
select regress.error_of($$select auth.get_user()$$) as get_user_without_session;

-- The custom access token hook adds claims, may not remove required ones or change whose token it is.
create function public.add_plan_claim(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || jsonb_build_object('plan', 'pro', 'method', event->>'authentication_method')) $$;
create function public.drop_email_claim(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', (event->'claims') - 'email') $$;
create function public.steal_sub(event jsonb) returns jsonb language sql as
  $$ select jsonb_build_object('claims', event->'claims' || '{"sub": "00000000-0000-0000-0000-0000000000f2"}') $$;
create function public.refuse(event jsonb) returns jsonb language plpgsql as
  $$ begin raise exception 'no tokens on Sundays'; end $$;
set local auth_ext.custom_access_token_hook = 'public.add_plan_claim';
select c->>'plan' as plan, c->>'method' as method
from (select regress.jwt_part(auth.admin_create_session('00000000-0000-0000-0000-0000000000f1', 'oauth')->>'access_token', 2) as c) x;
select hook, regress.error_of(format('set local auth_ext.custom_access_token_hook = %L; select auth.admin_create_session(%L)',
    hook, '00000000-0000-0000-0000-0000000000f1')) as result,
    regress.detail_of(format('set local auth_ext.custom_access_token_hook = %L; select auth.admin_create_session(%L)',
    hook, '00000000-0000-0000-0000-0000000000f1')) as detail
from (values ('public.drop_email_claim'), ('public.steal_sub'), ('public.refuse'), ('public.no_such_hook'),
             ('public.add_plan_claim(jsonb)'), ('pg_catalog.lower(text)')) h(hook);
reset auth_ext.custom_access_token_hook;

-- What each role may call. Sessions, refresh tokens and the audit log are nobody's to read.
select r.rolname, p.proname
from pg_proc p cross join (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
where p.pronamespace = 'auth'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute')
  and p.proname in ('admin_create_session', 'refresh_session', 'set_session', 'get_user', 'sign_out', 'jwks',
                    'user_json', 'current_signing_key', 'revoke_session', 'call_hook', 'session_state', 'sign_in_state')
order by 1, 2;
select r.rolname, t.tbl, has_table_privilege(r.rolname, t.tbl, 'select') as sel
from (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
cross join (values ('auth.sessions'), ('auth.refresh_tokens'), ('auth.signing_keys'), ('auth.audit_log_entries')) t(tbl)
where has_table_privilege(r.rolname, t.tbl, 'select');
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1') as t \gset
set local role anon;
select regress.error_of($$select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1')$$) as anon_admin;
select (auth.refresh_session(:'t'::jsonb->>'refresh_token'))->>'token_type' as anon_refreshes;
select auth.set_session(:'t'::jsonb->>'access_token')->>'sub' as anon_verifies;
reset role;
set local role service_role;
select auth.admin_create_session('00000000-0000-0000-0000-0000000000f1')->>'token_type' as service_role_admin;
reset role;

rollback;
