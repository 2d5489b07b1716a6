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
    claimed_at timestamptz
);

create index outbox_unclaimed_idx on auth.outbox (id) where claimed_at is null;
-- Deleting a user deletes its messages without scanning the outbox.
create index outbox_user_id_idx on auth.outbox (user_id);
