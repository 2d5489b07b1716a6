-- What a policy's claim function costs per row, against comparing with a literal.
-- :rows rows (one in a thousand the user's), one core (no parallel workers), best of
-- nine runs each. Prints mode|predicate|ms|ratio lines for scripts/bench.sh.
\set QUIET on
\pset footer off
\pset tuples_only on
\pset format unaligned
set max_parallel_workers_per_gather = 0;
set jit = off;
create table bench_rows as
select case when n % 1000 = 0 then '5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b'::uuid else gen_random_uuid() end as user_id
from generate_series(1, :rows) n;
vacuum analyze bench_rows;
insert into auth.users (id, email) values ('5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b', 'bench@example.com');

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
        continue when p like '%supabase%' and claims_from <> 'request claims';
        t := pg_temp.best_ms(p, (select count(*) / 1000 from bench_rows));
        literal := coalesce(literal, t);  -- the first predicate is the literal
        return query select claims_from, p, t, round(t / literal, 2);
    end loop;
end $$;

select set_config('request.jwt.claims', '{"sub": "5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b", "role": "authenticated", "is_anonymous": false}', false) is not null as claims_set \gset
select * from pg_temp.report('request claims');

select set_config('request.jwt.claims', '', false) is not null as cleared \gset
begin;
select auth.set_session(auth.admin_create_session('5f0e8b4c-2d1a-4c7e-9b6a-0c3d2e1f4a5b')->>'access_token') is not null as verified \gset
select * from pg_temp.report('verified session');
commit;
