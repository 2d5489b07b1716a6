-- make bench: one backend verifies :count distinct HS256 access tokens with
-- auth.set_session, a thousand to a transaction, and reports its private memory
-- before, halfway and after (flat: the second half adds nothing). The tokens belong to one live session and differ by an extra
-- claim; they are signed here with the key's secret.
\set ON_ERROR_STOP on
\set QUIET on
create function pg_temp.rss_anon_kb() returns bigint language sql as $$
    select (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+) kB'))[1]::bigint
$$;
create function pg_temp.verify_distinct(first int, count int) returns bigint language sql as $$
    with key as (select k.kid, k.private_key as secret from auth.signing_keys k where k.alg = 'HS256' and k.kid =
                     (convert_from(bench.url_decode(split_part((select token from bench.tokens where alg = 'HS256' and i = 1), '.', 1)), 'utf8')::jsonb->>'kid')),
         base as (select convert_from(bench.url_decode(split_part(token, '.', 2)), 'utf8')::jsonb as claims
                  from bench.tokens where alg = 'HS256' and i = 1),
         signed as (
             select h || '.' || p || '.' || bench.url_encode(public.hmac(h || '.' || p, key.secret, 'sha256')) as token
             from key, base, generate_series(first, first + count - 1) n,
                  lateral (select bench.url_encode(convert_to(jsonb_build_object('alg', 'HS256', 'kid', key.kid, 'typ', 'JWT')::text, 'utf8')) as h,
                                  bench.url_encode(convert_to((base.claims || jsonb_build_object('bench_n', n))::text, 'utf8')) as p) parts)
    select count(*) filter (where auth.set_session(token) is not null) from signed
$$;
create table pg_temp.verified (n bigint);
select pg_temp.verify_distinct(1, 1000) as warm_up \gset
select pg_temp.rss_anon_kb() as before_kb \gset
create procedure pg_temp.verify_batches(first_batch int, batches int) language plpgsql as $$
begin
    for batch in first_batch .. first_batch + batches - 1 loop
        insert into pg_temp.verified select pg_temp.verify_distinct(1001 + batch * 1000, 1000);
        commit;
    end loop;
end $$;
select current_setting('bench.count')::int / 2000 as half \gset
call pg_temp.verify_batches(0, :half);
select pg_temp.rss_anon_kb() as half_kb \gset
call pg_temp.verify_batches(:half, :half);
select pg_temp.rss_anon_kb() as after_kb \gset
select sum(n) as verified from pg_temp.verified \gset
\echo :verified :before_kb :half_kb :after_kb
