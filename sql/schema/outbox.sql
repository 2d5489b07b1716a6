-- Messages to send (mail and SMS), for a sender to claim.

-- Messages for a sender process to deliver (Postgres sends no mail). Secrets stay in
-- payload only until a sender claims the message.
create table auth.outbox (
    id         bigint generated always as identity primary key,
    created_at timestamptz not null default now(),
    kind       auth.one_time_token_type not null,
    recipient  text not null,
    user_id    uuid references auth.users (id) on delete cascade,
    payload    jsonb not null,
    -- phone_change and sms go to a phone (payload.channel 'sms'); the others are emails.
    claimed_at timestamptz,
    -- Delivery, at least once (auth.lease_outbox): pending until a sender reports it sent,
    -- or failed for good with its reason; retried with backoff meanwhile.
    status          text not null default 'pending',
    attempts        int not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    sent_at         timestamptz,
    constraint outbox_status check (status in ('pending', 'sent', 'failed'))
);

create index outbox_pending_idx on auth.outbox (next_attempt_at, id) where status = 'pending';
-- Deleting a user deletes its messages without scanning the outbox.
create index outbox_user_id_idx on auth.outbox (user_id);
