//! Random tokens, hashes and encodings every layer uses: one home for each.


use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;


/// At most `max` characters of `s`, for echoing a caller's input in an error.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// base64url without padding, as JOSE writes binary values.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of the concatenated parts: how refresh tokens and one-time tokens are stored.
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// A short, fixed-length key for a limit counted on something long (an address): the
/// first 16 bytes of its SHA-256, in hex, so it fits a durable write's argument.
pub fn short_hash(text: &str) -> String {
    hex(&sha256(&[text.as_bytes()])[..16])
}

/// A 6-digit one-time code, uniformly random.
pub fn six_digit_code() -> String {
    use rand::Rng;
    format!("{:06}", OsRng.gen_range(0..1_000_000u32))
}

/// Opaque random token text: `N` bytes from the OS CSPRNG, base64url.
pub fn random_token<const N: usize>() -> String {
    b64url(&random_bytes::<N>())
}
