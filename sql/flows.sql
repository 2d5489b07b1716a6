-- What the sign-in flows keep: one-time tokens, rate-limit counters and the outbox.

-- The kinds of one-time token, and of the messages that carry them: the one list, which
-- the Rust side's TokenType must match (a #[pg_test] in src/otp.rs checks it).
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
    -- code only, which nobody else's tries touch (src/otp.rs, consume_code).
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
-- address's own (src/otp.rs), never another address's.
create unique index one_time_tokens_one_live on auth.one_time_tokens (user_id, token_type, coalesce(requested_from, ''))
    where consumed_at is null;
create index one_time_tokens_relates_to_idx on auth.one_time_tokens (relates_to, token_type, created_at);
-- Deleting a user reaches its spent tokens too (the unique index covers live ones only).
create index one_time_tokens_user_id_idx on auth.one_time_tokens (user_id);

-- Fixed-window counters (one row per bucket, key and hour), shared by every backend.
-- Windows are UTC hours: a session's TimeZone (PostgREST's `Prefer: timezone=` sets it)
-- would otherwise start a fresh, half-hour-shifted window. Ended windows are deleted by
-- auth.purge_past_rate_limits, off the hot path.
create table auth.rate_limits (
    bucket       text not null,
    key          text not null,
    window_start timestamptz not null,
    hits         int not null,
    primary key (bucket, key, window_start)
);

create index rate_limits_window_start_idx on auth.rate_limits (window_start);

-- Counts a hit in the current hour's window, without purging old windows: durable-write
-- workers use it, and must never need a row that the caller waiting for them may hold.
create function auth.rate_limit_count(p_bucket text, p_key text)
returns int
language plpgsql
set search_path = ''
as $$
declare
    counted int;
begin
    insert into auth.rate_limits as r (bucket, key, window_start, hits)
    values (p_bucket, p_key, date_trunc('hour', now(), 'UTC'), 1)
    on conflict (bucket, key, window_start) do update set hits = r.hits + 1
    returning hits into counted;
    return counted;
end
$$;

-- Counts a hit; true while the key is within its limit for the current hour. One
-- upsert: past windows are purged by auth.purge_past_rate_limits, off the hot path.
create function auth.rate_limit_hit(p_bucket text, p_key text, p_limit int)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    return auth.rate_limit_count(p_bucket, p_key) <= p_limit;
end
$$;

-- Deletes the counters of windows that have ended (no limit reads them), and the burst
-- buckets that have refilled; answers how many windows went. The cleanup worker calls it
-- every round; without preloading, schedule it.
create function auth.purge_past_rate_limits()
returns bigint
language sql
security definer
set search_path = ''
as $$
    with purged as (delete from auth.rate_limits where window_start < now() - interval '1 hour' returning 1),
         refilled as (delete from auth.rate_bursts where tat < clock_timestamp())
    select count(*) from purged
$$;

-- Hits so far this hour, counting none: what a limit checks before a try whose failure
-- is then counted by a durable-write worker.
create function auth.rate_limit_hits(p_bucket text, p_key text)
returns int
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select coalesce((select hits from auth.rate_limits
                         where bucket = p_bucket and key = p_key and window_start = date_trunc('hour', now(), 'UTC')), 0));
end
$$;

-- Bursts, beside the hourly windows: GoTrue's token bucket (360 an hour, 30 at once) as
-- GCRA keeps it, one timestamp per bucket and key. tat is when the bucket is full again;
-- each hit moves it on by one refill interval (an hour over the hourly limit), and a
-- bucket whose tat lies more than burst - 1 intervals ahead is spent. Real time
-- (clock_timestamp): the workers that count and the calls that check run in different
-- transactions, and a statement may try many times.
create table auth.rate_bursts (
    bucket text not null,
    key    text not null,
    tat    timestamptz not null,
    primary key (bucket, key)
);

-- Counts a hit (the durable-write workers do, for failed tries).
create function auth.rate_burst_count(p_bucket text, p_key text, p_per_hour int)
returns void
language sql
set search_path = ''
as $$
    insert into auth.rate_bursts as b (bucket, key, tat)
    values (p_bucket, p_key, clock_timestamp() + make_interval(secs => 3600.0 / greatest(p_per_hour, 1)))
    on conflict (bucket, key) do update
    set tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => 3600.0 / greatest(p_per_hour, 1));
$$;

-- Seconds until the bucket allows another hit; 0 while it does. Counts nothing.
create function auth.rate_burst_wait(p_bucket text, p_key text, p_per_hour int, p_burst int)
returns int
language sql
stable
set search_path = ''
as $$
    select coalesce((
        select ceil(extract(epoch from b.tat - clock_timestamp())
                    - (greatest(p_burst, 1) - 1) * 3600.0 / greatest(p_per_hour, 1))::int
        from auth.rate_bursts b where b.bucket = p_bucket and b.key = p_key), 0)
$$;

-- Seconds until the current window ends: when a refused client may try again
-- (the hint and PostgREST's Retry-After).
create function auth.rate_limit_retry_after()
returns int
language sql
stable
set search_path = ''
as $$
    select ceil(extract(epoch from date_trunc('hour', now(), 'UTC') + interval '1 hour' - now()))::int
$$;

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

create function auth.outbox_notify()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform pg_catalog.pg_notify('auth_outbox', '');
    return null;
end
$$;

create trigger outbox_notify
    after insert on auth.outbox
    for each statement execute function auth.outbox_notify();

-- Hands unclaimed messages to a sender, each exactly once however many senders run
-- (SKIP LOCKED), and scrubs their one-time secrets from the table as it does.
create function auth.claim_outbox(max int default 100)
returns table (id bigint, kind text, recipient text, payload jsonb, created_at timestamptz)
language sql
security definer
set search_path = ''
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

-- Which password a confirmation was issued for: a digest of the hash stored then. A
-- confirmation proves only that password; any later change of it (a stranger's sign-up)
-- leaves the confirmation proving nothing.
create function auth.password_digest(p_hash text)
returns text
language sql
immutable
set search_path = ''
as $$
    select left(encode(sha256(convert_to(p_hash, 'UTF8')), 'hex'), 32)
$$;

-- Marks a user's email (or phone) confirmed, on the user and on its identity. Only a
-- sign-up's confirmation proves the password chosen at sign-up (p_proves_password), and
-- only when the person who set that password is the one confirming: the password is
-- still the one the confirmation was issued for (p_password_digest, auth.password_digest;
-- a confirmation issued for no password, an operator's link without one, proves none),
-- and nobody asked for
-- a sign-in code or link for this user (magic link, OTP, recovery, invite: tokens that
-- prove no password, still unused) while it was unconfirmed, since the sign-up may then
-- be a stranger's, whose mail the owner follows. Confirming through anything else proves
-- the address alone, so an unconfirmed user's password, which nobody proved, is
-- cleared. Whoever signed up someone else's address cannot keep a way in once its
-- owner arrives.
create function auth.confirm_address(p_user_id uuid, p_phone boolean, p_proves_password boolean, p_password_digest text)
returns void
language sql
set search_path = ''
as $$
    update auth.users
    set email_confirmed_at = case when p_phone then email_confirmed_at else coalesce(email_confirmed_at, now()) end,
        phone_confirmed_at = case when p_phone then coalesce(phone_confirmed_at, now()) else phone_confirmed_at end,
        encrypted_password = case
            when email_confirmed_at is not null or phone_confirmed_at is not null then encrypted_password
            when p_proves_password
                 and auth.password_digest(encrypted_password) = p_password_digest
                 and not exists (
                     select from auth.one_time_tokens t
                     where t.user_id = p_user_id and t.consumed_at is null and not t.options ? 'proves_password'
                       and t.token_type = any (case when p_phone then '{sms}'::text[]
                                                    else '{confirmation,magiclink,recovery,invite}'::text[] end))
                then encrypted_password
        end
    where id = p_user_id;
    update auth.user_identities
    set identity_data = identity_data || pg_catalog.jsonb_build_object(
            case when p_phone then 'phone_verified' else 'email_verified' end, true)
    where user_id = p_user_id and provider = case when p_phone then 'phone' else 'email' end;
$$;

-- An address goes to whoever proves it. Before p_user_id takes p_address (an address
-- change just confirmed), another user who holds it unconfirmed (someone who signed it
-- up meanwhile, and could never confirm it) loses it, and is deleted when nothing is
-- left to sign in with. A confirmed holder keeps it: false (the caller refuses).
create function auth.take_address(p_user_id uuid, p_kind text, p_address text)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    holder auth.users;
begin
    select * into holder from auth.users
    where case p_kind when 'email' then email else phone end = p_address and id <> p_user_id
    for update;
    if not found then
        return true;
    end if;
    if (case p_kind when 'email' then holder.email_confirmed_at else holder.phone_confirmed_at end) is not null then
        return false;
    end if;
    if p_kind = 'email' then
        update auth.users set email = null, email_confirmed_at = null where id = holder.id;
    else
        update auth.users set phone = null, phone_confirmed_at = null where id = holder.id;
    end if;
    -- Nothing the holder was sent for the address may still sign anyone in as the holder.
    delete from auth.one_time_tokens where user_id = holder.id and relates_to = p_address and consumed_at is null;
    perform auth.sync_address_identity(holder.id, p_kind);
    if not exists (select from auth.users u where u.id = holder.id and (u.email is not null or u.phone is not null))
            and not exists (select from auth.user_identities i where i.user_id = holder.id) then
        perform auth.delete_users(array[holder.id]);
    end if;
    return true;
end
$$;

-- Counts a code tried against a one-time token by a client (and against its user's
-- strangers' pool when the client did not ask for it), and against the client's address;
-- committed by a worker of its own before the code is compared, so no failed
-- verification can undo it.
create function auth.count_otp_attempt(p_token_id uuid, p_client text)
returns void
language sql
set search_path = ''
as $$
    insert into auth.one_time_token_attempts as a (token_id, client, attempts) values (p_token_id, p_client, 1)
    on conflict (token_id, client) do update set attempts = a.attempts + 1;
    -- A client's tries of a user's codes, an hour, however many codes it asks for.
    select auth.rate_limit_count('otp_tries', t.user_id::text || ' ' || p_client)
    from auth.one_time_tokens t where t.id = p_token_id;
    -- Tries from any address but the one that asked for the code share one hourly pool per
    -- user, which asking for new codes does not refill.
    select auth.rate_limit_count('otp_strangers', t.user_id::text)
    from auth.one_time_tokens t where t.id = p_token_id and t.requested_from is distinct from p_client;
    select auth.rate_limit_count('verify', p_client);
    select auth.rate_burst_count('verify', p_client,
        coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_verify', true), '')::int, 360));
$$;

-- Counts a failed password sign-in against the client's address (hourly; its burst is
-- counted before the password is checked, count_password_work), and against the account from that client (p_account: a hash of the address signed in
-- with, so unknown and known addresses count alike). Never against the account alone:
-- then anyone could lock its owner out. Committed by a worker, so the failing call
-- cannot undo it.
create function auth.count_failed_sign_in(p_account text, p_client text)
returns void
language sql
set search_path = ''
as $$
    select auth.rate_limit_count('failed_sign_in', p_client);
    select auth.rate_limit_count('failed_sign_in_account', p_account || ' ' || p_client);
$$;

-- The one entry point of the durable-write workers (src/workers.rs): performs a write
-- that must stand although the call that asked for it fails. Answers 'done', 'busy'
-- (a row it needs is still locked, by the failing caller: retried) or 'failed: ...';
-- never raises, so a worker never dies of it.
create function auth.durable_write(kind text, target uuid, account text, client text)
returns text
language plpgsql
security definer
set search_path = ''
set lock_timeout = '200ms'
as $$
begin
    case kind
        when 'revoke_session' then perform auth.revoke_session(target, 'token_reuse');
        when 'count_otp_attempt' then perform auth.count_otp_attempt(target, client);
        when 'count_failed_sign_in' then perform auth.count_failed_sign_in(account, client);
        when 'count_address_probe' then perform auth.rate_limit_count('email_client', client);
        when 'count_password_work' then perform auth.rate_burst_count('password', client,
            coalesce(nullif(pg_catalog.current_setting('auth_ext.rate_limit_failed_sign_ins', true), '')::int, 360));
        else return 'failed: unknown kind ' || kind;
    end case;
    return 'done';
exception
    when lock_not_available then return 'busy';
    when others then return 'failed: ' || sqlerrm;
end
$$;

-- Makes a user's `email` or `phone` identity match its address: renamed, created or removed.
create function auth.sync_address_identity(p_user_id uuid, p_provider text)
returns void
language plpgsql
set search_path = ''
as $$
declare
    address text;
    confirmed boolean;
begin
    if p_provider not in ('email', 'phone') then
        perform auth.raise_error('validation_failed', 'only email and phone identities follow an address');
    end if;
    select case p_provider when 'email' then email else phone end,
           case p_provider when 'email' then email_confirmed_at else phone_confirmed_at end is not null
    into address, confirmed
    from auth.users where id = p_user_id;
    if address is null then
        delete from auth.user_identities where user_id = p_user_id and provider = p_provider;
        return;
    end if;
    update auth.user_identities
    set provider_id = address,
        identity_data = identity_data || jsonb_build_object(p_provider, address, p_provider || '_verified', confirmed)
    where user_id = p_user_id and provider = p_provider;
    if not found then
        perform auth.insert_identity(p_user_id, p_provider, address,
            auth.address_identity_data(p_user_id, p_provider, address, confirmed));
    end if;
end
$$;

-- Metadata merged one level deep, as Supabase merges user and app metadata: keys of
-- the patch replace the old ones, and a key set to null is removed.
create function auth.merge_metadata(old jsonb, patch jsonb)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
    select (old || patch) - coalesce((select array_agg(key) from jsonb_each(patch) where value = 'null'::jsonb), '{}')
$$;

-- Adds a provider to app_metadata.providers (dropping "anonymous"), and makes it the
-- provider when the user was anonymous.
create function auth.add_provider(app_meta jsonb, provider text)
returns jsonb
language sql
immutable
parallel safe
set search_path = ''
as $$
    select app_meta || jsonb_build_object(
        'provider', coalesce(nullif(app_meta->>'provider', 'anonymous'), provider),
        'providers', (select coalesce(jsonb_agg(distinct p order by p), '[]')
                      from jsonb_array_elements_text(coalesce(app_meta->'providers', '[]') || to_jsonb(provider)) p
                      where p <> 'anonymous'))
$$;

-- PKCE flows whose link was followed (pkce.rs): the auth code, of which only the
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
