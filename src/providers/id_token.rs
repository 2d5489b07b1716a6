//! A provider's ID token, checked here, in the database: its signature against the
//! provider's keys (its JWKS, which the HTTP front fetches and `auth.oauth_store_keys`
//! keeps), and what it says: issuer, audience (one of the provider's client ids), expiry,
//! and, for signInWithIdToken, the nonce and at_hash.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::Digest;

use crate::core::crypto;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::providers::provider::Provider;

/// The largest ID token read.
const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

fn bad(why: impl Into<String>) -> AuthError {
    AuthError::new(ErrorCode::BadIdToken, "Bad ID token").detail(why)
}

/// Supabase Auth's refusal of an ID token's claims (token_oidc.go:275-305).
fn refused(message: impl Into<String>) -> AuthError {
    AuthError::new(ErrorCode::BadIdToken, message)
}

/// What a verified token gives, or that the provider's keys must be fetched first.
pub enum Checked {
    /// Its claims, and the algorithm it was signed with (which names at_hash's hash).
    Claims(Map<String, Value>, Algorithm),
    KeysNeeded,
}

/// The token's signature, by the key of the provider's JWKS its `kid` names, and its
/// issuer and expiry. The provider's keys decide the algorithm: `none` and HMAC (the
/// public key used as a shared secret) are refused, and so is a key of another kind.
/// `KeysNeeded` when the JWKS is missing or stale, or lacks the key and may be fetched again.
pub fn verify(p: &Provider, token: &str) -> AuthResult<Checked> {
    if token.is_empty() || token.len() > MAX_ID_TOKEN_LEN {
        return Err(bad("the ID token is empty or too long"));
    }
    // `alg: none` fails here: jsonwebtoken has no such Algorithm.
    let header = decode_header(token).map_err(|e| bad(format!("the ID token is malformed: {e}")))?;
    // Extensions it must understand (RFC 7515 4.1.11): this verifier understands none.
    let raw_header = token.split('.').next().and_then(|h| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).ok());
    if raw_header.and_then(|h| serde_json::from_slice::<Value>(&h).ok()).is_some_and(|h| h.get("crit").is_some()) {
        return Err(bad("the ID token names critical header extensions (crit), which this verifier does not understand"));
    }
    if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(bad(format!("{:?} is a shared-secret algorithm; a provider signs with its private key", header.alg)));
    }
    let (Some(jwks), true) = (p.jwks.as_ref(), p.jwks_fresh) else {
        return Ok(Checked::KeysNeeded);
    };
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| bad(format!("the provider's stored JWKS is unreadable: {e}")))?;
    let Some(jwk) = pick_key(&set, header.kid.as_deref()) else {
        if p.jwks_refetchable {
            return Ok(Checked::KeysNeeded);
        }
        return Err(bad(match header.kid.as_deref() {
            Some(kid) => format!("the provider has no key {:?}", crypto::truncate(kid, 64)),
            None => "the token names no key (kid), and the provider has more than one".to_owned(),
        }));
    };
    if jwk.common.key_algorithm.is_some_and(|a| a.to_string() != format!("{:?}", header.alg)) {
        return Err(bad("the token's algorithm is not its key's"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(format!("the provider's key is unusable: {e}")))?;
    if key.family() != header.alg.family() {
        return Err(bad("the token's algorithm is not its key's"));
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_issuer(&[p.issuer.as_deref().unwrap_or_default()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        bad(match e.kind() {
            ErrorKind::ExpiredSignature => "the ID token has expired".to_owned(),
            ErrorKind::InvalidIssuer => format!("iss is not {}", p.issuer.as_deref().unwrap_or_default()),
            ErrorKind::InvalidSignature => "the ID token's signature is invalid".to_owned(),
            _ => format!("the ID token is invalid: {e}"),
        })
    })?;
    Ok(Checked::Claims(data.claims, header.alg))
}

/// The key `kid` names; a token without one may use the only key there is.
fn pick_key<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.keys.iter().find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

/// What an ID token says, wherever it came from (the redirect flow's token endpoint, or a
/// client): from the provider's issuer, for one of its client ids, not expired. `code`
/// is the error a failure raises.
pub fn check_claims(p: &Provider, claims: &Value, code: ErrorCode) -> AuthResult<()> {
    let fail = |message: String| AuthError::new(code, message);
    if !claims.is_object() {
        return Err(fail("Bad ID token".into()).detail("the provider sent no ID token"));
    }
    if let Some(issuer) = p.issuer.as_deref() {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(fail("Bad ID token".into()).detail(format!("iss is not {issuer}")));
        }
    }
    if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(fail("Missing sub claim in id_token".into()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let accepted = |a: &&str| !a.is_empty() && (*a == p.client_id || p.extra_client_ids.iter().any(|c| c == a));
    if !audiences.iter().any(accepted) {
        // As Go prints a []string.
        return Err(fail(format!("Unacceptable audience in id_token: [{}]", audiences.join(" "))));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => Ok(()),
        _ => Err(fail("Bad ID token".into()).detail("the ID token has expired")),
    }
}

/// signInWithIdToken's nonce, as Apple and Supabase Auth have it: the client keeps the
/// raw nonce, the token carries its SHA-256 in hex; both or neither (token_oidc.go:294-306).
pub fn check_nonce(claims: &Value, raw_nonce: Option<&str>) -> AuthResult<()> {
    let in_token = claims.get("nonce").and_then(Value::as_str).filter(|n| !n.is_empty());
    match (in_token, raw_nonce.filter(|n| !n.is_empty())) {
        (None, None) => Ok(()),
        (Some(hashed), Some(raw)) => {
            if hashed == crypto::hex(&crypto::sha256(&[raw.as_bytes()])) {
                Ok(())
            } else {
                Err(refused("Nonces mismatch"))
            }
        }
        _ => Err(refused("Passed nonce and nonce in id_token should either both exist or not.")),
    }
}

/// An access token given with the ID token must be the one its `at_hash` names: the left
/// half of its hash by the token's algorithm, base64url (OpenID Connect Core 3.1.3.8).
pub fn check_access_token(claims: &Value, alg: Algorithm, access_token: Option<&str>) -> AuthResult<()> {
    let (Some(expected), Some(token)) = (claims.get("at_hash").and_then(Value::as_str), access_token.filter(|t| !t.is_empty())) else {
        return Ok(());
    };
    let digest: Vec<u8> = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => sha2::Sha384::digest(token.as_bytes()).to_vec(),
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => sha2::Sha512::digest(token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(token.as_bytes()).to_vec(),
    };
    if crypto::b64url(&digest[..digest.len() / 2]) == expected {
        Ok(())
    } else {
        Err(bad("the access token is not the one the ID token's at_hash names"))
    }
}
