//! Passwords: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane:
//! the argon2 crate's defaults) for every new hash. bcrypt hashes, as Supabase Auth
//! stores them, are accepted at sign-in and replaced by argon2id.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use crate::core::settings;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

/// Supabase Auth's limit (bcrypt reads only 72 bytes), kept so that its users' passwords
/// move both ways.
const MAX_PASSWORD_BYTES: usize = 72;

/// A few of the most common passwords, refused whatever their length when
/// `auth_ext.password_reject_common` is on (NIST SP 800-63B asks for a blocklist rather
/// than composition rules; Supabase Auth's nearest is its leaked-password check).
const COMMON_PASSWORDS: &[&str] = &[
    "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwerty123", "qwertyuiop",
    "11111111", "00000000", "iloveyou", "abc12345", "letmein1", "welcome1", "admin123", "passw0rd", "sunshine",
    "football", "baseball", "princess", "dragon12", "monkey12", "abcdefgh", "87654321",
];

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Refuses passwords as Supabase Auth does, with its messages: longer than 72 bytes
/// (`validation_failed`), then too short and, when asked for, too common
/// (`weak_password`, all that apply in one message, their reasons in the detail as
/// `{"reasons": [...]}`, which the gateway answers as GoTrue's `weak_password` field).
pub fn check_strength(password: &str) -> AuthResult<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::new(
            ErrorCode::ValidationFailed,
            format!("Password cannot be longer than {MAX_PASSWORD_BYTES} characters"),
        ));
    }
    match weakness(password) {
        None => Ok(()),
        Some(weak) => Err(AuthError::new(ErrorCode::WeakPassword, weak.message)
            .detail(serde_json::json!({ "reasons": weak.reasons }).to_string())),
    }
}

/// What is weak about a password, as Supabase Auth's `WeakPasswordError`: refused when
/// it is set, reported beside the session when it signs in (`weak_password`).
#[derive(Debug, serde::Serialize)]
pub struct Weakness {
    pub message: String,
    pub reasons: Vec<&'static str>,
}

pub fn weakness(password: &str) -> Option<Weakness> {
    let min = settings::PASSWORD_MIN_LENGTH.get() as usize;
    let mut messages = Vec::new();
    let mut reasons = Vec::new();
    if password.len() < min {
        messages.push(format!("Password should be at least {min} characters."));
        reasons.push("length");
    }
    let lowered = password.to_lowercase();
    let common = COMMON_PASSWORDS.contains(&lowered.as_str()) || lowered.chars().all(|c| Some(c) == lowered.chars().next());
    if settings::PASSWORD_REJECT_COMMON.get() && common {
        messages.push("Password is known to be weak and easy to guess, please choose a different one.".into());
        reasons.push("pwned");
    }
    (!messages.is_empty()).then(|| Weakness { message: messages.join(" "), reasons })
}

/// A new argon2id hash in PHC string form.
/// Argon2 and bcrypt computations in this backend, for the #[pg_test]s that check that a
/// refused call did none (a flood must not cost everyone's sign-ins).
#[cfg(feature = "pg_test")]
pub static COMPUTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn counted() {
    #[cfg(feature = "pg_test")]
    COMPUTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub fn hash(password: &str) -> AuthResult<String> {
    counted();
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::new(ErrorCode::UnexpectedFailure, "hashing the password failed").detail(e.to_string()))
}

/// The outcome of checking a password against a stored hash.
pub enum Check {
    Mismatch,
    /// Right; `rehash` is the argon2id hash to store instead when the stored one is
    /// bcrypt or argon2 with other parameters.
    Match { rehash: Option<String> },
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"].iter().any(|p| stored.starts_with(p))
}

pub fn check(password: &str, stored: &str) -> AuthResult<Check> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(Check::Mismatch);
    }
    counted();
    let upgrade = || hash(password).map(|h| Check::Match { rehash: Some(h) });
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => upgrade(),
            _ => Ok(Check::Mismatch),
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(Check::Mismatch);
    };
    // Verification uses the parameters recorded in the hash itself.
    if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
        return Ok(Check::Mismatch);
    }
    let current = Params::default();
    let same_params = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == current.m_cost() && p.t_cost() == current.t_cost() && p.p_cost() == current.p_cost()
        });
    if same_params {
        Ok(Check::Match { rehash: None })
    } else {
        upgrade()
    }
}

/// Spends about the time of a real check, so that an unknown email answers as slowly
/// as a wrong password and reveals nothing.
pub fn check_nothing(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(dummy) = DUMMY.get_or_init(|| hash("not a real password, only for timing").ok()) {
        let _ = check(password, dummy);
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    /// A sign-up over the send limits is refused before any password work, for a new
    /// address and for a registered one alike (issue: one flooding address made every
    /// anonymous sign-in wait behind argon2).
    #[pg_test]
    fn a_sign_up_over_the_limits_costs_no_password_work() {
        use std::sync::atomic::Ordering;
        Spi::run("set auth_ext.rate_limit_email_per_client = 0").unwrap();
        Spi::run("select auth.admin_create_user('{\"email\": \"kept@example.com\", \"password\": \"a long passphrase\"}')").unwrap();
        Spi::run(
            "create function pg_temp.error_of(q text) returns text language plpgsql as
             $f$ begin execute q; return 'no error'; exception when others then return sqlerrm; end $f$",
        )
        .unwrap();
        for address in ["new@example.com", "kept@example.com"] {
            let before = COMPUTED.load(Ordering::Relaxed);
            let message = Spi::get_one::<String>(&format!(
                "select pg_temp.error_of($q$select auth.sign_up('{address}', 'another long passphrase')$q$)"
            ))
            .unwrap()
            .unwrap_or_default();
            assert!(message.starts_with("over_email_send_rate_limit"), "{address}: {message}");
            assert_eq!(COMPUTED.load(Ordering::Relaxed), before, "{address}: no argon2 before the refusal");
        }
    }

    #[pg_test]
    fn argon2id_with_owasp_parameters() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(matches!(check("correct horse battery staple", &h).unwrap(), Check::Match { rehash: None }));
        assert!(matches!(check("Correct horse battery staple", &h).unwrap(), Check::Mismatch));
        assert_ne!(hash("same").unwrap(), hash("same").unwrap(), "salted");
    }

    #[pg_test]
    fn bcrypt_hashes_verify_and_are_upgraded() {
        // A Supabase-style bcrypt hash (cost 10) of "hunter2hunter2".
        let stored = bcrypt::hash("hunter2hunter2", 10).unwrap();
        match check("hunter2hunter2", &stored).unwrap() {
            Check::Match { rehash: Some(new) } => assert!(new.starts_with("$argon2id$")),
            _ => panic!("bcrypt hash did not verify with an upgrade"),
        }
        assert!(matches!(check("wrong", &stored).unwrap(), Check::Mismatch));
    }

    #[pg_test]
    fn weaker_argon2_parameters_are_upgraded() {
        let weak = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
            .hash_password(b"an old password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(matches!(check("an old password", &weak).unwrap(), Check::Match { rehash: Some(_) }));
    }

    #[pg_test]
    fn strength_rules() {
        let cases = [
            ("short", false, false),
            ("password123", true, false),
            ("aaaaaaaaaaaa", true, false),
            ("PASSWORD", true, false),
            ("correct horse battery staple", true, true),
            ("päßwörd-ünïcødé", true, true),
        ];
        for (password, ok, ok_with_the_list) in cases {
            assert_eq!(check_strength(password).is_ok(), ok, "{password}");
            Spi::run("set local auth_ext.password_reject_common = on").unwrap();
            assert_eq!(check_strength(password).is_ok(), ok_with_the_list, "{password} with the common list");
            Spi::run("set local auth_ext.password_reject_common = off").unwrap();
        }
        assert_eq!(check_strength(&"x".repeat(73)).unwrap_err().code, ErrorCode::ValidationFailed);
        assert!(check_strength(&"x".repeat(72)).is_ok());
        assert!(matches!(check("anything", "not a hash").unwrap(), Check::Mismatch));
    }
}
