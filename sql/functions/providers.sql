-- Third-party providers: how one is shown (never its secret).
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- A provider as the admin API lists it: its config without the client secret, and
-- whether one is set.
create or replace function auth.oauth_provider_json(p auth.oauth_providers)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object(
        'provider', p.provider, 'name', p.name, 'kind', p.kind, 'issuer', p.issuer,
        'authorization_url', p.authorization_url, 'token_url', p.token_url,
        'userinfo_url', p.userinfo_url, 'jwks_url', p.jwks_url,
        'client_id', p.client_id, 'client_ids', to_jsonb(p.extra_client_ids),
        'has_client_secret', p.client_secret is not null, 'scopes', p.scopes,
        'email_optional', p.email_optional, 'id_claim', p.id_claim, 'enabled', p.enabled,
        'created_at', p.created_at, 'updated_at', p.updated_at)
$$;
