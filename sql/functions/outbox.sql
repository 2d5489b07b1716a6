-- The outbox: waking and feeding a sender.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

create or replace function auth.outbox_notify()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_catalog.pg_notify('auth_outbox', '');
    return null;
end
$$;

-- Hands unclaimed messages to a sender, each exactly once however many senders run
-- (SKIP LOCKED), and scrubs their one-time secrets from the table as it does.
create or replace function auth.claim_outbox(max int default 100)
returns table (id bigint, kind text, recipient text, payload jsonb, created_at timestamptz)
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with claimed as (
        select o.id, o.payload from auth.outbox o
        where o.claimed_at is null
        order by o.id
        limit greatest(least(coalesce(max, 100), 1000), 0)
        for update skip locked),
    scrubbed as (
        update auth.outbox o
        set claimed_at = now(), payload = o.payload - array['email_otp', 'token_hash', 'action_link']
        from claimed c where o.id = c.id
        returning o.id, o.kind, o.recipient, o.created_at)
    select s.id, s.kind, s.recipient, c.payload, s.created_at
    from scrubbed s join claimed c on c.id = s.id
    order by s.id
$$;
