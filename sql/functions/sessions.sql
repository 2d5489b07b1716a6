-- Whether a session still stands, and revoking one.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- When a session was last used: its last refresh, or its start. Plain SQL without a SET
-- clause, so that Postgres inlines it (auth.session_state, the cleanup's auth.last_activity).
create or replace function auth.session_activity(s auth.sessions)
returns timestamptz
language sql
stable
as $$
    select coalesce(s.refreshed_at, s.created_at)
$$;

-- The one rule for whether a session still stands. Signing out deletes a session
-- (its refresh tokens go with it); only a replayed refresh token revokes one, keeping
-- it so that the replay is recognised. 'active'; 'revoked'; 'expired' (its not_after
-- or the time-box); 'inactive' (the inactivity timeout; Supabase Auth names it apart).
-- The time-box and timeout are in seconds, 0 = off, passed in from auth_ext.* settings.
-- Plain SQL without a SET clause or a subquery, so that Postgres inlines it into the
-- statement that asks (every access check and refresh): a call of its own cost more than
-- the rest of the check. Not SECURITY DEFINER, and only the extension's statements, which
-- pin search_path, may call it. `revoked`: whether auth.session_revocations has the session.
create or replace function auth.session_state(s auth.sessions, revoked boolean, timebox_seconds int, inactivity_seconds int)
returns text
language sql
stable
as $$
    select case
        when revoked then 'revoked'
        when (s.not_after is not null and s.not_after <= pg_catalog.now())
          or (timebox_seconds > 0 and s.created_at + pg_catalog.make_interval(secs => timebox_seconds) <= pg_catalog.now())
            then 'expired'
        when inactivity_seconds > 0
          and auth.session_activity(s) + pg_catalog.make_interval(secs => inactivity_seconds) <= pg_catalog.now()
            then 'inactive'
        else 'active' end
$$;

-- Revokes a session (a spent refresh token was replayed), and says so in the audit log.
-- Written by a durable-write worker while the caller still holds the session's row:
-- it takes no lock the caller holds. Its refresh tokens stop working with it.
create or replace function auth.revoke_session(p_session_id uuid, reason text)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
    with revoked as (
        insert into auth.session_revocations (session_id, reason) values (p_session_id, reason)
        on conflict (session_id) do nothing
        returning session_id)
    insert into auth.audit_log_entries (actor_id, action, payload)
    select s.user_id, 'token_revoked', jsonb_build_object('session_id', r.session_id, 'reason', reason)
    from revoked r left join auth.sessions s on s.id = r.session_id
$$;
