-- pgbench floor: a read-only transaction that reads one token (what the set_session
-- and pgjwt runs read first).
\set i random(1, 1000)
select token from bench.tokens where alg = 'ES256' and i = :i;
