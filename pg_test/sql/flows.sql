-- Sign-in flows: anonymous (switch, rate limit, hooks), email/phone with password,
-- custom identity providers, one-time links, the outbox, and privileges.
\set SHOW_CONTEXT never
begin;

-- Anonymous sign-in is off by default.
select regress.error_of($$select auth.sign_in_anonymously()$$) as disabled;
set local auth_ext.anonymous_sign_ins = on;

-- A user with no email and no identity; its token says is_anonymous and role authenticated.
select auth.sign_in_anonymously('{"cart": ["tea"]}', '198.51.100.7') as anon \gset
select u.is_anonymous, u.email is null as no_email, u.raw_user_meta_data, u.raw_app_meta_data,
       (select count(*) from auth.user_identities i where i.user_id = u.id) as identities
from auth.users u where u.id = (:'anon'::jsonb->'user'->>'id')::uuid;
select c->'is_anonymous' as is_anonymous, c->>'role' as role, c->'amr'->0->>'method' as method
from (select regress.jwt_part(:'anon'::jsonb->>'access_token', 2) as c) x;
select s.ip from auth.sessions s where s.user_id = (:'anon'::jsonb->'user'->>'id')::uuid;
select regress.error_of($$select auth.sign_in_anonymously('[1]')$$) as array_data;

-- Rate limit per client address and hour: the 4th from one address fails, others are unaffected.
set local auth_ext.rate_limit_anonymous = 3;
select (auth.sign_in_anonymously('{}', '192.0.2.1'))->>'token_type' as first,
       (auth.sign_in_anonymously('{}', '192.0.2.1'))->>'token_type' as second,
       (auth.sign_in_anonymously('{}', '192.0.2.1'))->>'token_type' as third;
select regress.error_of($$select auth.sign_in_anonymously('{}', '192.0.2.1')$$) as fourth;
-- A session's time zone (PostgREST's Prefer: timezone= sets one) opens no fresh window.
set local timezone = 'Asia/Kolkata';
select regress.error_of($$select auth.sign_in_anonymously('{}', '192.0.2.1')$$) as fourth_in_another_time_zone;
reset timezone;
select (auth.sign_in_anonymously('{}', '192.0.2.2'))->>'token_type' as other_address;
-- The next hour starts afresh; last hour's counters are purged off the hot path.
update auth.rate_limits set window_start = window_start - interval '1 hour';
select (auth.sign_in_anonymously('{}', '192.0.2.1'))->>'token_type' as next_hour;
-- (Counters that durable-write workers land meanwhile are in this hour's windows.)
select count(*) as old_windows from auth.rate_limits where window_start < now() - interval '1 hour' \gset
select :old_windows > 0 as some_old_windows, auth.purge_past_rate_limits() = :old_windows as purged_them_all;
select bucket, key, hits from auth.rate_limits order by bucket, key;
-- Without an explicit address, a header names the client only when a superuser named
-- the header a trusted proxy sets; its last entry is the one that proxy added (the
-- first, 198.51.100.7, is whatever the client claimed).
select set_config('request.headers', '{"x-forwarded-for": "198.51.100.7, 203.0.113.9", "user-agent": "demo/1.0"}', true) is not null as headers;
select auth.sign_in_anonymously() as untrusted_header \gset
select s.ip as connection_address from auth.sessions s where s.user_id = (:'untrusted_header'::jsonb->'user'->>'id')::uuid;
set local auth_ext.trusted_proxy_header = 'X-Forwarded-For';
select auth.sign_in_anonymously() as via_header \gset
select key, hits from auth.rate_limits where key in ('203.0.113.9', '198.51.100.7');
select s.ip, s.user_agent from auth.sessions s where s.user_id = (:'via_header'::jsonb->'user'->>'id')::uuid;
-- A malformed header is ignored, never an error.
select set_config('request.headers', '{"x-forwarded-for": "not an address"', true) is not null as bad_headers;
select (auth.sign_in_anonymously())->>'token_type' as bad_header_ignored;
select set_config('request.headers', '', true) is not null as cleared;
reset auth_ext.trusted_proxy_header;
reset auth_ext.rate_limit_anonymous;

-- Abuse hooks: the before hook sees {ip, attestation, data} and may refuse; the after hook
-- sees the new user; both run in the sign-in's transaction.
create table public.anonymous_signups (user_id uuid, ip text);
-- Hooks run as auth_ext_app, which may touch only what the application grants it.
grant insert on public.anonymous_signups to auth_ext_app;
create function public.require_attestation(event jsonb) returns jsonb language plpgsql as $$
begin
    if coalesce(event->>'attestation', '') <> 'valid-token' then
        raise exception 'attestation_failed: app attestation token rejected' using errcode = '28000';
    end if;
    return null;
end $$;
create function public.record_signup(event jsonb) returns jsonb language sql as
  $$ insert into public.anonymous_signups values ((event->>'user_id')::uuid, event->>'ip') returning null::jsonb $$;
set local auth_ext.anonymous_before_create_hook = 'public.require_attestation';
set local auth_ext.anonymous_after_create_hook = 'public.record_signup';
select count(*) as users_before from auth.users \gset
select regress.error_of($$select auth.sign_in_anonymously('{}', '192.0.2.50')$$) as refused;
select regress.error_of($$select auth.sign_in_anonymously('{}', '192.0.2.50', 'forged')$$) as refused_forged;
select count(*) = :users_before as nothing_created from auth.users;
select auth.sign_in_anonymously('{}', '192.0.2.50', 'valid-token') as attested \gset
select user_id::text = :'attested'::jsonb->'user'->>'id' as recorded_by_after_hook, ip from public.anonymous_signups;
reset auth_ext.anonymous_before_create_hook;
reset auth_ext.anonymous_after_create_hook;
-- A hook in a schema of the application's own, which the extension's role may not use:
-- it is found (in the catalog) and run as its owner, never a raw permission error.
create role hook_owner nologin;
create schema private authorization hook_owner;
-- Hooks run as their owner, through the extension's helper (auth.call_hook) in schema auth.
grant usage on schema auth to hook_owner;
create function private.count_signup(event jsonb) returns jsonb language sql as $$ select null::jsonb $$;
alter function private.count_signup(jsonb) owner to hook_owner;
set local auth_ext.anonymous_after_create_hook = 'private.count_signup';
select (auth.sign_in_anonymously('{}', '192.0.2.51'))->>'token_type' as private_schema_hook;
set local auth_ext.anonymous_after_create_hook = 'private.no_such_hook';
select regress.error_of($$select auth.sign_in_anonymously('{}', '192.0.2.51')$$) as missing_hook;
reset auth_ext.anonymous_after_create_hook;

-- Sign-up with email and password, confirmation required (the default).
select auth.sign_up('Hana@Example.com', 'correct horse battery', '{"name": "Hana"}') as hana \gset
select :'hana'::jsonb->>'email' as email, :'hana'::jsonb ? 'access_token' as has_session,
       :'hana'::jsonb->'user_metadata' as user_metadata, :'hana'::jsonb->'app_metadata' as app_metadata,
       :'hana'::jsonb->>'email_confirmed_at' is null as unconfirmed;
select encrypted_password like '$argon2id$v=19$m=19456,t=2,p=1$%' as argon2id from auth.users where email = 'hana@example.com';
select provider, provider_id, identity_data->'email_verified' as verified from auth.user_identities i
join auth.users u on u.id = i.user_id where u.email = 'hana@example.com';
select kind, recipient, payload->>'verification_type' as type, payload->>'email_otp' ~ '^[0-9]{6}$' as six_digits,
       payload->>'action_link' like 'http://localhost:3000/auth/confirm?token_hash=%&type=signup' as link
from auth.outbox where recipient = 'hana@example.com';
-- The code and link are stored only as hashes.
select count(*) as plain_secrets from auth.one_time_tokens t, auth.outbox o
where o.recipient = 'hana@example.com'
  and (position(convert_to(o.payload->>'email_otp', 'utf8') in t.otp_hash) > 0
       or t.token_hash = convert_to(o.payload->>'token_hash', 'utf8'));
select regress.error_of($$select auth.sign_in_with_password('hana@example.com', 'correct horse battery')$$) as before_confirming;
-- Confirming by the link signs in and confirms the address.
select (auth.verify_otp(token_hash => (select payload->>'token_hash' from auth.outbox where recipient = 'hana@example.com'), type => 'signup'))->>'token_type' as confirmed;
select email_confirmed_at is not null as email_confirmed, (select identity_data->'email_verified' from auth.user_identities where user_id = u.id) as identity_verified
from auth.users u where email = 'hana@example.com';
select (auth.sign_in_with_password('HANA@example.com', 'correct horse battery'))->'user'->>'email' as signed_in;
select last_sign_in_at is not null as last_sign_in from auth.users where email = 'hana@example.com';
-- As Supabase Auth's password grant: weak_password is null for a password that meets
-- the policy, and says what is weak about one that no longer does.
select (auth.sign_in_with_password('hana@example.com', 'correct horse battery'))->'weak_password' as strong;
set local auth_ext.password_min_length = 30;
select (auth.sign_in_with_password('hana@example.com', 'correct horse battery'))->'weak_password' as now_weak;
reset auth_ext.password_min_length;

-- Wrong password, unknown email: the same error. Taken email, weak passwords, bad input.
select case_name, regress.error_of(statement) as result from (values
    ('wrong password', $$select auth.sign_in_with_password('hana@example.com', 'wrong horse battery')$$),
    ('unknown email', $$select auth.sign_in_with_password('nobody@example.com', 'correct horse battery')$$),
    ('null password', $$select auth.sign_in_with_password('hana@example.com', null)$$),
    ('null email', $$select auth.sign_in_with_password(null, 'x')$$),
    ('taken email', $$select auth.sign_up('hana@EXAMPLE.com', 'another good password')$$),
    ('short password', $$select auth.sign_up('ivan@example.com', 'short')$$),
    ('common password', $$select auth.sign_up('ivan@example.com', 'Password123')$$),
    ('huge password', $$select auth.sign_up('ivan@example.com', repeat('x', 5000))$$),
    ('huge email', $$select auth.sign_up(repeat('x', 100000) || '@example.com', 'correct horse battery')$$),
    ('not an email', $$select auth.sign_up('ivan at example.com', 'correct horse battery')$$),
    ('quotes in email', $$select auth.sign_up('o''reilly"; drop table auth.users; --@example.com', 'correct horse battery')$$),
    ('array data', $$select auth.sign_up('ivan@example.com', 'correct horse battery', '"x"')$$)
) t(case_name, statement);
select count(*) as ivan_rows from auth.users where email like 'ivan%';

-- With autoconfirm on, sign-up returns a session at once.
set local auth_ext.mailer_autoconfirm = on;
select (auth.sign_up('jun@example.com', 'correct horse battery'))->>'token_type' as autoconfirmed;
reset auth_ext.mailer_autoconfirm;

-- Banned users cannot sign in.
update auth.users set banned_until = now() + interval '1 hour' where email = 'jun@example.com';
select regress.error_of($$select auth.sign_in_with_password('jun@example.com', 'correct horse battery')$$) as banned;

-- A bcrypt hash imported from Supabase (made here by pgcrypto) signs in and is upgraded to argon2id.
insert into auth.users (email, email_confirmed_at, encrypted_password)
values ('kai@example.com', now(), crypt('imported password', gen_salt('bf', 10)));
select left(encrypted_password, 4) as before from auth.users where email = 'kai@example.com';
select (auth.sign_in_with_password('kai@example.com', 'imported password'))->>'token_type' as bcrypt_sign_in;
select left(encrypted_password, 10) as after from auth.users where email = 'kai@example.com';
select (auth.sign_in_with_password('kai@example.com', 'imported password'))->>'token_type' as argon2_sign_in;

-- Phone and password.
select auth.admin_create_user('{"phone": "+1 555 010 7777", "password": "correct horse battery", "phone_confirm": true}') is not null as created;
select (auth.sign_in_with_phone_password('15550107777', 'correct horse battery'))->'user'->>'phone' as phone_sign_in;
select auth.admin_create_user('{"phone": "+15550108888", "password": "correct horse battery"}') is not null as created;
select regress.error_of($$select auth.sign_in_with_phone_password('+15550108888', 'correct horse battery')$$) as unconfirmed_phone;
select regress.error_of($$select auth.sign_in_with_phone_password('+15550107777', 'wrong horse battery')$$) as wrong;

-- A custom identity provider (Feishu): first sign-in creates user and identity, no email needed.
select auth.sign_in_with_idp('Feishu', 'ou_9a8b', '{"name": "李雷", "tenant_key": "t1", "avatar_url": "https://example.com/a.png"}') as f1 \gset
select :'f1'::jsonb->'user'->>'email' as email, :'f1'::jsonb->'user'->'user_metadata'->>'name' as name,
       :'f1'::jsonb->'user'->'app_metadata' as app_metadata,
       regress.jwt_part(:'f1'::jsonb->>'access_token', 2)->'amr'->0->>'method' as method;
select provider, provider_id, identity_data->>'tenant_key' as tenant_key, last_sign_in_at is not null as signed_in
from auth.user_identities where provider = 'feishu';
-- The next sign-in finds the same user, and stores what the provider returned now.
select (auth.sign_in_with_idp('feishu', 'ou_9a8b', '{"name": "李雷雷", "unionid": "u1"}'))->'user'->>'id' = :'f1'::jsonb->'user'->>'id' as same_user;
select raw_user_meta_data->>'name' as name, raw_user_meta_data->>'tenant_key' as kept, raw_user_meta_data->>'unionid' as unionid
from auth.users where id = (:'f1'::jsonb->'user'->>'id')::uuid;
select identity_data->>'name' as identity_name, identity_data ? 'tenant_key' as old_field from auth.user_identities where provider_id = 'ou_9a8b';
select count(*) as feishu_users from auth.users u where exists (select from auth.user_identities i where i.user_id = u.id and i.provider = 'feishu');
select case_name, regress.error_of(statement) as result from (values
    ('bad provider', $$select auth.sign_in_with_idp('fei shu', 'x')$$),
    ('empty subject', $$select auth.sign_in_with_idp('feishu', '')$$),
    ('huge subject', $$select auth.sign_in_with_idp('feishu', repeat('x', 1000))$$),
    ('array data', $$select auth.sign_in_with_idp('wechat', 'o1', '[1]')$$)
) t(case_name, statement);

-- The seed recipe: create the user with the admin API (trigger makes the identity),
-- generate a magic link, verify it by its token hash: a session.
select auth.admin_create_user('{"email": "feishu_ou_x@oauth.local", "email_confirm": true,
    "user_metadata": {"oauth_provider": "feishu", "oauth_open_id": "ou_x", "name": "王五"}}') as recipe_user \gset
select jsonb_agg(i->>'provider' order by i->>'provider') as identities from jsonb_array_elements(:'recipe_user'::jsonb->'identities') i;
select count(*) as outbox_before from auth.outbox \gset
select auth.admin_generate_link('magiclink', 'feishu_ou_x@oauth.local') as link \gset
select (select array_agg(k order by k) from jsonb_object_keys(:'link'::jsonb) k) as link_fields,
       :'link'::jsonb->>'verification_type' as verification_type, :'link'::jsonb->>'email_otp' ~ '^[0-9]{6}$' as code;
select count(*) = :outbox_before as sent_nothing from auth.outbox;
select auth.verify_otp(token_hash => :'link'::jsonb->>'hashed_token', type => 'magiclink') as recipe_session \gset
select :'recipe_session'::jsonb->'user'->>'email' as email, :'recipe_session'::jsonb->>'token_type' as token_type,
       regress.jwt_part(:'recipe_session'::jsonb->>'access_token', 2)->'amr'->0->>'method' as method;
select regress.refusal_of(format('select auth.verify_otp(token_hash => %L, type => %L)', :'link'::jsonb->>'hashed_token', 'magiclink')) as reused;

-- One-time link errors, each with its own code.
select auth.admin_generate_link('recovery', 'hana@example.com') as rec \gset
select regress.refusal_of(format('select auth.verify_otp(token_hash => %L, type => %L)', :'rec'::jsonb->>'hashed_token', 'magiclink')) as wrong_type;
update auth.one_time_tokens set expires_at = now() - interval '1 second' where token_hash = sha256(convert_to(:'rec'::jsonb->>'hashed_token', 'utf8'));
select regress.refusal_of(format('select auth.verify_otp(token_hash => %L, type => %L)', :'rec'::jsonb->>'hashed_token', 'recovery')) as expired;
select regress.refusal_of($$select auth.verify_otp(token_hash => 'no-such-token', type => 'magiclink')$$) as unknown;
select regress.refusal_of($$select auth.verify_otp(token_hash => 'x', type => 'bogus')$$) as unknown_type;
select regress.refusal_of($$select auth.verify_otp(token_hash => null, type => null)$$) as nulls;
-- Issuing again replaces the live token: the old link stops working.
select auth.admin_generate_link('recovery', 'hana@example.com') as rec1 \gset
select auth.admin_generate_link('recovery', 'hana@example.com') as rec2 \gset
select regress.refusal_of(format('select auth.verify_otp(token_hash => %L, type => %L)', :'rec1'::jsonb->>'hashed_token', 'recovery')) as replaced;
select regress.jwt_part(auth.verify_otp(token_hash => :'rec2'::jsonb->>'hashed_token', type => 'recovery')->>'access_token', 2)->'amr'->0->>'method' as recovery_method;
select count(*) filter (where consumed_at is null) as live, count(*) as total from auth.one_time_tokens
where user_id = (select id from auth.users where email = 'hana@example.com') and token_type = 'recovery';

-- generate_link for each type.
select case_name, regress.error_of(statement) as result from (values
    ('signup for a taken email', $$select auth.admin_generate_link('signup', 'hana@example.com', '{"password": "correct horse battery"}')$$),
    ('recovery for nobody', $$select auth.admin_generate_link('recovery', 'nobody@example.com')$$),
    ('email change without new_email', $$select auth.admin_generate_link('email_change_new', 'hana@example.com')$$),
    ('email change to a taken address', $$select auth.admin_generate_link('email_change_new', 'hana@example.com', '{"new_email": "jun@example.com"}')$$),
    ('unknown type', $$select auth.admin_generate_link('sms', 'hana@example.com')$$),
    ('unknown option', $$select auth.admin_generate_link('magiclink', 'hana@example.com', '{"colour": "red"}')$$)
) t(case_name, statement);
select (auth.admin_generate_link('signup', 'lea@example.com', '{"password": "correct horse battery", "data": {"plan": "pro"}}'))->'user_metadata' as signup_creates;
-- A registered but unconfirmed address gets a fresh signup link, as in GoTrue.
select (auth.admin_generate_link('signup', 'lea@example.com'))->>'verification_type' as signup_again_while_unconfirmed;
select (auth.admin_generate_link('invite', 'max@example.com'))->>'verification_type' as invite;
select (auth.verify_otp(token_hash => (auth.admin_generate_link('invite', 'max@example.com'))->>'hashed_token', type => 'invite'))->'user'->>'email' as invited;
select (auth.admin_generate_link('magiclink', 'new@example.com', '{"redirect_to": "https://app.example.com/a b"}'))->>'action_link' like '%&redirect_to=https%3A%2F%2Fapp.example.com%2Fa%20b' as redirect_encoded;
select (auth.admin_generate_link('email_change_new', 'hana@example.com', '{"new_email": "hana2@example.com"}'))->>'verification_type' as email_change;
select email_change from auth.users where email = 'hana@example.com';

-- sign_in_with_otp queues a magic link and code; it creates the user unless told not to.
select auth.sign_in_with_otp('nora@example.com');
select kind, recipient from auth.outbox where recipient = 'nora@example.com';
select regress.error_of($$select auth.sign_in_with_otp('omar@example.com', false)$$) as no_create;
select (auth.verify_otp(token_hash => (select payload->>'token_hash' from auth.outbox where recipient = 'nora@example.com'), type => 'email'))->'user'->>'email_confirmed_at' is not null as confirmed_by_email_type;

-- Send limits: per recipient and in all, per hour.
set local auth_ext.rate_limit_email_per_recipient = 2;
select auth.sign_in_with_otp('pia@example.com'), auth.sign_in_with_otp('pia@example.com');
select regress.error_of($$select auth.sign_in_with_otp('pia@example.com')$$) as third_to_pia;
select auth.sign_in_with_otp('quinn@example.com');
-- A global ceiling only where an operator sets one (off by default: lockouts.sql).
set local auth_ext.rate_limit_email_sent = 1;
select regress.error_of($$select auth.sign_in_with_otp('rosa@example.com')$$) as within_global;
select regress.error_of($$select auth.sign_in_with_otp('rosa2@example.com')$$) as over_global;
reset auth_ext.rate_limit_email_sent;
reset auth_ext.rate_limit_email_per_recipient;

-- The outbox hands each message to a sender once, and keeps no secret afterwards.
select count(*) as unclaimed from auth.outbox where claimed_at is null \gset
select count(*) = :unclaimed as claimed_all, bool_and(payload ? 'email_otp' and payload ? 'token_hash') as with_secrets
from auth.claim_outbox(1000);
select count(*) as claimed_again from auth.claim_outbox();
select count(*) filter (where payload ? 'email_otp' or payload ? 'token_hash' or payload ? 'action_link') as secrets_left,
       count(*) filter (where claimed_at is null) as unclaimed
from auth.outbox;

-- Every step is in the audit log.
select action, count(*) > 0 as logged from auth.audit_log_entries
where action in ('user_signedup', 'login') group by action order by action;

-- Who may call what.
select r.rolname, string_agg(p.proname, ' ' order by p.proname) as may_execute
from pg_proc p cross join (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
where p.pronamespace = 'auth'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute')
  and (p.proname like 'sign%' or p.proname like 'verify%' or p.proname like 'admin%' or p.proname in ('claim_outbox', 'generate_link'))
group by r.rolname order by 1;
set local role anon;
select regress.error_of($$select auth.sign_in_with_idp('feishu', 'ou_forged')$$) as anon_idp;
select regress.error_of($$select * from auth.claim_outbox()$$) as anon_outbox;
select regress.error_of($$select * from auth.outbox$$) as anon_reads_outbox;
select regress.error_of($$select * from auth.one_time_tokens$$) as anon_reads_tokens;
select (auth.sign_in_with_password('hana@example.com', 'correct horse battery'))->>'token_type' as anon_signs_in;
reset role;
set local role authenticated;
select regress.error_of($$select auth.admin_create_user('{"email": "evil@example.com"}')$$) as authenticated_admin;
reset role;

rollback;
