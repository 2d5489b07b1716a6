-- pgbench peer: pgjwt's SQL verify of one of 1,000 HS256 tokens, then its sub.
\set i random(1, 1000)
select v.valid, (v.payload->>'sub')::uuid
from bench.tokens t cross join bench.secret s cross join lateral bench.verify(t.token, s.secret) v
where t.alg = 'HS256' and t.i = :i;
