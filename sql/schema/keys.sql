-- Signing keys, API keys and the server's secrets.

-- Private key material lives here and nowhere else; no application role is granted
-- anything on this table. auth.jwks() publishes the public halves.
create table auth.signing_keys (
    kid         text primary key,
    alg         text not null,
    -- PKCS#8 PEM for ES256/EdDSA/RS256; the shared secret for HS256.
    private_key text not null,
    -- The public JWK (with kid, alg, use); NULL for HS256.
    public_jwk  jsonb,
    -- The newest current key signs; the others only verify. (Not a unique flag: after a
    -- restore, the key CREATE EXTENSION made and the restored current key both carry it.)
    is_current  boolean not null default false,
    created_at  timestamptz not null default now(),
    constraint signing_keys_alg check (alg in ('ES256', 'EdDSA', 'RS256', 'HS256')),
    constraint signing_keys_public_jwk check ((alg = 'HS256') = (public_jwk is null))
);

-- Long-lived API keys: the `anon` and `service_role` JWTs every Supabase client sends
-- as `apikey`. The key itself is not stored (it is a signed token); its jti is this id.
create table auth.api_keys (
    id          uuid primary key default gen_random_uuid(),
    role        text not null,
    -- The signing key that signed it: removing that key also ends it.
    kid         text not null,
    description text,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    constraint api_keys_role check (role in ('anon', 'service_role'))
);

-- Server-side secrets, readable by no application role. 'refresh_token' derives a
-- refresh token's child from the token itself (src/sessions/refresh.rs), so that every client
-- holding one token gets the same child. Made on first use, never at CREATE EXTENSION,
-- so that a restore brings back the original.
create table auth.secrets (
    name  text primary key,
    value bytea not null,
    constraint secrets_value_length check (length(value) >= 32)
);
