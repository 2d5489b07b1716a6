-- Third-party sign-in providers (OpenID Connect, OAuth 2, GitHub, Feishu, WeChat),
-- managed with auth.admin_*_oauth_provider (src/providers/config.rs). No application role
-- is granted anything here: client secrets are sealed (auth_ext.provider_secret_key),
-- and only an HTTP front (auth_ext_gateway) gets one back, to exchange a code.
create table auth.oauth_providers (
    provider          text primary key,
    -- What sign-in pages show (GoTrue's custom providers' `name`).
    name              text,
    kind              text not null,
    issuer            text,
    authorization_url text,
    token_url         text,
    userinfo_url      text,
    jwks_url          text,
    -- The client id sent to the provider, and the others its ID tokens may name as
    -- their audience (a native app's).
    client_id         text not null,
    extra_client_ids  text[] not null default '{}',
    client_secret     bytea,
    scopes            text not null default '',
    -- Feishu and WeChat often give no email: such users are made without one.
    email_optional    boolean not null default false,
    -- Which of the provider's ids is the identity's provider_id (Feishu: open_id or
    -- union_id; WeChat: unionid when given, else openid).
    id_claim          text,
    enabled           boolean not null default true,
    -- The provider's signing keys, as its JWKS said when the gateway last fetched them.
    jwks              jsonb,
    jwks_expires_at   timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint oauth_providers_kind check (kind in ('oidc', 'oauth2', 'github', 'feishu', 'wechat'))
);

-- Sign-ins through a provider's pages, from GET /authorize until its callback: the row's
-- id is the `state` the provider sends back (single use, auth_ext.flow_state_exp).
create table auth.oauth_flows (
    id                    uuid primary key default gen_random_uuid(),
    provider              text not null references auth.oauth_providers (provider) on delete cascade,
    -- Where the browser goes at the end (already checked against the allow list).
    redirect_to           text not null,
    -- The client's PKCE challenge (supabase-js', @supabase/ssr's): the callback then ends
    -- with ?code= for exchange_code_for_session instead of a session in the fragment.
    code_challenge        text,
    code_challenge_method text,
    -- Ours, towards the provider: its PKCE verifier and the nonce its ID token must carry.
    provider_verifier     text not null,
    nonce                 text not null,
    -- Set for linkIdentity: the signed-in user the identity is added to.
    linking_user_id       uuid references auth.users (id) on delete cascade,
    created_at            timestamptz not null default now(),
    -- When the callback took it: a state is used once.
    used_at               timestamptz,
    constraint oauth_flows_method check (code_challenge_method in ('s256', 'plain'))
);

create index oauth_flows_created_at_idx on auth.oauth_flows (created_at);
create index oauth_flows_provider_idx on auth.oauth_flows (provider);
create index oauth_flows_linking_user_id_idx on auth.oauth_flows (linking_user_id);
