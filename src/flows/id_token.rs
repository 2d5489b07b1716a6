//! Sign-in with a provider's ID token, as Supabase Auth's `POST /token?grant_type=id_token`
//! (supabase-js' signInWithIdToken): a native app signed the user in with Google or Apple
//! and hands us the token. The token is verified here against the provider's keys; the
//! HTTP front only fetches them (`auth.oauth_keys_source`, `auth.oauth_store_keys`) when
//! the check says they are missing, stale or lack the token's key.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{db, request};
use crate::flows::social::{front_or_server, sign_in_user};
use crate::providers::id_token::{self, Checked};
use crate::providers::profile;
use crate::providers::provider::{for_id_tokens, JWKS_LIFETIME_SECS};
use crate::sessions::open::create_session;

/// The most keys kept of a provider's JWKS.
const MAX_KEYS: usize = 32;

/// Signs in with `id_token` from `provider` (an oidc provider with an issuer): verifies
/// its signature against the provider's keys, its issuer, audience (the client id or one
/// of `client_ids`) and expiry; `nonce` is the raw nonce whose SHA-256 the token carries,
/// `access_token` the one its at_hash names. Then the user, as for the redirect flow: by
/// identity, then by a verified email, else a new one. Answers a session.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_id_token(
    provider: Option<&str>,
    id_token: Option<&str>,
    nonce: default!(Option<&str>, "NULL"),
    access_token: default!(Option<&str>, "NULL"),
) -> Result<pgrx::JsonB, ErrorReport> {
    let token = id_token.filter(|t| !t.is_empty()).ok_or_else(|| AuthError::new(ErrorCode::BadIdToken, "id_token required"))?;
    let provider = provider.filter(|p| !p.is_empty()).ok_or_else(|| {
        AuthError::new(ErrorCode::BadIdToken, "provider or client_id and issuer required")
    })?;
    Ok(pgrx::JsonB(sign_in(&provider.to_ascii_lowercase(), token, nonce, access_token)?))
}

fn sign_in(provider: &str, token: &str, nonce: Option<&str>, access_token: Option<&str>) -> AuthResult<Value> {
    let p = for_id_tokens(provider)?;
    let (claims, alg) = match id_token::verify(&p, token)? {
        Checked::Claims(claims, alg) => (Value::Object(claims), alg),
        Checked::KeysNeeded => {
            return Err(AuthError::new(ErrorCode::ProviderKeysNeeded, "the provider's signing keys must be fetched")
                .detail(format!("provider {:?}", p.provider))
                .hint("auth_ext_gateway fetches them and retries; a direct caller fetches the provider's JWKS and stores it with auth.oauth_store_keys."))
        }
    };
    id_token::check_claims(&p, &claims, ErrorCode::BadIdToken)?;
    id_token::check_nonce(&claims, nonce)?;
    id_token::check_access_token(&claims, alg, access_token)?;
    let user = profile::read("oidc", p.id_claim.as_deref(), &claims, &Value::Null, &Value::Null)?;
    let user_id = sign_in_user(&p, &user, None)?;
    create_session(&user_id, "oauth", &request::client())
}

/// Where `provider`'s keys are fetched from: `{"url": jwks_url}`, or, when the provider's
/// endpoints are not discovered yet, `{"discover": issuer}` (then
/// `auth.oauth_store_discovery`, and ask again).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_keys_source(provider: &str, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    front_or_server(fcinfo, || {
        let p = for_id_tokens(provider)?;
        Ok(pgrx::JsonB(match p.jwks_url {
            Some(url) => json!({"url": url}),
            None => json!({"discover": p.issuer}),
        }))
    })
}

/// Keeps `provider`'s JWKS, as fetched from its jwks_url, for an hour. Only public
/// signature keys are kept (RSA, EC, OKP; private members dropped): a shared-secret `oct`
/// key never is.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_store_keys(provider: &str, jwks: pgrx::JsonB, fcinfo: pg_sys::FunctionCallInfo) -> Result<(), ErrorReport> {
    front_or_server(fcinfo, || store_keys(provider, &jwks.0))
}

fn store_keys(provider: &str, jwks: &Value) -> AuthResult<()> {
    let p = for_id_tokens(provider)?;
    let keys = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| {
        AuthError::new(ErrorCode::ValidationFailed, "a JWKS is an object with a keys array (RFC 7517 5)")
    })?;
    const PUBLIC: &[&str] = &["kty", "kid", "alg", "use", "key_ops", "n", "e", "crv", "x", "y"];
    let public = |key: &Value| -> Value {
        let fields = key.as_object().into_iter().flatten().filter(|(name, _)| PUBLIC.contains(&name.as_str()));
        Value::Object(fields.map(|(n, v)| (n.clone(), v.clone())).collect())
    };
    let kept: Vec<Value> = keys
        .iter()
        .filter(|k| matches!(k.get("kty").and_then(Value::as_str), Some("RSA" | "EC" | "OKP")))
        .filter(|k| k.get("use").and_then(Value::as_str).is_none_or(|u| u == "sig"))
        .take(MAX_KEYS)
        .map(public)
        .collect();
    db::run(
        "update auth.oauth_providers set jwks = $2, jwks_expires_at = now() + make_interval(secs => $3) where provider = $1",
        &[p.provider.as_str().into(), db::jsonb_arg(&json!({"keys": kept})), JWKS_LIFETIME_SECS.into()],
    )
}
