//! Verifying a code or a link, and finishing what it proves (`pkce::Finish`).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::Value;

use crate::core::db;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::users::{Lookup, pg_uuid};
use crate::verification::one_time::{self, TokenType};
use crate::verification::pkce::Finish;

/// After a token is used: confirm the address it went to and open a session.
fn finish_verification(consumed: one_time::Consumed, finish: Finish) -> AuthResult<Value> {
    match consumed.token_type {
        TokenType::EmailChangeCurrent | TokenType::EmailChangeNew | TokenType::PhoneChange => {
            crate::account::address_change::confirm_address_change(&consumed, finish)
        }
        _ => {
            // A sign-up's confirmation proves the password it was issued for unless it was
            // marked otherwise (sign_up_again); any other token proves the address only.
            let proves_password = consumed.options.get("proves_password").and_then(Value::as_bool)
                .unwrap_or(consumed.token_type == TokenType::Confirmation);
            let digest = consumed.options.get("password").and_then(Value::as_str);
            db::run(
                "select auth.confirm_address($1, $2, $3, $4)",
                &[pg_uuid(&consumed.user_id).into(), consumed.token_type.is_phone().into(), proves_password.into(), digest.into()],
            )?;
            finish.open(&consumed)
        }
    }
}

const VERIFY_OTP_FORMS: &str =
    "verify_otp(token_hash => ..., type => ...), or verify_otp(email | phone => ..., token => ..., type => ...)";

/// Verifies a one-time token and returns a session, as Supabase Auth's `verifyOtp`:
/// a link's `token_hash`, or the 6-digit `token` sent to `email` or `phone`, with the
/// `type` it was sent as. Called as `auth.verify_otp(...)` (sql/access.sql).
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_one_time_token(
    email: Option<&str>,
    token: Option<&str>,
    verification_type: Option<&str>,
    phone: Option<&str>,
    token_hash: Option<&str>,
) -> Result<pgrx::JsonB, ErrorReport> {
    // Supabase Auth's checks and words, in its order (verify.go:51-85).
    let Some(verification_type) = verification_type.filter(|t| !t.is_empty()) else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Verify requires a verification type")
            .hint(VERIFY_OTP_FORMS)
            .into());
    };
    let invalid = |message: &str| -> Result<pgrx::JsonB, ErrorReport> {
        Err(AuthError::new(ErrorCode::ValidationFailed, message).hint(VERIFY_OTP_FORMS).into())
    };
    match (token_hash.is_some(), token.is_some()) {
        (true, true) | (false, false) => return invalid("Verify requires either a token or a token hash"),
        (true, false) if email.is_some() || phone.is_some() => return invalid("Only the token_hash and type should be provided"),
        (false, true) if email.is_some() == phone.is_some() => {
            return invalid("Only an email address or phone number should be provided on verify")
        }
        _ => {}
    }
    let accepted = one_time::accepted_types(verification_type)?;
    let sent_by_sms = accepted.iter().all(|t| t.is_phone());
    let sent_to = match (token_hash, email, phone) {
        (Some(hash), None, None) => {
            let consumed = one_time::consume_link(hash.trim(), accepted)?;
            return Ok(pgrx::JsonB(finish_verification(consumed, Finish::Session)?));
        }
        (None, Some(email), None) => Lookup::Email(email),
        (None, None, Some(phone)) => Lookup::Phone(phone),
        _ => return invalid("Verify requires either a token or a token hash"),
    };
    if matches!(sent_to, Lookup::Phone(_)) != sent_by_sms {
        let by = if sent_by_sms { "phone" } else { "email" };
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("{verification_type} codes are verified with {by} =>")).into());
    }
    // A phone number's form is checked first, as Supabase Auth does (verify.go:68-71).
    let sent_to = if sent_by_sms {
        sent_to.check()?
    } else {
        // verify.go:74-77: a malformed email is 422 "Invalid email format" there.
        let sent_to = sent_to.given()?;
        if let Some(problem) = sent_to.problem()? {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "Invalid email format").detail(problem).into());
        }
        sent_to
    };
    let (Lookup::Email(address) | Lookup::Phone(address)) = sent_to;
    let consumed = one_time::consume_code(address, token.unwrap_or_default(), accepted)?;
    Ok(pgrx::JsonB(finish_verification(consumed, Finish::Session)?))
}

/// A followed link (the HTTP front's `GET /verify`): as `verify_otp(token_hash => ...,
/// type => ...)`, but when the link's flow began with a PKCE code challenge the answer is
/// `{"code": ...}` for `auth.exchange_code_for_session`, not a session.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_link(token_hash: Option<&str>, verification_type: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let Some(verification_type) = verification_type else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "type is required").into());
    };
    let accepted = one_time::accepted_types(verification_type)?;
    let consumed = one_time::consume_link(token_hash.unwrap_or_default().trim(), accepted)?;
    Ok(pgrx::JsonB(finish_verification(consumed, Finish::Link)?))
}

// The entry points of 0.1.0's auth.verify_otp wrappers, kept so that a database still on
// 0.1.0 keeps working with this library until ALTER EXTENSION auth_ext UPDATE.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_otp_by_link(token_hash: Option<&str>, verification_type: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    verify_one_time_token(None, None, verification_type, None, token_hash)
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_otp_by_code(
    email: Option<&str>,
    token: Option<&str>,
    verification_type: Option<&str>,
) -> Result<pgrx::JsonB, ErrorReport> {
    verify_one_time_token(email, token, verification_type, None, None)
}
