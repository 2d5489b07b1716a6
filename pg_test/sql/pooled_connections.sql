-- A pooled connection serves many users one after another. Code that runs inside a
-- request (a table owner's trigger, a function anyone calls) must not leave on it what
-- would act in the next user's requests, with that user's credentials: prepared
-- statements (PostgREST prepares its per-request settings by name), temporary types and
-- domains (searched first for type names), or another role (the pooler may become
-- service_role). Each is refused (indirect_call) unless the client's own statement does
-- it; the client's own still work.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY terse
-- The guard lives in the library, which every connection that serves requests has
-- loaded: preloaded (shared_preload_libraries), or by PostgREST's pre-request and
-- auth.set_session at the start of each request.
load 'auth_ext';
-- The pooler: a login role that may become each role it serves. A superuser's session
-- is not guarded (it may become anyone anyway), so the attacks run in the pooler's.
create role pooler login noinherit;
grant anon, authenticated, service_role to pooler;
begin;
create role table_owner nologin;
create table public.board (id serial primary key, body text);
alter table public.board owner to table_owner;
grant insert on public.board to authenticated;
grant usage on sequence public.board_id_seq to authenticated;
create table public.loot (what text);
alter table public.loot owner to table_owner;

-- The client's own statements: a driver's way of working, unchanged.
prepare mine(int) as select $1 + 1 as answer;
execute mine(41);
select name, from_sql from pg_prepared_statements order by name;

-- The attack: a trigger swaps the statement the pooler prepared for one that copies the
-- request's headers (here: the client's own statement stands in for the pooler's).
create function public.poison() returns trigger language plpgsql security definer as $$
begin
    execute 'deallocate mine';
    execute $q$prepare mine(int) as select $1 + 1 as answer, (select count(*) from public.loot)$q$;
    return new;
end
$$;
alter function public.poison() owner to table_owner;
create trigger poison before insert on public.board for each row execute function public.poison();
set local session authorization pooler;
set local role authenticated;
-- trigger_deallocate:
insert into public.board (body) values ('hello');
reset role;
reset session authorization;
-- Nothing changed: the client's statement is still its own.
execute mine(41);
select name, from_sql, statement from pg_prepared_statements order by name;
drop trigger poison on public.board;

-- Variant: the trigger catches the refusal and carries on; the write succeeds, the
-- statements stay as they were, and what the trigger saw is the refusal.
create function public.poison_quietly() returns trigger language plpgsql security definer as $$
begin
    begin
        execute 'deallocate all';
    exception when others then
        insert into public.loot values (sqlstate || ' ' || sqlerrm);
    end;
    return new;
end
$$;
alter function public.poison_quietly() owner to table_owner;
create trigger poison_quietly before insert on public.board for each row execute function public.poison_quietly();
set local session authorization pooler;
set local role authenticated;
insert into public.board (body) values ('quietly');
reset role;
reset session authorization;
select what from public.loot;
select count(*) as still_prepared from pg_prepared_statements where name = 'mine';
drop trigger poison_quietly on public.board;

-- Variant: prepare ahead, a name the pooler will use next (its Parse would then fail, or
-- run the squatter's text), from a function a user calls over RPC.
create function public.prepare_ahead() returns void language plpgsql security definer as $$
begin
    execute 'prepare "17" as select 1';
end
$$;
alter function public.prepare_ahead() owner to table_owner;
grant execute on function public.prepare_ahead() to authenticated;
set local session authorization pooler;
set local role authenticated;
-- rpc_prepare:
select public.prepare_ahead();
reset role;
reset session authorization;
-- A SQL function's body, and a DO block's statements, run inside a statement too.
create function public.prepare_in_sql() returns void language sql as $$ prepare in_sql as select 1 $$;
set local session authorization pooler;
-- sql_function_prepare:
select public.prepare_in_sql();
reset session authorization;
set local session authorization pooler;
-- do_prepare:
do $$ begin execute 'prepare in_do as select 1'; end $$;
reset session authorization;
select name from pg_prepared_statements order by name;
deallocate mine;
select count(*) as none_left from pg_prepared_statements;
-- Temporary objects. The attack: a trigger plants a temporary `jsonb` domain whose CHECK
-- copies every value that the connection's later statements cast to jsonb.
create function public.capture(v text) returns boolean language plpgsql security definer as $$
begin
    insert into public.loot values (left(v, 40));
    return true;
end
$$;
alter function public.capture(text) owner to table_owner;
grant execute on function public.capture(text) to public;
create function public.plant() returns trigger language plpgsql as $$
begin
    execute 'create domain pg_temp.jsonb as pg_catalog.jsonb check (public.capture(value::pg_catalog.text))';
    return new;
end
$$;
alter function public.plant() owner to table_owner;
create trigger plant before insert on public.board for each row execute function public.plant();
set local session authorization pooler;
set local role authenticated;
-- trigger_temporary_domain:
insert into public.board (body) values ('plant');
reset role;
reset session authorization;
drop trigger plant on public.board;
-- Variant: pg_temp first in the search path, and an unqualified name.
create function public.plant_unqualified() returns void language plpgsql as $$
begin
    perform pg_catalog.set_config('search_path', 'pg_temp', true);
    execute 'create domain text as pg_catalog.text check (public.capture(value))';
end
$$;
set local session authorization pooler;
-- unqualified_temporary_domain:
select public.plant_unqualified();
reset session authorization;
-- Variant: a temporary function, and a temporary table that outlives the transaction.
set local session authorization pooler;
-- temporary_function:
do $$ begin execute 'create function pg_temp.f() returns int language sql as ''select 1'''; end $$;
reset session authorization;
set local session authorization pooler;
-- temporary_table:
do $$ begin execute 'create temp table kept (x int)'; end $$;
reset session authorization;
-- A temporary table that goes at commit, the usual use inside functions, is made.
set local session authorization pooler;
do $$ begin execute 'create temp table scratch (x int) on commit drop'; end $$;
select count(*) as scratch_rows from pg_temp.scratch;
reset session authorization;
-- The client's own temporary domain is its own session's: the extension's functions pin
-- their search path (pg_catalog first), so it never catches their values.
create domain pg_temp.jsonb as pg_catalog.jsonb check (public.capture(value::pg_catalog.text));
select pg_catalog.set_config('request.headers', '{"authorization": "Bearer a-token"}', true) is not null as request_headers;
select auth.postgrest_pre_request();
select count(*) as captured from public.loot where what like '%a-token%';

-- Roles. A pooler logs in as a role that may become each role it serves, service_role
-- included; code inside a request may not become another.
create function public.escalate() returns trigger language plpgsql as $$
begin
    perform pg_catalog.set_config('role', 'service_role', true);
    insert into public.loot select email from auth.users limit 1;
    return new;
end
$$;
alter function public.escalate() owner to table_owner;
create trigger escalate before insert on public.board for each row execute function public.escalate();
set local session authorization pooler;
set local role authenticated;
-- trigger_set_config_role:
insert into public.board (body) values ('escalate');
reset role;
reset session authorization;
drop trigger escalate on public.board;
-- Variant: SET ROLE in a function anyone may call.
create function public.become_service() returns text language plpgsql as $$
begin
    set local role service_role;
    return current_user;
end
$$;
alter function public.become_service() owner to table_owner;
grant execute on function public.become_service() to authenticated;
set local session authorization pooler;
set local role authenticated;
-- function_set_role:
select public.become_service();
-- The pooler's own change of role, as PostgREST makes it, still works.
select pg_catalog.set_config('role', 'anon', true) as pooler_switches, current_user;
reset role;
reset session authorization;
select count(*) as nothing_taken from public.loot where what like '%@%';
-- Variant: a SQL function the planner inlines into the client's statement, which then
-- changes role straight from the client's executor (an RPC to it).
create function public.inline_escalate() returns text language sql as $$ select pg_catalog.set_config('role', 'service_role', true) $$;
alter function public.inline_escalate() owner to table_owner;
grant execute on function public.inline_escalate() to authenticated;
set local session authorization pooler;
set local role authenticated;
-- inlined_set_config_role:
select public.inline_escalate();
reset role;
reset session authorization;
-- Variant: EXPLAIN ANALYZE runs the CREATE TABLE AS it explains.
create function public.explain_plant() returns void language plpgsql as $$
begin
    execute 'explain analyze create temp table jsonb as select 1 as a';
end
$$;
set local session authorization pooler;
-- explain_temporary_table:
select public.explain_plant();
-- Variant: a cursor WITH HOLD outlives the request's transaction.
-- hold_cursor:
do $$ begin execute 'declare kept_cursor cursor with hold for select 1'; end $$;
reset session authorization;
rollback;

-- Settings for the rest of the session. A trigger that leaves a search_path (which would
-- decide the function the pooler's next statement calls), a response header that sets a
-- cookie, or a lock timeout on the connection makes the request fail at commit, and the
-- settings go with it. The client's own, with SET or set_config(..., false), stay.
create role settings_owner nologin;
create table public.board2 (body text);
alter table public.board2 owner to settings_owner;
grant insert on public.board2 to authenticated;
create function public.leave_settings() returns trigger language plpgsql as $$
begin
    perform pg_catalog.set_config('search_path', 'public, pg_catalog', false);
    perform pg_catalog.set_config('response.headers', '[{"Set-Cookie": "sb-access-token=ATTACKER"}]', false);
    perform pg_catalog.set_config('lock_timeout', '1', false);
    return new;
end
$$;
alter function public.leave_settings() owner to settings_owner;
create trigger leave_settings before insert on public.board2 for each row execute function public.leave_settings();
begin;
set local session authorization pooler;
set local role authenticated;
insert into public.board2 values ('one request');
-- left_for_the_session:
commit;
select coalesce(current_setting('response.headers', true), '') as left_behind, current_setting('lock_timeout') as lock_timeout_left,
       current_setting('search_path') as search_path_left;
-- Variant: a view (a policy, a default) puts its set_config into the client's own
-- statement; the client's text names no set_config, so it is still others' code.
create view public.poison_view as select pg_catalog.set_config('search_path', 'public, pg_catalog', false) as x;
alter view public.poison_view owner to settings_owner;
grant select on public.poison_view to anon;
begin;
set local session authorization pooler;
set local role anon;
select x is not null as read_the_view from public.poison_view;
-- view_left_for_the_session:
commit;
select current_setting('search_path') as search_path_after_view;
-- Variant: the client's text names set_config (a column alias, a comment), the call is
-- still the view's.
begin;
set local session authorization pooler;
set local role anon;
select x is not null as set_config from public.poison_view; -- set_config
-- view_named_in_text:
commit;
select current_setting('search_path') as search_path_still;
drop view public.poison_view;
-- Variant: an SQL function the planner inlines into the client's statement, named so that
-- the client's text holds "set_config"; its call is still the function's.
create function public.inline_set_config() returns text language sql volatile
    as $$ select pg_catalog.set_config('search_path', 'public, pg_catalog', false) $$;
alter function public.inline_set_config() owner to settings_owner;
grant execute on function public.inline_set_config() to anon;
begin;
set local session authorization pooler;
set local role anon;
select public.inline_set_config() is not null as called;
-- inlined_function_named_set_config:
commit;
select current_setting('search_path') as search_path_after_inlined;
drop function public.inline_set_config();
-- The client's own.
begin;
set local session authorization pooler;
select pg_catalog.set_config('lock_timeout', '2s', false) as own_setting;
set statement_timeout = '5s';
commit;
select current_setting('lock_timeout') as kept, current_setting('statement_timeout') as kept_too;
-- A driver's prepared statement runs the client's own set_config again and again.
prepare own_setting as select pg_catalog.set_config('lock_timeout', '3s', false);
begin;
set local session authorization pooler;
execute own_setting;
commit;
begin;
set local session authorization pooler;
execute own_setting;
commit;
deallocate own_setting;
select current_setting('lock_timeout') as kept_again;
reset lock_timeout;
reset lock_timeout;
reset statement_timeout;

-- Role settings. Any role may set its own (ALTER ROLE anon SET ...), and PostgREST
-- applies the settings of the role it becomes to every request: anon's search_path, set
-- inside one request, would choose the functions PostgREST calls on every later
-- anonymous request's body (credentials included). Only a superuser changes them.
create function public.set_anon_path() returns trigger language plpgsql as $$
begin
    execute 'alter role anon set search_path = public, pg_catalog';
    return new;
end
$$;
alter function public.set_anon_path() owner to settings_owner;
create trigger set_anon_path before insert on public.board2 for each row execute function public.set_anon_path();
grant insert on public.board2 to anon;
begin;
set local session authorization pooler;
set local role anon;
-- trigger_alter_role_set:
insert into public.board2 values ('anon request');
rollback;
drop trigger set_anon_path on public.board2;
-- Variant: anyone who is anon over SQL, at top level; and RESET, which would drop the
-- operator's own limits (a statement_timeout for anon).
alter role anon set statement_timeout = '3s';
begin;
set local session authorization pooler;
set local role anon;
-- top_level_alter_role_set:
alter role anon set statement_timeout = '1ms';
-- top_level_alter_role_reset:
alter role anon reset all;
rollback;
select r.rolname, s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
where r.rolname in ('anon', 'authenticated', 'service_role', 'pooler');
alter role anon reset statement_timeout;
-- Variant: SET SESSION AUTHORIZATION DEFAULT, which any session may make, inside a
-- request's code would make it the pooler's login role.
create function public.become_pooler() returns text language plpgsql as $$
begin
    set local session authorization default;
    return session_user::text || ' ' || current_user::text;
end
$$;
alter function public.become_pooler() owner to settings_owner;
grant execute on function public.become_pooler() to anon;
begin;
set local session authorization pooler;
set local role anon;
-- function_session_authorization:
select public.become_pooler();
rollback;
-- The client's own, at top level, still works.
begin;
set local session authorization pooler;
set local role anon;
set local session authorization default;
select session_user, current_user as own_session_authorization;
rollback;
drop function public.become_pooler();
drop function public.set_anon_path();
drop table public.board2;
drop function public.leave_settings();
drop role settings_owner;
drop role pooler;
