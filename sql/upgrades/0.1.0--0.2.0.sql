-- auth_ext 0.1.0 -> 0.2.0: the changes to tables and data, and the functions whose
-- signature changed or that are gone. scripts/build-sql.py makes the upgrade script
-- from sql/schema/roles.sql (which may run again), this, every function (the Rust ones and sql/functions/),
-- the triggers and sql/access.sql; scripts/upgrade-check.sh checks that the result
-- equals a fresh 0.2.0 install. Trust boundaries: an owner role instead of the
-- installer, application code run as its owner, identities only from trusted parties,
-- limits on guessing. Reliability: restores lose nothing, read paths work on a standby,
-- refreshes converge, revocations commit before they are reported.

-- Token kinds: one SQL type instead of two CHECK lists.
create domain auth.one_time_token_type as text check (value in
    ('confirmation', 'invite', 'magiclink', 'recovery', 'email_change_current', 'email_change_new',
     'phone_change', 'reauthentication', 'sms'));
alter table auth.one_time_tokens drop constraint one_time_tokens_type;
alter table auth.one_time_tokens alter column token_type type auth.one_time_token_type;
alter table auth.outbox drop constraint outbox_kind;
alter table auth.outbox alter column kind type auth.one_time_token_type;

-- When the newest message of each kind went out, as Supabase Auth's user object shows.
alter table auth.users add column invited_at timestamptz, add column confirmation_sent_at timestamptz,
    add column recovery_sent_at timestamptz, add column email_change_sent_at timestamptz,
    add column phone_change_sent_at timestamptz, add column reauthentication_sent_at timestamptz;

-- Addresses stay unique through partial indexes, which no foreign key can use: an
-- application's open transaction referencing a user no longer holds up that user's
-- account changes.
alter table auth.users drop constraint users_email_key, drop constraint users_phone_key;
create unique index users_email_key on auth.users (email) where email is not null;
create unique index users_phone_key on auth.users (phone) where phone is not null;

-- Serialising locks on rows no application role may touch (db::lock).
create table auth.serial_locks (key bigint primary key);

-- An address's form is one rule, auth.check_address_format, which the users trigger
-- applies on every write: no second copy in constraints.
alter table auth.users drop constraint users_email_format, drop constraint users_phone_format;

-- Revocations move out of auth.sessions, into a table a worker can write while the
-- refresh that detected the replay still holds the session.
create table auth.session_revocations (
    session_id uuid primary key,
    reason     text not null,
    revoked_at timestamptz not null default now()
);
insert into auth.session_revocations (session_id, reason, revoked_at)
select id, coalesce(revoked_reason, 'revoked'), revoked_at from auth.sessions where revoked_at is not null;
alter table auth.sessions drop column revoked_at, drop column revoked_reason;

create table auth.secrets (
    name  text primary key,
    value bytea not null,
    constraint secrets_value_length check (length(value) >= 32)
);

-- Refresh tokens: spent_at says when a token was exchanged (revoked meant "spent");
-- every foreign key indexed; no foreign key on parent_id (spent tokens are purged) nor
-- on user_id (the token goes with its session, which goes with its user).
alter table auth.refresh_tokens add column spent_at timestamptz;
update auth.refresh_tokens set spent_at = updated_at where revoked;
drop index auth.refresh_tokens_one_live_per_session;
alter table auth.refresh_tokens drop constraint refresh_tokens_parent_id_fkey;
alter table auth.refresh_tokens drop constraint refresh_tokens_user_id_fkey;
alter table auth.refresh_tokens drop column revoked, drop column updated_at;
create unique index refresh_tokens_one_live_per_session on auth.refresh_tokens (session_id) where spent_at is null;
create index refresh_tokens_session_id_idx on auth.refresh_tokens (session_id, id);
drop index auth.refresh_tokens_parent_id_idx;

-- Sign-ins write no index that nothing reads: the audit log keeps only its key, and the
-- counters' key leads with the window, which the purge of past windows reads by.
drop index auth.audit_log_entries_created_at_idx, auth.audit_log_entries_actor_id_idx;
drop index auth.rate_limits_window_start_idx;
alter table auth.rate_limits drop constraint rate_limits_pkey, add primary key (window_start, bucket, key);

-- Our trigger no longer takes the name Supabase's guides give theirs.
alter trigger on_auth_user_created on auth.users rename to auth_ext_handle_new_user;

-- Code attempts count per client address: a stranger's guesses use up only the stranger's tries.
alter table auth.one_time_tokens add column requested_from text;
drop index auth.one_time_tokens_one_live;
create unique index one_time_tokens_one_live on auth.one_time_tokens (user_id, token_type, coalesce(requested_from, ''))
    where consumed_at is null;
alter table auth.one_time_token_attempts add column client text;
update auth.one_time_token_attempts set client = 'unknown';
alter table auth.one_time_token_attempts alter column client set not null,
    drop constraint one_time_token_attempts_pkey, add primary key (token_id, client);

-- Functions whose arguments changed, or that are gone.
drop function auth.session_expired(auth.sessions, integer, integer);
-- The cleanup reads a batch's last activity set-wise (auth.last_activity takes the row).
drop function auth.last_activity(uuid);
drop function auth.confirm_email(uuid);
drop function auth.count_otp_attempt(uuid);
drop function auth.merge_column(regclass, name, text, uuid, uuid, text);
-- verify_otp takes Supabase's named arguments (email | phone, token, type, token_hash);
-- sign_in_with_otp a phone and data.
drop function auth.verify_otp(text, text);
drop function auth.verify_otp(text, text, text);
drop function auth.sign_in_with_otp(text, boolean);
-- admin_list_users takes Supabase's filter and sort.
drop function auth.admin_list_users(integer, integer);

-- Long-lived API keys: the `anon` and `service_role` JWTs every Supabase client sends
-- as `apikey`. The key itself is not stored (it is a signed token); its jti is this id.
create table auth.api_keys (
    id          uuid primary key default gen_random_uuid(),
    role        text not null,
    -- The signing key that signed it: removing that key also ends it.
    kid         text not null,
    description text,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    constraint api_keys_role check (role in ('anon', 'service_role'))
);

-- A Supabase-compatible front door (issue: the HTTP gateway). PKCE challenges and
-- phone numbers reach sign-up: a new signature.
drop function auth.sign_up(text, text, jsonb);

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

-- Every foreign key has an index (issue: speed): deleting a user never scans these.
create index one_time_tokens_user_id_idx on auth.one_time_tokens (user_id);
create index outbox_user_id_idx on auth.outbox (user_id);

-- The third attack run (issue: takeover, lockouts, revocation, operations). Bursts
-- beside hourly limits, as GoTrue's token bucket.
create table auth.rate_bursts (
    bucket text not null,
    key    text not null,
    tat    timestamptz not null,
    primary key (bucket, key)
);

-- The one rule for a user that still exists: not soft-deleted (admin_delete_user with
-- should_soft_delete keeps the row, as Supabase Auth does). The extension's statements
-- read users through it.
create view auth.live_users as select * from auth.users where deleted_at is null;

-- include sql/schema/providers.sql
-- include sql/schema/mfa.sql
-- include sql/schema/mail.sql
-- Delivery state of messages (auth.lease_outbox, auth.outbox_sent, auth.outbox_retry).
alter table auth.outbox
    add column status text not null default 'pending',
    add column attempts int not null default 0,
    add column next_attempt_at timestamptz not null default now(),
    add column last_error text,
    add column sent_at timestamptz,
    add constraint outbox_status check (status in ('pending', 'sent', 'failed'));
-- Messages claimed before the upgrade were handed over already.
update auth.outbox set status = 'sent', sent_at = claimed_at where claimed_at is not null;
drop index auth.outbox_unclaimed_idx;
create index outbox_pending_idx on auth.outbox (next_attempt_at, id) where status = 'pending';
-- The factor that raised a session to aal2 (multi-factor authentication).
alter table auth.sessions add column factor_id uuid;

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

-- Sign-in providers of one's own are named custom:name, as in Supabase Auth.
alter table auth.user_identities drop constraint user_identities_provider_format,
    add constraint user_identities_provider_format check (provider ~ '^[a-z0-9_.:-]{1,64}$');
