-- Once per database, as its owner, after examples/postgrest/setup.sql: the login role
-- the HTTP gateway (auth_ext_gateway) uses. Run: psql app -v ON_ERROR_STOP=1 -f setup.sql
--
-- Like PostgREST's authenticator it is NOINHERIT and switches, per request, to the role
-- the request's API key or token gives (the extension decides which, in
-- auth.gateway_begin). Membership in auth_ext_gateway lets it report each client's
-- address and user agent, so that per-address limits count the real client.
create role auth_gateway login noinherit password 'change-me';
grant anon, authenticated, service_role, auth_ext_gateway to auth_gateway;
-- No request holds a connection longer than the gateway waits for it.
alter role auth_gateway set statement_timeout = '30s';
-- A NOINHERIT role uses no rights of the roles it belongs to: what it calls before
-- switching is granted by name.
grant usage on schema auth to auth_gateway;
grant execute on function auth.gateway_begin(text, text, inet, text), auth.gateway_request(text, text, inet, text),
    auth.error_codes() to auth_gateway;
