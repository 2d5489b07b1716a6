-- Helpers the other tests share; runs first (scripts/regress.sh) and commits.
create schema regress;

-- The tests link and unlink identities as users (off by default, as in Supabase Auth;
-- account.sql checks the default).
do $$ begin execute format('alter database %I set auth_ext.manual_linking_enabled = on', current_database()); end $$;

-- The SQLSTATE and message of the error a statement raises, or 'no error'.
create function regress.error_of(statement text) returns text language plpgsql as $f$
begin
    execute statement;
    return 'no error';
exception when others then
    return sqlstate || ' ' || sqlerrm;
end
$f$;

-- The SQLSTATE, message and DETAIL of the error a statement raises, or 'no error': a
-- failed verification's code and message are one (GoTrue's), its detail says why.
create function regress.refusal_of(statement text) returns text language plpgsql as $f$
declare
    detail text;
begin
    execute statement;
    return 'no error';
exception when others then
    get stacked diagnostics detail = pg_exception_detail;
    return sqlstate || ' ' || sqlerrm || coalesce(' (' || nullif(detail, '') || ')', '');
end
$f$;

-- The DETAIL of the error a statement raises, or 'no error'.
create function regress.detail_of(statement text) returns text language plpgsql as $f$
declare
    detail text;
begin
    execute statement;
    return 'no error';
exception when others then
    get stacked diagnostics detail = pg_exception_detail;
    return detail;
end
$f$;

-- JWT pieces made with pgcrypto, independently of the extension's JWT library.
create extension pgcrypto;
create function regress.b64url(b bytea) returns text language sql as
  $$ select rtrim(translate(replace(encode(b, 'base64'), E'\n', ''), '+/', '-_'), '=') $$;
create function regress.hs256(header jsonb, claims jsonb, secret text) returns text language sql as $$
  select part || '.' || regress.b64url(hmac(part, secret, 'sha256'))
  from (select regress.b64url(convert_to(header::text, 'utf8')) || '.' || regress.b64url(convert_to(claims::text, 'utf8')) as part) p
$$;
create function regress.jwt_part(token text, n int) returns jsonb language sql as $$
  select convert_from(decode(rpad(translate(p, '-_', '+/'), (length(p) + 3) / 4 * 4, '='), 'base64'), 'utf8')::jsonb
  from (select split_part(token, '.', n) as p) x
$$;
grant usage on schema regress to public;
