-- Lockouts from the attacker's side: nobody's wrong guesses may keep an owner who has
-- the right password or code out, while guessing stays bounded per client (hourly
-- limits and GoTrue-like bursts), and a few clients cannot stop everyone's mail.
-- Tries are counted in transactions of their own, so this test commits (and cleans up).
\set SHOW_CONTEXT never
set auth_ext.trusted_proxy_header = 'x-real-ip';
set auth_ext.rate_limit_email_per_client = 1000;
create function pg_temp.client(ip text) returns text language sql as
  $$ select set_config('request.headers', jsonb_build_object('x-real-ip', ip)::text, false) $$;
create function pg_temp.newest_code(address text) returns text language sql as
  $$ select coalesce(payload->>'email_otp', payload->>'otp') from auth.outbox where recipient = address order by id desc limit 1 $$;
set role service_role;
select auth.admin_create_user(jsonb_build_object('email', 'ann@lockouts.test', 'password', 'anns own passphrase',
    'email_confirm', true)) is not null as ann;
reset role;

-- 1. Passwords: a stranger's wrong guesses, however many, never refuse the owner.
set auth_ext.rate_limit_failed_sign_ins_per_user = 3;
select pg_temp.client('203.0.113.3') is not null as stranger;
set role anon;
select i, regress.error_of($$select auth.sign_in_with_password('ann@lockouts.test', 'a wrong guess')$$) as stranger_guesses
from generate_series(1, 5) i;
-- The stranger stays refused, even with the right password: guessing is bounded.
select regress.error_of($$select auth.sign_in_with_password('ann@lockouts.test', 'anns own passphrase')$$) as stranger_right_password;
reset role;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select auth.sign_in_with_password('ann@lockouts.test', 'anns own passphrase')->>'token_type' as owner_signs_in;
reset role;
-- 1a. Variant: a stranger on many addresses; each is bounded, the owner still gets in.
select c, (select regress.error_of($$select auth.sign_in_with_password('ann@lockouts.test', 'a wrong guess')$$)
           from (select pg_temp.client(c), set_config('role', 'anon', false)) s) as stranger_elsewhere
from unnest(array['203.0.113.10', '203.0.113.11', '203.0.113.12']) c;
reset role;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select auth.sign_in_with_password('ann@lockouts.test', 'anns own passphrase')->>'token_type' as owner_still_signs_in;
reset role;
reset auth_ext.rate_limit_failed_sign_ins_per_user;

-- 2. Codes: a stranger's wrong guesses use up the stranger's tries, not the owner's code.
set auth_ext.otp_max_attempts = 3;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select auth.sign_in_with_otp('ann@lockouts.test') is not null as owner_asks_for_a_code;
reset role;
select pg_temp.newest_code('ann@lockouts.test') as ann_code, lpad(((pg_temp.newest_code('ann@lockouts.test')::int + 1) % 1000000)::text, 6, '0') as wrong \gset
select pg_temp.client('203.0.113.3') is not null as stranger;
set role anon;
select i, regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'ann@lockouts.test', :'wrong', 'email')) as stranger_guesses
from generate_series(1, 4) i;
reset role;
-- Variant: a stranger with many addresses. All addresses but the owner's share a budget
-- (4 times the limit, here 12): past it every other address is refused, so guessing a
-- code stays bounded; the owner's own address still may try.
select c, (select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'ann@lockouts.test', :'wrong', 'email'))
           from (select pg_temp.client(c), set_config('role', 'anon', false)) s) as stranger_elsewhere
from unnest(array['203.0.113.4', '203.0.113.4', '203.0.113.4', '203.0.113.5', '203.0.113.5', '203.0.113.5',
                  '203.0.113.6', '203.0.113.6', '203.0.113.6', '203.0.113.7']) with ordinality as t(c, n) order by n;
reset role;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select (auth.verify_otp('ann@lockouts.test', :'ann_code', 'email'))->'user'->>'email' as owner_uses_her_code;
reset role;
-- 2b. A stranger who asks for codes too never cancels the owner's: each address has its
--     own live code, and new codes give no address more tries of the user's codes.
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select auth.sign_in_with_otp('ann@lockouts.test') is not null as owner_asks_again;
reset role;
select pg_temp.newest_code('ann@lockouts.test') as ann_code2 \gset
select pg_temp.client('203.0.113.3') is not null as stranger;
set role anon;
select auth.sign_in_with_otp('ann@lockouts.test') is not null as stranger_asks_too;
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'ann@lockouts.test', :'wrong', 'email')) as stranger_still_out;
reset role;
select count(*) as live_codes from auth.one_time_tokens t join auth.users u on u.id = t.user_id
where u.email = 'ann@lockouts.test' and t.consumed_at is null;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select (auth.verify_otp('ann@lockouts.test', :'ann_code2', 'email'))->'user'->>'email' as owners_code_still_works;
reset role;

-- 2c. Strangers who ask for codes first, from many addresses, then spend every try the
--     others share: the owner, who asked for her own, still signs in with it.
set auth_ext.otp_max_attempts = 3;
set role service_role;
select auth.admin_create_user('{"email": "cleo@lockouts.test", "email_confirm": true}') is not null as cleo;
reset role;
-- (more of them than the codes a check reads at once: the owner's own is read first)
select count(*) filter (where asked) as strangers_asked_first
from (select (select auth.sign_in_with_otp('cleo@lockouts.test') is not null
              from (select pg_temp.client('203.0.114.' || i), set_config('role', 'anon', false)) s) as asked
      from generate_series(1, 40) i) t;
reset role;
select pg_temp.client('198.51.100.9') is not null as owner;
set role anon;
select auth.sign_in_with_otp('cleo@lockouts.test') is not null as owner_asks;
reset role;
select pg_temp.newest_code('cleo@lockouts.test') as cleo_code \gset
create temp table cleo_wrong as select lpad(((:'cleo_code'::int + 1) % 1000000)::text, 6, '0') as code;
grant select on cleo_wrong to anon;
select count(*) filter (where result = 'too many wrong codes were tried') > 0 as strangers_spent_their_pool
from (select (select regress.detail_of(format('select auth.verify_otp(%L, %L, %L)', 'cleo@lockouts.test', w.code, 'email'))
              from (select pg_temp.client(c), set_config('role', 'anon', false)) s, cleo_wrong w) as result
      from unnest(array['203.0.113.34', '203.0.113.34', '203.0.113.34', '203.0.113.35', '203.0.113.35', '203.0.113.35',
                        '203.0.113.36', '203.0.113.36', '203.0.113.36', '203.0.113.37', '203.0.113.37', '203.0.113.37',
                        '203.0.113.38']) c) tries;
reset role;
select pg_temp.client('198.51.100.9') is not null as owner;
set role anon;
select (auth.verify_otp('cleo@lockouts.test', :'cleo_code', 'email'))->'user'->>'email' as owner_still_signs_in;
reset role;
reset auth_ext.otp_max_attempts;

-- 2d. A secure email change stays hers though a stranger asks for its mails again from
--     elsewhere (a second pair of codes): confirming both sides of her own pair completes it.
set role service_role;
select auth.admin_create_user('{"email": "dora@lockouts.test", "password": "doras own passphrase", "email_confirm": true}')->>'id' as dora \gset
select auth.admin_create_session(:'dora') as dora_session \gset
reset role;
select pg_temp.client('198.51.100.10') is not null as owner;
begin;
select auth.set_session(:'dora_session'::jsonb->>'access_token') is not null as dora_signed_in;
set local role authenticated;
select (auth.update_user('{"email": "dora.new@lockouts.test"}'))->>'new_email' as dora_asks_for_a_change;
commit;
reset role;
select (select payload->>'token_hash' from auth.outbox where recipient = 'dora@lockouts.test' and kind = 'email_change_current' order by id desc limit 1) as dora_current,
       (select payload->>'token_hash' from auth.outbox where recipient = 'dora.new@lockouts.test' and kind = 'email_change_new' order by id desc limit 1) as dora_new \gset
select pg_temp.client('203.0.113.40') is not null as stranger;
set role anon;
select format('[%s]', auth.resend('email_change', email => 'dora@lockouts.test')) as stranger_resends;
reset role;
select pg_temp.client('198.51.100.10') is not null as owner;
set role anon;
select (auth.verify_otp(token_hash => :'dora_current', type => 'email_change'))->>'email_change_confirm_status' as first_side;
select (auth.verify_otp(token_hash => :'dora_new', type => 'email_change'))->'user'->>'email' as change_completed;
reset role;

-- 2a. Variant: a text message, which has no link to fall back on.
set role service_role;
select auth.admin_create_user('{"phone": "+1 202 555 0190", "phone_confirm": true}') is not null as bo;
reset role;
set role anon;
select auth.sign_in_with_otp(phone => '+12025550190') is not null as owner_asks_for_a_text;
reset role;
select pg_temp.newest_code('12025550190') as bo_code, lpad(((pg_temp.newest_code('12025550190')::int + 7) % 1000000)::text, 6, '0') as wrong \gset
select pg_temp.client('203.0.113.3') is not null as stranger;
set role anon;
select i, regress.refusal_of(format('select auth.verify_otp(phone => %L, token => %L, type => %L)', '+12025550190', :'wrong', 'sms')) as stranger_guesses
from generate_series(1, 4) i;
reset role;
select pg_temp.client('198.51.100.7') is not null as owner;
set role anon;
select (auth.verify_otp(phone => '+12025550190', token => :'bo_code', type => 'sms'))->'user'->>'phone' as owner_uses_her_text;
reset role;
reset auth_ext.otp_max_attempts;

-- 3. Bursts, as GoTrue's token bucket: from one address, quick failures across many
--    accounts are refused once the burst is spent; another address is unaffected.
set auth_ext.rate_limit_burst = 4;
select pg_temp.client('192.0.2.50') is not null as sprayer;
set role anon;
select i, regress.error_of(format('select auth.sign_in_with_password(%L, %L)', 'user' || i || '@lockouts.test', 'a wrong guess')) as spray
from generate_series(1, 6) i;
reset role;
select pg_temp.client('192.0.2.51') is not null as someone_else;
set role anon;
select regress.error_of($$select auth.sign_in_with_password('user9@lockouts.test', 'a wrong guess')$$) as other_address;
reset role;
-- 3a. Variant: codes sprayed over many accounts that wait for one.
select pg_temp.client('192.0.2.59') is not null as owners;
set role anon;
select count(auth.sign_in_with_otp('user' || i || '@lockouts.test')) as codes_asked_for from generate_series(1, 6) i;
reset role;
create temp table wrong_codes as
select i, lpad(((pg_temp.newest_code('user' || i || '@lockouts.test')::int + 1) % 1000000)::text, 6, '0') as code
from generate_series(1, 6) i;
grant select on wrong_codes to anon;
select pg_temp.client('192.0.2.60') is not null as code_sprayer;
set role anon;
select i, regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'user' || i || '@lockouts.test', code, 'email')) as spray
from wrong_codes order by i;
reset role;
-- Every password attempt costs argon2, so right ones count too.
select pg_temp.client('192.0.2.61') is not null as own_account_looper;
set role anon;
select i, regress.error_of($$select auth.sign_in_with_password('ann@lockouts.test', 'anns own passphrase')$$) as right_password_again
from generate_series(1, 6) i;
reset role;
-- The bucket refills at the hourly rate: one interval later, one more try.
update auth.rate_bursts set tat = tat - make_interval(secs => 3600.0 / 360) where key = '192.0.2.60';
set role anon;
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'user1@lockouts.test', code, 'email')) as after_refill
from wrong_codes where i = 1;
reset role;
-- A burst as large as the setting allows, on a bucket with counts in it: allowed.
set auth_ext.rate_limit_burst = 2147483647;
set role anon;
select regress.refusal_of(format('select auth.verify_otp(%L, %L, %L)', 'user2@lockouts.test', code, 'email')) as largest_burst
from wrong_codes where i = 2;
reset role;
reset auth_ext.rate_limit_burst;

-- 4. No global mail budget by default: clients that used up their own limits do not stop
--    anyone else's mail.
set auth_ext.rate_limit_email_per_client = 2;
select c, i, (select regress.error_of(format('select auth.reset_password_for_email(%L)', 'nobody' || i || '@lockouts.test'))
              from (select pg_temp.client(c), set_config('role', 'anon', false)) s) as flood
from unnest(array['203.0.113.20', '203.0.113.21', '203.0.113.22']) c, generate_series(1, 3) i;
reset role;
select pg_temp.client('198.51.100.8') is not null as owner;
set role anon;
select regress.error_of($$select auth.reset_password_for_email('ann@lockouts.test')$$) as owners_recovery_mail;
reset role;

-- Clean up what this test committed.
select set_config('request.headers', '', false) is not null as cleared;
delete from auth.audit_log_entries where actor_id in (select id from auth.users where email like '%@lockouts.test' or phone = '12025550190');
delete from auth.users where email like '%@lockouts.test' or phone = '12025550190';
delete from auth.outbox where recipient like '%@lockouts.test' or recipient = '12025550190';
delete from auth.rate_limits;
delete from auth.rate_bursts;
reset auth_ext.rate_limit_email_per_client;
reset auth_ext.trusted_proxy_header;
