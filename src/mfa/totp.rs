//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), as authenticator apps
//! compute them: HMAC-SHA1, 6 digits, 30-second steps. The secret, its otpauth:// URI and
//! QR code for enrolling, and checking a code within one step either side.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per time step, and digits per code (what every authenticator app assumes).
pub const PERIOD: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from: clocks drift, people type slowly.
pub const WINDOW: i64 = 1;

/// RFC 4648 base32 without padding, as otpauth:// URIs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// HOTP (RFC 4226 5.3) of `secret` at `counter`, as 6 digits.
fn hotp(secret: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The time step `code` belongs to, within `WINDOW` steps of `now`, for a base32
/// `secret`; None for a wrong code or one of a step not after `after` (a code is never
/// accepted twice, RFC 6238 5.2). Every step of the window is computed, so the time taken
/// does not say which matched.
pub fn matching_step(secret: &str, code: &str, now: i64, after: Option<i64>) -> Option<i64> {
    let key = base32_decode(secret)?;
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(PERIOD);
    let mut found = None;
    for step in current - WINDOW..=current + WINDOW {
        let candidate = hotp(&key, step as u64);
        let same: bool = subtle::ConstantTimeEq::ct_eq(candidate.as_bytes(), code.as_bytes()).into();
        if same && after.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The otpauth:// URI authenticator apps scan (Key Uri Format), as Supabase Auth writes it.
pub fn uri(issuer: &str, account: &str, secret: &str) -> String {
    let enc = auth_ext_http::percent_encode;
    format!(
        "otpauth://totp/{}:{}?algorithm=SHA1&digits={DIGITS}&issuer={}&period={PERIOD}&secret={secret}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The URI as a QR code, an SVG document (supabase-js makes it a data: URI).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 vectors (the 8-digit codes' last 6 digits).
    #[test]
    fn rfc_6238_vectors() {
        let secret = base32(b"12345678901234567890");
        for (time, code) in [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(hotp(b"12345678901234567890", (time / PERIOD) as u64), code);
            assert_eq!(matching_step(&secret, code, time, None), Some(time / PERIOD));
        }
    }

    #[test]
    fn window_and_replay() {
        let secret = base32(b"12345678901234567890");
        let now = 1111111111;
        let step = now / PERIOD;
        let previous = hotp(b"12345678901234567890", (step - 1) as u64);
        let too_old = hotp(b"12345678901234567890", (step - 2) as u64);
        assert_eq!(matching_step(&secret, &previous, now, None), Some(step - 1));
        assert_eq!(matching_step(&secret, &too_old, now, None), None);
        assert_eq!(matching_step(&secret, &previous, now, Some(step - 1)), None);
        assert_eq!(matching_step(&secret, "12345", now, None), None);
        assert_eq!(base32_decode(&base32(b"any bytes at all")).as_deref(), Some(&b"any bytes at all"[..]));
    }
}
