-- Third-party sign-in providers live in the database: the application's server
-- (service_role) manages them; their client secrets are sealed under
-- auth_ext.provider_secret_key (postgresql.conf: scripts/regress.sh sets one), and no
-- application role reads even the sealed bytes.
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
set role service_role;
select auth.admin_create_oauth_provider('{"provider": "custom:acme", "kind": "oidc", "issuer": "https://id.acme.test",
    "client_id": "acme-web", "client_ids": ["acme-ios"], "client_secret": "s3cret-acme", "scopes": "email profile"}')
    - 'created_at' - 'updated_at' as created;
-- A known kind gets its provider's published endpoints.
select p->>'authorization_url' as authorize, p->>'token_url' as token, p->>'userinfo_url' as userinfo
from auth.admin_create_oauth_provider('{"provider": "github", "kind": "github", "client_id": "gh-id", "client_secret": "gh-secret"}') p;
select p->>'token_url' as feishu_token, p->>'email_optional' as email_optional, p->>'id_claim' as id_claim
from auth.admin_create_oauth_provider('{"provider": "feishu", "kind": "feishu", "client_id": "cli_a1", "client_secret": "f",
    "email_optional": true, "id_claim": "union_id"}') p;
select case_name, regress.error_of(statement) as refused from (values
    ('taken name', $$select auth.admin_create_oauth_provider('{"provider": "github", "kind": "github", "client_id": "x"}')$$),
    ('unknown kind', $$select auth.admin_create_oauth_provider('{"provider": "x", "kind": "saml", "client_id": "x"}')$$),
    ('no kind', $$select auth.admin_create_oauth_provider('{"provider": "x", "client_id": "x"}')$$),
    ('bad name', $$select auth.admin_create_oauth_provider('{"provider": "Bad Name", "kind": "github", "client_id": "x"}')$$),
    ('custom: alone', $$select auth.admin_create_oauth_provider('{"provider": "custom:", "kind": "github", "client_id": "x"}')$$),
    ('no name', $$select auth.admin_create_oauth_provider('{"kind": "github", "client_id": "x"}')$$),
    ('oidc without issuer', $$select auth.admin_create_oauth_provider('{"provider": "y", "kind": "oidc", "client_id": "x"}')$$),
    ('oauth2 without endpoints', $$select auth.admin_create_oauth_provider('{"provider": "y", "kind": "oauth2", "client_id": "x", "token_url": "https://t.test"}')$$),
    ('plain http', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "oidc", "issuer": "http://id.test", "client_id": "x"}')$$),
    ('javascript url', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "oauth2", "client_id": "x", "authorization_url": "javascript:alert(1)", "token_url": "https://t.test", "userinfo_url": "https://u.test"}')$$),
    ('space in url', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "oidc", "issuer": "https://id.test/ x", "client_id": "x"}')$$),
    ('unknown field', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "github", "client_id": "x", "secret": "s"}')$$),
    ('no client id', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "github"}')$$),
    ('empty secret', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "github", "client_id": "x", "client_secret": ""}')$$),
    ('feishu id from oidc', $$select auth.admin_create_oauth_provider('{"provider": "z", "kind": "feishu", "client_id": "x", "id_claim": "sub"}')$$),
    ('not an object', $$select auth.admin_create_oauth_provider('"github"')$$),
    ('null config', $$select auth.admin_create_oauth_provider(null)$$)
) t(case_name, statement);
-- An update keeps what it leaves out; a secret changes only when given (null removes it).
select p->>'scopes' as scopes, p->>'client_id' as client_id, p->>'has_client_secret' as has_secret
from auth.admin_update_oauth_provider('github', '{"scopes": "read:user user:email"}') p;
select auth.admin_update_oauth_provider('github', '{"client_secret": null}')->>'has_client_secret' as secret_removed;
-- The attacker's side: a secret goes only where it was given for. Endpoints changed
-- without it drop it (service_role could otherwise point token_url at itself and read
-- the secret from the gateway's next exchange).
select auth.admin_update_oauth_provider('github', '{"client_secret": "gh-secret-2"}')->>'has_client_secret' as secret_again,
       auth.admin_update_oauth_provider('github', '{"token_url": "https://evil.test/steal"}')->>'has_client_secret' as kept_after_moving;
select regress.error_of($$select auth.admin_update_oauth_provider('github', '{"provider": "gitlab"}')$$) as rename,
       regress.error_of($$select auth.admin_update_oauth_provider('nobody', '{"scopes": "x"}')$$) as unknown;
-- Plain http only where the operator allows it (local test providers).
reset role;
set auth_ext.provider_allow_http = on;
set role service_role;
select auth.admin_create_oauth_provider('{"provider": "custom:local", "kind": "oidc", "issuer": "http://127.0.0.1:4011",
    "client_id": "local"}')->>'issuer' as local_issuer;
reset role;
reset auth_ext.provider_allow_http;
set role service_role;
select jsonb_agg(p->>'provider' order by p->>'provider') as listed, bool_and(not p ? 'client_secret') as no_secrets_listed
from jsonb_array_elements(auth.admin_list_oauth_providers()) p;
reset role;

-- The attacker's side: the secret is stored sealed (a nonce, the ciphertext, its tag;
-- src/providers/sealed.rs's tests open it only with its key, for its provider), never as
-- given; service_role, authenticated and anon read nothing of it, and only service_role
-- manages providers.
select position('s3cret-acme' in encode(client_secret, 'escape')) = 0 as no_plaintext,
       octet_length(client_secret) = 12 + length('s3cret-acme') + 16 as nonce_ciphertext_tag
from auth.oauth_providers where provider = 'custom:acme';
set role service_role;
select regress.error_of($$select client_secret from auth.oauth_providers$$) as service_role_reads;
reset role;
set role authenticated;
select regress.error_of($$select client_secret from auth.oauth_providers$$) as user_reads,
       regress.error_of($$select auth.admin_list_oauth_providers()$$) as user_lists,
       regress.error_of($$select auth.admin_update_oauth_provider('github', '{"client_id": "mine"}')$$) as user_changes;
reset role;
set role anon;
select regress.error_of($$select auth.admin_create_oauth_provider('{"provider": "evil", "kind": "github", "client_id": "x"}')$$) as anon_adds;
reset role;

-- Signing in through a provider: auth.oauth_authorize remembers the flow (its id is the
-- state) and answers the provider's page, with a nonce and PKCE towards the provider.
-- Every step is the HTTP front's alone (it checks redirect_to against its allow list
-- first): here a superuser stands in for the front, as auth.gateway_begin would.
-- The attacker's side first: started over SQL (or PostgREST's auth_api), a flow would
-- send the victim's session to any redirect_to the attacker named.
set role anon;
select regress.error_of($$select auth.oauth_authorize('custom:acme', 'https://evil.example/')$$) as authorize_as_anon;
reset role;
begin;
select set_config('auth_ext.gateway_client', '{"ip": "127.0.0.1"}', true) is not null as as_the_front;
set local auth_ext.api_external_url = 'https://auth.example.test/auth/v1';
set local role anon;
-- A provider known by its issuer alone first has its endpoints discovered: the answer
-- asks the HTTP front to fetch the discovery document.
select auth.oauth_authorize('custom:acme', 'https://app.test/welcome') as discover_first;
reset role;
set local role service_role;
select auth.admin_update_oauth_provider('custom:acme', '{"authorization_url": "https://id.acme.test/authorize",
    "token_url": "https://id.acme.test/token", "jwks_url": "https://id.acme.test/jwks"}')->>'authorization_url' as endpoints_set;
reset role;
set local role anon;
select url like 'https://id.acme.test/authorize?client_id=acme-web&redirect_uri=https%3A%2F%2Fauth.example.test%2Fauth%2Fv1%2Fcallback&response_type=code&scope=openid%20email%20profile&state=%&nonce=%&code_challenge=%&code_challenge_method=S256' as to_the_provider
from (select auth.oauth_authorize('custom:acme', 'https://app.test/welcome')->>'url' as url) a;
reset role;
select count(*) as flows, bool_and(redirect_to = 'https://app.test/welcome') as redirect_kept,
       bool_and(code_challenge is null) as no_client_pkce from auth.oauth_flows;
set local role anon;
-- a_known_name_not_configured:
select auth.oauth_authorize('gitlab', 'https://app.test');
-- a_name_nobody_knows:
select auth.oauth_authorize('nonesuch', 'https://app.test');
-- half_a_challenge:
select auth.oauth_authorize('custom:acme', 'https://app.test', null, 'x', null);
-- Linking is for a signed-in user's own request.
-- linking_without_a_session:
select auth.oauth_authorize('custom:acme', 'https://app.test', link => true);
reset role;
commit;
-- The callback's steps hand out the client secret and decide who signs in from what the
-- provider said: anon (over SQL, or through PostgREST's auth_api) gets nothing, even with
-- a real state.
select id as acme_state from auth.oauth_flows limit 1 \gset
set role anon;
select regress.error_of(format('select auth.oauth_callback_begin(%L)', :'acme_state')) as begin_as_anon,
       regress.error_of(format('select auth.oauth_callback_finish(%L, %L)', :'acme_state',
           '{"claims": {"iss": "https://id.acme.test", "aud": "acme-web", "sub": "victim", "exp": 9999999999}}')) as finish_as_anon,
       regress.error_of($$select auth.oauth_store_discovery('custom:acme', '{"issuer": "https://id.acme.test", "authorization_endpoint": "https://evil.test/a"}')$$) as discovery_as_anon;
reset role;
select used_at is null as state_still_unused from auth.oauth_flows where id = :'acme_state';
set role service_role;
select auth.admin_update_oauth_provider('custom:acme', '{"enabled": false}')->>'enabled' as switched_off;
reset role;
begin;
select set_config('auth_ext.gateway_client', '{"ip": "127.0.0.1"}', true) is not null as as_the_front;
set local role anon;
-- switched_off_provider:
select auth.oauth_authorize('custom:acme', 'https://app.test');
rollback;
delete from auth.oauth_flows;

-- ID tokens (signInWithIdToken): anyone may present one; only what the provider's keys
-- signed passes. Without keys the caller is told to fetch them; anon cannot store keys
-- of its own making (only the HTTP front or service_role), and stored keys keep only
-- public signature members: no shared-secret (oct) key, no private part.
set role service_role;
select auth.admin_create_oauth_provider('{"provider": "custom:idp", "kind": "oidc", "issuer": "https://id.idp.test", "client_id": "idp-web"}') is not null as oidc_made;
select auth.admin_create_oauth_provider('{"provider": "custom:gh", "kind": "github", "client_id": "gh-web"}') is not null as github_made;
reset role;
create function regress.jws(header jsonb, claims jsonb, signature text) returns text language sql as $$
    select regress.b64url(convert_to(header::text, 'utf8')) || '.' || regress.b64url(convert_to(claims::text, 'utf8')) || '.' || signature $$;
set role anon;
select regress.error_of($$select auth.sign_in_with_id_token('custom:idp', null)$$) as no_token,
       regress.error_of($$select auth.sign_in_with_id_token('google', 'x.y.z')$$) as google_not_set_up,
       regress.error_of($$select auth.sign_in_with_id_token('custom:nobody', 'x.y.z')$$) as unknown_custom,
       regress.error_of($$select auth.sign_in_with_id_token('custom:gh', 'x.y.z')$$) as not_openid,
       regress.error_of($$select auth.sign_in_with_id_token('custom:idp', 'not a token')$$) as malformed,
       regress.detail_of(format('select auth.sign_in_with_id_token(%L, %L)', 'custom:idp',
           regress.jws('{"alg": "none"}', '{"iss": "https://id.idp.test", "sub": "victim", "aud": "idp-web", "exp": 9999999999}', ''))) as alg_none,
       regress.detail_of(format('select auth.sign_in_with_id_token(%L, %L)', 'custom:idp',
           regress.hs256('{"alg": "HS256", "kid": "k1"}', '{"iss": "https://id.idp.test", "sub": "victim", "aud": "idp-web", "exp": 9999999999}', 'public key'))) as hs256,
       regress.error_of(format('select auth.sign_in_with_id_token(%L, %L)', 'custom:idp',
           regress.jws('{"alg": "RS256", "kid": "k1"}', '{"iss": "https://id.idp.test", "sub": "victim", "aud": "idp-web", "exp": 9999999999}', 'c2ln'))) as no_keys_yet,
       regress.error_of($$select auth.oauth_store_keys('custom:idp', '{"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]}')$$) as anon_stores_keys,
       regress.error_of($$select auth.oauth_keys_source('custom:idp')$$) as anon_asks_where;
reset role;
set role service_role;
select auth.oauth_keys_source('custom:idp') as where_keys_come_from;
select auth.oauth_store_keys('custom:idp', '{"keys": [
    {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"},
    {"kty": "RSA", "kid": "k2", "use": "sig", "n": "sXch", "e": "AQAB", "d": "cHJpdmF0ZQ", "p": "cA", "q": "cQ"},
    {"kty": "RSA", "kid": "k3", "use": "enc", "n": "sXch", "e": "AQAB"}]}');
reset role;
select jsonb_pretty(jwks) as kept_keys, jwks_expires_at > now() + interval '59 minutes' as kept_an_hour
from auth.oauth_providers where provider = 'custom:idp';
set role anon;
-- The shared-secret key was not kept, so a token naming it asks for nothing and passes nothing.
select regress.detail_of(format('select auth.sign_in_with_id_token(%L, %L)', 'custom:idp',
           regress.jws('{"alg": "RS256", "kid": "k1"}', '{"iss": "https://id.idp.test", "sub": "victim", "aud": "idp-web", "exp": 9999999999}', 'c2ln'))) as unknown_kid_soon_after_a_fetch,
       regress.detail_of(format('select auth.sign_in_with_id_token(%L, %L)', 'custom:idp',
           regress.jws('{"alg": "RS256", "kid": "k2"}', '{"iss": "https://id.idp.test", "sub": "victim", "aud": "idp-web", "exp": 9999999999}', 'c2ln'))) as bad_signature;
reset role;
-- Changing the issuer drops the keys of the old one.
set role service_role;
select auth.admin_update_oauth_provider('custom:idp', '{"issuer": "https://id2.idp.test"}') is not null as issuer_changed;
reset role;
select jwks is null as keys_dropped from auth.oauth_providers where provider = 'custom:idp';
drop function regress.jws(jsonb, jsonb, text);

-- Deleting a provider; deleting it again finds none.
set role service_role;
select auth.admin_delete_oauth_provider('github') as deleted;
select regress.error_of($$select auth.admin_delete_oauth_provider('github')$$) as again;
reset role;
delete from auth.oauth_providers;
