-- make bench: what the runs need besides the extension, in schema bench. Run as a
-- superuser in a throwaway database.
\set ON_ERROR_STOP on
\set QUIET on
create extension if not exists pgcrypto;
create schema bench;

-- Floors: the least a database does for a write, a row lock and a read.
create table bench.inserted (id uuid primary key default gen_random_uuid(), created_at timestamptz not null default now());
create table bench.locked (id int primary key, touched_at timestamptz);
insert into bench.locked select n, now() from generate_series(1, 10000) n;

-- pgjwt's HS256 verify, written from its published definition (pgjwt 0.2.0: url_decode,
-- algorithm_sign, try_cast_double, verify), with pgcrypto's hmac.
create function bench.url_encode(data bytea) returns text language sql immutable as $$
    select translate(encode(data, 'base64'), E'+/=\n', '-_');
$$;
create function bench.url_decode(data text) returns bytea language sql immutable as $$
with t as (select translate(data, '-_', '+/') as trans),
     rem as (select length(t.trans) % 4 as remainder from t)
    select decode(t.trans || case when rem.remainder > 0 then repeat('=', (4 - rem.remainder)) else '' end, 'base64')
    from t, rem;
$$;
create function bench.algorithm_sign(signables text, secret text, algorithm text) returns text language sql immutable as $$
with alg as (
    select case when algorithm = 'HS256' then 'sha256' when algorithm = 'HS384' then 'sha384'
                when algorithm = 'HS512' then 'sha512' else '' end as id)
select bench.url_encode(public.hmac(signables, secret, alg.id)) from alg;
$$;
create function bench.try_cast_double(inp text) returns double precision language plpgsql immutable as $$
begin
    begin
        return inp::double precision;
    exception when others then return null;
    end;
end;
$$;
create function bench.verify(token text, secret text, algorithm text default 'HS256')
returns table(header json, payload json, valid boolean) language sql immutable as $$
  select jwt.header as header, jwt.payload as payload,
         jwt.signature_ok and tstzrange(to_timestamp(bench.try_cast_double(jwt.payload->>'nbf')),
                                        to_timestamp(bench.try_cast_double(jwt.payload->>'exp'))) @> current_timestamp as valid
  from (select convert_from(bench.url_decode(r[1]), 'utf8')::json as header,
               convert_from(bench.url_decode(r[2]), 'utf8')::json as payload,
               r[3] = bench.algorithm_sign(r[1] || '.' || r[2], secret, algorithm) as signature_ok
        from regexp_split_to_array(token, '\.') r) jwt
$$;

-- Access tokens of distinct sessions, signed with ES256 (the default key) and HS256.
create table bench.tokens (alg text, i int, token text, refresh_token text, primary key (alg, i));
insert into bench.tokens
select 'ES256', n, s->>'access_token', s->>'refresh_token'
from generate_series(1, :tokens) n, auth.sign_in_anonymously(ip => '10.200.0.0'::inet + n) s;
select auth.rotate_signing_key('HS256') is not null as hs256 \gset
insert into bench.tokens
select 'HS256', n, s->>'access_token', s->>'refresh_token'
from generate_series(1, :tokens) n, auth.sign_in_anonymously(ip => '10.201.0.0'::inet + n) s;
create table bench.secret as select private_key as secret from auth.signing_keys where alg = 'HS256' and is_current;
select auth.rotate_signing_key('ES256') is not null as es256 \gset
analyze bench.tokens;

-- Users who sign in with a password (argon2id, the parameters in use).
select count(auth.admin_create_user(jsonb_build_object(
           'email', 'bench' || n || '@example.com', 'password', 'correct horse battery staple', 'email_confirm', true)))
from generate_series(1, 64) n;
