//! Access tokens: the claims they carry, signing with the current key and verification
//! against any key still in `auth.signing_keys`. The custom access token hook is in
//! hooks.rs; whether a token's session still stands, in sessions/verify.rs.

use jsonwebtoken::{decode, decode_header, Header, Validation};
use serde_json::{json, Map, Value};

use crate::core::{db, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::tokens::keys::{self, KeyRow};

/// Longest token accepted: far above any we issue, small enough to refuse abuse cheaply.
/// Room for both metadata at their caps (8 kB and 4 kB as text, sql/schema/users.sql) and the rest.
const MAX_TOKEN_LEN: usize = 32 * 1024;

pub fn now_epoch() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn setting_or(setting: &'static pgrx::guc::GucSetting<Option<std::ffi::CString>>, default: &str) -> String {
    settings::text_string(setting).unwrap_or_else(|| default.to_owned())
}

pub fn audience() -> String {
    setting_or(&settings::JWT_AUD, "authenticated")
}

pub fn issuer() -> String {
    setting_or(&settings::JWT_ISSUER, "auth_ext")
}

/// The claims of an access token for `user` (the user object) in `session_id`.
pub fn access_claims(user: &Value, session_id: &str, aal: &str, amr: &Value, now: i64) -> Map<String, Value> {
    let text = |name: &str| user.get(name).cloned().unwrap_or(Value::String(String::new()));
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer()));
    claims.insert("aud".into(), json!(audience()));
    claims.insert("sub".into(), user.get("id").cloned().unwrap_or(Value::Null));
    claims.insert("exp".into(), json!(now + i64::from(settings::JWT_EXP.get())));
    claims.insert("iat".into(), json!(now));
    claims.insert("email".into(), text("email"));
    claims.insert("phone".into(), text("phone"));
    claims.insert("role".into(), user.get("role").cloned().unwrap_or(json!("authenticated")));
    claims.insert("aal".into(), json!(aal));
    claims.insert("amr".into(), amr.clone());
    claims.insert("session_id".into(), json!(session_id));
    claims.insert("is_anonymous".into(), user.get("is_anonymous").cloned().unwrap_or(json!(false)));
    claims.insert("app_metadata".into(), user.get("app_metadata").cloned().unwrap_or(json!({})));
    claims.insert("user_metadata".into(), user.get("user_metadata").cloned().unwrap_or(json!({})));
    claims
}

/// The one rule for the `role` a token may carry: `authenticated`, or a role a
/// superuser listed in `auth_ext.allowed_token_roles`. PostgREST becomes that role.
pub fn check_token_role(role: &str) -> AuthResult<()> {
    let allowed = role == "authenticated"
        || settings::text(&settings::ALLOWED_TOKEN_ROLES)
            .map(|list| String::from_utf8_lossy(list).split(',').any(|r| !role.is_empty() && r.trim() == role))
            .unwrap_or(false);
    if !allowed {
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("role {role:?} may not be put in a token"))
            .hint("A superuser may list extra roles in auth_ext.allowed_token_roles."));
    }
    Ok(())
}

/// Signs claims with the given key, naming it in the header's kid.
pub fn sign(claims: &Map<String, Value>, key: &KeyRow) -> AuthResult<String> {
    let signer = keys::signer(key)?;
    let mut header = Header::new(signer.alg.jwt());
    header.kid = Some(signer.kid.clone());
    signer.sign(&header, claims)
}

/// A token that does not verify, in Supabase Auth's words, with why after them.
pub fn bad_jwt(why: &str) -> AuthError {
    AuthError::new(ErrorCode::BadJwt, format!("invalid JWT: unable to parse or verify signature, {why}"))
}

/// A claim read from a token without verifying it: only to choose how to verify it.
pub fn unverified_claim(token: &str, name: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get(name).cloned()
}

/// What a token is meant to be, which decides the claims it must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A session's access token: `sub`, `aud` (ours) and `session_id`.
    Access,
    /// An API key from auth.create_api_key: `jti` and `role`, no audience.
    ApiKey,
}

/// Verifies a token's signature, algorithm, expiry, not-before, issuer and (for access
/// tokens) audience against the key its kid names, and that the key still stands.
/// Returns its claims. Whether its session still stands, or its API key is revoked, is
/// the caller's question.
pub fn verify_as(token: &str, kind: TokenKind) -> AuthResult<Map<String, Value>> {
    let (claims, unchecked_kid) = verify_signature(token, kind)?;
    if let Some(kid) = unchecked_kid {
        db::read_value::<bool>("select true from auth.signing_keys where kid = $1", &[kid.as_str().into()])?
            .ok_or_else(|| unknown_key(&kid))?;
    }
    Ok(claims)
}

pub fn unknown_key(kid: &str) -> AuthError {
    bad_jwt("the access token was signed by an unknown key").detail(format!("kid {kid:?}"))
}

/// `verify_as` but for the key's standing: a key this backend parsed before is used
/// without a statement (its material under a kid never changes), and its kid is
/// returned, for the caller to check that the key was not removed since.
pub fn verify_signature(token: &str, kind: TokenKind) -> AuthResult<(Map<String, Value>, Option<String>)> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(bad_jwt("the access token is empty or too long"));
    }
    // `alg: none` and unknown algorithms fail here: jsonwebtoken has no such Algorithm.
    let header = decode_header(token).map_err(|e| bad_jwt("the access token is malformed").detail(e.to_string()))?;
    let Some(kid) = header.kid.as_deref() else {
        return Err(bad_jwt("the access token names no signing key (kid)"));
    };
    let (verifier, unchecked_kid) = match keys::cached_verifier(kid) {
        Some(verifier) => (verifier, Some(kid.to_owned())),
        None => {
            let row: Option<KeyRow> = db::read_row(
                "select jsonb_build_object('kid', kid, 'alg', alg, 'material', private_key, 'public_jwk', public_jwk)
                 from auth.signing_keys where kid = $1",
                &[kid.into()],
            )?;
            (keys::verifier(&row.ok_or_else(|| unknown_key(kid))?)?, None)
        }
    };
    // The key decides the algorithm, never the token.
    if header.alg != verifier.alg.jwt() {
        return Err(bad_jwt("the access token's algorithm does not match its key")
            .detail(format!("header says {:?}, key {kid:?} is {}", header.alg, verifier.alg.as_str())));
    }
    let mut validation = Validation::new(verifier.alg.jwt());
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer()]);
    match kind {
        TokenKind::Access => {
            validation.set_audience(&[audience()]);
            validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        }
        TokenKind::ApiKey => {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        }
    }
    let data = decode::<Map<String, Value>>(token, &verifier.key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let message = match e.kind() {
            ErrorKind::ExpiredSignature => "the access token has expired",
            ErrorKind::ImmatureSignature => "the access token is not valid yet",
            ErrorKind::InvalidAudience => "the access token is for another audience",
            ErrorKind::InvalidIssuer => "the access token is from another issuer",
            ErrorKind::InvalidSignature => "the access token's signature is invalid",
            ErrorKind::MissingRequiredClaim(_) => "the access token lacks a required claim (exp, sub, aud, iss)",
            _ => "the access token is invalid",
        };
        bad_jwt(message).detail(e.to_string())
    })?;
    Ok((data.claims, unchecked_kid))
}
