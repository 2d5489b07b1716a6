//! Signing keys: generated with the OS CSPRNG or imported, kept in `auth.signing_keys`
//! (no application role can read it), published as a JWKS by `auth.jwks()`.
//!
//! One key is current and signs; every other key still verifies until removed, so keys
//! rotate without signing anyone out. Key material under a kid never changes (a trigger
//! refuses it), which is what makes the backend-local caches by kid safe.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use rand::rngs::OsRng;
use serde::Deserialize;
use serde_json::Value;

use crate::core::db;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::crypto::{b64url, random_token, truncate};

/// Shortest HS256 secret accepted: PostgREST requires 32 characters too.
const MIN_HS256_SECRET: usize = 32;
const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    ES256,
    EdDSA,
    RS256,
    HS256,
}

impl Alg {
    pub fn parse(name: &str) -> AuthResult<Alg> {
        match name {
            "ES256" => Ok(Alg::ES256),
            "EdDSA" => Ok(Alg::EdDSA),
            "RS256" => Ok(Alg::RS256),
            "HS256" => Ok(Alg::HS256),
            _ => Err(AuthError::new(ErrorCode::ValidationFailed, "unsupported signing algorithm")
                .detail(format!("{:?} is not one of ES256, EdDSA, RS256, HS256", truncate(name, 40)))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
            Alg::HS256 => "HS256",
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
            Alg::RS256 => Algorithm::RS256,
            Alg::HS256 => Algorithm::HS256,
        }
    }
}

fn bad_key(alg: Alg, why: impl std::fmt::Display) -> AuthError {
    AuthError::new(ErrorCode::ValidationFailed, format!("not a usable {} key", alg.as_str())).detail(why.to_string())
}

/// Ed25519 keys are stored as PKCS#8 v1 (the seed alone), the form jsonwebtoken reads.
fn ed25519_pkcs8_v1(key: &ed25519_dalek::SigningKey) -> Result<String, ed25519_dalek::pkcs8::Error> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey as _, KeypairBytes};
    KeypairBytes { secret_key: key.to_bytes(), public_key: None }
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .map(|p| p.to_string())
}

/// Key material as stored: PKCS#8 PEM for asymmetric keys, the secret text for HS256.
fn generate(alg: Alg) -> AuthResult<String> {
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
    let pem = match alg {
        Alg::ES256 => p256::SecretKey::random(&mut OsRng).to_pkcs8_pem(LineEnding::LF).map(|p| p.to_string()),
        Alg::EdDSA => ed25519_pkcs8_v1(&ed25519_dalek::SigningKey::generate(&mut OsRng)),
        Alg::RS256 => {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, MIN_RSA_BITS).map_err(|e| bad_key(alg, e))?;
            rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, LineEnding::LF).map(|p| p.to_string())
        }
        // 256 bits from the CSPRNG; the base64url text itself is the shared secret, so it
        // can be pasted into PostgREST's jwt-secret as it is.
        Alg::HS256 => return Ok(random_token::<32>()),
    };
    pem.map_err(|e| bad_key(alg, e))
}

/// Validates imported material and normalises asymmetric keys to PKCS#8 PEM.
fn import(alg: Alg, material: &str) -> AuthResult<String> {
    use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
    let material = material.trim();
    if material.len() > 16 * 1024 {
        return Err(bad_key(alg, "key material is larger than 16 kB"));
    }
    let pem = match alg {
        Alg::HS256 => {
            if material.len() < MIN_HS256_SECRET {
                return Err(bad_key(alg, format!("an HS256 secret needs at least {MIN_HS256_SECRET} characters")));
            }
            return Ok(material.to_owned());
        }
        Alg::ES256 => p256::SecretKey::from_pkcs8_pem(material)
            .or_else(|_| p256::SecretKey::from_sec1_pem(material))
            .map_err(|e| bad_key(alg, format!("expected a P-256 private key in PKCS#8 or SEC1 PEM: {e}")))?
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string()),
        Alg::EdDSA => ed25519_pkcs8_v1(
            &ed25519_dalek::SigningKey::from_pkcs8_pem(material)
                .map_err(|e| bad_key(alg, format!("expected an Ed25519 private key in PKCS#8 PEM: {e}")))?,
        ),
        Alg::RS256 => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(material)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(material))
                .map_err(|e| bad_key(alg, format!("expected an RSA private key in PKCS#8 or PKCS#1 PEM: {e}")))?;
            if key.size() * 8 < MIN_RSA_BITS {
                return Err(bad_key(alg, format!("RSA keys need at least {MIN_RSA_BITS} bits")));
            }
            rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, LineEnding::LF).map(|p| p.to_string())
        }
    };
    pem.map_err(|e| bad_key(alg, e))
}

fn encoding_key(alg: Alg, material: &str) -> AuthResult<EncodingKey> {
    let key = match alg {
        Alg::HS256 => Ok(EncodingKey::from_secret(material.as_bytes())),
        Alg::ES256 => EncodingKey::from_ec_pem(material.as_bytes()),
        Alg::EdDSA => EncodingKey::from_ed_pem(material.as_bytes()),
        Alg::RS256 => EncodingKey::from_rsa_pem(material.as_bytes()),
    };
    key.map_err(|e| bad_key(alg, e))
}

/// The public half as a JWK carrying kid, alg and use; None for HS256, whose key is secret.
fn public_jwk(alg: Alg, kid: &str, key: &EncodingKey) -> AuthResult<Option<Value>> {
    if alg == Alg::HS256 {
        return Ok(None);
    }
    let mut jwk = Jwk::from_encoding_key(key, alg.jwt()).map_err(|e| bad_key(alg, e))?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(&jwk).map(Some).map_err(|e| bad_key(alg, e))
}

fn decoding_key(alg: Alg, material: &str, jwk: Option<&Value>) -> AuthResult<DecodingKey> {
    match (alg, jwk) {
        (Alg::HS256, _) => Ok(DecodingKey::from_secret(material.as_bytes())),
        (_, Some(jwk)) => {
            let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| bad_key(alg, e))?;
            DecodingKey::from_jwk(&jwk).map_err(|e| bad_key(alg, e))
        }
        (_, None) => Err(bad_key(alg, "no public key stored")),
    }
}

/// A key ready to sign: what the current signing key is, parsed once per backend.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    key: SigningKey,
}

enum SigningKey {
    /// ES256 as a parsed key pair: jsonwebtoken parses an EncodingKey again on every
    /// signature, which for P-256 costs a check of the public key, about as much as the
    /// signature itself.
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    Jwt(EncodingKey),
}

impl Signer {
    /// A compact JWS of `claims` under `header`, as jsonwebtoken::encode writes it.
    pub fn sign(&self, header: &jsonwebtoken::Header, claims: &serde_json::Map<String, Value>) -> AuthResult<String> {
        let failed = |e: &dyn std::fmt::Display| {
            AuthError::new(ErrorCode::UnexpectedFailure, "signing the access token failed").detail(e.to_string())
        };
        let key = match &self.key {
            SigningKey::Es256(key) => key,
            SigningKey::Jwt(key) => return jsonwebtoken::encode(header, claims, key).map_err(|e| failed(&e)),
        };
        let header = serde_json::to_vec(header).map_err(|e| failed(&e))?;
        let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
        let message = format!("{}.{}", b64url(&header), b64url(&claims));
        let signature = key.sign(&aws_lc_rs::rand::SystemRandom::new(), message.as_bytes()).map_err(|e| failed(&e))?;
        Ok(format!("{message}.{}", b64url(signature.as_ref())))
    }
}

/// A key ready to verify.
pub struct Verifier {
    pub alg: Alg,
    pub key: DecodingKey,
}

thread_local! {
    static SIGNERS: RefCell<HashMap<String, Rc<Signer>>> = RefCell::new(HashMap::new());
    static VERIFIERS: RefCell<HashMap<String, Rc<Verifier>>> = RefCell::new(HashMap::new());
}

/// A signing key row as the session queries return it.
#[derive(Debug, Deserialize)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub material: String,
    #[serde(default)]
    pub public_jwk: Option<Value>,
}

pub fn signer(row: &KeyRow) -> AuthResult<Rc<Signer>> {
    if let Some(hit) = SIGNERS.with(|c| c.borrow().get(&row.kid).cloned()) {
        return Ok(hit);
    }
    let alg = Alg::parse(&row.alg)?;
    let key = match alg {
        Alg::ES256 => {
            use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
            let der = p256::SecretKey::from_pkcs8_pem(&row.material)
                .and_then(|k| k.to_pkcs8_der())
                .map_err(|e| bad_key(alg, e))?;
            let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der.as_bytes(),
            )
            .map_err(|e| bad_key(alg, e))?;
            SigningKey::Es256(pair)
        }
        _ => SigningKey::Jwt(encoding_key(alg, &row.material)?),
    };
    let signer = Rc::new(Signer { kid: row.kid.clone(), alg, key });
    SIGNERS.with(|c| c.borrow_mut().insert(row.kid.clone(), signer.clone()));
    Ok(signer)
}

/// The verifier already parsed for `kid`, if any (whether the key still stands is the
/// caller's question).
pub fn cached_verifier(kid: &str) -> Option<Rc<Verifier>> {
    VERIFIERS.with(|c| c.borrow().get(kid).cloned())
}

pub fn verifier(row: &KeyRow) -> AuthResult<Rc<Verifier>> {
    if let Some(hit) = cached_verifier(&row.kid) {
        return Ok(hit);
    }
    let alg = Alg::parse(&row.alg)?;
    let verifier = Rc::new(Verifier { alg, key: decoding_key(alg, &row.material, row.public_jwk.as_ref())? });
    VERIFIERS.with(|c| c.borrow_mut().insert(row.kid.clone(), verifier.clone()));
    Ok(verifier)
}

/// Key changes are rare; serialising them keeps exactly one key current.
fn lock_keys() -> AuthResult<()> {
    db::run("lock table auth.signing_keys in share row exclusive mode", &[])
}

fn audit_key_event(action: &str, kid: &str, alg: Alg) -> AuthResult<()> {
    // CREATE EXTENSION writes no audit row: a restore would collide with the dumped ones.
    if unsafe { pg_sys::creating_extension } {
        return Ok(());
    }
    db::run(
        "insert into auth.audit_log_entries (actor_id, action, payload)
         values (auth.uid(), $1, jsonb_build_object('kid', $2::text, 'alg', $3::text))",
        &[action.into(), kid.into(), alg.as_str().into()],
    )
}

/// Stores a key; it becomes current when `make_current` or when no key is current yet.
fn store(alg: Alg, material: String, make_current: bool) -> AuthResult<String> {
    lock_keys()?;
    let kid = random_token::<12>();
    let key = encoding_key(alg, &material)?;
    let jwk = public_jwk(alg, &kid, &key)?;
    let jwk_arg = match &jwk {
        Some(v) => db::jsonb_arg(v),
        None => pgrx::datum::DatumWithOid::null::<pgrx::JsonB>(),
    };
    if make_current {
        db::run("update auth.signing_keys set is_current = false where is_current", &[])?;
    }
    db::run(
        "insert into auth.signing_keys (kid, alg, private_key, public_jwk, is_current)
         values ($1, $2, $3, $4, not exists (select from auth.signing_keys where is_current))",
        &[kid.as_str().into(), alg.as_str().into(), material.as_str().into(), jwk_arg],
    )?;
    audit_key_event("signing_key_added", &kid, alg)?;
    Ok(kid)
}

/// Adds a key, generated when `secret_or_pem` is NULL. It becomes the signing key only
/// when there is none yet; otherwise it is a standby that verifies and is published in
/// the JWKS, so verifiers can learn it before `rotate_signing_key` makes it sign.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn add_signing_key(alg: &str, secret_or_pem: default!(Option<&str>, "NULL")) -> Result<String, ErrorReport> {
    let alg = Alg::parse(alg)?;
    let material = match secret_or_pem {
        Some(m) => import(alg, m)?,
        None => generate(alg)?,
    };
    Ok(store(alg, material, false)?)
}

/// Makes the newest standby key of `alg` the signing key (generating one when there is
/// none). The previous signing key keeps verifying until it is removed.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rotate_signing_key(alg: default!(&str, "'ES256'")) -> Result<String, ErrorReport> {
    let alg = Alg::parse(alg)?;
    lock_keys()?;
    let standby: Option<String> = db::json_row(
        "select to_jsonb(kid) from auth.signing_keys where alg = $1 and not is_current
         order by created_at desc, kid limit 1",
        &[alg.as_str().into()],
    )?;
    let Some(kid) = standby else {
        return Ok(store(alg, generate(alg)?, true)?);
    };
    db::run("update auth.signing_keys set is_current = false where is_current", &[])?;
    db::run("update auth.signing_keys set is_current = true where kid = $1", &[kid.as_str().into()])?;
    audit_key_event("signing_key_rotated", &kid, alg)?;
    Ok(kid)
}

/// Removes a key: tokens it signed stop verifying. The current signing key cannot be
/// removed; rotate first.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn remove_signing_key(kid: &str) -> Result<(), ErrorReport> {
    lock_keys()?;
    #[derive(Deserialize)]
    struct Removed {
        found: bool,
        current: bool,
    }
    let removed: Removed = db::json_row(
        "with target as (select kid, is_current from auth.signing_keys where kid = $1),
         deleted as (delete from auth.signing_keys k using target t
                     where k.kid = t.kid and not t.is_current returning k.kid, k.alg),
         audit as (insert into auth.audit_log_entries (actor_id, action, payload)
                   select auth.uid(), 'signing_key_removed', jsonb_build_object('kid', kid, 'alg', alg) from deleted)
         select jsonb_build_object('found', exists (select from target),
                                   'current', coalesce((select is_current from target), false))",
        &[kid.into()],
    )?
    .expect("the statement always returns a row");
    if !removed.found {
        return Err(AuthError::new(ErrorCode::SigningKeyNotFound, "no signing key has that kid")
            .detail(format!("kid {:?}", truncate(kid, 64)))
            .into());
    }
    if removed.current {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "the current signing key cannot be removed")
            .hint("Rotate to another key with auth.rotate_signing_key() first.")
            .into());
    }
    SIGNERS.with(|c| c.borrow_mut().remove(kid));
    VERIFIERS.with(|c| c.borrow_mut().remove(kid));
    Ok(())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    #[pg_test]
    fn generated_keys_round_trip_through_import() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let material = generate(alg).unwrap();
            let imported = import(alg, &material).unwrap();
            assert_eq!(material.trim(), imported.trim(), "{alg:?}");
            let key = encoding_key(alg, &imported).unwrap();
            let jwk = public_jwk(alg, "k1", &key).unwrap();
            assert_eq!(jwk.is_some(), alg != Alg::HS256, "{alg:?}");
            if let Some(jwk) = jwk {
                // Only public parameters are published.
                let obj = jwk.as_object().unwrap();
                assert_eq!(obj["kid"], "k1");
                assert_eq!(obj["use"], "sig");
                for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                    assert!(!obj.contains_key(private), "{alg:?} JWK leaks {private}");
                }
            }
        }
    }

    #[pg_test]
    fn bad_material_is_refused() {
        let cases = [
            (Alg::HS256, "too short"),
            (Alg::ES256, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"),
            (Alg::EdDSA, "not pem"),
            (Alg::RS256, ""),
        ];
        for (alg, material) in cases {
            let err = import(alg, material).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationFailed, "{alg:?}");
        }
        // An Ed25519 key is not a P-256 key.
        let ed = generate(Alg::EdDSA).unwrap();
        assert!(import(Alg::ES256, &ed).is_err());
        assert!(Alg::parse("none").is_err());
        assert!(Alg::parse("HS512").is_err());
    }

    #[pg_test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token::<32>();
        let b = random_token::<32>();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
