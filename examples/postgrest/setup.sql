-- Once per database, as its owner (a superuser for CREATE EXTENSION): the extension,
-- and the login role PostgREST uses. Run: psql app -v ON_ERROR_STOP=1 -f setup.sql
create extension if not exists auth_ext;

-- PostgREST logs in as authenticator, and for each request switches to the role its
-- token names. NOINHERIT: it has none of their rights until it switches.
create role authenticator login noinherit password 'change-me';
grant anon, authenticated, service_role to authenticator;
-- The claims (from the token PostgREST verified) and headers that its sessions set are
-- believed; any other role's are ignored (a role that can run SQL can set them to anything).
grant auth_ext_postgrest to authenticator;
-- The keys PostgREST verifies with, HS256 secrets included: for it alone, by name
-- (a NOINHERIT role uses no rights of the roles it belongs to).
grant usage on schema auth to authenticator;
grant execute on function auth.postgrest_config() to authenticator;
