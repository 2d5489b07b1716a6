-- One-time tokens (codes and links), the attempts at them, and PKCE flow state.

-- The kinds of one-time token, and of the messages that carry them: the one list, which
-- the Rust side's TokenType must match (a #[pg_test] in src/verification/one_time.rs checks it).
create domain auth.one_time_token_type as text check (value in
    ('confirmation', 'invite', 'magiclink', 'recovery', 'email_change_current', 'email_change_new',
     'phone_change', 'reauthentication', 'sms'));

-- Links and codes for confirmation, magic links, recovery, invites and email change.
-- Only hashes are stored: the link's random token as SHA-256, the 6-digit code as
-- SHA-256 of a per-token salt and the code.
create table auth.one_time_tokens (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid not null references auth.users (id) on delete cascade,
    token_type  auth.one_time_token_type not null,
    token_hash  bytea not null,
    otp_salt    bytea not null,
    otp_hash    bytea not null,
    -- The address it was sent to: an email (or the new one of an email change), or a phone.
    relates_to  text not null,
    -- What the request asked for besides, e.g. {"keep_sessions": true} for an email change.
    options     jsonb not null default '{}',
    -- The client address that asked for it (its limit key): it is checked against its own
    -- code only, which nobody else's tries touch (src/verification/one_time.rs, consume_code).
    requested_from text,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    -- Set when used; kept a while so that a second use says "already used".
    consumed_at timestamptz,
    constraint one_time_tokens_token_hash_key unique (token_hash)
);

-- Codes tried against a token, per client address: a stranger's wrong guesses use up
-- the stranger's tries, never the owner's. A table of its own: the worker that counts an
-- attempt must not need the token row, which the verifying transaction holds locked.
create table auth.one_time_token_attempts (
    token_id uuid not null references auth.one_time_tokens (id) on delete cascade,
    client   text not null,
    attempts int not null,
    primary key (token_id, client)
);

-- One live token per user, type and requester: issuing another replaces the asking
-- address's own (src/limits.rs), never another address's.
create unique index one_time_tokens_one_live on auth.one_time_tokens (user_id, token_type, coalesce(requested_from, ''))
    where consumed_at is null;
create index one_time_tokens_relates_to_idx on auth.one_time_tokens (relates_to, token_type, created_at);
-- Deleting a user reaches its spent tokens too (the unique index covers live ones only).
create index one_time_tokens_user_id_idx on auth.one_time_tokens (user_id);

-- PKCE flows whose link was followed (src/verification/pkce.rs): the auth code, of which only the
-- SHA-256 is kept, waits here for auth.exchange_code_for_session and its verifier, for
-- auth_ext.flow_state_exp. Taken once; the user's stale codes go when it gets a new one.
create table auth.flow_state (
    auth_code_hash        bytea primary key,
    user_id               uuid not null references auth.users (id) on delete cascade,
    code_challenge        text not null,
    code_challenge_method text not null,
    -- How the flow signed in (the session's amr method): magiclink, recovery, ...
    authentication_method text not null,
    created_at            timestamptz not null default now(),
    constraint flow_state_method check (code_challenge_method in ('s256', 'plain')),
    constraint flow_state_challenge_length check (length(code_challenge) between 43 and 128)
);

create index flow_state_user_id_idx on auth.flow_state (user_id, created_at);

-- The password each later sign-up of an unconfirmed user set, one row per requester
-- (client address): the latest is the user's until the address is confirmed
-- (auth.unconfirmed_password, auth.confirm_address). Kept off the user's row, so that a
-- stranger's sign-up, left open in a transaction, holds no row the owner's confirmation
-- must write. Hashes only (argon2id).
create table auth.sign_up_passwords (
    user_id        uuid not null references auth.users (id) on delete cascade,
    requested_from text not null,
    password_hash  text not null,
    set_at         timestamptz not null default clock_timestamp(),
    primary key (user_id, requested_from)
);
