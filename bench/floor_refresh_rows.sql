-- pgbench floor: the rows a refresh writes (its session locked; the live token spent, its
-- child inserted, the session's refresh time, the audit entry), by plain statements in one
-- transaction with the schema's keys and indexes, and no logic. Each client first opens
-- a session of its own (pgbench -D started=0), then refreshes it.
\if :started = 0
\set n random(1, 16777215)
select auth.sign_in_anonymously(ip => '10.200.0.0'::inet + :n)->'user'->>'id' as uid \gset
select id as sid from auth.sessions where user_id = ':uid' \gset
\set started 1
\endif
begin;
select id from auth.sessions where id = ':sid' for no key update;
with spent as (
    update auth.refresh_tokens set spent_at = clock_timestamp()
    where session_id = ':sid' and spent_at is null
    returning id, session_id, user_id, token_hash),
minted as (
    insert into auth.refresh_tokens (session_id, user_id, token_hash, parent_id)
    select session_id, user_id, sha256(token_hash), id from spent
    returning session_id),
refreshed as (
    update auth.sessions s set refreshed_at = now(), updated_at = now()
    from minted m where s.id = m.session_id
    returning s.id, s.user_id)
insert into auth.audit_log_entries (actor_id, action, payload)
select user_id, 'token_refreshed', jsonb_build_object('session_id', id) from refreshed;
commit;
