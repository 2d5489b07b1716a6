-- Writes that must commit whatever the request's transaction does (a worker runs them).
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- The one entry point of the durable-write workers (src/workers/durable.rs): performs a write
-- that must stand although the call that asked for it fails. Answers 'done', 'busy'
-- (a row it needs is still locked, by the failing caller: retried) or 'failed: ...';
-- never raises, so a worker never dies of it.
-- The one list of durable-write kinds: Rust's DurableWrite names one of them, its
-- target (a session, a token, an account key, or '-') and its client.
create or replace function auth.durable_write(kind text, target text, client text)
returns text
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '200ms'
as $$
begin
    case kind
        when 'revoke_session' then perform auth.revoke_session(target::uuid, 'token_reuse');
        when 'count_otp_attempt' then perform auth.count_otp_attempt(target::uuid, client);
        when 'count_failed_sign_in' then perform auth.count_failed_sign_in(target, client);
        when 'count_mfa_attempt' then
            perform auth.rate_limit_count('mfa_tries', target || ' ' || client);
            perform auth.rate_limit_count('verify', client);
        when 'end_user_sessions' then
            with ended as (delete from auth.sessions where user_id = target::uuid returning id)
            insert into auth.audit_log_entries (actor_id, action, payload)
            select target::uuid, 'logout', jsonb_build_object('scope', 'global', 'reason', 'mfa_verification_rejected', 'sessions', jsonb_agg(id))
            from ended having count(*) > 0;
        when 'count_address_probe' then perform auth.rate_limit_count('email_client', client);
        when 'count_password_work' then perform auth.rate_burst_count('password', client,
            coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_failed_sign_ins', true), '')::int, 360));
        else return 'failed: unknown kind ' || kind;
    end case;
    return 'done';
exception
    when lock_not_available then return 'busy';
    when others then return 'failed: ' || sqlerrm;
end
$$;
