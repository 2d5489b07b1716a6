-- The HTTP front's way in (src/gateway.rs, auth.gateway_begin): who a request is, which
-- role it acts as, and the client the front reports; and PKCE (src/pkce.rs), whose
-- links end in an auth code that only the flow's verifier turns into a session.
\set SHOW_CONTEXT never
begin;
set local auth_ext.anonymous_sign_ins = on;
-- The front's login role, as examples/gateway/setup.sql makes it, and an impostor that
-- was granted the functions but is no member of auth_ext_gateway.
create role regress_gateway login noinherit;
grant anon, authenticated, service_role, auth_ext_gateway to regress_gateway;
create role regress_impostor login noinherit;
grant anon to regress_impostor;
grant usage on schema auth to regress_gateway, regress_impostor;
grant execute on function auth.gateway_begin(text, text, inet, text), auth.gateway_request(text, text, inet, text)
    to regress_gateway, regress_impostor;
select auth.create_api_key('anon') as anon_key \gset
select auth.create_api_key('service_role') as service_key \gset
select auth.sign_in_anonymously() as visitor \gset
select :'visitor'::jsonb->>'access_token' as user_token, :'visitor'::jsonb->'user'->>'id' as visitor_id \gset

-- Nobody else begins a request or reports a client: not anon, not service_role, not a
-- role granted the functions without membership, and the setting is superuser-only.
set local role anon;
select regress.error_of(format('select auth.gateway_begin(%L)', :'anon_key')) as anon_begins;
select regress.error_of($$set auth_ext.gateway_client = '{"ip": "10.9.9.9"}'$$) as anon_sets_client;
select regress.error_of($$select set_config('auth_ext.gateway_client', '{"ip": "10.9.9.9"}', true)$$) as anon_set_config;
reset role;
set local role service_role;
select regress.error_of(format('select auth.gateway_request(%L, null, null, null)', :'anon_key')) as service_role_begins;
reset role;
set local role regress_impostor;
select regress.error_of(format('select auth.gateway_begin(%L)', :'anon_key')) as impostor;
reset role;

-- The front: the API key's role; a session's access token: its role, and its claims
-- verified for the transaction; another API key as bearer: that key's role.
set local role regress_gateway;
select auth.gateway_begin(:'anon_key') as acting, current_user as now, auth.uid() is null as nobody;
reset role;
set local role regress_gateway;
select auth.gateway_begin(:'anon_key', :'anon_key') as bearer_is_the_key, current_user as now;
reset role;
set local role regress_gateway;
select auth.gateway_begin(:'anon_key', :'user_token') as acting, current_user as now,
       auth.uid()::text = :'visitor_id' as claims_verified;
reset role;
set local role regress_gateway;
select auth.gateway_begin(:'anon_key', :'service_key') as acting, current_user as now;
reset role;
-- A followed link carries no key: a visitor.
set local role regress_gateway;
select auth.gateway_begin(null) as no_key, current_user as now;
reset role;

-- What is refused, as the front would answer it.
set local role regress_gateway;
select regress.error_of($$select auth.gateway_begin('not-a-jwt')$$) as garbage_key;
select regress.error_of(format('select auth.gateway_begin(%L)', :'user_token')) as access_token_as_key;
select regress.error_of(format('select auth.gateway_begin(null, %L)', :'user_token')) as token_without_key;
select regress.error_of(format('select auth.gateway_begin(%L, %L)', :'anon_key', :'user_token' || 'x')) as tampered_token;
reset role;
select auth.revoke_api_key((regress.jwt_part(:'service_key', 2)->>'jti')::uuid);
set local role regress_gateway;
select regress.error_of(format('select auth.gateway_begin(%L)', :'service_key')) as revoked_key;
select regress.error_of(format('select auth.gateway_begin(%L, %L)', :'anon_key', :'service_key')) as revoked_bearer;
reset role;
delete from auth.sessions where user_id = :'visitor_id';
set local role regress_gateway;
select regress.error_of(format('select auth.gateway_begin(%L, %L)', :'anon_key', :'user_token')) as signed_out;
reset role;

-- A key verified once is remembered by the backend, but whether it stands is read each
-- time: removing the signing key that signed it ends it at once.
select auth.add_signing_key('ES256') as standby_kid \gset
select auth.create_api_key('anon', :'standby_kid') as standby_key \gset
set local role regress_gateway;
select auth.gateway_begin(:'standby_key') as before_removal;
reset role;
select auth.remove_signing_key(:'standby_kid');
set local role regress_gateway;
select regress.error_of(format('select auth.gateway_begin(%L)', :'standby_key')) as after_removal;
reset role;

-- The client the front reports is the one limits and sessions see.
set local role regress_gateway;
select auth.gateway_begin(:'anon_key', null, '203.0.113.7', 'regress-agent') as acting;
select (auth.sign_in_anonymously())->'user'->>'id' as fronted \gset
reset role;
select host(ip) as ip, user_agent from auth.sessions where user_id = :'fronted';
select key from auth.rate_limits where bucket = 'anonymous' and key = '203.0.113.7';
commit;
delete from auth.rate_limits;
delete from auth.api_keys;
delete from auth.audit_log_entries;
delete from auth.users;
drop owned by regress_gateway, regress_impostor;
drop role regress_gateway, regress_impostor;

-- PKCE. The flow begins with a challenge (S256 of a verifier, as supabase-js sends it).
begin;
select repeat('verifier-', 6) as verifier \gset
select translate(rtrim(encode(sha256(convert_to(:'verifier', 'UTF8')), 'base64'), '='), '+/', '-_') as challenge \gset
select auth.sign_in_with_otp('pkce@example.com', code_challenge => :'challenge', code_challenge_method => 's256');
select payload->>'token_hash' as link from auth.outbox where recipient = 'pkce@example.com' order by id desc limit 1 \gset
-- The followed link gives an auth code, not a session; only its hash is kept.
select auth.verify_link(:'link', 'magiclink') as answer \gset
select jsonb_object_keys(:'answer'::jsonb) as keys, length(:'answer'::jsonb->>'code') as code_length;
select :'answer'::jsonb->>'code' as code \gset
select count(*) as rows, count(*) filter (where auth_code_hash = sha256(convert_to(:'code', 'UTF8'))) as hashed,
       min(authentication_method) as method
from auth.flow_state;
-- Only the verifier opens it; a wrong one does not use it up; it works once.
set local role anon;
select regress.error_of(format('select auth.exchange_code_for_session(%L, %L)', :'code', repeat('x', 43))) as wrong_verifier;
select (auth.exchange_code_for_session(:'code', :'verifier'))->'user'->>'email' as exchanged;
select regress.error_of(format('select auth.exchange_code_for_session(%L, %L)', :'code', :'verifier')) as again;
select regress.error_of('select * from auth.flow_state') as anon_reads_flows;
reset role;
-- An old code has expired.
select auth.sign_in_with_otp('pkce@example.com', code_challenge => :'verifier', code_challenge_method => 'plain');
select payload->>'token_hash' as link from auth.outbox where recipient = 'pkce@example.com' order by id desc limit 1 \gset
select auth.verify_link(:'link', 'magiclink')->>'code' as code \gset
update auth.flow_state set created_at = now() - interval '1 hour';
select regress.error_of(format('select auth.exchange_code_for_session(%L, %L)', :'code', :'verifier')) as expired;
-- A code typed in (verify_otp) and a link of a flow without a challenge give a session.
select auth.sign_in_with_otp('pkce@example.com');
select payload->>'token_hash' as link from auth.outbox where recipient = 'pkce@example.com' order by id desc limit 1 \gset
select auth.verify_link(:'link', 'magiclink') ? 'access_token' as implicit_session;
-- Challenges are checked before anything is sent.
select regress.error_of(format('select auth.sign_in_with_otp(%L, code_challenge => %L)', 'pkce@example.com', :'challenge')) as without_method;
select regress.error_of(format('select auth.sign_in_with_otp(%L, code_challenge => %L, code_challenge_method => %L)',
                               'pkce@example.com', :'challenge', 'md5')) as unknown_method;
select regress.error_of($$select auth.reset_password_for_email('pkce@example.com', 'short', 's256')$$) as short_challenge;
select regress.error_of($$select auth.exchange_code_for_session('x', 'short')$$) as short_verifier;
rollback;

-- Phone sign-up: a code by text message confirms the number and proves the password.
begin;
select auth.sign_up(null, 'a long phone passphrase', phone => '+1 415 555 0100')->>'phone' as signed_up;
select payload->>'otp' as otp from auth.outbox where kind = 'sms' order by id desc limit 1 \gset
commit;
select (auth.verify_otp(phone => '+14155550100', token => :'otp', type => 'sms'))->'user'->>'phone_confirmed_at' is not null as confirmed;
select (auth.sign_in_with_phone_password('+14155550100', 'a long phone passphrase'))->'user'->>'phone' as signs_in;
delete from auth.users;
delete from auth.outbox;
delete from auth.rate_limits;
delete from auth.audit_log_entries;

-- A phone's sign-up code and sign-in codes are one kind of message: signing the number
-- up again while its owner waits for a sign-in code must not make the owner's next code
-- prove the newcomer's password (review: phone takeover).
begin;
select auth.sign_up(null, 'newcomer passphrase 1', phone => '+1 415 555 0101') is not null as newcomer_signs_up;
select auth.sign_in_with_otp(phone => '+1 415 555 0101');
select auth.sign_up(null, 'newcomer passphrase 1', phone => '+1 415 555 0101') is not null as again;
select payload->>'otp' as otp from auth.outbox where kind = 'sms' order by id desc limit 1 \gset
commit;
select (auth.verify_otp(phone => '+14155550101', token => :'otp', type => 'sms'))->'user'->>'phone' as owner_signs_in;
select regress.error_of($$select auth.sign_in_with_phone_password('+14155550101', 'newcomer passphrase 1')$$) as newcomer_password;
-- mailer_autoconfirm confirms emails only; phones need auth_ext.sms_autoconfirm.
begin;
set local auth_ext.mailer_autoconfirm = on;
select auth.sign_up(null, 'a long phone passphrase', phone => '+1 415 555 0102') ? 'access_token' as phone_session,
       auth.settings()->'phone_autoconfirm' as phone_autoconfirm;
set local auth_ext.sms_autoconfirm = on;
select auth.sign_up(null, 'a long phone passphrase', phone => '+1 415 555 0103') ? 'access_token' as phone_session,
       auth.settings()->'phone_autoconfirm' as phone_autoconfirm;
rollback;
delete from auth.users;
delete from auth.outbox;
delete from auth.rate_limits;
delete from auth.audit_log_entries;

-- The settings GoTrue's GET /settings reports, and one user for the admin API.
select auth.settings()->'external'->'email' as email, auth.settings()->'external'->'anonymous_users' as anonymous_users,
       auth.settings()->'saml_enabled' as saml;
select regress.error_of(format('select auth.admin_get_user_by_id(%L)', gen_random_uuid())) as unknown_user;
set role anon;
select regress.error_of(format('select auth.admin_get_user_by_id(%L)', gen_random_uuid())) as anon_reads_users;
select regress.error_of($$select auth.invite_user_by_email('x@example.com')$$) as anon_invites;
reset role;
select auth.invite_user_by_email('invited@example.com', '{"team": "blue"}')->'user_metadata' as invited;
select kind, recipient from auth.outbox where recipient = 'invited@example.com';
select auth.admin_get_user_by_id(id)->>'email' as found from auth.users where email = 'invited@example.com';
delete from auth.users;
delete from auth.outbox;
delete from auth.rate_limits;
delete from auth.audit_log_entries;

-- With auth_ext.captcha_required, the flows Supabase Auth guards with a CAPTCHA are the
-- HTTP front's (which checks tokens) or the application's server's: PostgREST's auth_api
-- (anon over SQL) is no way around it.
begin;
set local auth_ext.captcha_required = on;
set local role anon;
select regress.error_of($$select auth.reset_password_for_email('someone@example.com')$$) as anon_recover,
       regress.error_of($$select auth.sign_up('someone@example.com', 'a long enough passphrase')$$) as anon_sign_up,
       regress.error_of($$select auth_api.sign_in_with_password('someone@example.com', 'a guess')$$) as anon_sign_in_via_auth_api;
reset role;
set local role service_role;
select regress.error_of($$select auth.reset_password_for_email('someone@example.com')$$) as server_recover;
reset role;
select set_config('auth_ext.gateway_client', '{"ip": "127.0.0.1"}', true) is not null as as_the_front;
set local role anon;
select regress.error_of($$select auth.reset_password_for_email('someone@example.com')$$) as front_recover;
reset role;
rollback;
