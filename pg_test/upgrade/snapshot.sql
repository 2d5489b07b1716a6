-- Everything CREATE EXTENSION auth_ext leaves in a database, one line per fact, sorted:
-- tables and columns, constraints, indexes, triggers, policies, row-level security,
-- functions (definition, owner, grants, settings), types, owners, grants, the tables
-- pg_dump keeps, and what belongs to the extension. scripts/upgrade-check.sh compares
-- a fresh install with an upgrade from the previous release: they must be equal.
\pset tuples_only on
\pset format unaligned
with ext as (select oid from pg_extension where extname = 'auth_ext'),
facts(fact) as (
    select format('table %s owner=%s rls=%s force=%s acl=%s', c.oid::regclass, c.relowner::regrole,
                  c.relrowsecurity, c.relforcerowsecurity, c.relacl::text)
    from pg_class c where c.relnamespace = 'auth'::regnamespace and c.relkind in ('r', 'p', 'v', 'S')
    union all
    select format('column %s.%s %s notnull=%s default=%s identity=%s generated=%s acl=%s', a.attrelid::regclass, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
                  a.attgenerated, a.attacl::text)
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where c.relnamespace = 'auth'::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
    union all
    select format('constraint %s %s %s', coalesce(conrelid::regclass::text, contypid::regtype::text), conname, pg_get_constraintdef(oid))
    from pg_constraint where connamespace = 'auth'::regnamespace
    union all
    select format('index %s', pg_get_indexdef(i.indexrelid))
    from pg_index i join pg_class c on c.oid = i.indrelid where c.relnamespace = 'auth'::regnamespace
    union all
    select format('trigger %s', pg_get_triggerdef(t.oid))
    from pg_trigger t join pg_class c on c.oid = t.tgrelid where c.relnamespace = 'auth'::regnamespace and not t.tgisinternal
    union all
    select format('policy %s.%s %s %s %s using=%s check=%s', schemaname, tablename, policyname, permissive, cmd, qual, with_check)
    from pg_policies where schemaname = 'auth'
    union all
    select format('function %s owner=%s definer=%s volatility=%s parallel=%s strict=%s config=%s acl=%s body=%s',
                  p.oid::regprocedure, p.proowner::regrole, p.prosecdef, p.provolatile, p.proparallel, p.proisstrict,
                  p.proconfig::text, p.proacl::text, md5(pg_get_functiondef(p.oid)))
    from pg_proc p, ext where p.pronamespace = 'auth'::regnamespace
      and exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                  and d.refobjid = ext.oid and d.deptype = 'e')
    union all
    select format('type %s owner=%s kind=%s', t.oid::regtype, t.typowner::regrole, t.typtype)
    from pg_type t where t.typnamespace = 'auth'::regnamespace and t.typtype in ('d', 'e', 'c')
      and not exists (select from pg_class c where c.reltype = t.oid)
    union all
    select format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
    from pg_depend d, ext where d.refclassid = 'pg_extension'::regclass and d.refobjid = ext.oid and d.deptype = 'e'
    union all
    select format('dumped %s', c::regclass) from pg_extension e, unnest(e.extconfig) c where e.extname = 'auth_ext'
    union all
    select format('role %s super=%s bypassrls=%s login=%s inherit=%s', rolname, rolsuper, rolbypassrls, rolcanlogin, rolinherit)
    from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'auth_ext_admin', 'auth_ext_app', 'auth_ext_gateway')
    union all
    select format('schema auth acl=%s', nspacl::text) from pg_namespace where nspname = 'auth'
)
select fact from facts order by fact;
