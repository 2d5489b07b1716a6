-- Multi-factor authentication: enrolling a TOTP factor, challenging and verifying it
-- with codes computed here by an independent RFC 6238 implementation (pgcrypto's HMAC),
-- aal2 for the same session, and the attacker's side: replay, stale codes, a used
-- challenge, other users' factors, the secret, and what an aal1 session may not do.
\set SHOW_CONTEXT never
-- MFA calls must be the client's own statements: psql prints their errors, and the
-- transaction goes on past them.
\set ON_ERROR_ROLLBACK on
begin;
set local auth_ext.anonymous_sign_ins = on;
set local auth_ext.site_url = 'https://app.example.test/welcome';

-- RFC 6238 in SQL: base32, HMAC-SHA1, dynamic truncation (independent of the extension).
create function pg_temp.base32_decode(s text) returns bytea language plpgsql as $$
declare
    buffer int := 0; bits int := 0; out bytea := ''::bytea; v int;
begin
    for i in 1..length(s) loop
        v := strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', substr(s, i, 1)) - 1;
        buffer := ((buffer << 5) | v) & 65535;
        bits := bits + 5;
        if bits >= 8 then
            bits := bits - 8;
            out := out || set_byte('\x00'::bytea, 0, (buffer >> bits) & 255);
        end if;
    end loop;
    return out;
end $$;
create function pg_temp.totp(secret text, steps_from_now int default 0) returns text language sql as $$
    with h as (select hmac(int8send(floor(extract(epoch from clock_timestamp()) / 30)::bigint + steps_from_now),
                           pg_temp.base32_decode(secret), 'sha1') as d),
         o as (select d, get_byte(d, 19) & 15 as off from h)
    select lpad(((((get_byte(d, off) & 127)::bigint << 24) | (get_byte(d, off + 1) << 16)
                 | (get_byte(d, off + 2) << 8) | get_byte(d, off + 3)) % 1000000)::text, 6, '0') from o $$;

-- An anonymous user enrolls nothing.
select auth.sign_in_anonymously() as guest \gset
select auth.set_session(:'guest'::jsonb->>'access_token') is not null as guest_session;
-- anonymous_enroll:
select auth.mfa_enroll('totp');

-- A user with an email enrolls a TOTP factor: its secret, otpauth:// URI and QR code.
select auth.admin_create_user('{"email": "mfa-user@example.com", "password": "correct horse battery", "email_confirm": true}')->>'id' as uid \gset
select auth.admin_create_session(:'uid') as first \gset
select auth.set_session(:'first'::jsonb->>'access_token') is not null as signed_in;
select auth.mfa_enroll('totp', 'Phone app') as enrolled \gset
select :'enrolled'::jsonb->>'type' as type, :'enrolled'::jsonb->>'friendly_name' as name,
       length(:'enrolled'::jsonb->'totp'->>'secret') as secret_length,
       :'enrolled'::jsonb->'totp'->>'uri' = format('otpauth://totp/app.example.test:mfa-user%%40example.com?algorithm=SHA1&digits=6&issuer=app.example.test&period=30&secret=%s',
           :'enrolled'::jsonb->'totp'->>'secret') as uri_as_gotrue,
       (:'enrolled'::jsonb->'totp'->>'qr_code') like '<?xml%<svg%' as qr_svg;
select :'enrolled'::jsonb->>'id' as fid, :'enrolled'::jsonb->'totp'->>'secret' as secret \gset
select f->>'status' as status, f->>'factor_type' as factor_type, f ? 'secret' as shows_secret
from jsonb_array_elements(auth.get_user()->'factors') f;
-- The same name again, and an unknown type.
-- name_taken:
select auth.mfa_enroll('totp', 'Phone app');
-- unknown_type:
select auth.mfa_enroll('sms');
-- Phone factors are off unless turned on (as in Supabase Auth).
-- phone_off:
select auth.mfa_enroll('phone', 'My phone', phone => '+14155550123');

-- A factor left waiting (by whoever had the password before MFA was on), challenged so that
-- no clean-up takes it: verifying the first factor removes it.
select auth.mfa_enroll('totp', 'Left waiting')->>'id' as waiting \gset
select auth.mfa_challenge(:'waiting') ? 'id' as waiting_challenged;

-- Challenge and verify: a wrong code, then the right one raises this session to aal2.
select auth.mfa_challenge(:'fid') as challenge \gset
select (:'challenge'::jsonb->>'type') as challenge_type,
       (:'challenge'::jsonb->>'expires_at')::bigint - extract(epoch from now())::bigint between 295 and 300 as expires_in_300s;
-- wrong_code:
select auth.mfa_verify(:'fid', (:'challenge'::jsonb->>'id')::uuid, '000000');
-- (Codes are computed first: an MFA call takes no value from code run inside its statement.)
select pg_temp.totp(:'secret') as code_now, pg_temp.totp(:'secret', -2) as code_old, pg_temp.totp(:'secret', 1) as code_next \gset
select auth.mfa_verify(:'fid', (:'challenge'::jsonb->>'id')::uuid, :'code_now') as verified \gset
select regress.jwt_part(:'verified'::jsonb->>'access_token', 2)->>'aal' as aal,
       regress.jwt_part(:'verified'::jsonb->>'access_token', 2)->'amr'->0->>'method' as newest_method,
       regress.jwt_part(:'verified'::jsonb->>'access_token', 2)->>'session_id' = regress.jwt_part(:'first'::jsonb->>'access_token', 2)->>'session_id' as same_session,
       (select status from auth.mfa_factors where id = :'fid') as factor_status;
select auth.set_session(:'verified'::jsonb->>'access_token') is not null as aal2_session;
select count(*) as waiting_factor_left from auth.mfa_factors where id = :'waiting';
-- RLS that demands aal2 of users with a verified factor: Supabase's restrictive policy,
-- as its docs write it (authenticated reads its own factors' public columns).
create table public.payments (user_id uuid not null default auth.uid(), amount int);
alter table public.payments enable row level security;
create policy own on public.payments to authenticated using (user_id = auth.uid());
create policy "mfa where enrolled" on public.payments as restrictive for all to authenticated using (
  array[auth.jwt()->>'aal'] <@ (
    select case when count(id) > 0 then array['aal2'] else array['aal1', 'aal2'] end
    from auth.mfa_factors where (select auth.uid()) = user_id and status = 'verified'));
grant select on public.payments to authenticated;
insert into public.payments values (:'uid', 10);
set local role authenticated;
select count(*) as payments_at_aal2, (select count(*) from auth.mfa_factors) as own_factors_visible from public.payments;
reset role;
-- A refresh keeps aal2.
select regress.jwt_part(auth.refresh_session(:'verified'::jsonb->>'refresh_token')->>'access_token', 2)->>'aal' as aal_after_refresh;

-- The attacker's side. The same code again, with a new challenge (RFC 6238 5.2), and a
-- code two steps old; a challenge verified already.
select auth.mfa_challenge(:'fid')->>'id' as c2 \gset
-- replayed_code:
select auth.mfa_verify(:'fid', :'c2', :'code_now');
-- two_steps_old:
select auth.mfa_verify(:'fid', :'c2', :'code_old');
-- challenge_used:
select auth.mfa_verify(:'fid', (:'challenge'::jsonb->>'id')::uuid, :'code_next');

-- The secret is no application role's to read (nor a challenge).
set local role anon;
-- secret_as_anon:
select secret from auth.mfa_factors;
reset role;
set local role authenticated;
-- secret_as_authenticated:
select secret from auth.mfa_factors;
reset role;
set local role service_role;
-- secret_as_service_role:
select secret from auth.mfa_factors;
-- challenges_as_service_role:
select * from auth.mfa_challenges;
reset role;

-- Another user's session cannot touch this factor.
select auth.admin_create_user('{"email": "mfa-other@example.com", "password": "another horse battery", "email_confirm": true}')->>'id' as other \gset
select auth.set_session(auth.admin_create_session(:'other')->>'access_token') is not null as other_signed_in;
set local role authenticated;
select count(*) as others_factors_visible from auth.mfa_factors;
reset role;
-- others_challenge:
select auth.mfa_challenge(:'fid');
-- others_unenroll:
select auth.mfa_unenroll(:'fid');

-- The owner signs in again with the password only (aal1): a verified factor means no
-- password, email or other sessions' change, no new factor and no unenrolling.
select auth.set_session(auth.admin_create_session(:'uid', 'password')->>'access_token') is not null as aal1_session;
set local role authenticated;
select count(*) as payments_at_aal1 from public.payments;
reset role;
-- password_at_aal1:
select auth.update_user('{"password": "a brand new passphrase"}');
-- sign_out_others_at_aal1:
select auth.sign_out('others');
-- enroll_at_aal1:
select auth.mfa_enroll('totp', 'Second') ? 'id' as enrolled_at_aal1;
-- unenroll_at_aal1:
select auth.mfa_unenroll(:'fid');
-- Nor may it add a way to sign in, or remove one.
set local auth_ext.manual_linking_enabled = on;
-- link_at_aal1:
select auth.link_identity('custom:idp', 'attacker-at-idp');
-- unlink_at_aal1:
select auth.unlink_identity((select id from auth.user_identities where user_id = :'uid' and provider = 'email'));
-- Metadata is no credential: allowed.
select auth.update_user('{"data": {"plan": "pro"}}')->'user_metadata'->>'plan' as metadata_at_aal1;

-- A stranger with the password (an aal1 session) floods guesses from one address: bounded
-- there (auth_ext.mfa_max_attempts), so that even the right code is refused to it; the
-- owner's right code from another address still passes.
set local auth_ext.trusted_proxy_header = 'x-real-ip';
set local auth_ext.mfa_max_attempts = 3;
select set_config('request.headers', '{"x-real-ip": "203.0.113.3"}', true) is not null as stranger;
select auth.set_session(auth.admin_create_session(:'uid', 'password')->>'access_token') is not null as stranger_session;
select auth.mfa_challenge(:'fid')->>'id' as sc \gset
-- guess_1:
select auth.mfa_verify(:'fid', :'sc', '111111');
-- guess_2:
select auth.mfa_verify(:'fid', :'sc', '222222');
-- guess_3:
select auth.mfa_verify(:'fid', :'sc', '333333');
select pg_temp.totp(:'secret', 1) as code_later \gset
-- stranger_right_code_refused:
select auth.mfa_verify(:'fid', :'sc', :'code_later');
select set_config('request.headers', '{"x-real-ip": "198.51.100.7"}', true) is not null as owner;
select auth.set_session(auth.admin_create_session(:'uid', 'password')->>'access_token') is not null as owner_session;
select auth.mfa_challenge(:'fid')->>'id' as oc \gset
select auth.mfa_verify(:'fid', :'oc', :'code_later') as owner_verified \gset
select :'owner_verified'::jsonb->>'token_type' as owner_passes;

-- A custom access token hook may not change aal: one that raises it to aal2 on a
-- password sign-in, or lowers it on an aal2 session's refresh, is refused.
create function public.set_aal(event jsonb) returns jsonb language sql as $$
    select jsonb_set(event, '{claims,aal}', to_jsonb(case event->'claims'->>'aal' when 'aal1' then 'aal2' else 'aal1' end)) $$;
grant execute on function public.set_aal(jsonb) to auth_ext_app;
set local auth_ext.custom_access_token_hook = 'public.set_aal';
select regress.error_of(format('select auth.admin_create_session(%L, %L)', :'uid', 'password')) as hook_raises_aal,
       regress.error_of(format('select auth.refresh_session(%L)', :'owner_verified'::jsonb->>'refresh_token')) as hook_lowers_aal;
reset auth_ext.custom_access_token_hook;

-- A factor the owner adds at aal2 cannot be verified by an aal1 session.
select set_config('request.headers', '{"x-real-ip": "198.51.100.7"}', true) is not null as owner_again;
select auth.set_session(:'owner_verified'::jsonb->>'access_token') is not null as owner_at_aal2;
select auth.mfa_enroll('totp', 'New phone')->>'id' as newer \gset
select auth.set_session(auth.admin_create_session(:'uid', 'password')->>'access_token') is not null as thief_at_aal1;
select auth.mfa_challenge(:'newer')->>'id' as thief_challenge \gset
-- verify_new_factor_at_aal1:
select auth.mfa_verify(:'newer', :'thief_challenge', '123456');

-- Phone factors: a code a minute per factor *and* address, so that whoever has the
-- password cannot keep the owner's codes from being sent.
set local auth_ext.mfa_phone_enroll_enabled = on;
set local auth_ext.mfa_phone_verify_enabled = on;
select auth.set_session(:'owner_verified'::jsonb->>'access_token') is not null as owner_for_phone;
-- phone_too_long:
select auth.mfa_enroll('phone', 'Too long', phone => '+1234567890123456');
select auth.mfa_enroll('phone', 'Mobile', phone => '+14155550100')->>'phone' as phone_enrolled \gset
select :'phone_enrolled' as phone_enrolled, (select id from auth.mfa_factors where user_id = :'uid' and factor_type = 'phone') as pfid \gset
select auth.mfa_challenge(:'pfid') ? 'id' as owner_code_sent;
select set_config('request.headers', '{"x-real-ip": "203.0.113.3"}', true) is not null as thief_address;
select auth.mfa_challenge(:'pfid') ? 'id' as thief_code_sent;
-- thief_again_within_a_minute:
select auth.mfa_challenge(:'pfid');
select set_config('request.headers', '{"x-real-ip": "198.51.100.7"}', true) is not null as owner_address;
select count(*) as codes_sent from auth.outbox where recipient in ('14155550100', '+14155550100');

-- The admin's view: list, then remove the factor; its aal2 session falls back to aal1.
set local role service_role;
select jsonb_array_length(auth.admin_list_factors(:'uid')) as listed;
select auth.admin_delete_factor(:'uid', :'fid')->>'status' as removed_status;
reset role;
select aal, factor_id is null as factor_cleared from auth.sessions
where id = (regress.jwt_part(:'verified'::jsonb->>'access_token', 2)->>'session_id')::uuid;
rollback;
