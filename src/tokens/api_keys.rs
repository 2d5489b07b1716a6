//! API keys: the long-lived JWTs clients send as `apikey` (Supabase's `anon` and
//! `service_role` keys), signed by a signing key (keys) with the claims of tokens. Their
//! rows (auth.api_keys) let them be revoked; the token itself is never stored.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::core::db;
use crate::core::crypto::truncate;
use crate::core::errors::{AuthError, ErrorCode};
use crate::tokens::keys::KeyRow;

/// Mints a long-lived API key: the JWT clients send as `apikey` (and as the bearer
/// token when nobody is signed in), with `role` anon or service_role. Signed by the key
/// `kid` names (the current signing key when NULL); valid for `expires_in`. Its `jti`
/// is the row in auth.api_keys that auth.revoke_api_key() revokes.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn create_api_key(
    role: Option<&str>,
    kid: default!(Option<&str>, "NULL"),
    expires_in: default!(Option<pgrx::datum::Interval>, "'10 years'"),
    description: default!(Option<&str>, "NULL"),
) -> Result<String, ErrorReport> {
    let role = role.unwrap_or_default();
    if !matches!(role, "anon" | "service_role") {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "an API key's role is anon or service_role")
            .detail(format!("role {:?}", truncate(role, 64)))
            .into());
    }
    if description.is_some_and(|d| d.len() > 1024) {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "the description is longer than 1024 bytes").into());
    }
    let key: Option<KeyRow> = match kid {
        Some(kid) => db::json_row(
            "select jsonb_build_object('kid', kid, 'alg', alg, 'material', private_key)
             from auth.signing_keys where kid = $1",
            &[kid.into()],
        )?,
        None => db::json_row("select auth.current_signing_key()", &[])?,
    };
    let Some(key) = key else {
        return Err(match kid {
            Some(kid) => AuthError::new(ErrorCode::SigningKeyNotFound, "no signing key has that kid")
                .detail(format!("kid {:?}", truncate(kid, 64))),
            None => AuthError::new(ErrorCode::NoSigningKey, "there is no current signing key"),
        }
        .into());
    };
    #[derive(Deserialize)]
    struct Row {
        id: String,
        iat: i64,
        exp: i64,
    }
    let row: Row = db::json_row(
        "insert into auth.api_keys (role, kid, description, expires_at)
         select $1, $2, $3, now() + $4 where $4 > interval '0'
         returning jsonb_build_object('id', id, 'iat', extract(epoch from created_at)::int8,
                                      'exp', extract(epoch from expires_at)::int8)",
        &[role.into(), key.kid.as_str().into(), description.into(), expires_in.into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::ValidationFailed, "expires_in must be a positive interval"))?;
    let claims: serde_json::Map<String, Value> = [
        ("iss", Value::from(crate::tokens::jwt::issuer())),
        ("role", role.into()),
        ("iat", row.iat.into()),
        ("exp", row.exp.into()),
        ("jti", row.id.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(crate::tokens::jwt::sign(&claims, &key)?)
}
