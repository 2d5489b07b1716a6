-- The cleanup of stale anonymous users, and purging spent refresh tokens.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- A user's last activity: the latest of its creation, last change (update_user, a
-- conversion), last sign-in, and latest_session, the latest auth.session_activity of its
-- sessions (which the cleanup reads for a whole batch at once). Plain SQL without a SET
-- clause, so that Postgres inlines it.
create or replace function auth.last_activity(u auth.users, latest_session timestamptz)
returns timestamptz
language sql
stable
as $$
    select greatest(u.created_at, u.updated_at, u.last_sign_in_at, latest_session)
$$;

-- One batch of the cleanup: up to batch_size anonymous users, taken in (created_at, id)
-- order after the cursor, whose last activity is older than older_than. Rows another
-- transaction holds (a sign-in, a conversion, a refresh) are skipped, never waited for.
-- Users that an application row references through a restricting foreign key are
-- skipped and reported. Returns {deleted, skipped, scanned, cursor_created_at, cursor_id}.
create or replace function auth.cleanup_anonymous_batch(
    older_than interval, batch_size int, dry_run boolean,
    after_created_at timestamptz default '-infinity', after_id uuid default '00000000-0000-0000-0000-000000000000')
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    cutoff constant timestamptz := now() - older_than;
    scanned uuid[];
    last_created timestamptz;
    last_id uuid;
    busy uuid[];
    stale uuid[];
    held uuid[] := '{}';
    fk record;
    victims uuid[];
    deleted bigint := 0;
    one uuid;
begin
    if older_than is null or older_than < interval '0' or batch_size is null or batch_size < 1 or batch_size > 100000 then
        perform auth.raise_error('validation_failed', 'older_than must be a non-negative interval and batch_size 1 to 100000');
    end if;
    -- A dry run reads only, but takes the same row locks as a real one: a standby cannot.
    if pg_catalog.pg_is_in_recovery() then
        perform auth.raise_error('read_only_replica', 'this server is a read-only replica', null,
            'Run the cleanup on the primary.');
    end if;

    -- Candidates by creation time (activity is never earlier), locked unless busy.
    select array_agg(id order by created_at, id), max(created_at), (array_agg(id order by created_at desc, id desc))[1]
    into scanned, last_created, last_id
    from (select u.id, u.created_at from auth.users u
          where u.is_anonymous and u.created_at < cutoff and (u.created_at, u.id) > (after_created_at, after_id)
          order by u.created_at, u.id
          limit batch_size
          for update skip locked) c;
    if scanned is null then
        return jsonb_build_object('deleted', 0, 'skipped', 0, 'scanned', 0);
    end if;

    -- A session in use (being refreshed right now) means the user is active: skip it.
    select coalesce(array_agg(distinct s.user_id), '{}') into busy
    from auth.sessions s
    where s.user_id = any (scanned)
      and s.id not in (select s2.id from auth.sessions s2 where s2.user_id = any (scanned) for update skip locked);

    -- A fresh statement, after the locks: still anonymous, and idle long enough.
    select coalesce(array_agg(u.id), '{}') into stale
    from auth.users u
    left join (select s.user_id, max(auth.session_activity(s)) as latest from auth.sessions s
               where s.user_id = any (scanned) group by s.user_id) used on used.user_id = u.id
    where u.id = any (scanned) and u.is_anonymous and not (u.id = any (busy))
      and auth.last_activity(u, used.latest) < cutoff;

    -- Users an application row holds through a restricting foreign key are skipped.
    -- The application's table is read as its owner (auth_ext_admin has no rights on it),
    -- as Postgres itself checks foreign keys.
    for fk in
        select c.conrelid as tbl, a.attname as col
        from pg_catalog.pg_constraint c
        join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.contype = 'f' and c.confrelid = 'auth.users'::regclass and c.confdeltype in ('r', 'a')
          and cardinality(c.conkey) = 1
    loop
        held := held || auth.referencing_user_ids(fk.tbl, fk.col, stale);
    end loop;
    select coalesce(array_agg(x), '{}') into victims from unnest(stale) x where not (x = any (held));

    if not dry_run and cardinality(victims) > 0 then
        begin
            deleted := auth.delete_users(victims);
        exception when foreign_key_violation or restrict_violation then
            -- A restriction further down a cascade: one user at a time.
            deleted := 0;
            foreach one in array victims loop
                begin
                    deleted := deleted + auth.delete_users(array[one]);
                exception when foreign_key_violation or restrict_violation then
                    held := held || one;
                end;
            end loop;
        end;
    elsif dry_run then
        deleted := cardinality(victims);
    end if;

    if deleted > 0 or cardinality(held) > 0 then
        insert into auth.audit_log_entries (actor_id, action, payload)
        values (null, case when dry_run then 'anonymous_cleanup_dry_run' else 'anonymous_cleanup' end,
                jsonb_build_object('deleted', deleted, 'skipped', cardinality(held),
                                   'skipped_user_ids', to_jsonb(held), 'older_than', older_than::text));
    end if;
    return jsonb_build_object('deleted', deleted, 'skipped', cardinality(held) + cardinality(busy),
                              'scanned', cardinality(scanned),
                              'cursor_created_at', last_created, 'cursor_id', last_id);
end
$$;

-- One batch, for callers that cannot CALL a procedure: the number of users deleted.
create or replace function auth.cleanup_anonymous_users_once(
    older_than interval default '30 days', batch_size int default 1000, dry_run boolean default false)
returns bigint
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    select (auth.cleanup_anonymous_batch(older_than, batch_size, dry_run)->>'deleted')::bigint
$$;

-- Deletes anonymous users idle for longer than older_than, batch by batch, committing
-- after each batch, so concurrent sign-ins are never blocked for long and an
-- interrupted run can simply be run again. (A procedure that commits can be neither
-- SECURITY DEFINER nor pinned with SET: this one only calls the batch function.)
create or replace procedure auth.cleanup_anonymous_users(
    older_than interval default '30 days', batch_size int default 1000, dry_run boolean default false)
language plpgsql
as $$
declare
    batch jsonb;
    total_deleted bigint := 0;
    total_skipped bigint := 0;
    cursor_created timestamptz := '-infinity';
    cursor_id uuid := '00000000-0000-0000-0000-000000000000';
begin
    loop
        batch := auth.cleanup_anonymous_batch(older_than, batch_size, dry_run, cursor_created, cursor_id);
        total_deleted := total_deleted + (batch->>'deleted')::bigint;
        total_skipped := total_skipped + (batch->>'skipped')::bigint;
        commit;
        exit when (batch->>'scanned')::int < batch_size;
        cursor_created := (batch->>'cursor_created_at')::timestamptz;
        cursor_id := (batch->>'cursor_id')::uuid;
    end loop;
    raise notice 'auth_ext: % anonymous users % (idle over %), % skipped',
        total_deleted, case when dry_run then 'would be deleted' else 'deleted' end, older_than, total_skipped;
end
$$;

-- Keeps a bounded history of spent refresh tokens: the newest keep_per_session of each
-- session (enough to answer a client that lost a refresh's answer, to let tabs
-- converge, and to recognise the replay of a recent token as theft), deleting older
-- ones, at most max_rows a call. Also forgets revocations of sessions that are gone.
-- The cleanup worker calls it every round; without preloading, schedule it.
create or replace function auth.purge_spent_refresh_tokens(keep_per_session int default 16, max_rows int default 10000)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    purged bigint;
begin
    if keep_per_session is null or keep_per_session < 1 or max_rows is null or max_rows < 1 then
        perform auth.raise_error('validation_failed', 'keep_per_session and max_rows must be positive');
    end if;
    with doomed as (
        select t.id from (
            select r.id, row_number() over (partition by r.session_id order by r.id desc) as newer
            from auth.refresh_tokens r where r.spent_at is not null) t
        where t.newer > keep_per_session
        limit max_rows)
    delete from auth.refresh_tokens r using doomed d where r.id = d.id;
    get diagnostics purged = row_count;
    delete from auth.session_revocations v where not exists (select from auth.sessions s where s.id = v.session_id);
    return purged;
end
$$;
