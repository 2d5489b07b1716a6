-- auth.users and auth.user_identities: defaults, normalisation and constraints.
\set SHOW_CONTEXT never
begin;

-- Defaults, and email stored lower-cased and trimmed.
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000a1', '  Alice@Example.COM ');
select email, aud, role, is_anonymous, raw_user_meta_data, raw_app_meta_data,
       encrypted_password, confirmed_at, email_change_confirm_status, deleted_at
from auth.users where id = '00000000-0000-0000-0000-0000000000a1';

-- Email is unique whatever its case.
savepoint s;
insert into auth.users (email) values ('ALICE@example.com');
rollback to s;

-- Users without email or phone never collide; '' is no address.
insert into auth.users (id) values ('00000000-0000-0000-0000-0000000000a2'), ('00000000-0000-0000-0000-0000000000a3');
insert into auth.users (id, email, phone) values ('00000000-0000-0000-0000-0000000000a4', '', '  ');
select email is null as no_email, phone is null as no_phone from auth.users where id = '00000000-0000-0000-0000-0000000000a4';

-- Phones are stored as E.164 digits and are unique.
insert into auth.users (id, phone) values ('00000000-0000-0000-0000-0000000000a5', '+1 (555) 010-9999');
select phone from auth.users where id = '00000000-0000-0000-0000-0000000000a5';
savepoint s;
insert into auth.users (phone) values ('15550109999');
rollback to s;

-- Malformed addresses and oversized metadata are refused with validation_failed.
savepoint s;
insert into auth.users (email) values ('not-an-email');
rollback to s;
savepoint s;
insert into auth.users (email) values ('two@at@example.com');
rollback to s;
savepoint s;
insert into auth.users (email) values (repeat('a', 250) || '@example.com');
rollback to s;
savepoint s;
insert into auth.users (phone) values ('12ab34');
rollback to s;
savepoint s;
insert into auth.users (raw_user_meta_data) values (jsonb_build_object('blob', repeat(md5('x'), 10000)));
rollback to s;

-- Quotes and odd unicode are data, not syntax.
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-0000-0000-0000000000a6', 'o''brien+tag@example.com', '{"name": "Robert''); drop table auth.users; --"}');
select email, raw_user_meta_data->>'name' as name from auth.users where id = '00000000-0000-0000-0000-0000000000a6';

-- Constraint errors below print the failing row (random ids, timestamps): message only.
\set VERBOSITY terse
-- Metadata must be an object; NULL metadata is refused.
savepoint s;
insert into auth.users (raw_user_meta_data) values ('[1, 2]');
rollback to s;
savepoint s;
insert into auth.users (raw_user_meta_data) values (null);
rollback to s;

-- An anonymous user has no address.
savepoint s;
insert into auth.users (is_anonymous, email) values (true, 'anon@example.com');
rollback to s;

-- confirmed_at follows the earliest confirmation, as in Supabase.
update auth.users set email_confirmed_at = '2026-01-02 00:00+00', phone_confirmed_at = '2026-01-01 00:00+00'
where id = '00000000-0000-0000-0000-0000000000a1';
select confirmed_at = '2026-01-01 00:00+00' as confirmed_at_is_least from auth.users where id = '00000000-0000-0000-0000-0000000000a1';
savepoint s;
update auth.users set confirmed_at = now() where id = '00000000-0000-0000-0000-0000000000a1';
rollback to s;

-- updated_at moves on every update, unless the update sets it itself (imports, back-dating).
update auth.users set updated_at = '2000-01-01', raw_app_meta_data = '{"plan": "pro"}' where id = '00000000-0000-0000-0000-0000000000a2';
select updated_at = '2000-01-01' as explicit_kept from auth.users where id = '00000000-0000-0000-0000-0000000000a2';
update auth.users set raw_app_meta_data = '{"plan": "team"}' where id = '00000000-0000-0000-0000-0000000000a2';
select updated_at = now() as updated_at_is_now from auth.users where id = '00000000-0000-0000-0000-0000000000a2';

-- email_change_confirm_status is 0, 1 or 2.
savepoint s;
update auth.users set email_change_confirm_status = 3 where id = '00000000-0000-0000-0000-0000000000a1';
rollback to s;

-- Identities: unique per (provider, provider_id), a well-formed provider, and they go with their user.
savepoint s;
insert into auth.user_identities (user_id, provider, provider_id) values ('00000000-0000-0000-0000-0000000000a2', 'email', 'alice@example.com');
rollback to s;
savepoint s;
insert into auth.user_identities (user_id, provider, provider_id) values ('00000000-0000-0000-0000-0000000000a2', 'Bad Provider', 'x');
rollback to s;
savepoint s;
insert into auth.user_identities (user_id, provider, provider_id) values ('00000000-0000-0000-0000-0000000000a2', 'wechat', '');
rollback to s;
savepoint s;
insert into auth.user_identities (user_id, provider, provider_id) values ('00000000-0000-0000-0000-0000000000ff', 'wechat', 'o_nobody');
rollback to s;
select count(*) as alice_identities from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000a1';
delete from auth.users where id = '00000000-0000-0000-0000-0000000000a1';
select count(*) as after_delete from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000a1';

\set VERBOSITY default
-- The index that keeps finding stale anonymous users cheap.
select indexdef from pg_indexes where schemaname = 'auth' and indexname = 'users_anonymous_created_at_idx';

rollback;
