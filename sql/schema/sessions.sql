-- Sessions, their revocations, refresh tokens and the audit log.

create table auth.sessions (
    id             uuid primary key default gen_random_uuid(),
    user_id        uuid not null references auth.users (id) on delete cascade,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    -- Last refresh; with created_at, what the inactivity timeout measures.
    refreshed_at   timestamptz,
    -- A hard end set by an administrator; the time-box setting applies besides.
    not_after      timestamptz,
    ip             inet,
    user_agent     text,
    aal            text not null default 'aal1',
    -- How the user signed in: [{"method": "password", "timestamp": 1700000000}].
    amr            jsonb not null default '[]',
    -- The factor that raised it to aal2 (no foreign key: removing the factor lowers it).
    factor_id      uuid,
    constraint sessions_aal check (aal in ('aal1', 'aal2', 'aal3')),
    constraint sessions_user_agent_length check (length(user_agent) <= 1024)
);

create index sessions_user_id_idx on auth.sessions (user_id);

-- Sessions revoked because a spent refresh token was replayed (signing out deletes a
-- session instead). A table of its own, without a foreign key, so that a worker can
-- commit a revocation while the refresh that detected the replay still holds the
-- session's row, before that refresh answers: once a client hears "revoked", it is.
-- The cleanup removes entries whose session is gone.
create table auth.session_revocations (
    session_id uuid primary key,
    reason     text not null,
    revoked_at timestamptz not null default now()
);

-- Refresh tokens are opaque random strings; only their SHA-256 is stored.
-- Each refresh spends the session's live token and mints its child.
create table auth.refresh_tokens (
    id         bigint generated always as identity primary key,
    session_id uuid not null references auth.sessions (id) on delete cascade,
    -- Its session's user. No foreign key (as in Supabase): the token goes with its
    -- session, which goes with its user, and a key would cost a check on every sign-in
    -- and refresh, and a cascade for every deleted user.
    user_id    uuid not null,
    token_hash bytea not null,
    -- The token it was exchanged from (no foreign key: spent tokens are purged).
    parent_id  bigint,
    created_at timestamptz not null default now(),
    -- When it was exchanged for its child; NULL while it is the session's live token.
    -- (A revoked session is recorded in auth.session_revocations, not here.)
    spent_at   timestamptz,
    constraint refresh_tokens_token_hash_key unique (token_hash),
    constraint refresh_tokens_token_hash_length check (length(token_hash) = 32)
);

-- At most one live token per session: two branches can never both refresh.
create unique index refresh_tokens_one_live_per_session on auth.refresh_tokens (session_id) where spent_at is null;
-- Every foreign key has an index, so that deleting a session or a user never scans; it
-- also finds a token's child (a session keeps few tokens) and a session's chain.
create index refresh_tokens_session_id_idx on auth.refresh_tokens (session_id, id);

-- Who did what, when, from where. No foreign key: entries outlive their users.
create table auth.audit_log_entries (
    id         bigint generated always as identity primary key,
    created_at timestamptz not null default now(),
    actor_id   uuid,
    action     text not null,
    ip         inet,
    payload    jsonb not null default '{}'
);
-- No index but its key, as in Supabase Auth: nothing of ours reads it back, and every
-- sign-in and refresh writes to it. An application that searches it adds its own.
