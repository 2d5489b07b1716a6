//! Provider client secrets, sealed (AES-256-GCM) under a key that lives outside the
//! database: `auth_ext.provider_secret_key`, set in postgresql.conf and shown to
//! superusers only. A dump holds only sealed secrets, useless to whoever restores it
//! without the key; no application role may read even those. The HTTP front, which
//! exchanges codes with providers, is the only one that gets a secret back.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, settings};

/// The sealing key from the setting's text: its SHA-256, so that any passphrase of
/// enough entropy serves.
fn key_from(setting: &[u8]) -> AuthResult<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, &crypto::sha256(&[setting]))
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "the sealing key could not be made"))?;
    Ok(LessSafeKey::new(unbound))
}

fn key() -> AuthResult<LessSafeKey> {
    let Some(setting) = settings::text(&settings::PROVIDER_SECRET_KEY).filter(|s| s.len() >= 16) else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "no key to seal provider secrets with")
            .detail("auth_ext.provider_secret_key is unset or shorter than 16 characters")
            .hint("Set auth_ext.provider_secret_key in postgresql.conf (for example to 32 random bytes in hex), then reload."));
    };
    key_from(setting)
}

/// `secret` sealed for `provider` (bound to it: a sealed secret moved to another
/// provider's row does not open): a random nonce, then the ciphertext and its tag.
pub fn seal(provider: &str, secret: &str) -> AuthResult<Vec<u8>> {
    seal_with(&key()?, provider, secret)
}

fn seal_with(key: &LessSafeKey, provider: &str, secret: &str) -> AuthResult<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut sealed = secret.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(provider.as_bytes()), &mut sealed)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "the provider secret could not be sealed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The secret `seal` sealed for `provider`: for the HTTP front, which exchanges codes.
pub fn open(provider: &str, sealed: &[u8]) -> AuthResult<String> {
    open_with(&key()?, provider, sealed).ok_or_else(|| {
        AuthError::new(ErrorCode::ValidationFailed, "the provider's client secret does not open with this key")
            .detail(format!("provider {}", crypto::truncate(provider, 64)))
            .hint("auth_ext.provider_secret_key changed since it was stored: store the secret again with auth.admin_update_oauth_provider.")
    })
}

fn open_with(key: &LessSafeKey, provider: &str, sealed: &[u8]) -> Option<String> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(provider.as_bytes()), &mut buffer).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_for_its_provider() {
        let key = key_from(b"0123456789abcdef-operator-key").unwrap();
        let sealed = seal_with(&key, "github", "gh-secret").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + "gh-secret".len() + 16);
        assert!(!sealed.windows(9).any(|w| w == b"gh-secret"), "no plaintext in the sealed bytes");
        assert_eq!(open_with(&key, "github", &sealed).as_deref(), Some("gh-secret"));
        // Moved to another provider's row, restored under another key, or tampered with: nothing.
        assert_eq!(open_with(&key, "custom:acme", &sealed), None);
        assert_eq!(open_with(&key_from(b"another-operator-key-entirely").unwrap(), "github", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert_eq!(open_with(&key, "github", &tampered), None);
        assert_eq!(open_with(&key, "github", &sealed[..5]), None);
        // A fresh nonce each time: one secret sealed twice differs.
        assert_ne!(seal_with(&key, "github", "gh-secret").unwrap(), sealed);
    }
}
