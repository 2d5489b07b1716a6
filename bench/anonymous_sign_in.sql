-- pgbench: one anonymous sign-in (user, session, refresh token, ES256 access token),
-- the SQL the HTTP fronts call.
select auth.sign_in_anonymously();
