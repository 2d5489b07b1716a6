-- pgbench floor: the rows an anonymous sign-in writes (the user, its audit entry, the
-- session, its refresh token, the login's audit entry, the address's counter), inserted
-- by one plain statement with the schema's triggers, keys and indexes, and no logic.
\set n random(1, 16777215)
with u as (
    insert into auth.users (is_anonymous, raw_app_meta_data, last_sign_in_at)
    values (true, '{"provider": "anonymous", "providers": ["anonymous"]}', now()) returning id),
signed_up as (
    insert into auth.audit_log_entries (actor_id, action, payload)
    select id, 'user_signedup', '{"provider": "anonymous"}' from u),
s as (
    insert into auth.sessions (user_id, ip, amr)
    select id, '10.0.0.0'::inet + :n, '[{"method": "anonymous", "timestamp": 1700000000}]' from u
    returning id, user_id),
t as (
    insert into auth.refresh_tokens (session_id, user_id, token_hash)
    select id, user_id, sha256(uuid_send(id)) from s),
login as (
    insert into auth.audit_log_entries (actor_id, action, ip, payload)
    select user_id, 'login', '10.0.0.0'::inet + :n, jsonb_build_object('method', 'anonymous', 'session_id', id) from s)
insert into auth.rate_limits as r (window_start, bucket, key, hits)
values (date_trunc('hour', now(), 'UTC'), 'anonymous', host('10.0.0.0'::inet + :n), 1)
on conflict (window_start, bucket, key) do update set hits = r.hits + 1;
