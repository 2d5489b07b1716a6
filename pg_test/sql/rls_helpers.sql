-- RLS helpers: enable_owner_policies / disable_owner_policies and is_permanent, with
-- real queries as anon and as authenticated anonymous and permanent users.
\set SHOW_CONTEXT never
begin;

insert into auth.users (id, email) values ('00000000-0000-0000-0000-00000000a001', 'perm@example.com');
insert into auth.users (id, is_anonymous) values ('00000000-0000-0000-0000-00000000a002', true);
create table public.docs (id int primary key, user_id uuid not null, body text);
grant select, insert, update, delete on public.docs to anon, authenticated;
insert into public.docs values (1, '00000000-0000-0000-0000-00000000a001', 'permanent''s'),
                               (2, '00000000-0000-0000-0000-00000000a002', 'anonymous''s');

-- Runs a statement as a role with claims; returns rows affected or seen, or the error.
create function pg_temp.as_user(claims text, statement text) returns text language plpgsql as $f$
declare
    n bigint;
begin
    perform set_config('request.jwt.claims', claims, true);
    execute 'set local role ' || case when claims = '' then 'anon' else 'authenticated' end;
    execute statement;
    get diagnostics n = row_count;
    reset role;
    return n::text;
exception when others then
    reset role;
    return sqlstate || ' ' || sqlerrm;
end
$f$;

\set permanent '{"sub": "00000000-0000-0000-0000-00000000a001", "role": "authenticated", "is_anonymous": false}'
\set anonymous '{"sub": "00000000-0000-0000-0000-00000000a002", "role": "authenticated", "is_anonymous": true}'

select auth.enable_owner_policies('public.docs', anonymous_can_write => false);
select polname, polpermissive, polcmd from pg_policy where polrelid = 'public.docs'::regclass order by polname;
-- Idempotent: a second call leaves the same policies.
select auth.enable_owner_policies('public.docs', anonymous_can_write => false);
select count(*) as policies from pg_policy where polrelid = 'public.docs'::regclass;
-- Owner policies are planned once per query: (select auth.uid()).
select pg_get_expr(polqual, polrelid) as owner_check from pg_policy where polname = 'auth_ext_owner_select';

-- Who sees and changes what.
select who, action, pg_temp.as_user(claims, statement) as result from (values
    ('anon', 'select', '', 'select * from public.docs'),
    ('permanent', 'select', :'permanent', 'select * from public.docs'),
    ('permanent', 'insert own', :'permanent', $$insert into public.docs values (3, '00000000-0000-0000-0000-00000000a001', 'new')$$),
    ('permanent', 'insert as other', :'permanent', $$insert into public.docs values (4, '00000000-0000-0000-0000-00000000a002', 'forged')$$),
    ('permanent', 'update own', :'permanent', $$update public.docs set body = 'edited'$$),
    ('permanent', 'give away', :'permanent', $$update public.docs set user_id = '00000000-0000-0000-0000-00000000a002' where id = 1$$),
    ('anonymous', 'select', :'anonymous', 'select * from public.docs'),
    ('anonymous', 'insert own', :'anonymous', $$insert into public.docs values (5, '00000000-0000-0000-0000-00000000a002', 'anon')$$),
    ('anonymous', 'update own', :'anonymous', $$update public.docs set body = 'anon edit'$$),
    ('anonymous', 'delete own', :'anonymous', 'delete from public.docs'),
    ('permanent', 'delete own', :'permanent', 'delete from public.docs where id = 3')
) t(who, action, claims, statement);

-- anonymous_can_write (the default): anonymous users write their own rows too.
select auth.enable_owner_policies('public.docs');
select count(*) filter (where polpermissive) as permissive, count(*) filter (where not polpermissive) as restrictive
from pg_policy where polrelid = 'public.docs'::regclass;
select pg_temp.as_user(:'anonymous', $$update public.docs set body = 'anon edit'$$) as anonymous_update;

-- is_permanent, for hand-written policies.
select pg_temp.as_user(:'permanent', 'select 1 where auth.is_permanent()') as permanent,
       pg_temp.as_user(:'anonymous', 'select 1 where auth.is_permanent()') as anonymous,
       pg_temp.as_user('', 'select 1 where auth.is_permanent()') as signed_out;

-- disable removes exactly what enable made: its policies, and RLS since it was off before...
savepoint d;
select auth.disable_owner_policies('public.docs');
select count(*) as policies, (select relrowsecurity from pg_class where oid = 'public.docs'::regclass) as rls
from pg_policy where polrelid = 'public.docs'::regclass;
rollback to d;
-- ...but not while a policy of the application's own relies on it, and never that policy.
create policy mine on public.docs for select to authenticated using (true);
select auth.disable_owner_policies('public.docs');
select polname from pg_policy where polrelid = 'public.docs'::regclass;
select relrowsecurity from pg_class where oid = 'public.docs'::regclass;
-- A table whose RLS was on before keeps it.
create table public.kept (user_id uuid);
alter table public.kept enable row level security;
select auth.enable_owner_policies('public.kept');
select auth.disable_owner_policies('public.kept');
select relrowsecurity from pg_class where oid = 'public.kept'::regclass;

-- Only a table's owner can change its security, whatever role calls the helper.
set local role service_role;
select regress.error_of($$select auth.enable_owner_policies('public.docs')$$) as not_owner;
reset role;
select regress.error_of($$select auth.enable_owner_policies('public.docs', 'owner')$$) as no_such_column;

rollback;
