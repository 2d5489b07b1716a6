-- The measuring functions of bench/claims.sql (temporary: made again in each session),
-- and the session's settings: one core, no JIT.
set max_parallel_workers_per_gather = 0;
set jit = off;
create function pg_temp.best_ms(predicate text, expected bigint) returns numeric language plpgsql as $$
declare
    best numeric;
    started timestamptz;
    elapsed numeric;
    n bigint;
begin
    for i in 1..9 loop
        started := clock_timestamp();
        execute 'select count(*) from bench_rows where ' || predicate into n;
        elapsed := extract(epoch from clock_timestamp() - started) * 1000;
        if n <> expected then raise exception 'predicate % matched % rows', predicate, n; end if;
        best := least(coalesce(best, elapsed), elapsed);
    end loop;
    return round(best, 1);
end $$;

-- Supabase Auth's own definition of auth.uid(), for reference.
create function pg_temp.supabase_uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;

create function pg_temp.report(claims_from text) returns table (mode text, predicate text, ms numeric, vs_literal numeric)
language plpgsql as $$
declare
    literal numeric;
    p text;
    t numeric;
begin
    foreach p in array array[
        $q$user_id = '5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b'$q$,
        'user_id = auth.uid()',
        'user_id = (select auth.uid())',
        $q$user_id = (auth.jwt()->>'sub')::uuid$q$,
        'auth.is_anonymous() is not true and user_id = auth.uid()',
        'user_id = pg_temp.supabase_uid()'] loop
        -- Supabase's function reads only request.jwt.claims.
        continue when p like '%supabase%' and claims_from = 'verified session';
        t := pg_temp.best_ms(p, (select count(*) / 1000 from bench_rows));
        literal := coalesce(literal, t);  -- the first predicate is the literal
        return query select claims_from, p, t, round(t / literal, 2);
    end loop;
end $$;
