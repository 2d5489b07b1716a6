//! Provider client secrets, sealed (AES-256-GCM) under a key that lives outside the
//! database: `auth_ext.provider_secret_key`, set in postgresql.conf and shown to
//! superusers only. A dump holds only sealed secrets, useless to whoever restores it
//! without the key; no application role may read even those.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, settings};

/// The sealing key: the SHA-256 of the setting, so that any passphrase of enough
/// entropy serves.
fn key() -> AuthResult<LessSafeKey> {
    let Some(setting) = settings::text(&settings::PROVIDER_SECRET_KEY).filter(|s| s.len() >= 16) else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "no key to seal provider secrets with")
            .detail("auth_ext.provider_secret_key is unset or shorter than 16 characters")
            .hint("Set auth_ext.provider_secret_key in postgresql.conf (for example to 32 random bytes in hex), then reload."));
    };
    let digest = crypto::sha256(&[setting]);
    let unbound = UnboundKey::new(&AES_256_GCM, &digest)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "the sealing key could not be made"))?;
    Ok(LessSafeKey::new(unbound))
}

/// `secret` sealed for `provider` (bound to it: a sealed secret moved to another
/// provider's row does not open): a random nonce, then the ciphertext and its tag.
pub fn seal(provider: &str, secret: &str) -> AuthResult<Vec<u8>> {
    let key = key()?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut sealed = secret.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(provider.as_bytes()), &mut sealed)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "the provider secret could not be sealed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The secret `seal` sealed for `provider`.
pub fn open(provider: &str, sealed: &[u8]) -> AuthResult<String> {
    let key = key()?;
    let refused = || {
        AuthError::new(ErrorCode::ValidationFailed, "the provider's client secret does not open with this key")
            .detail(format!("provider {}", crypto::truncate(provider, 64)))
            .hint("auth_ext.provider_secret_key changed since it was stored: store the secret again with auth.admin_update_oauth_provider.")
    };
    if sealed.len() < NONCE_LEN {
        return Err(refused());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
    let mut buffer = ciphertext.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(provider.as_bytes()), &mut buffer).map_err(|_| refused())?;
    String::from_utf8(plain.to_vec()).map_err(|_| refused())
}
