-- The privilege matrix: every function and table in schema auth, and what PUBLIC and each
-- role may do with it. The README's "Privilege matrix" is this output, and the
-- integration tier checks that they are the same (scripts/integration.sh).
-- Functions: x = may execute. Tables: r select, r(cols) select on some columns,
-- a insert, w update, d delete; owner = owns it. PUBLIC counts only grants to PUBLIC
-- itself; a role's column includes what it gets through PUBLIC.
\pset tuples_only on
\pset format unaligned
with roles(name) as (values ('anon'), ('authenticated'), ('service_role'), ('auth_ext_admin'), ('auth_ext_app')),
objects as (
    select p.oid::regprocedure::text as name, 'f' as kind, p.oid, p.proowner as owner,
           exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                   where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public_may
    from pg_proc p where p.pronamespace in ('auth'::regnamespace, 'auth_api'::regnamespace)
    union all
    select c.oid::regclass::text, 't', c.oid, c.relowner,
           exists (select from aclexplode(c.relacl) a where a.grantee = 0)
    from pg_class c where c.relnamespace = 'auth'::regnamespace and c.relkind in ('r', 'p')
),
cells as (
    select o.name, o.kind, r.name as role,
           case
               when o.owner = r.name::regrole then 'owner'
               when o.kind = 'f' then case when has_function_privilege(r.name, o.oid, 'execute') then 'x' else '' end
               else concat_ws('',
                   case when has_table_privilege(r.name, o.oid, 'select') then 'r'
                        when has_any_column_privilege(r.name, o.oid, 'select') then 'r(cols)' end,
                   case when has_table_privilege(r.name, o.oid, 'insert') then 'a' end,
                   case when has_table_privilege(r.name, o.oid, 'update') then 'w' end,
                   case when has_table_privilege(r.name, o.oid, 'delete') then 'd' end)
           end as cell
    from objects o cross join roles r
)
select format('| `%s` | %s | %s | %s | %s | %s | %s |', o.name,
              case when o.public_may then case o.kind when 'f' then 'x' else '?' end else '' end,
              max(c.cell) filter (where c.role = 'anon'), max(c.cell) filter (where c.role = 'authenticated'),
              max(c.cell) filter (where c.role = 'service_role'), max(c.cell) filter (where c.role = 'auth_ext_admin'),
              max(c.cell) filter (where c.role = 'auth_ext_app'))
from objects o join cells c on c.name = o.name and c.kind = o.kind
group by o.name, o.kind, o.public_may
order by o.kind desc, o.name;
