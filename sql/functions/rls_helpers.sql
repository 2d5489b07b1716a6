-- RLS helpers: owner policies on an application's table.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Enables RLS on an application table and creates the standard owner policies:
-- owners (auth.uid() = owner_column) select, insert, update and delete their own rows;
-- with anonymous_can_write false, restrictive policies keep anonymous users to reading.
-- Idempotent; the policies are named auth_ext_owner_* and auth_ext_permanent_*.
-- Runs as its caller: only the table's owner may change its security, as with ALTER TABLE.
create or replace function auth.enable_owner_policies(tbl regclass, owner_column name default 'user_id',
                                           anonymous_can_write boolean default true)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
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
create or replace function auth.drop_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
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
create or replace function auth.disable_owner_policies(tbl regclass)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
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
