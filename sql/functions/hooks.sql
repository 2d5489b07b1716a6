-- Hooks: the function a setting names, and calling it.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- The function a hook setting names: `schema.function` (taking jsonb) or with its
-- signature; NULL when there is none. The one rule both the caller (to run a hook as
-- its owner) and call_hook resolve it by.
create or replace function auth.hook_function(hook text)
returns regprocedure
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    parts text[];
begin
    -- Read from the catalog, not by to_regprocedure: that checks the caller's USAGE on the
    -- hook's schema, which the extension's role need not have (the hook runs as its owner).
    parts := pg_catalog.parse_ident(pg_catalog.regexp_replace(hook, '\(\s*jsonb\s*\)\s*$', ''));
    if pg_catalog.array_length(parts, 1) <> 2 then
        return null;
    end if;
    return (select p.oid::regprocedure
            from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
            where n.nspname = parts[1] and p.proname = parts[2] and p.proargtypes = '3802'::pg_catalog.oidvector);
exception
    when invalid_parameter_value or syntax_error then
        return null;
end
$$;

-- Calls the hook function a setting names, with or without its (jsonb) signature.
-- With wrap_errors, anything it raises becomes hook_failed (the access token hook);
-- without, its own error reaches the caller (a before-sign-in hook refusing).
create or replace function auth.call_hook(hook text, event jsonb, wrap_errors boolean default true)
returns jsonb
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    fn regprocedure := auth.hook_function(hook);
    call text;
    result jsonb;
begin
    if fn is null then
        perform auth.raise_error('hook_failed', 'the hook function does not exist',
            pg_catalog.format('no function %s taking jsonb', hook), 'Check the auth_ext.*_hook settings: schema.function.');
    end if;
    -- regproc output is a properly quoted, schema-qualified name.
    call := pg_catalog.format('select %s($1)', fn::regproc);
    if not wrap_errors then
        execute call using event into result;
        return result;
    end if;
    begin
        execute call using event into result;
    exception when others then
        perform auth.raise_error('hook_failed', 'the hook raised an error', pg_catalog.format('%s: %s', fn, sqlerrm));
    end;
    return result;
end
$$;
