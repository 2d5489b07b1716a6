-- Multi-factor authentication's rules in SQL (src/mfa/ does the rest).
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- A factor as clients see it, Supabase Auth's shape (models/factor.go): never the secret;
-- `phone` is '' for TOTP factors, `friendly_name` left out when empty.
-- Inlined, as auth.user_object.
create or replace function auth.factor_json(f auth.mfa_factors)
returns jsonb
language sql
stable
as $$
    select jsonb_strip_nulls(jsonb_build_object(
        'id', f.id, 'created_at', f.created_at, 'updated_at', f.updated_at, 'status', f.status,
        'friendly_name', nullif(f.friendly_name, ''), 'factor_type', f.factor_type))
        || jsonb_build_object('phone', coalesce(f.phone, ''), 'last_challenged_at', f.last_challenged_at)
$$;

-- The one rule for what needs a second factor: a user with a verified factor whose
-- session has not reached aal2 (the session's own level, never a token's claim).
create or replace function auth.requires_aal2(p_user_id uuid, p_session_id uuid)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return (
    select exists (select from auth.mfa_factors f where f.user_id = p_user_id and f.status = 'verified')
       and coalesce((select s.aal from auth.sessions s where s.id = p_session_id), 'aal1') <> 'aal2');
end
$$;
