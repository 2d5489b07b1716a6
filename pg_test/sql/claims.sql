-- The claim functions under set, unset, empty, legacy and malformed claims.
\set SHOW_CONTEXT never
begin;

-- Unset: every function answers NULL, never an error.
select auth.uid(), auth.role(), auth.email(), auth.jwt(), auth.is_anonymous(), auth.session_id();

-- Set as PostgREST sets them for a request.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000d1", "role": "authenticated",
  "email": "dora@example.com", "is_anonymous": false, "session_id": "00000000-0000-0000-0000-00000000000e",
  "aal": "aal1", "app_metadata": {"provider": "email"}, "exp": 1999999999}', true) is not null as set;
select auth.uid(), auth.role(), auth.email(), auth.is_anonymous(), auth.session_id();
select auth.jwt()->'app_metadata' as app_metadata, auth.jwt()->>'aal' as aal, (auth.jwt()->>'exp')::bigint as exp;

-- The policy form from Supabase's anonymous sign-in guide.
select (select (auth.jwt()->>'is_anonymous')::boolean) is false as permanent;

-- A changed setting is read afresh, never served from the previous request.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000d2", "role": "authenticated", "is_anonymous": true}', true) is not null as set;
select auth.uid(), auth.email(), auth.is_anonymous();

-- Empty: NULL, as unset.
select set_config('request.jwt.claims', '', true) is not null as set;
select auth.uid(), auth.role(), auth.jwt();

-- An anon request: a role and nothing else.
select set_config('request.jwt.claims', '{"role": "anon"}', true) is not null as set;
select auth.uid(), auth.role(), auth.is_anonymous();

-- Legacy per-claim settings (PostgREST before v9, which set no request.jwt.claims)
-- answer when request.jwt.claims is unset...
select set_config('request.jwt.claims', '', true) is not null as unset;
select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-0000000000d3', true),
       set_config('request.jwt.claim.role', 'authenticated', true),
       set_config('request.jwt.claim.email', 'legacy@example.com', true);
select auth.uid(), auth.role(), auth.email();
-- ...and request.jwt.claims, when set, is the one source (PostgREST 9+ sets only it).
select set_config('request.jwt.claims', '{"role": "anon"}', true) is not null as set;
select auth.uid(), auth.role(), auth.email();
select set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claim.role', '', true),
       set_config('request.jwt.claim.email', '', true);

-- Malformed claims: a clear error, and the connection stays usable.
select set_config('request.jwt.claims', '{"sub": ', true) is not null as set;
savepoint s;
select auth.uid();
rollback to s;
select set_config('request.jwt.claims', '"just a string"', true) is not null as set;
savepoint s;
select auth.jwt();
rollback to s;
select set_config('request.jwt.claims', '{"sub": "not-a-uuid", "role": "authenticated"}', true) is not null as set;
select auth.role();
savepoint s;
select auth.uid();
rollback to s;
select set_config('request.jwt.claims', '{"is_anonymous": "maybe"}', true) is not null as set;
savepoint s;
select auth.is_anonymous();
rollback to s;
select set_config('request.jwt.claims', '{"sub": "\u0000"}', true) is not null as set;
savepoint s;
select auth.jwt();
rollback to s;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000d4"}', true) is not null as set;
select auth.uid() as usable_again;

-- Their SQLSTATE: invalid_authorization_specification, which PostgREST answers with 403.
select set_config('request.jwt.claims', 'nope', true) is not null as set;
select regress.error_of('select auth.uid()');

-- Volatility and parallel safety, as the planner sees them.
select proname, provolatile, proparallel, prorettype::regtype
from pg_proc where pronamespace = 'auth'::regnamespace
  and proname in ('jwt', 'uid', 'role', 'email', 'is_anonymous', 'session_id') order by proname;

-- A claim function called once per row agrees with its single-call form.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-0000000000d5"}', true) is not null as set;
select count(*) filter (where auth.uid() = '00000000-0000-0000-0000-0000000000d5') as per_row_matches
from generate_series(1, 10000);

rollback;
