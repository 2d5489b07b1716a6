-- Row-level security on the extension's own tables, and an application policy, per role.
\set SHOW_CONTEXT never
begin;

insert into auth.users (id, email, encrypted_password) values
    ('00000000-0000-0000-0000-0000000000e1', 'erin@example.com', '$argon2id$not-a-real-hash'),
    ('00000000-0000-0000-0000-0000000000e2', 'frank@example.com', null);
insert into auth.users (id, is_anonymous) values ('00000000-0000-0000-0000-0000000000e3', true);

-- anon: nothing in auth but the claim functions.
set local role anon;
select auth.uid() is null as anon_has_no_uid;
savepoint s;
select count(*) from auth.users;
rollback to s;
savepoint s;
select count(*) from auth.user_identities;
rollback to s;
reset role;

-- authenticated without claims: sees no one.
set local role authenticated;
select count(*) as users_seen from auth.users;
reset role;

-- authenticated as erin: her own user row and identities, nothing else.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000e1", "role": "authenticated"}', true) is not null as set;
set local role authenticated;
select id, email from auth.users;
select provider, provider_id from auth.user_identities;
-- Not her password hash, and no writes at all.
savepoint s;
select encrypted_password from auth.users;
rollback to s;
savepoint s;
update auth.user_identities set provider_id = 'frank@example.com';
rollback to s;
savepoint s;
update auth.users set email = 'x@example.com';
rollback to s;
savepoint s;
insert into auth.user_identities (user_id, provider, provider_id) values ('00000000-0000-0000-0000-0000000000e1', 'feishu', 'ou_hijack');
rollback to s;
savepoint s;
delete from auth.users;
rollback to s;
-- Nor the extension's internals.
savepoint s;
select auth.insert_identity('00000000-0000-0000-0000-0000000000e1', 'feishu', 'ou_hijack', '{}');
rollback to s;
reset role;

-- service_role: reads every user (BYPASSRLS, like Supabase's), still no password hashes, no direct writes.
set local role service_role;
select count(*) as users_seen from auth.users;
savepoint s;
select encrypted_password from auth.users;
rollback to s;
savepoint s;
delete from auth.user_identities;
rollback to s;
reset role;

-- An application table protected as in Supabase's anonymous sign-in guide:
-- owners see their rows; only permanent users may insert (restrictive beside permissive).
create table public.notes (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references auth.users (id),
    body text not null
);
alter table public.notes enable row level security;
create policy notes_owner on public.notes for all to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy notes_permanent_only on public.notes as restrictive for insert to authenticated
    with check ((select (auth.jwt()->>'is_anonymous')::boolean) is false);
grant select, insert on public.notes to authenticated;

-- Erin (permanent) writes and reads her note.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000e1", "role": "authenticated", "is_anonymous": false}', true) is not null as set;
set local role authenticated;
insert into public.notes (body) values ('erin''s note');
select body from public.notes;
reset role;

-- The anonymous user is refused the insert.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000e3", "role": "authenticated", "is_anonymous": true}', true) is not null as set;
set local role authenticated;
savepoint s;
insert into public.notes (body) values ('anonymous note');
rollback to s;
-- ...and sees nothing of Erin's.
select count(*) as notes_seen from public.notes;
reset role;

-- Frank (permanent) cannot write a note as Erin, and sees none of hers.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000e2", "role": "authenticated", "is_anonymous": false}', true) is not null as set;
set local role authenticated;
savepoint s;
insert into public.notes (user_id, body) values ('00000000-0000-0000-0000-0000000000e1', 'forged');
rollback to s;
select count(*) as notes_seen from public.notes;
reset role;

-- What each application role may execute in schema auth.
select r.rolname, p.proname
from pg_proc p cross join (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
where p.pronamespace = 'auth'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute')
order by 1, 2;

-- And what each may do with the tables.
select r.rolname, t.tbl,
       has_table_privilege(r.rolname, t.tbl, 'select') as sel,
       has_table_privilege(r.rolname, t.tbl, 'insert') as ins,
       has_table_privilege(r.rolname, t.tbl, 'update') as upd,
       has_table_privilege(r.rolname, t.tbl, 'delete') as del,
       has_column_privilege(r.rolname, t.tbl, 'id', 'select') as sel_id
from (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
cross join (values ('auth.users'), ('auth.user_identities')) t(tbl)
order by 1, 2;

rollback;
