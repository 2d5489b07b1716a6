-- Account changes only for the request itself: the owner of an application table (or
-- of a function others call) must not act as whoever writes the table or calls the
-- function, whose claims are the victim's. A trigger, code running with another role's
-- rights and a restricted operation (a hook) are all refused (indirect_call).
\set SHOW_CONTEXT never
-- Each attack is the victim's own statement, as its client sends it; psql prints the
-- error, and the transaction goes on past it.
\set ON_ERROR_ROLLBACK on
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
-- trigger_update_user:
insert into public.notes (body) values ('hello');
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
-- trigger_sign_out:
insert into public.notes (body) values ('hello');
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
-- definer_update_user:
select public.save_note('hello');
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
-- column_default:
insert into public.notes (body) values ('hello');
reset role;
alter table public.notes alter column stamp drop default;
alter table public.notes add constraint owned check (public.owner_change() is not null) not valid;
set local role authenticated;
-- check_constraint:
insert into public.notes (body) values ('hello');
reset role;
alter table public.notes drop constraint owned;
create index notes_owned on public.notes (public.owner_change_immutable(body));
set local role authenticated;
-- index_expression:
insert into public.notes (body) values ('hello');
reset role;
drop index public.notes_owned;
insert into public.notes (body) values ('a row for readers');
alter table public.notes enable row level security;
create policy read_owned on public.notes for select to authenticated using (public.owner_change() is not null);
set local role authenticated;
-- select_policy:
select count(*) from public.notes;
reset role;
create view public.owned as select public.owner_change() as id from public.notes;
alter view public.owned owner to app_owner;
grant select on public.owned to authenticated;
set local role authenticated;
-- view:
select * from public.owned;
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
-- policy_folded_by_the_planner:
select count(*) from public.notes;
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
-- nested_insert_default:
select public.add_note('hello');
reset role;
alter table public.notes alter column stamp drop default;

-- Code that Postgres runs for a value, in a statement that reads no table: the owner of a
-- type makes its cast to json, a domain's CHECK or an operator change the account of
-- whoever handles a value of it, say in the outer statement PostgREST wraps around an
-- RPC that returns the type (json_agg of the rows, json_to_record of the arguments).
create type public.mood as enum ('calm', 'glad');
alter type public.mood owner to app_owner;
create function public.mood_rows() returns table (id int, mood public.mood) language sql as
  $$ values (1, 'calm'::public.mood) $$;
create function public.mood_json(public.mood) returns json language plpgsql as
  $$ begin perform auth.update_user('{"data": {"owned": true}}'); return to_json($1::text); end $$;
alter function public.mood_json(public.mood) owner to app_owner;
create cast (public.mood as json) with function public.mood_json(public.mood);
set local role authenticated;
-- cast_to_json_in_json_agg:
select json_agg(r) from public.mood_rows() r;
-- cast_to_json_written_by_the_client:
select mood::json from public.mood_rows();
reset role;
-- Variant: the cast's function in SQL, which the planner would inline into the client's
-- own plan (where the call would look like the client's).
drop cast (public.mood as json);
create function public.mood_json_inlined(public.mood) returns json language sql as
  $$ select (auth.update_user('{"data": {"owned": true}}')->'id')::json $$;
alter function public.mood_json_inlined(public.mood) owner to app_owner;
create cast (public.mood as json) with function public.mood_json_inlined(public.mood);
set local role authenticated;
-- The planner leaves the owner's function whole, and the call stays in its body:
explain (verbose, costs off) select mood::json from public.mood_rows();
-- inlinable_cast_written_by_the_client:
select mood::json from public.mood_rows();
-- inlinable_cast_in_json_agg:
select json_agg(r) from public.mood_rows() r;
-- inlinable_function_named_by_the_client (an application's function is not the request):
select public.owner_change();
reset role;
drop cast (public.mood as json);
-- A domain whose CHECK changes the account directly, and one that runs SQL text through
-- a built-in (query_to_xml), met by PostgREST's json_to_record of an RPC's arguments.
create domain public.note_text as text check (auth.update_user('{"data": {"owned": true}}') is not null);
alter domain public.note_text owner to app_owner;
create domain public.note_xml as text
  check (query_to_xml('select auth.update_user(''{"data": {"owned": true}}'')', false, false, '') is not null);
alter domain public.note_xml owner to app_owner;
set local role authenticated;
-- domain_check_in_json_to_record:
select * from json_to_record('{"body": "hi"}') as args(body public.note_text);
-- domain_check_written_by_the_client:
select 'hi'::public.note_text;
-- domain_check_running_sql_text:
select * from json_to_record('{"body": "hi"}') as args(body public.note_xml);
reset role;
-- An operator of the type's owner, as a filter on an RPC's rows would use it.
create function public.mood_is(public.mood, text) returns boolean language plpgsql as
  $$ begin perform auth.update_user('{"data": {"owned": true}}'); return $1::text = $2; end $$;
alter function public.mood_is(public.mood, text) owner to app_owner;
create operator public.=== (leftarg = public.mood, rightarg = text, function = public.mood_is);
alter operator public.=== (public.mood, text) owner to app_owner;
set local role authenticated;
-- operator_in_a_filter:
select id from public.mood_rows() where mood operator(public.===) 'calm';
reset role;

-- Calls that do land in the client's plan without the client writing them: the default
-- of an argument of the owner's function the client calls (PostgREST's RPC fills in
-- defaults), and an operator of the owner's whose function is the extension's.
create function public.with_default(body text default auth.update_user('{"data": {"owned": true}}')::text)
  returns int language sql as $$ select 1 $$;
alter function public.with_default(text) owner to app_owner;
create operator public.@@@ (rightarg = jsonb, function = auth.update_user);
alter operator public.@@@ (none, jsonb) owner to app_owner;
set local role authenticated;
-- argument_default:
select public.with_default();
-- operator_of_the_extensions_function:
select operator(public.@@@) '{"data": {"owned": true}}'::jsonb;
reset role;

-- A function of the owner's that runs the client's own statement text again, through a
-- cursor of its own (whose text is the client's): that second run is no statement the
-- client sent, and it is refused (here caught, to show it), while the client's own call works.
create function public.greet() returns text language plpgsql as $$
declare
    c refcursor;
    r record;
begin
    if pg_catalog.current_setting('regress.greeting', true) = 'on' then
        return 'again';
    end if;
    perform pg_catalog.set_config('regress.greeting', 'on', true);
    open c for execute pg_catalog.current_query();
    fetch c into r;
    close c;
    return 'ran it again';
exception when others then
    return sqlerrm;
end
$$;
alter function public.greet() owner to app_owner;
set local role authenticated;
select public.greet() as second_run, auth.update_user('{"data": {"greeted": 1}}')->'user_metadata'->>'greeted' as own_call;
reset role;

-- Nothing changed, and the request itself still may change its own account.
select encrypted_password like '$argon2id$%' as password_kept, raw_user_meta_data ? 'owned' as metadata_changed,
       (select count(*) from auth.sessions where user_id = :'wanda'::uuid) as sessions_kept
from auth.users where id = :'wanda'::uuid;
set local role authenticated;
select auth.update_user('{"data": {"theme": "dark"}}')->'user_metadata'->>'theme' as direct_call_works;
-- The extension's wrapper for PostgREST is inlined: its call is in the client's plan.
explain (verbose, costs off) select auth_api.update_user('{"data": {"theme": "light"}}');
select auth_api.update_user('{"data": {"theme": "light"}}')->'user_metadata'->>'theme' as postgrest_wrapper_works;
-- With a table in the statement, where no account change is made, any SQL function is
-- inlined as ever (policies and computed columns rely on it).
explain (verbose, costs off) select public.owner_change() from public.notes;
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
