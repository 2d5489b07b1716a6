-- A pooled connection serves many users one after another (PostgREST prepares its
-- per-request settings by name). Code that runs inside a request (a table owner's
-- trigger, a function anyone calls) must not replace or add the connection's prepared
-- statements: the next user's request would run them, with that user's credentials
-- still in request.headers. PREPARE and DEALLOCATE run only as the client's own
-- statements (indirect_call); the client's own still work.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY terse
-- The guard lives in the library, which every connection that serves requests has
-- loaded: preloaded (shared_preload_libraries), or by PostgREST's pre-request and
-- auth.set_session at the start of each request.
load 'auth_ext';
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
set local role authenticated;
-- trigger_deallocate:
insert into public.board (body) values ('hello');
reset role;
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
set local role authenticated;
insert into public.board (body) values ('quietly');
reset role;
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
set local role authenticated;
-- rpc_prepare:
select public.prepare_ahead();
reset role;
-- A SQL function's body, and a DO block's statements, run inside a statement too.
create function public.prepare_in_sql() returns void language sql as $$ prepare in_sql as select 1 $$;
-- sql_function_prepare:
select public.prepare_in_sql();
-- do_prepare:
do $$ begin execute 'prepare in_do as select 1'; end $$;
select name from pg_prepared_statements order by name;
deallocate mine;
select count(*) as none_left from pg_prepared_statements;
rollback;
