-- Cleanup of stale anonymous users, and row-level security helpers for application tables.

-- A user's last activity: the latest of its creation, last change (update_user, a
-- conversion), last sign-in and last refresh.
create function auth.last_activity(p_user_id uuid)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
    return (
        select greatest(u.created_at, u.updated_at, u.last_sign_in_at,
                        (select max(coalesce(s.refreshed_at, s.created_at)) from auth.sessions s where s.user_id = u.id))
        from auth.users u where u.id = p_user_id);
end
$$;

-- One batch of the cleanup: up to batch_size anonymous users, taken in (created_at, id)
-- order after the cursor, whose last activity is older than older_than. Rows another
-- transaction holds (a sign-in, a conversion, a refresh) are skipped, never waited for.
-- Users that an application row references through a restricting foreign key are
-- skipped and reported. Returns {deleted, skipped, scanned, cursor_created_at, cursor_id}.
create function auth.cleanup_anonymous_batch(
    older_than interval, batch_size int, dry_run boolean,
    after_created_at timestamptz default '-infinity', after_id uuid default '00000000-0000-0000-0000-000000000000')
returns jsonb
language plpgsql
security definer
set search_path = ''
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
    where u.id = any (scanned) and u.is_anonymous and not (u.id = any (busy))
      and auth.last_activity(u.id) < cutoff;

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
create function auth.cleanup_anonymous_users_once(
    older_than interval default '30 days', batch_size int default 1000, dry_run boolean default false)
returns bigint
language sql
security definer
set search_path = ''
as $$
    select (auth.cleanup_anonymous_batch(older_than, batch_size, dry_run)->>'deleted')::bigint
$$;

-- Deletes anonymous users idle for longer than older_than, batch by batch, committing
-- after each batch, so concurrent sign-ins are never blocked for long and an
-- interrupted run can simply be run again. (A procedure that commits can be neither
-- SECURITY DEFINER nor pinned with SET: this one only calls the batch function.)
create procedure auth.cleanup_anonymous_users(
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
create function auth.purge_spent_refresh_tokens(keep_per_session int default 16, max_rows int default 10000)
returns bigint
language plpgsql
security definer
set search_path = ''
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

-- Row-level security helpers.

-- Enables RLS on an application table and creates the standard owner policies:
-- owners (auth.uid() = owner_column) select, insert, update and delete their own rows;
-- with anonymous_can_write false, restrictive policies keep anonymous users to reading.
-- Idempotent; the policies are named auth_ext_owner_* and auth_ext_permanent_*.
-- Runs as its caller: only the table's owner may change its security, as with ALTER TABLE.
create function auth.enable_owner_policies(tbl regclass, owner_column name default 'user_id',
                                           anonymous_can_write boolean default true)
returns void
language plpgsql
set search_path = ''
as $$
declare
    owner_check constant text := pg_catalog.format('%I = (select auth.uid())', owner_column);
    -- A restrictive policy only narrows what a permissive one allows; the owner
    -- policies are the permissive ones it needs beside it.
    permanent constant text := '(select auth.is_permanent())';
    was_enabled boolean;
begin
    if not exists (select from pg_catalog.pg_attribute
                   where attrelid = tbl and attname = owner_column and attnum > 0 and not attisdropped) then
        perform auth.raise_error('validation_failed', pg_catalog.format('%s has no column %I', tbl, owner_column));
    end if;
    -- Whether RLS was on before the first call: kept from an earlier call, else read now.
    select coalesce(
        (select pg_catalog.obj_description(p.oid, 'pg_policy') = 'auth_ext: row level security was already enabled'
         from pg_catalog.pg_policy p where p.polrelid = tbl and p.polname = 'auth_ext_owner_select'),
        (select relrowsecurity from pg_catalog.pg_class where oid = tbl))
    into was_enabled;
    execute pg_catalog.format('alter table %s enable row level security', tbl);

    perform auth.drop_owner_policies(tbl);
    execute pg_catalog.format('create policy auth_ext_owner_select on %s for select to authenticated using (%s)', tbl, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_insert on %s for insert to authenticated with check (%s)', tbl, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_update on %s for update to authenticated using (%s) with check (%s)', tbl, owner_check, owner_check);
    execute pg_catalog.format('create policy auth_ext_owner_delete on %s for delete to authenticated using (%s)', tbl, owner_check);
    execute pg_catalog.format('comment on policy auth_ext_owner_select on %s is %L', tbl,
        case when was_enabled then 'auth_ext: row level security was already enabled'
             else 'auth_ext: row level security was enabled by auth.enable_owner_policies' end);
    if not anonymous_can_write then
        execute pg_catalog.format('create policy auth_ext_permanent_insert on %s as restrictive for insert to authenticated with check (%s)', tbl, permanent);
        execute pg_catalog.format('create policy auth_ext_permanent_update on %s as restrictive for update to authenticated using (%s) with check (%s)', tbl, permanent, permanent);
        execute pg_catalog.format('create policy auth_ext_permanent_delete on %s as restrictive for delete to authenticated using (%s)', tbl, permanent);
    end if;
end
$$;

-- Drops the policies enable_owner_policies creates on a table (and no other).
create function auth.drop_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
    policy name;
begin
    for policy in
        select polname from pg_catalog.pg_policy
        where polrelid = tbl
          and polname in ('auth_ext_owner_select', 'auth_ext_owner_insert', 'auth_ext_owner_update', 'auth_ext_owner_delete',
                          'auth_ext_permanent_insert', 'auth_ext_permanent_update', 'auth_ext_permanent_delete')
    loop
        execute pg_catalog.format('drop policy %I on %s', policy, tbl);
    end loop;
end
$$;

-- Removes exactly what enable_owner_policies created: its policies, and row-level
-- security if it turned it on, unless other policies now rely on it (turning it off
-- then would open the table). Runs as its caller, like enable_owner_policies.
create function auth.disable_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
    enabled_by_us boolean;
begin
    select pg_catalog.obj_description(p.oid, 'pg_policy') = 'auth_ext: row level security was enabled by auth.enable_owner_policies'
    into enabled_by_us
    from pg_catalog.pg_policy p where p.polrelid = tbl and p.polname = 'auth_ext_owner_select';
    perform auth.drop_owner_policies(tbl);
    if enabled_by_us and not exists (select from pg_catalog.pg_policy where polrelid = tbl) then
        execute pg_catalog.format('alter table %s disable row level security', tbl);
    end if;
end
$$;
