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

-- A message's payload without its one-time secrets (codes, links): what stays in the
-- table, and in backups, once a message is delivered or has failed for good.
create or replace function auth.outbox_scrubbed(payload jsonb)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$ select payload - array['email_otp', 'otp', 'token_hash', 'action_link', 'message'] $$;

-- Hands pending messages to a sender, each exactly once however many senders run
-- (SKIP LOCKED), at most once: they count as sent, and their secrets leave the table as
-- they are handed over. For senders that do their own retrying; auth.lease_outbox is the
-- at-least-once way.
create or replace function auth.claim_outbox(max int default 100)
returns table (id bigint, kind text, recipient text, payload jsonb, created_at timestamptz)
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with claimed as (
        select o.id, o.payload from auth.outbox o
        where o.status = 'pending' and o.claimed_at is null
        order by o.id
        limit greatest(least(coalesce(max, 100), 1000), 0)
        for update skip locked),
    scrubbed as (
        update auth.outbox o
        set claimed_at = now(), status = 'sent', sent_at = now(), attempts = o.attempts + 1,
            payload = auth.outbox_scrubbed(o.payload)
        from claimed c where o.id = c.id
        returning o.id, o.kind, o.recipient, o.created_at)
    select s.id, s.kind, s.recipient, c.payload, s.created_at
    from scrubbed s join claimed c on c.id = s.id
    order by s.id
$$;

-- What a message's template may say besides its payload, in Supabase Auth's names: the
-- site, the user's email (the address it goes to for an email change's new address),
-- the new email, the user's metadata, where the link leads.
create or replace function auth.outbox_context(o auth.outbox)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object(
        'SiteURL', coalesce(nullif(pg_catalog.current_setting('auth_ext.site_url', true), ''), 'http://localhost:3000'),
        'Email', coalesce(u.email, o.recipient),
        'NewEmail', coalesce(o.payload->>'new_email', u.email_change, ''),
        'Data', coalesce(u.raw_user_meta_data, '{}'),
        'RedirectTo', coalesce(o.payload->>'redirect_to', nullif(pg_catalog.current_setting('auth_ext.site_url', true), ''), ''),
        -- For webhooks: the user as Supabase Auth's hooks send it.
        'user', auth.user_json(o.user_id))
    from (select) x left join auth.users u on u.id = o.user_id
$$;

-- At least once: leases up to `max` pending messages that are due to a sender for
-- `lease_seconds`. One another sender has leased is skipped (SKIP LOCKED, and the lease);
-- one whose sender died is leased again when its lease runs out. The sender reports each
-- with auth.outbox_sent or auth.outbox_retry.
create or replace function auth.lease_outbox(max int default 100, lease_seconds int default 60, channel text default null)
returns table (id bigint, kind text, recipient text, payload jsonb, created_at timestamptz, attempts int, context jsonb)
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with due as (
        select o.id from auth.outbox o
        where o.status = 'pending' and o.next_attempt_at <= now()
          and (o.claimed_at is null or o.claimed_at < now() - make_interval(secs => greatest(coalesce(lease_seconds, 60), 5)))
          and (channel is null or coalesce(o.payload->>'channel', 'email') = channel)
        order by o.next_attempt_at, o.id
        limit greatest(least(coalesce(max, 100), 1000), 0)
        for update skip locked)
    update auth.outbox o set claimed_at = now(), attempts = o.attempts + 1
    from due d where o.id = d.id
    returning o.id, o.kind::text, o.recipient, o.payload, o.created_at, o.attempts, auth.outbox_context(o)
$$;

-- A sender delivered a leased message: it is sent, and its secrets leave the table.
create or replace function auth.outbox_sent(message_id bigint)
returns boolean
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with sent as (
        update auth.outbox set status = 'sent', sent_at = now(), last_error = null, payload = auth.outbox_scrubbed(payload)
        where id = message_id and status = 'pending' returning id)
    select exists (select from sent)
$$;

-- A sender could not deliver a leased message: with a temporary error (an SMTP 4xx, a
-- timeout, the server away) it is tried again after auth_ext.outbox_retry_delay (30 s),
-- then twice as long each time (at most an hour), up to auth_ext.outbox_max_attempts; a permanent one (an SMTP 5xx) fails it at
-- once. A failed message keeps its reason and loses its secrets. Answers its status.
create or replace function auth.outbox_retry(message_id bigint, error text, permanent boolean default false)
returns text
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with settled as (
        select o.id, coalesce(permanent, false)
                  or o.attempts >= coalesce(nullif(pg_catalog.current_setting('auth_ext.outbox_max_attempts', true), '')::int, 5) as gives_up
        from auth.outbox o where o.id = message_id and o.status = 'pending' for update),
    updated as (
        update auth.outbox o set
            claimed_at = null,
            last_error = left(coalesce(error, 'unknown error'), 1000),
            status = case when s.gives_up then 'failed' else 'pending' end,
            next_attempt_at = now() + least(interval '1 hour',
                coalesce(nullif(pg_catalog.current_setting('auth_ext.outbox_retry_delay', true), '')::interval, interval '30 seconds')
                * power(2, least(greatest(o.attempts - 1, 0), 16))),
            payload = case when s.gives_up then auth.outbox_scrubbed(o.payload) else o.payload end
        from settled s where o.id = s.id
        returning o.status)
    select status from updated
$$;

-- What became of each message, for the application's server: its state, tries and last
-- error, never its secrets.
create or replace view auth.outbox_status as
    select id, kind, recipient, user_id, created_at, status, attempts, next_attempt_at, last_error, sent_at
    from auth.outbox;
