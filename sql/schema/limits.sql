-- Rate limits: hourly counters and burst buckets.

-- Fixed-window counters (one row per bucket, key and hour), shared by every backend.
-- Windows are UTC hours: a session's TimeZone (PostgREST's `Prefer: timezone=` sets it)
-- would otherwise start a fresh, half-hour-shifted window. Ended windows are deleted by
-- auth.purge_past_rate_limits, off the hot path.
create table auth.rate_limits (
    bucket       text not null,
    key          text not null,
    window_start timestamptz not null,
    hits         int not null,
    -- Window first: the one key serves the counters' lookups and the purge of past windows.
    primary key (window_start, bucket, key)
);

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

-- Keys that serialise concurrent calls about one address or user (db::lock): a row lock
-- on a table no application role may touch, so that nobody can hold one to stall others
-- (advisory locks show in pg_locks, and anyone may take one). Keys are hashed with a
-- server secret; a row stays once made.
create table auth.serial_locks (
    key bigint primary key
);
