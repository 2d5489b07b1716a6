-- 6-digit codes. Every try is counted in a transaction of its own, so this test works
-- on committed tokens (and cleans up after itself).
\set SHOW_CONTEXT never
set auth_ext.otp_max_attempts = 3;
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code, (payload->>'email_otp')::int as n from auth.outbox where recipient = 'uma@example.com' \gset
select lpad(((:n + 1) % 1000000)::text, 6, '0') as wrong \gset

-- Wrong codes fail alike and each is counted, though the call fails.
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'wrong', 'email')) as try_1;
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', 'abc', 'email')) as try_2;
select attempts from auth.one_time_token_attempts a join auth.one_time_tokens t on t.id = a.token_id
where t.relates_to = 'uma@example.com';
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'wrong', 'email')) as try_3;
-- After three wrong tries even the right code is refused.
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'email')) as right_code_too_late;

-- A new code starts afresh; the right code signs in and confirms the address; it works once.
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code from auth.outbox where recipient = 'uma@example.com' order by id desc limit 1 \gset
select (auth.verify_otp('UMA@example.com', :'code', 'email'))->'user'->>'email' as signed_in;
select email_confirmed_at is not null as confirmed from auth.users where email = 'uma@example.com';
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'email')) as reused;
-- Codes are per type: a magic-link code does not verify as a recovery code.
select auth.sign_in_with_otp('uma@example.com');
select payload->>'email_otp' as code from auth.outbox where recipient = 'uma@example.com' order by id desc limit 1 \gset
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'recovery')) as other_type;
-- An expired code.
update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = 'uma@example.com' and consumed_at is null;
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'uma@example.com', :'code', 'magiclink')) as expired;
select regress.error_of($$select auth.verify_otp('nobody@example.com', '123456', 'email')$$) as nobody;
reset auth_ext.otp_max_attempts;

delete from auth.audit_log_entries where actor_id = (select id from auth.users where email = 'uma@example.com');
delete from auth.users where email = 'uma@example.com';
delete from auth.rate_limits where key in ('uma@example.com', '*');
