-- make bench: adds :users stale anonymous users (idle 60 days), each with a session and
-- its live refresh token, as a busy app accumulates them; the cleanup then deletes them.
\set ON_ERROR_STOP on
\set QUIET on
create temporary table grown as
select gen_random_uuid() as id, gen_random_uuid() as session_id,
       now() - interval '60 days' - n * interval '1 millisecond' as at
from generate_series(1, :users) n;
insert into auth.users (id, is_anonymous, raw_app_meta_data, created_at, updated_at, last_sign_in_at)
select id, true, '{"provider": "anonymous", "providers": ["anonymous"]}', at, at, at from grown;
insert into auth.sessions (id, user_id, created_at, updated_at, amr)
select session_id, id, at, at, '[{"method": "anonymous"}]' from grown;
insert into auth.refresh_tokens (session_id, user_id, token_hash, created_at)
select session_id, id, sha256(convert_to(session_id::text, 'UTF8')), at from grown;
drop table grown;
vacuum analyze auth.users, auth.sessions, auth.refresh_tokens;
-- The runs that follow measure calls, not the checkpoint this much writing brings on.
checkpoint;
