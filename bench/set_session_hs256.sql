-- pgbench: verify one of 1,000 HS256 access tokens of live sessions, then read auth.uid()
-- (a direct connection's request).
\set i random(1, 1000)
select auth.set_session(token) is not null, auth.uid() from bench.tokens where alg = 'HS256' and i = :i;
