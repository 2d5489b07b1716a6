-- Rows as release 0.1.0 stored them, written with plain SQL (the previous release's
-- functions are not available: the library is this version's).
insert into auth.users (id, email, email_confirmed_at) values
    ('00000000-0000-0000-0000-0000000000d1', 'upgrade@example.com', now()),
    ('00000000-0000-0000-0000-0000000000d2', 'revoked@example.com', now());
insert into auth.sessions (id, user_id) values
    ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000d1');
insert into auth.sessions (id, user_id, revoked_at, revoked_reason) values
    ('00000000-0000-0000-0000-0000000000e2', '00000000-0000-0000-0000-0000000000d2', now(), 'token_reuse');
insert into auth.refresh_tokens (session_id, user_id, token_hash, revoked, updated_at) values
    ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000d1', sha256('spent-token'), true, now() - interval '1 hour');
insert into auth.refresh_tokens (session_id, user_id, token_hash, parent_id) values
    ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000d1', sha256('live-token'),
     (select id from auth.refresh_tokens where token_hash = sha256('spent-token')));
insert into auth.refresh_tokens (session_id, user_id, token_hash) values
    ('00000000-0000-0000-0000-0000000000e2', '00000000-0000-0000-0000-0000000000d2', sha256('revoked-token'));
insert into auth.one_time_tokens (user_id, token_type, token_hash, otp_salt, otp_hash, relates_to, expires_at)
values ('00000000-0000-0000-0000-0000000000d1', 'magiclink', sha256('link'), '\x00', sha256('code'), 'upgrade@example.com', now() + interval '1 hour');
-- An operator's own function in schema auth: not the extension's, so its owner stays.
create function auth.operator_helper() returns int language sql as 'select 1';
