-- Attempts at one-time codes.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Counts a code tried against a one-time token by a client (and against its user's
-- strangers' pool when the client did not ask for it), and against the client's address;
-- committed by a worker of its own before the code is compared, so no failed
-- verification can undo it.
create or replace function auth.count_otp_attempt(p_token_id uuid, p_client text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into auth.one_time_token_attempts as a (token_id, client, attempts) values (p_token_id, p_client, 1)
    on conflict (token_id, client) do update set attempts = a.attempts + 1;
    -- A client's tries of a user's codes, an hour, however many codes it asks for.
    perform auth.rate_limit_count('otp_tries', t.user_id::text || ' ' || p_client)
    from auth.one_time_tokens t where t.id = p_token_id;
    -- Tries from any address but the one that asked for the code share one hourly pool per
    -- user, which asking for new codes does not refill.
    perform auth.rate_limit_count('otp_strangers', t.user_id::text)
    from auth.one_time_tokens t where t.id = p_token_id and t.requested_from is distinct from p_client;
    perform auth.rate_limit_count('verify', p_client);
    perform auth.rate_burst_count('verify', p_client,
        coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_verify', true), '')::int, 360));
end
$$;

-- The user field (Supabase Auth's *_sent_at, invited_at) that says when a message with a
-- token of this kind last went out; the one mapping, for auth.user_json and for the
-- one-message-a-window limit (its kind). Read from the tokens, never written on the
-- user by a send: a request for someone else's address holds no lock on that user's row.
create or replace function auth.message_field(token_type text)
returns text
language sql
immutable
parallel safe
as $$
    select case token_type
        when 'confirmation' then 'confirmation_sent_at'
        when 'sms' then 'confirmation_sent_at'
        when 'invite' then 'invited_at'
        when 'magiclink' then 'recovery_sent_at'
        when 'recovery' then 'recovery_sent_at'
        when 'email_change_current' then 'email_change_sent_at'
        when 'email_change_new' then 'email_change_sent_at'
        when 'phone_change' then 'phone_change_sent_at'
        when 'reauthentication' then 'reauthentication_sent_at'
    end
$$;
