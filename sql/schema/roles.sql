-- The extension's roles: the owner of everything, the rights application code runs
-- with, and the HTTP front's; and Supabase's anon, authenticated and service_role.

-- Application roles, as PostgREST and Supabase name them. NOLOGIN: a login role
-- (PostgREST's `authenticator`) switches into them per request.
do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
        -- The admin role of an application's server: reads every user, as in Supabase.
        create role service_role nologin noinherit bypassrls;
    end if;
    -- auth_ext_admin owns the auth tables and every SECURITY DEFINER function, so that
    -- nothing the extension runs has the installer's (a superuser's) rights.
    -- auth_ext_app is what application code (hooks, merge handlers, merges' row moves)
    -- runs as: no rights in auth, and on application tables only what the application
    -- grants it. Members of auth_ext_gateway (an HTTP front's login role) may pass the
    -- client's address. All three must be plain roles, whoever created them.
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_admin') then
        create role auth_ext_admin nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_app') then
        create role auth_ext_app nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_gateway') then
        create role auth_ext_gateway nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    -- Members of auth_ext_postgrest are PostgREST's login roles: the claims and headers
    -- their sessions set are believed (src/core/roles.rs).
    if not exists (select from pg_catalog.pg_roles where rolname = 'auth_ext_postgrest') then
        create role auth_ext_postgrest nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole noreplication;
    end if;
    if exists (select from pg_catalog.pg_roles
               where rolname in ('auth_ext_admin', 'auth_ext_app', 'auth_ext_gateway', 'auth_ext_postgrest')
                 and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb or rolreplication
                      or (rolcanlogin and rolname <> 'auth_ext_gateway'))) then
        raise exception 'auth_ext: roles auth_ext_admin, auth_ext_app, auth_ext_gateway and auth_ext_postgrest must not be superuser, BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION'
            using errcode = '42501', hint = 'ALTER ROLE them to NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION, or drop them.';
    end if;
    if exists (select from pg_catalog.pg_auth_members m
               where m.member in (select oid from pg_catalog.pg_roles where rolname in ('auth_ext_admin', 'auth_ext_app'))) then
        raise exception 'auth_ext: roles auth_ext_admin and auth_ext_app must not be members of other roles'
            using errcode = '42501';
    end if;
end
$roles$;

comment on role auth_ext_admin is 'auth_ext: owns the auth schema''s tables and SECURITY DEFINER functions. NOLOGIN; never runs application code.';
comment on role auth_ext_app is 'auth_ext: the rights application code (hooks, merge handlers, merges'' row moves) runs with. Grant it what they need.';
comment on role auth_ext_gateway is 'auth_ext: members (an HTTP front''s login role) may pass the client''s address and user agent.';
comment on role auth_ext_postgrest is 'auth_ext: members (PostgREST''s login role) set request.jwt.claims and request.headers that are believed; nobody else''s are.';
