-- Rate limits: counting, checking, bursts, purging.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Counts a hit in the current hour's window, without purging old windows: durable-write
-- workers use it, and must never need a row that the caller waiting for them may hold.
create or replace function auth.rate_limit_count(p_bucket text, p_key text)
returns int
language plpgsql
set search_path = pg_catalog, pg_temp
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
create or replace function auth.rate_limit_hit(p_bucket text, p_key text, p_limit int)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    return auth.rate_limit_count(p_bucket, p_key) <= p_limit;
end
$$;

-- Deletes the counters of windows that have ended (no limit reads them), and the burst
-- buckets that have refilled; answers how many windows went. The cleanup worker calls it
-- every round; without preloading, schedule it.
create or replace function auth.purge_past_rate_limits()
returns bigint
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    with purged as (delete from auth.rate_limits where window_start < now() - interval '1 hour' returning 1),
         refilled as (delete from auth.rate_bursts where tat < clock_timestamp())
    select count(*) from purged
$$;

-- Hits so far this hour, counting none: what a limit checks before a try whose failure
-- is then counted by a durable-write worker.
create or replace function auth.rate_limit_hits(p_bucket text, p_key text)
returns int
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
        select coalesce((select hits from auth.rate_limits
                         where bucket = p_bucket and key = p_key and window_start = date_trunc('hour', now(), 'UTC')), 0));
end
$$;

-- Counts a hit (the durable-write workers do, for failed tries).
create or replace function auth.rate_burst_count(p_bucket text, p_key text, p_per_hour int)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into auth.rate_bursts as b (bucket, key, tat)
    values (p_bucket, p_key, clock_timestamp() + make_interval(secs => 3600.0 / greatest(p_per_hour, 1)))
    on conflict (bucket, key) do update
    set tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => 3600.0 / greatest(p_per_hour, 1));
end
$$;

-- Seconds until the bucket allows another hit; 0 while it does. Counts nothing.
create or replace function auth.rate_burst_wait(p_bucket text, p_key text, p_per_hour int, p_burst int)
returns int
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
    select coalesce((
        -- Clamped before the cast: a burst near the setting's maximum reaches far below zero.
        select least(greatest(ceil(extract(epoch from b.tat - clock_timestamp())
                                   - (greatest(p_burst, 1) - 1) * 3600.0 / greatest(p_per_hour, 1)), 0), 2147483647)::int
        from auth.rate_bursts b where b.bucket = p_bucket and b.key = p_key), 0));
end
$$;

-- One use of a key per p_seconds (Supabase Auth's one message of a kind a minute): 0
-- when the key may be used now, and then it is taken for p_seconds; else the seconds
-- until it may. Kept beside the bursts (tat: when the key is free again), and purged
-- with them.
create or replace function auth.rate_window_take(p_bucket text, p_key text, p_seconds float8)
returns int
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    wait float8;
begin
    select extract(epoch from b.tat - clock_timestamp()) into wait
    from auth.rate_bursts b where b.bucket = p_bucket and b.key = p_key for update;
    if wait > 0 then
        return ceil(wait)::int;
    end if;
    insert into auth.rate_bursts as b (bucket, key, tat)
    values (p_bucket, p_key, clock_timestamp() + make_interval(secs => p_seconds))
    on conflict (bucket, key) do update set tat = excluded.tat;
    return 0;
end
$$;

-- Seconds until the current window ends: when a refused client may try again
-- (the hint and PostgREST's Retry-After).
create or replace function auth.rate_limit_retry_after()
returns int
language sql
stable
as $$
    select ceil(extract(epoch from date_trunc('hour', now(), 'UTC') + interval '1 hour' - now()))::int
$$;

-- Counts a failed password sign-in against the client's address (hourly; its burst is
-- counted before the password is checked, count_password_work), and against the account from that client (p_account: a hash of the address signed in
-- with, so unknown and known addresses count alike). Never against the account alone:
-- then anyone could lock its owner out. Committed by a worker, so the failing call
-- cannot undo it.
create or replace function auth.count_failed_sign_in(p_account text, p_client text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    perform auth.rate_limit_count('failed_sign_in', p_client);
    perform auth.rate_limit_count('failed_sign_in_account', p_account || ' ' || p_client);
end
$$;
