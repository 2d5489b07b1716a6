-- Sign-ups from the attacker's side: a stranger who signs up someone else's address,
-- before or after its owner asked for a code, gets no way in; a sign-up answers alike,
-- and carries nothing, for new, unconfirmed and confirmed addresses; a stranger's data
-- never reaches an account; a guest's pending address cannot be squatted. Codes are
-- counted in transactions of their own, so this test commits (and cleans up).
\set SHOW_CONTEXT never
-- Account changes must be the client's own statements (not inside error_of's EXECUTE):
-- psql prints their errors, and the transaction goes on past them.
\set ON_ERROR_ROLLBACK on
set auth_ext.rate_limit_email_per_client = 1000;
set auth_ext.rate_limit_email_per_recipient = 1000;
create function pg_temp.newest(address text, field text) returns text language sql as
  $$ select payload->>field from auth.outbox where recipient = address order by id desc limit 1 $$;

-- 1. Passwordless sign-up takeover. The owner asks for a code (the user is created);
--    before she types it, a stranger signs the address up with his own password.
set role anon;
select auth.sign_in_with_otp('olga@takeover.test') is not null as owner_asks_for_a_code;
reset role;
select pg_temp.newest('olga@takeover.test', 'email_otp') as olga_code \gset
set role anon;
select auth.sign_up('olga@takeover.test', 'mallory owns this one')->>'email' as stranger_signs_up;
-- Her first code still works, though a newer code (the stranger's confirmation) was sent.
select (auth.verify_otp('olga@takeover.test', :'olga_code', 'email'))->'user'->>'email' as owner_signs_in_with_her_code;
-- The stranger's password opens nothing.
select regress.error_of($$select auth.sign_in_with_password('olga@takeover.test', 'mallory owns this one')$$) as strangers_password;
reset role;

-- 1a. The same, but the owner follows the confirmation mail that the stranger's sign-up
--     sent her (the newest message): the address is hers, the password is not proven.
set role anon;
select auth.sign_in_with_otp('pia@takeover.test') is not null as owner_asks_for_a_code;
select auth.sign_up('pia@takeover.test', 'mallory owns this one') is not null as stranger_signs_up;
reset role;
select pg_temp.newest('pia@takeover.test', 'token_hash') as pia_confirmation \gset
set role anon;
select (auth.verify_otp(token_hash => :'pia_confirmation', type => 'signup'))->'user'->>'email' as owner_follows_the_newest_mail;
select regress.error_of($$select auth.sign_in_with_password('pia@takeover.test', 'mallory owns this one')$$) as strangers_password;
reset role;
select encrypted_password is null as no_password_left, email_confirmed_at is not null as confirmed
from auth.users where email = 'pia@takeover.test';

-- 1b. The other order: the stranger signs up first, the owner then asks for a magic
--     link, and later follows the stranger's (older) confirmation mail instead.
set role anon;
select auth.sign_up('rosa@takeover.test', 'mallory owns this one') is not null as stranger_signs_up_first;
reset role;
select pg_temp.newest('rosa@takeover.test', 'token_hash') as rosa_confirmation \gset
set role anon;
select auth.sign_in_with_otp('rosa@takeover.test') is not null as owner_asks_for_a_link;
select (auth.verify_otp(token_hash => :'rosa_confirmation', type => 'signup'))->'user'->>'email' as owner_follows_the_older_mail;
select regress.error_of($$select auth.sign_in_with_password('rosa@takeover.test', 'mallory owns this one')$$) as strangers_password;
reset role;

-- 1b'. By phone, where a sign-up's code replaces the owner's sign-in code: signing the
--      number up twice (the second sign-up's code would prove the first one's password)
--      still leaves the stranger nothing once the owner enters the newest text.
set role anon;
select auth.sign_in_with_otp(phone => '+1 202 555 0123') is not null as owner_asks_for_a_text;
select auth.sign_up(null, 'mallory owns this one', phone => '+1 202 555 0123') is not null as stranger_signs_up;
select auth.sign_up(null, 'mallory owns this one', phone => '+1 202 555 0123') is not null as stranger_signs_up_again;
reset role;
select payload->>'otp' as newest_text from auth.outbox where recipient = '12025550123' order by id desc limit 1 \gset
set role anon;
select (auth.verify_otp(phone => '+12025550123', token => :'newest_text', type => 'sms'))->'user'->>'phone' as owner_enters_the_newest_text;
select regress.error_of($$select auth.sign_in_with_phone_password('+12025550123', 'mallory owns this one')$$) as strangers_password;
reset role;

-- 1b''. The owner signs up first, a stranger signs the address up again with his own
--       password from elsewhere, and the owner then follows her own (first) mail: it was
--       issued for her password, which is no longer the one stored, so it proves nothing.
set role anon;
select auth.sign_up('tina@takeover.test', 'tinas own passphrase') is not null as owner_signs_up;
reset role;
select pg_temp.newest('tina@takeover.test', 'token_hash') as tina_confirmation \gset
set auth_ext.trusted_proxy_header = 'x-real-ip';
select set_config('request.headers', '{"x-real-ip": "203.0.113.80"}', false) is not null as stranger_elsewhere;
set role anon;
select auth.sign_up('tina@takeover.test', 'mallory owns this one') is not null as stranger_signs_up;
reset role;
select set_config('request.headers', '', false) is not null as cleared;
reset auth_ext.trusted_proxy_header;
set role anon;
select (auth.verify_otp(token_hash => :'tina_confirmation', type => 'signup'))->'user'->>'email' as owner_follows_her_own_mail;
select regress.error_of($$select auth.sign_in_with_password('tina@takeover.test', 'mallory owns this one')$$) as strangers_password;
reset role;

-- 1c. What still works: someone who signs up and confirms her own sign-up, with no code
--     asked for meanwhile, keeps her password (also when she signed up twice with it).
set role anon;
select auth.sign_up('sara@takeover.test', 'saras own passphrase') is not null as signs_up;
select auth.sign_up('sara@takeover.test', 'saras own passphrase') is not null as signs_up_again;
reset role;
select pg_temp.newest('sara@takeover.test', 'token_hash') as sara_confirmation \gset
set role anon;
select (auth.verify_otp(token_hash => :'sara_confirmation', type => 'signup'))->'user'->>'email' as confirms;
select (auth.sign_in_with_password('sara@takeover.test', 'saras own passphrase'))->>'token_type' as her_password_works;
reset role;

-- 2. One answer for every address: a sign-up of a new, an unconfirmed and a confirmed
--    address answers with the same keys (and identity keys), never the account's own id,
--    dates or metadata, and never merges the caller's data into that account.
set role service_role;
select auth.admin_create_user('{"email": "tess@takeover.test", "password": "tess has a passphrase",
    "user_metadata": {"plan": "pro"}}')->>'id' as tess_id \gset
select auth.admin_create_user('{"email": "uma@takeover.test", "password": "uma has a passphrase", "email_confirm": true,
    "user_metadata": {"plan": "pro"}}')->>'id' as uma_id \gset
reset role;
set role anon;
select auth.sign_up('vic@takeover.test', 'vics own passphrase', '{"n": 1}') as new_answer \gset
select auth.sign_up('tess@takeover.test', 'mallory owns this one', '{"plan": "free", "pad": "x"}') as unconfirmed_answer \gset
select auth.sign_up('uma@takeover.test', 'mallory owns this one', '{"plan": "free"}') as confirmed_answer \gset
reset role;
select (select array_agg(k order by k) from jsonb_object_keys(:'new_answer'::jsonb) k)
         = (select array_agg(k order by k) from jsonb_object_keys(:'unconfirmed_answer'::jsonb) k) as same_keys_unconfirmed,
       (select array_agg(k order by k) from jsonb_object_keys(:'new_answer'::jsonb) k)
         = (select array_agg(k order by k) from jsonb_object_keys(:'confirmed_answer'::jsonb) k) as same_keys_confirmed,
       (select array_agg(k order by k) from jsonb_object_keys(:'new_answer'::jsonb->'identities'->0) k)
         = (select array_agg(k order by k) from jsonb_object_keys(:'confirmed_answer'::jsonb->'identities'->0) k) as same_identity_keys,
       (select array_agg(k order by k) from jsonb_object_keys(:'new_answer'::jsonb->'identities'->0->'identity_data') k)
         = (select array_agg(k order by k) from jsonb_object_keys(:'unconfirmed_answer'::jsonb->'identities'->0->'identity_data') k) as same_identity_data_keys;
select :'unconfirmed_answer'::jsonb->>'id' <> :'tess_id' as not_tess_id,
       :'confirmed_answer'::jsonb->>'id' <> :'uma_id' as not_uma_id,
       :'unconfirmed_answer'::jsonb->'user_metadata' as echoes_only_the_callers_data,
       :'unconfirmed_answer'::jsonb->>'email_confirmed_at' is null and :'confirmed_answer'::jsonb->>'email_confirmed_at' is null as both_unconfirmed,
       :'confirmed_answer'::jsonb->'identities'->0->>'user_id' = :'confirmed_answer'::jsonb->>'id' as consistent;
select email, raw_user_meta_data as metadata_untouched from auth.users where email in ('tess@takeover.test', 'uma@takeover.test') order by email;

-- 2a. Asking whether an address is taken costs what a message would: a guest probing
--     addresses with update_user is counted and refused once its budget is spent.
set auth_ext.anonymous_sign_ins = on;
set auth_ext.rate_limit_email_per_client = 2;
set auth_ext.trusted_proxy_header = 'x-real-ip';
select set_config('request.headers', '{"x-real-ip": "203.0.113.77"}', false) is not null as prober;
set role anon;
select auth.sign_in_anonymously() as prober \gset
begin;
select auth.set_session(:'prober'::jsonb->>'access_token') is not null as prober_signed_in;
set local role authenticated;
-- probes 1 to 4 (terse: the hint says how many seconds are left):
\set VERBOSITY terse
select auth.update_user('{"email": "uma@takeover.test"}');
select auth.update_user('{"email": "uma@takeover.test"}');
select auth.update_user('{"email": "uma@takeover.test"}');
select auth.update_user('{"email": "uma@takeover.test"}');
\set VERBOSITY default
commit;
reset role;
-- So does asking for a code without creating a user: unknown and known addresses cost alike.
set auth_ext.rate_limit_email_per_client = 2;
select set_config('request.headers', '{"x-real-ip": "203.0.113.78"}', false) is not null as prober2;
set role anon;
select i, regress.error_of(format('select auth.sign_in_with_otp(%L, create_user => false)',
           case when i % 2 = 0 then 'uma@takeover.test' else 'nobody-' || i || '@takeover.test' end)) as probe
from generate_series(1, 4) i;
reset role;
select set_config('request.headers', '', false) is not null as cleared;
reset auth_ext.trusted_proxy_header;
set auth_ext.rate_limit_email_per_client = 1000;

-- 3. Bloat: metadata is capped (as JSON text: user 8192 bytes, app 4096) on every path
--    that writes it, so every token stays within what set_session takes.
set role anon;
select regress.error_of(format('select auth.sign_up(%L, %L, %L)', 'wes@takeover.test', 'wes has a passphrase',
    jsonb_build_object('blob', repeat('x', 9000)))) as sign_up_data,
       -- A registered address answers alike (its data would be stored nowhere).
       regress.error_of(format('select auth.sign_up(%L, %L, %L)', 'uma@takeover.test', 'wes has a passphrase',
    jsonb_build_object('blob', repeat('x', 9000)))) as registered_address_alike;
reset role;
set role service_role;
select regress.error_of(format('select auth.admin_update_user_by_id(%L, %L)', :'uma_id',
    jsonb_build_object('app_metadata', jsonb_build_object('blob', repeat('x', 5000))))) as admin_app_metadata;
-- At both caps, the user's tokens still pass set_session.
select auth.admin_update_user_by_id(:'uma_id', jsonb_build_object(
    'user_metadata', jsonb_build_object('blob', repeat('x', 8150)),
    'app_metadata', jsonb_build_object('blob', repeat('y', 4000)))) is not null as at_the_caps;
reset role;
set role anon;
select auth.sign_in_with_password('uma@takeover.test', 'uma has a passphrase') as uma_session \gset
begin;
select length(:'uma_session'::jsonb->>'access_token') > 16000 as a_large_token,
       (auth.set_session(:'uma_session'::jsonb->>'access_token'))->>'sub' = :'uma_id' as set_session_takes_it;
-- One step over, by update_user's merge, is refused and changes nothing.
set local role authenticated;
-- update_user_over_the_cap:
select auth.update_user(jsonb_build_object('data', jsonb_build_object('more', repeat('z', 100))));
commit;
reset role;
select octet_length(raw_user_meta_data::text) <= 8192 as still_within from auth.users where id = :'uma_id';
-- Variant: small but deep. Metadata nested past 32 levels is refused on input, so that
-- no reader of a user (the admin list, a token) meets what it cannot parse.
set auth_ext.anonymous_sign_ins = on;
set role anon;
select regress.error_of(format('select auth.sign_in_anonymously(%L)',
    repeat('{"a":', 40) || '1' || repeat('}', 40))) as deep_anonymous_data,
       regress.error_of(format('select auth.sign_up(%L, %L, %L)', 'deep@takeover.test', 'deep has a passphrase',
    repeat('{"a":', 40) || '1' || repeat('}', 40))) as deep_sign_up_data,
       (auth.sign_in_anonymously((repeat('{"a":', 31) || '1' || repeat('}', 31))::jsonb)) ? 'access_token' as deep_but_within;
reset role;

-- 4. Squatting a guest's pending address: a guest asks to add an email; a stranger signs
--    that address up. When the guest proves the address, it is the guest's: the
--    squatter, which could never confirm it, loses it and is gone.
set auth_ext.anonymous_sign_ins = on;
set role anon;
select auth.sign_in_anonymously() as guest \gset
begin;
select (auth.set_session(:'guest'::jsonb->>'access_token'))->>'sub' = :'guest'::jsonb->'user'->>'id' as guest_signed_in;
set local role authenticated;
select (auth.update_user('{"email": "xena@takeover.test"}'))->>'new_email' as guest_asks_for_an_address;
commit;
reset role;
set role anon;
select auth.sign_up('xena@takeover.test', 'mallory owns this one')->>'email' as stranger_squats;
reset role;
select count(*) as squatter_exists from auth.users where email = 'xena@takeover.test';
select payload->>'email_otp' as xena_code from auth.outbox where recipient = 'xena@takeover.test' and kind = 'email_change_new'
order by id desc limit 1 \gset
set role anon;
select (auth.verify_otp('xena@takeover.test', :'xena_code', 'email_change'))->'user'->>'email' as guest_proves_it;
reset role;
select id = (:'guest'::jsonb->'user'->>'id')::uuid as the_guests, is_anonymous from auth.users where email = 'xena@takeover.test';
select count(*) as squatter_left from auth.users u where u.email is null and u.phone is null and not u.is_anonymous
  and not exists (select from auth.user_identities i where i.user_id = u.id);
-- 4a. A confirmed holder keeps its address: the guest hears email_exists, never a raw 23505.
set role anon;
select auth.sign_in_anonymously() as guest2 \gset
begin;
select auth.set_session(:'guest2'::jsonb->>'access_token') is not null as guest2_signed_in;
set local role authenticated;
select (auth.update_user('{"email": "yara@takeover.test"}'))->>'new_email' as guest2_asks;
commit;
reset role;
set role service_role;
select auth.admin_create_user('{"email": "yara@takeover.test", "email_confirm": true}') is not null as owner_confirmed_meanwhile;
reset role;
select payload->>'email_otp' as yara_code from auth.outbox where recipient = 'yara@takeover.test' and kind = 'email_change_new'
order by id desc limit 1 \gset
set role anon;
select regress.error_of(format('select auth.verify_otp(%L, %L, %L)', 'yara@takeover.test', :'yara_code', 'email_change')) as guest2_verifies;
reset role;
-- 4b. The stranger signs the address up first and never confirms it: it is still not
--     taken, neither for a guest nor for a permanent user who asks for it afterwards;
--     the one who proves it gets it.
set role anon;
select auth.sign_up('zora@takeover.test', 'mallory was here first')->>'email' as stranger_squats_first;
select auth.sign_in_anonymously() as guest3 \gset
reset role;
begin;
select auth.set_session(:'guest3'::jsonb->>'access_token') is not null as guest3_signed_in;
set local role authenticated;
select (auth.update_user('{"email": "zora@takeover.test"}'))->>'new_email' as guest3_asks_after_the_squatter;
commit;
reset role;
select payload->>'email_otp' as zora_code from auth.outbox where recipient = 'zora@takeover.test' and kind = 'email_change_new'
order by id desc limit 1 \gset
set role anon;
select (auth.verify_otp('zora@takeover.test', :'zora_code', 'email_change'))->'user'->>'email' as guest3_proves_it;
reset role;
select id = (:'guest3'::jsonb->'user'->>'id')::uuid as the_guests, is_anonymous from auth.users where email = 'zora@takeover.test';
reset auth_ext.anonymous_sign_ins;

-- Clean up what this test committed.
delete from auth.audit_log_entries where actor_id in (select id from auth.users where email like '%@takeover.test'
    or phone = '12025550123' or id in ((:'guest'::jsonb->'user'->>'id')::uuid, (:'guest2'::jsonb->'user'->>'id')::uuid,
              (:'guest3'::jsonb->'user'->>'id')::uuid, (:'prober'::jsonb->'user'->>'id')::uuid));
delete from auth.users where email like '%@takeover.test' or phone = '12025550123'
    or id in ((:'guest'::jsonb->'user'->>'id')::uuid, (:'guest2'::jsonb->'user'->>'id')::uuid,
              (:'guest3'::jsonb->'user'->>'id')::uuid, (:'prober'::jsonb->'user'->>'id')::uuid);
delete from auth.outbox where recipient like '%@takeover.test' or recipient = '12025550123';
delete from auth.rate_limits;
delete from auth.rate_bursts;
reset auth_ext.rate_limit_email_per_client;
reset auth_ext.rate_limit_email_per_recipient;
