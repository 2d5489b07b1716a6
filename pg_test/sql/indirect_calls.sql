-- Account changes only for the request itself: the owner of an application table (or
-- of a function others call) must not act as whoever writes the table or calls the
-- function, whose claims are the victim's. A trigger, code running with another role's
-- rights and a restricted operation (a hook) are all refused (indirect_call).
\set SHOW_CONTEXT never
begin;
create role app_owner nologin;
grant usage on schema auth to app_owner;
grant execute on function auth.update_user(jsonb), auth.sign_out(text), auth.unlink_identity(uuid),
    auth.reauthenticate(), auth.merge_anonymous_user(text, text) to app_owner;
create table public.notes (id serial primary key, body text);
alter table public.notes owner to app_owner;
grant insert, select on public.notes to authenticated;
grant usage on sequence public.notes_id_seq to authenticated;

set local role service_role;
select auth.admin_create_user('{"email": "wanda@indirect.test", "password": "wandas own passphrase", "email_confirm": true}')->>'id' as wanda \gset
select auth.admin_create_session(:'wanda') as wanda_session \gset
reset role;

-- The table owner's trigger tries to set the password of whoever writes a note.
create function public.take_over() returns trigger language plpgsql as $$
begin
    perform auth.update_user('{"password": "the owner knows this one"}');
    return new;
end
$$;
alter function public.take_over() owner to app_owner;
create trigger take_over before insert on public.notes for each row execute function public.take_over();

set local role anon;
select auth.set_session(:'wanda_session'::jsonb->>'access_token') is not null as wanda_signed_in;
set local role authenticated;
select regress.error_of($$insert into public.notes (body) values ('hello')$$) as trigger_update_user;
reset role;
drop trigger take_over on public.notes;

-- Variant: a trigger that signs the writer out everywhere (a lockout), through a
-- SECURITY INVOKER helper, so that the call itself is not in the trigger function.
create function public.sign_everyone_out() returns void language sql as $$ select auth.sign_out('global') $$;
alter function public.sign_everyone_out() owner to app_owner;
create function public.lock_out() returns trigger language plpgsql as $$
begin
    perform public.sign_everyone_out();
    return new;
end
$$;
alter function public.lock_out() owner to app_owner;
create trigger lock_out after insert on public.notes for each row execute function public.lock_out();
set local role authenticated;
select regress.error_of($$insert into public.notes (body) values ('hello')$$) as trigger_sign_out;
reset role;
drop trigger lock_out on public.notes;

-- Variant: a SECURITY DEFINER function of the owner's, which the victim calls (say, from
-- the app): it runs with the owner's rights, so it may not change the caller's account.
create function public.save_note(body text) returns void language plpgsql security definer set search_path = '' as $$
begin
    perform auth.update_user('{"data": {"owned": true}}');
end
$$;
alter function public.save_note(text) owner to app_owner;
grant execute on function public.save_note(text) to authenticated;
set local role authenticated;
select regress.error_of($$select public.save_note('hello')$$) as definer_update_user;
reset role;

-- Variants without a trigger, all code that runs inside a statement touching the
-- owner's table: a column default, a CHECK constraint, an index expression, a policy a
-- reader's SELECT runs, and a view.
create function public.owner_change() returns text language sql as
  $$ select auth.update_user('{"data": {"owned": true}}')->>'id' $$;
alter function public.owner_change() owner to app_owner;
create function public.owner_change_immutable(body text) returns text language sql immutable as
  $$ select auth.update_user('{"data": {"owned": true}}')->>'id' $$;
alter function public.owner_change_immutable(text) owner to app_owner;
alter table public.notes add column stamp text default public.owner_change();
set local role authenticated;
select regress.error_of($$insert into public.notes (body) values ('hello')$$) as column_default;
reset role;
alter table public.notes alter column stamp drop default;
alter table public.notes add constraint owned check (public.owner_change() is not null) not valid;
set local role authenticated;
select regress.error_of($$insert into public.notes (body) values ('hello')$$) as check_constraint;
reset role;
alter table public.notes drop constraint owned;
create index notes_owned on public.notes (public.owner_change_immutable(body));
set local role authenticated;
select regress.error_of($$insert into public.notes (body) values ('hello')$$) as index_expression;
reset role;
drop index public.notes_owned;
insert into public.notes (body) values ('a row for readers');
alter table public.notes enable row level security;
create policy read_owned on public.notes for select to authenticated using (public.owner_change() is not null);
set local role authenticated;
select regress.error_of($$select count(*) from public.notes$$) as select_policy;
reset role;
create view public.owned as select public.owner_change() as id from public.notes;
alter view public.owned owner to app_owner;
grant select on public.owned to authenticated;
set local role authenticated;
select regress.error_of($$select * from public.owned$$) as view;
-- Variant: an IMMUTABLE function without arguments, which the planner folds into a
-- constant while it plans the reader's statement (before anything executes).
reset role;
drop view public.owned;
drop policy read_owned on public.notes;
create function public.owner_change_folded() returns int language plpgsql immutable as
  $$ begin perform auth.update_user('{"data": {"owned": true}}'); return 1; end $$;
alter function public.owner_change_folded() owner to app_owner;
create policy read_folded on public.notes for select to authenticated using (public.owner_change_folded() = 1);
set local role authenticated;
select regress.error_of($$select count(*) from public.notes$$) as policy_folded_by_the_planner;
reset role;
drop policy read_folded on public.notes;
create policy read_owned on public.notes for select to authenticated using (true);

-- And from the request's own code that inserts into the owner's table (an RPC of the
-- application's): the default still runs inside that insert.
reset role;
drop policy read_owned on public.notes;
alter table public.notes alter column stamp set default public.owner_change();
create function public.add_note(body text) returns void language sql as $$ insert into public.notes (body) values (body) $$;
set local role authenticated;
select regress.error_of($$select public.add_note('hello')$$) as nested_insert_default;
reset role;
alter table public.notes alter column stamp drop default;

-- Nothing changed, and the request itself still may change its own account.
select encrypted_password like '$argon2id$%' as password_kept, raw_user_meta_data ? 'owned' as metadata_changed,
       (select count(*) from auth.sessions where user_id = :'wanda'::uuid) as sessions_kept
from auth.users where id = :'wanda'::uuid;
set local role authenticated;
select auth.update_user('{"data": {"theme": "dark"}}')->'user_metadata'->>'theme' as direct_call_works;
select auth_api.update_user('{"data": {"theme": "light"}}')->'user_metadata'->>'theme' as postgrest_wrapper_works;
reset role;
rollback;

-- Variant at COMMIT: a WITH HOLD cursor that a table owner's trigger declares runs its
-- query when the writer's transaction commits, outside any statement the writer sent.
-- It is refused (and so is the commit, which changes nothing).
create role hold_owner nologin;
grant usage on schema auth to hold_owner;
grant execute on function auth.update_user(jsonb) to hold_owner;
create table public.hold_notes (body text);
alter table public.hold_notes owner to hold_owner;
grant insert on public.hold_notes to authenticated;
create function public.hold_take_over() returns trigger language plpgsql as $$
begin
    execute 'declare hold_take_over cursor with hold for select auth.update_user(''{"data": {"held": true}}'')';
    return new;
end
$$;
alter function public.hold_take_over() owner to hold_owner;
create trigger hold_take_over after insert on public.hold_notes for each row execute function public.hold_take_over();
set role service_role;
select auth.admin_create_user('{"email": "hold@indirect.test", "email_confirm": true}')->>'id' as hold_user \gset
select auth.admin_create_session(:'hold_user') as hold_session \gset
reset role;
begin;
select auth.set_session(:'hold_session'::jsonb->>'access_token') is not null as writer_signed_in;
set local role authenticated;
insert into public.hold_notes values ('hello');
commit;
select raw_user_meta_data ? 'held' as metadata_changed from auth.users where id = :'hold_user';
drop table public.hold_notes;
drop function public.hold_take_over();
revoke all on schema auth from hold_owner;
revoke execute on function auth.update_user(jsonb) from hold_owner;
drop role hold_owner;
delete from auth.audit_log_entries where actor_id = :'hold_user';
delete from auth.users where id = :'hold_user';
