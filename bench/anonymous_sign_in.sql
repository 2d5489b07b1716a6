-- pgbench: one anonymous sign-in (user, session, refresh token, ES256 access token),
-- the SQL the HTTP fronts call, from one of 16 million client addresses (as the
-- gateway reports them; pgbench connects as a superuser, which may).
\set n random(1, 16777215)
select auth.sign_in_anonymously(ip => '10.0.0.0'::inet + :n);
