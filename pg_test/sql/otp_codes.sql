-- 6-digit codes. Every try is counted in a transaction of its own, so this test works
-- on committed tokens (and cleans up after itself).
\set SHOW_CONTEXT never
set auth_ext.otp_max_attempts = 3;
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code, (payload->>'email_otp')::int as n from auth.outbox where recipient = 'uma@example.com' \gset
select lpad(((:n + 1) % 1000000)::text, 6, '0') as wrong \gset

-- Wrong codes fail alike and each is counted, though the call fails.
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'wrong', 'email')) as try_1;
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', 'abc', 'email')) as try_2;
select attempts from auth.one_time_token_attempts a join auth.one_time_tokens t on t.id = a.token_id
where t.relates_to = 'uma@example.com';
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'wrong', 'email')) as try_3;
-- After three wrong tries even the right code is refused.
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'email')) as right_code_too_late;

-- A new code gives this address no more tries this hour: the tries count per user and
-- client address, however many codes it asks for.
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code from auth.outbox where recipient = 'uma@example.com' order by id desc limit 1 \gset
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'UMA@example.com', :'code', 'email')) as new_code_same_hour;
-- The next hour it does; the right code signs in and confirms the address; it works once.
update auth.rate_limits set window_start = window_start - interval '1 hour' where bucket = 'otp_tries';
select (auth.verify_otp('UMA@example.com', :'code', 'email'))->'user'->>'email' as signed_in;
select email_confirmed_at is not null as confirmed from auth.users where email = 'uma@example.com';
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'email')) as reused;
-- Codes are per type: a magic-link code does not verify as a recovery code.
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code from auth.outbox where recipient = 'uma@example.com' order by id desc limit 1 \gset
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'recovery')) as other_type;
-- An expired code.
update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = 'uma@example.com' and consumed_at is null;
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'magiclink')) as expired;
select regress.refusal_of($$select auth.verify_otp('nobody@example.com', '123456', 'email')$$) as nobody;
reset auth_ext.otp_max_attempts;

delete from auth.audit_log_entries where actor_id = (select id from auth.users where email = 'uma@example.com');
delete from auth.users where email = 'uma@example.com';
delete from auth.rate_limits where key in ('uma@example.com', '*');

-- Phones (Supabase's sms and phone_change types): the code comes as a text message and
-- is verified with phone =>, never with email =>.
set auth_ext.rate_limit_email_per_client = 100;
select auth.sign_in_with_otp(phone => '+86 138 0013 8000', data => '{"nickname": "小王"}');
select kind, recipient, payload->>'channel' as channel, payload ? 'token_hash' as has_link
from auth.outbox where recipient = '8613800138000' order by id desc limit 1;
select payload->>'otp' as sms_code from auth.outbox where recipient = '8613800138000' order by id desc limit 1 \gset
select regress.error_of(format('select auth.verify_otp(email => %L, token => %L, type => %L)', '8613800138000', :'sms_code', 'sms')) as sms_by_email;
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'x@example.com', :'sms_code', 'sms')) as sms_positional_email;
select auth.verify_otp(phone => '+86 138 0013 8000', token => :'sms_code', type => 'sms') as phone_session \gset
select :'phone_session'::jsonb->'user'->>'phone' as phone, :'phone_session'::jsonb->'user'->'user_metadata'->>'nickname' as nickname,
       regress.jwt_part(:'phone_session'::jsonb->>'access_token', 2)->'amr'->0->>'method' as method,
       (select phone_confirmed_at is not null from auth.users where phone = '8613800138000') as phone_confirmed;
-- create_user false: no account is made for an unknown phone.
select regress.error_of($$select auth.sign_in_with_otp(phone => '+86 139 0000 0000', create_user => false)$$) as unknown_phone;
select regress.error_of($$select auth.sign_in_with_otp()$$) as neither;
select regress.error_of($$select auth.sign_in_with_otp(email => 'a@example.com', phone => '+8613900000000')$$) as both;

-- An anonymous user becomes permanent by confirming a phone.
set auth_ext.anonymous_sign_ins = on;
select auth.sign_in_anonymously() as phoner \gset
begin;
select auth.set_session(:'phoner'::jsonb->>'access_token') is not null as verified;
select auth.update_user('{"phone": "+49 30 7654321"}')->>'new_phone' as new_phone;
commit;
select payload->>'otp' as change_code from auth.outbox where kind = 'phone_change' and recipient = '49307654321' order by id desc limit 1 \gset
select (auth.verify_otp(phone => '+49 30 7654321', token => :'change_code', type => 'phone_change'))->'user'->>'phone' as phone;
select is_anonymous, phone_confirmed_at is not null as confirmed,
       (select provider from auth.user_identities where user_id = u.id) as identity
from auth.users u where id = (:'phoner'::jsonb->'user'->>'id')::uuid;
reset auth_ext.anonymous_sign_ins;

-- Forgot password: a recovery code (and link) by email; the code gives a session, in
-- which update_user sets the new password. An unknown address gets the same answer.
select auth.sign_up('vera@example.com', 'old password 1') is not null as signed_up;
update auth.users set email_confirmed_at = now() where email = 'vera@example.com';
select auth.reset_password_for_email('vera@example.com');
select auth.reset_password_for_email('nobody-here@example.com');
select kind, recipient, payload ? 'token_hash' as has_link from auth.outbox where kind = 'recovery' order by id;
select payload->>'email_otp' as recovery_code from auth.outbox where kind = 'recovery' and recipient = 'vera@example.com' \gset
select auth.verify_otp('vera@example.com', :'recovery_code', 'recovery') as recovered \gset
begin;
select auth.set_session(:'recovered'::jsonb->>'access_token') is not null as verified;
select auth.update_user('{"password": "new password 2"}')->>'email' as updated;
commit;
select (auth.sign_in_with_password('vera@example.com', 'new password 2'))->'user'->>'email' as signed_in_with_new;
select regress.error_of($$select auth.sign_in_with_password('vera@example.com', 'old password 1')$$) as old_refused;

-- resend: a fresh sign-up confirmation replaces the first; nothing pending, same answer.
select auth.sign_up('walt@example.com', 'walt password 1') is not null as signed_up;
select auth.resend('signup', 'walt@example.com');
select count(*) as confirmations, count(*) filter (where consumed_at is null) as live
from auth.one_time_tokens t join auth.users u on u.id = t.user_id where u.email = 'walt@example.com';
select count(*) as messages from auth.outbox where recipient = 'walt@example.com';
select auth.resend('signup', 'vera@example.com');
select auth.resend('signup', 'nobody-here@example.com');
select count(*) as vera_messages from auth.outbox where recipient = 'vera@example.com' and kind = 'confirmation';
select auth.resend('phone_change', phone => '+49 30 0000000');
select regress.error_of($$select auth.resend('magiclink', 'walt@example.com')$$) as bad_type;
select regress.error_of($$select auth.resend('sms', 'walt@example.com')$$) as sms_needs_phone;

delete from auth.users where email in ('vera@example.com', 'walt@example.com') or phone in ('8613800138000', '49307654321')
    or id = (:'phoner'::jsonb->'user'->>'id')::uuid;
delete from auth.outbox;
delete from auth.rate_limits;
reset auth_ext.rate_limit_email_per_client;

-- Supabase Auth's window (its SMTP_MAX_FREQUENCY, 60 s by default; the suite turns it
-- off): one message of a kind to an address a minute, for each client address that
-- asks. Keyed on the user alone, a stranger's request would hold back the owner's own,
-- and only registered addresses would answer "after N seconds".
begin;
set local auth_ext.mailer_max_frequency = 60;
set local auth_ext.trusted_proxy_header = 'x-forwarded-for';
select set_config('request.headers', '{"x-forwarded-for": "10.30.0.1"}', true) is not null as from_a_stranger;
select auth.sign_in_with_otp('window@example.com') is not null as first_code_sent;
-- again_within_a_minute:
select regress.error_of($$select auth.sign_in_with_otp('window@example.com')$$) as again;
-- A recovery email shares the magic link's window, as in Supabase Auth (recovery_sent_at).
select regress.error_of($$select auth.reset_password_for_email('window@example.com')$$) as recovery;
-- An address nobody has answers alike.
select format('[%s]', auth.reset_password_for_email('nobody-window@example.com')) as unknown_first,
       regress.error_of($$select auth.reset_password_for_email('nobody-window@example.com')$$) as unknown_again;
-- The owner, from another address, is not held back by the stranger's requests.
select set_config('request.headers', '{"x-forwarded-for": "10.30.0.2"}', true) is not null as from_the_owner;
select format('[%s]', auth.reset_password_for_email('window@example.com')) as owners_own_recovery;
select kind, count(*) as messages from auth.outbox where recipient = 'window@example.com' group by kind order by kind;
rollback;
