-- SQL faces of functions written in Rust (names Rust cannot spell, GoTrue's settings,
-- the gateway's first statement). Installed after the Rust functions they call.
-- Only CREATE OR REPLACE: this file is part of every upgrade script too (scripts/build-sql.py).

-- Public names whose parameters Rust cannot spell (`type`): thin wrappers.
create or replace function auth.verify_otp(email text default null, token text default null, type text default null,
                                phone text default null, token_hash text default null)
returns jsonb language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$ select auth.verify_one_time_token(email, token, type, phone, token_hash) $$;
create or replace function auth.resend(type text, email text default null, phone text default null)
returns void language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$ select auth.resend_message(type, email, phone) $$;
create or replace function auth.admin_generate_link(type text, email text, options jsonb default '{}')
returns jsonb language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$ select auth.generate_link(type, email, options) $$;

-- GoTrue's GET /settings: which sign-in methods this database offers, the providers
-- configured here among them (enabled or not; their config stays unreadable).
create or replace function auth.settings()
returns jsonb language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
    select pg_catalog.jsonb_build_object(
        'external', pg_catalog.jsonb_build_object(
            'anonymous_users', coalesce(pg_catalog.current_setting('auth_ext.anonymous_sign_ins', true), 'off')::boolean,
            'email', coalesce(pg_catalog.current_setting('auth_ext.external_email_enabled', true), 'on')::boolean,
            'phone', coalesce(pg_catalog.current_setting('auth_ext.external_phone_enabled', true), 'on')::boolean,
            'apple', false, 'azure', false, 'bitbucket', false, 'discord', false, 'facebook', false,
            'snapchat', false, 'figma', false, 'fly', false, 'github', false, 'gitlab', false, 'google', false,
            'keycloak', false, 'kakao', false, 'linkedin', false, 'linkedin_oidc', false, 'notion', false,
            'spotify', false, 'slack', false, 'slack_oidc', false, 'workos', false, 'twitch', false,
            'twitter', false, 'zoom', false)
            || coalesce((select pg_catalog.jsonb_object_agg(p.provider, p.enabled) from auth.oauth_providers p), '{}'),
        'disable_signup', coalesce(pg_catalog.current_setting('auth_ext.disable_signup', true), 'off')::boolean,
        'mailer_autoconfirm', coalesce(pg_catalog.current_setting('auth_ext.mailer_autoconfirm', true), 'off')::boolean,
        'phone_autoconfirm', coalesce(pg_catalog.current_setting('auth_ext.sms_autoconfirm', true), 'off')::boolean,
        'sms_provider', '',
        'saml_enabled', false,
        'saml_private_key_next_configured', false,
        'passkeys_enabled', false)
$$;

-- One user by id, for the application's server (GoTrue's GET /admin/users/{id}).
create or replace function auth.admin_get_user_by_id(id uuid)
returns jsonb language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
declare
    found jsonb := auth.user_json(id);
begin
    if found is null then
        perform auth.raise_error('user_not_found', 'User not found');
    end if;
    return found;
end
$$;

-- The HTTP front's first statement in each request's transaction (src/gateway.rs):
-- checks the API key and bearer token, records the client the front reports, and then
-- acts as the role they carry until the transaction ends, as PostgREST does. SECURITY
-- INVOKER, since only an invoker may change role; granted to the front's login role by
-- its set-up (examples/gateway/setup.sql), by name.
create or replace function auth.gateway_begin(apikey text, access_token text default null, ip inet default null,
                                   user_agent text default null)
returns text language plpgsql volatile set search_path = pg_catalog, pg_temp
as $$
declare
    acting text := auth.gateway_request(apikey, access_token, ip, user_agent);
begin
    perform pg_catalog.set_config('role', acting, true);
    return acting;
end
$$;
