-- The handle_new_user trigger: identities for OAuth, email, phone, anonymous and empty-metadata users.
\set SHOW_CONTEXT never
begin;

-- The seed recipe's Feishu user: placeholder email plus oauth_* metadata.
insert into auth.users (id, email, email_confirmed_at, raw_user_meta_data) values (
    '00000000-0000-0000-0000-0000000000b1', 'feishu_ou_x@oauth.local', now(),
    '{"oauth_provider": "Feishu", "oauth_open_id": "ou_x", "name": "张三", "tenant_key": "t_1", "avatar_url": "https://example.com/a.png"}');
select provider, provider_id, identity_data->>'name' as name, identity_data->>'tenant_key' as tenant_key,
       identity_data->>'sub' as sub, identity_data->>'email_verified' as email_verified
from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000b1' order by provider;

-- A WeChat user without any email: no placeholder needed.
insert into auth.users (id, raw_user_meta_data) values (
    '00000000-0000-0000-0000-0000000000b2', '{"oauth_provider": "wechat", "oauth_open_id": "oWx_1", "unionid": "u_1", "nickname": "李四"}');
select provider, provider_id, identity_data->>'unionid' as unionid
from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000b2';

-- Email sign-up: one email identity, unconfirmed.
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000b3', 'Bob@Example.com');
select provider, provider_id, identity_data->>'email_verified' as email_verified
from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000b3';

-- Phone sign-up: one phone identity.
insert into auth.users (id, phone) values ('00000000-0000-0000-0000-0000000000b4', '+86 138 0000 0000');
select provider, provider_id from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000b4';

-- Anonymous user: no identity at all, whatever its metadata says.
insert into auth.users (id, is_anonymous, raw_user_meta_data) values (
    '00000000-0000-0000-0000-0000000000b5', true, '{"oauth_provider": "feishu", "oauth_open_id": "ou_anon"}');
select count(*) as anonymous_identities from auth.user_identities where user_id = '00000000-0000-0000-0000-0000000000b5';

-- Empty metadata, no address, and half an OAuth pair: all insert cleanly with no identity.
insert into auth.users (id) values ('00000000-0000-0000-0000-0000000000b6');
insert into auth.users (id, raw_user_meta_data) values ('00000000-0000-0000-0000-0000000000b7', '{"oauth_provider": "feishu"}');
insert into auth.users (id, raw_user_meta_data) values ('00000000-0000-0000-0000-0000000000b8', '{"oauth_provider": "", "oauth_open_id": "ou_y"}');
insert into auth.users (id, raw_user_meta_data) values ('00000000-0000-0000-0000-0000000000b9', '{"oauth_open_id": null, "oauth_provider": null}');
select count(*) as identities_of_plain_users from auth.user_identities
where user_id in ('00000000-0000-0000-0000-0000000000b6', '00000000-0000-0000-0000-0000000000b7',
                  '00000000-0000-0000-0000-0000000000b8', '00000000-0000-0000-0000-0000000000b9');

-- A second user claiming ou_x fails, naming the conflict, and leaves nothing behind.
savepoint s;
insert into auth.users (id, email, raw_user_meta_data) values (
    '00000000-0000-0000-0000-0000000000c1', 'mallory@example.com', '{"oauth_provider": "feishu", "oauth_open_id": "ou_x"}');
rollback to s;
select count(*) as mallory_rows from auth.users where email = 'mallory@example.com';
-- Its SQLSTATE is unique_violation, as for any duplicate.
select regress.error_of($$insert into auth.users (raw_user_meta_data) values ('{"oauth_provider": "wechat", "oauth_open_id": "oWx_1"}')$$);

-- The trigger function runs as its owner with a pinned search_path.
select proname, prosecdef, proconfig from pg_proc
where pronamespace = 'auth'::regnamespace and proname in ('handle_new_user', 'insert_identity') order by proname;

rollback;
