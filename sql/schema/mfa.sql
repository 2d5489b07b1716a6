-- Multi-factor authentication: a user's factors (TOTP apps, phones) and the challenges
-- that verify them (src/mfa/). No application role is granted anything here: a TOTP
-- secret is read only by the extension's own functions (auth_ext_admin), and factors
-- reach clients only as auth.factor_json shows them.
create table auth.mfa_factors (
    id                 uuid primary key default gen_random_uuid(),
    user_id            uuid not null references auth.users (id) on delete cascade,
    friendly_name      text,
    factor_type        text not null,
    status             text not null default 'unverified',
    -- TOTP: the shared secret, base32 as authenticator apps take it.
    secret             text,
    -- Phone: the number codes go to (E.164 digits).
    phone              text,
    -- The last TOTP time step accepted: a code is never accepted twice (RFC 6238 5.2).
    last_used_step     bigint,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    last_challenged_at timestamptz,
    constraint mfa_factors_type check (factor_type in ('totp', 'phone')),
    constraint mfa_factors_status check (status in ('unverified', 'verified')),
    constraint mfa_factors_friendly_name_length check (length(friendly_name) <= 256)
);

create index mfa_factors_user_id_idx on auth.mfa_factors (user_id);
create unique index mfa_factors_user_friendly_name_key on auth.mfa_factors (user_id, friendly_name)
    where friendly_name is not null and friendly_name <> '';

-- A challenge: a factor's code is checked against one, once, from the address that made
-- it, within auth_ext.mfa_challenge_expiry.
create table auth.mfa_challenges (
    id          uuid primary key default gen_random_uuid(),
    factor_id   uuid not null references auth.mfa_factors (id) on delete cascade,
    created_at  timestamptz not null default now(),
    verified_at timestamptz,
    ip          inet,
    -- Phone: the code sent, salted and hashed.
    otp_salt    bytea,
    otp_hash    bytea
);

create index mfa_challenges_factor_id_idx on auth.mfa_challenges (factor_id);
create index mfa_challenges_created_at_idx on auth.mfa_challenges (created_at);
