-- Users and their identities. Column names follow Supabase Auth's `auth` schema so that
-- SQL written for it (docs, policies, cleanup queries) runs unchanged. The extension's
-- control file places everything in schema `auth`.

create table auth.users (
    id                          uuid primary key default gen_random_uuid(),
    aud                         text not null default 'authenticated',
    role                        text not null default 'authenticated',
    email                       text,
    phone                       text,
    encrypted_password          text,
    email_confirmed_at          timestamptz,
    phone_confirmed_at          timestamptz,
    -- As in Supabase: confirmed once either address is.
    confirmed_at                timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    last_sign_in_at             timestamptz,
    raw_app_meta_data           jsonb not null default '{}',
    raw_user_meta_data          jsonb not null default '{}',
    is_anonymous                boolean not null default false,
    banned_until                timestamptz,
    -- A pending new email address, and how many of its two confirmations are done.
    email_change                text,
    email_change_confirm_status smallint not null default 0,
    phone_change                text,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    deleted_at                  timestamptz,
    -- When the newest message of each kind went out (Supabase Auth's names), set by
    -- one_time::issue: the user object shows them.
    invited_at                  timestamptz,
    confirmation_sent_at        timestamptz,
    recovery_sent_at            timestamptz,
    email_change_sent_at        timestamptz,
    phone_change_sent_at        timestamptz,
    reauthentication_sent_at    timestamptz,
    constraint users_email_change_confirm_status_range check (email_change_confirm_status between 0 and 2),
    constraint users_app_meta_data_is_object check (jsonb_typeof(raw_app_meta_data) = 'object'),
    constraint users_user_meta_data_is_object check (jsonb_typeof(raw_user_meta_data) = 'object'),
    -- An anonymous user has no address; adding one is what makes a user permanent.
    constraint users_anonymous_has_no_address check (not is_anonymous or (email is null and phone is null))
);

-- Unique, but partial: no foreign key can use these indexes, so changing an address is no
-- key update, and an application's row that references a user (its check holds FOR KEY
-- SHARE until that transaction ends) never holds up the user's own account changes,
-- which lock the row FOR NO KEY UPDATE.
create unique index users_email_key on auth.users (email) where email is not null;
create unique index users_phone_key on auth.users (phone) where phone is not null;

comment on table auth.users is 'One row per user, permanent or anonymous. Columns follow Supabase Auth.';

-- Finding stale anonymous users stays cheap however many permanent users there are.
-- Serves Supabase's documented cleanup query (`where is_anonymous and created_at < ...`)
-- and auth.cleanup_anonymous_users, which walks it in (created_at, id) order.
create index users_anonymous_created_at_idx on auth.users (created_at, id) where is_anonymous;

-- The one rule for a user that still exists: not soft-deleted (admin_delete_user with
-- should_soft_delete keeps the row, as Supabase Auth does). The extension's statements
-- read users through it.
create view auth.live_users as select * from auth.users where deleted_at is null;


create table auth.user_identities (
    id              uuid primary key default gen_random_uuid(),
    user_id         uuid not null references auth.users (id) on delete cascade,
    -- 'email', 'phone', 'feishu', 'wechat', 'google', ...
    provider        text not null,
    -- The provider's subject: open_id, email address, phone number.
    provider_id     text not null,
    -- Everything the provider returned; new providers never need a schema change.
    identity_data   jsonb not null default '{}',
    last_sign_in_at timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint user_identities_provider_id_key unique (provider, provider_id),
    constraint user_identities_provider_format check (provider ~ '^[a-z0-9_.:-]{1,64}$'),
    constraint user_identities_provider_id_length check (length(provider_id) between 1 and 512),
    constraint user_identities_data_is_object check (jsonb_typeof(identity_data) = 'object')
);

comment on table auth.user_identities is 'One row per way a user signs in; unique on (provider, provider_id).';

create index user_identities_user_id_idx on auth.user_identities (user_id);
