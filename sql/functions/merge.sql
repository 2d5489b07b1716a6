-- Merging an anonymous user: which columns hold user ids, moving them, registering.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Every (table, column) holding user ids outside schema auth: foreign keys to
-- auth.users(id), found from the catalog, plus registered columns.
create or replace function auth.user_id_columns()
returns table (tbl regclass, col name, col_type text)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select c.conrelid::regclass, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
    from pg_catalog.pg_constraint c
    join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.contype = 'f' and c.confrelid = 'auth.users'::regclass and cardinality(c.conkey) = 1
      and c.connamespace <> 'auth'::regnamespace
    union
    select m.tbl, m.col, pg_catalog.format_type(a.atttypid, a.atttypmod)
    from auth.merge_columns m
    join pg_catalog.pg_attribute a on a.attrelid = m.tbl and a.attname = m.col and not a.attisdropped
    order by 1, 2
$$;

-- Moves one column's rows from source to target. Runs as auth_ext_app (the caller
-- switches to it), so it touches only what the application granted that role, and the
-- table's triggers run with no more than those rights. Rows whose move would break a unique
-- index (one that includes the column) are settled by the strategy first:
-- keep_target drops the source's, keep_anonymous drops the target's, merge calls the
-- table's handler or fails naming the table. Returns {moved, dropped, replaced, handler}.
create or replace function auth.merge_column(p_tbl regclass, p_col name, p_type text, source uuid, target uuid, strategy text,
                                   handler regprocedure)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    -- For each unique index on plain columns that includes this one: "a target row t
    -- equals source row s on the index's other columns".
    clashes text[];
    clash text;
    clashing bigint;
    dropped bigint := 0;
    replaced bigint := 0;
    moved bigint;
    n bigint;
    -- Named before the handler runs: it may change settings (search_path) until this returns.
    handler_name constant text := handler::text;
    -- The column's type, as Postgres names it: a type, never SQL (it is pasted below).
    col_type constant text := p_type::pg_catalog.regtype::text;
begin
    select coalesce(array_agg(pg_catalog.format('exists (select from %1$s t where t.%2$I = $2::%3$s and %4$s)',
                                                p_tbl, p_col, col_type, coalesce(others, 'true'))), '{}')
    into clashes
    from (select (select string_agg(pg_catalog.format('t.%1$I = s.%1$I', a.attname), ' and ')
                  from unnest(i.indkey) k
                  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
                  where a.attname <> p_col) as others
          from pg_catalog.pg_index i
          where i.indrelid = p_tbl and i.indisunique and i.indpred is null and i.indexprs is null
            and (select attnum from pg_catalog.pg_attribute where attrelid = p_tbl and attname = p_col) = any (i.indkey)) u;

    foreach clash in array clashes loop
        if strategy = 'keep_target' then
            execute pg_catalog.format('delete from %1$s s where s.%2$I = $1::%3$s and %4$s', p_tbl, p_col, col_type, clash)
                using source, target;
            get diagnostics n = row_count;
            dropped := dropped + n;
        elsif strategy = 'keep_anonymous' then
            -- The same condition seen from the target's side: t is now the row deleted.
            execute pg_catalog.format('delete from %1$s s where s.%2$I = $2::%3$s and %4$s', p_tbl, p_col, col_type,
                                      replace(clash, '$2', '$1'))
                using source, target;
            get diagnostics n = row_count;
            replaced := replaced + n;
        end if;
    end loop;

    if strategy = 'merge' then
        clashing := 0;
        foreach clash in array clashes loop
            execute pg_catalog.format('select count(*) from %1$s s where s.%2$I = $1::%3$s and %4$s', p_tbl, p_col, col_type, clash)
                into n using source, target;
            clashing := clashing + n;
        end loop;
        if clashing > 0 then
            if handler is null then
                perform auth.raise_error('merge_conflict',
                    pg_catalog.format('rows of %s clash with the target user''s', p_tbl),
                    pg_catalog.format('%s row(s) of %s would break a unique index on %I if moved', clashing, p_tbl, p_col),
                    pg_catalog.format('Register a handler with auth.register_merge_handler(%L, ...), or merge with strategy keep_target or keep_anonymous.', p_tbl::text));
            end if;
            execute pg_catalog.format('select %s($1, $2)', handler::regproc) using source, target;
        end if;
    end if;

    begin
        execute pg_catalog.format('update %1$s set %2$I = $2::%3$s where %2$I = $1::%3$s', p_tbl, p_col, col_type)
            using source, target;
        get diagnostics moved = row_count;
    exception when unique_violation then
        -- Clashes left by a handler, or under a unique index this function cannot reason
        -- about (partial, or on an expression).
        perform auth.raise_error('merge_conflict',
            pg_catalog.format('rows of %s clash with the target user''s', p_tbl),
            sqlerrm, 'Register a merge handler for this table, or make it merge all clashing rows.');
    end;
    return jsonb_build_object('moved', moved, 'dropped', dropped, 'replaced', replaced,
                              'handler', case when clashing > 0 then handler_name end);
end
$$;

-- Registration takes only objects the caller owns (a role it has the privileges of),
-- outside temporary schemas: nobody registers someone else's table or function.
create or replace function auth.check_registrable(tbl regclass, handler regprocedure default null)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    acting constant oid := auth.acting_role_oid();
    rel record;
    fn record;
begin
    select c.relowner, c.relpersistence, c.relkind into rel from pg_catalog.pg_class c where c.oid = tbl;
    if rel.relpersistence = 't' or rel.relkind not in ('r', 'p') then
        perform auth.raise_error('validation_failed', 'only permanent tables can be registered',
            pg_catalog.format('%s is temporary or not a table', tbl));
    end if;
    if not pg_catalog.pg_has_role(acting, rel.relowner, 'USAGE') then
        perform auth.raise_error('no_authorization', 'only the table''s owner can register it',
            pg_catalog.format('%s is owned by %s', tbl, rel.relowner::regrole));
    end if;
    if handler is not null then
        select p.proowner, n.nspname like 'pg_temp%' as temporary into fn
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace where p.oid = handler;
        if fn.temporary then
            perform auth.raise_error('validation_failed', 'a temporary function cannot be a merge handler',
                pg_catalog.format('%s', handler));
        end if;
        if not pg_catalog.pg_has_role(acting, fn.proowner, 'USAGE') then
            perform auth.raise_error('no_authorization', 'only the function''s owner can register it as a handler',
                pg_catalog.format('%s is owned by %s', handler, fn.proowner::regrole));
        end if;
    end if;
end
$$;

-- Registers the function that merges a table's clashing rows:
-- handler(anonymous_user uuid, target_user uuid), called before the remaining rows move.
create or replace function auth.register_merge_handler(tbl regclass, handler regprocedure)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from pg_catalog.pg_proc p where p.oid = handler and p.pronargs = 2
                   and p.proargtypes[0] = 'uuid'::regtype and p.proargtypes[1] = 'uuid'::regtype) then
        perform auth.raise_error('validation_failed', 'a merge handler takes (anonymous_user uuid, target_user uuid)',
            pg_catalog.format('%s has another signature', handler));
    end if;
    perform auth.check_registrable(tbl, handler);
    insert into auth.merge_handlers (tbl, handler) values (tbl, handler)
    on conflict on constraint merge_handlers_pkey do update set handler = excluded.handler;
end
$$;

-- Registers a column that holds user ids without a foreign key, so merges move it too.
create or replace function auth.register_merge_column(tbl regclass, col name)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from pg_catalog.pg_attribute
                   where attrelid = tbl and attname = col and attnum > 0 and not attisdropped
                     and atttypid in ('uuid'::regtype, 'text'::regtype)) then
        perform auth.raise_error('validation_failed', 'the column must exist and be uuid or text',
            pg_catalog.format('%s.%I', tbl, col));
    end if;
    perform auth.check_registrable(tbl);
    insert into auth.merge_columns (tbl, col) values (tbl, col) on conflict do nothing;
end
$$;
