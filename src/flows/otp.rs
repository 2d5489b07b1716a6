//! Passwordless sign-in, recovery and resending: the flows that send a one-time token.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::json;

use crate::flows::gates;
use crate::limits;
use crate::core::request;
use crate::core::errors::{AuthError, ErrorCode};
use crate::users::{self, Lookup, NewUser};
use crate::verification::outbox;
use crate::verification::one_time::{self, TokenType};

/// Sends a one-time code: to an email as a magic link and code, to a phone as a text
/// message. Creates the user first when the address is new and `create_user` allows it
/// (with `data` as its metadata), as Supabase Auth's `signInWithOtp` does.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_otp(
    email: default!(Option<&str>, "NULL"),
    create_user: default!(bool, true),
    phone: default!(Option<&str>, "NULL"),
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let pkce = crate::verification::pkce::challenge_options(code_challenge, code_challenge_method)?;
    let (address, token_type) = match (email, phone) {
        (Some(email), None) => (email, TokenType::Magiclink),
        (None, Some(phone)) => (phone, TokenType::Sms),
        // otp.go:38-39 and 94.
        (Some(_), Some(_)) => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "Only an email address or phone number should be provided")
                .hint("sign_in_with_otp(email => ...) or sign_in_with_otp(phone => ...)")
                .into())
        }
        (None, None) => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "One of email or phone must be set")
                .hint("sign_in_with_otp(email => ...) or sign_in_with_otp(phone => ...)")
                .into())
        }
    };
    let is_phone = token_type.is_phone();
    gates::captcha_checked()?;
    gates::provider_enabled(is_phone, gates::Use::Code)?;
    let client = request::limit_key(&request::client());
    // Asking costs what a message would, whether or not the address is registered.
    limits::check_send_budget(&client, is_phone)?;
    // Without create_user, a malformed address is one nobody has (otp.go:82-83, 211-237).
    let lookup = Lookup::of(address, is_phone).given()?;
    if !create_user && lookup.problem()?.is_some() {
        limits::count_address_probe(&client)?;
        return Err(AuthError::new(ErrorCode::OtpDisabled, "Signups not allowed for otp").into());
    }
    let lookup = lookup.check()?;
    let user_id = match users::find_serialized(lookup)? {
        Some(account) => users::parse_id(&account.id)?,
        None if create_user => {
            gates::signups_allowed()?;
            users::create(&NewUser {
                email: (!is_phone).then(|| address.to_owned()),
                phone: is_phone.then(|| address.to_owned()),
                user_metadata: users::metadata(data.map(|d| d.0), "data")?,
                app_metadata: users::provider_metadata(if is_phone { "phone" } else { "email" }),
                ..Default::default()
            })?
        }
        None => {
            limits::count_address_probe(&client)?;
            return Err(AuthError::new(ErrorCode::OtpDisabled, "Signups not allowed for otp")
                .detail("no user has this address and create_user is false")
                .into())
        }
    };
    let issued = one_time::issue_with_options(&user_id, token_type, address, &pkce)?;
    outbox::send(&user_id, address, &issued, json!({}))?;
    Ok(())
}

/// "Forgot password": mails a recovery link and code, which `verify_otp(..., 'recovery')`
/// turns into a session, after which `update_user({password})` sets a new password.
/// An unknown address gets the same answer (and counts against the same limits), so
/// the call tells nobody which addresses have accounts.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn reset_password_for_email(
    email: Option<&str>,
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    gates::captcha_checked()?;
    let email = email.unwrap_or_default();
    users::check_address(email, "email address")?;
    let pkce = crate::verification::pkce::challenge_options(code_challenge, code_challenge_method)?;
    match users::find(Lookup::Email(email))? {
        Some(account) => {
            let user_id = users::parse_id(&account.id)?;
            let issued = one_time::issue_with_options(&user_id, TokenType::Recovery, email, &pkce)?;
            outbox::send(&user_id, email, &issued, json!({}))?;
        }
        None => {
            limits::count_send(email, false, TokenType::Recovery.frequency_kind())?;
        }
    }
    Ok(())
}

/// Sends again what a pending confirmation is waiting for, as Supabase Auth's `resend`:
/// `signup` (an unconfirmed email), `email_change` (found by the current email),
/// `sms` (an unconfirmed phone) or `phone_change` (found by the current phone). The
/// new message replaces the earlier one. When nothing is pending the answer is the
/// same, and counts against the same limits.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn resend_message(
    resend_type: Option<&str>,
    email: default!(Option<&str>, "NULL"),
    phone: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    gates::captcha_checked()?;
    let resend_type = resend_type.unwrap_or_default();
    let is_phone = match resend_type {
        "signup" | "email_change" => false,
        "sms" | "phone_change" => true,
        other => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "unknown resend type")
                .detail(format!("type {:?} is not one of signup, email_change, sms, phone_change",
                    other.chars().take(40).collect::<String>()))
                .into())
        }
    };
    let address = if is_phone { phone } else { email };
    let (Some(address), None) = (address, if is_phone { email } else { phone }) else {
        let to = if is_phone { "a phone: give phone" } else { "an email: give email" };
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("{resend_type} is resent to {to}")).into());
    };
    let resent = match (users::find(Lookup::of(address, is_phone).check()?)?, resend_type) {
        (Some(account), "signup" | "sms") if !(if is_phone { account.phone_confirmed } else { account.email_confirmed }) => {
            let user_id = users::parse_id(&account.id)?;
            let token_type = if is_phone { TokenType::Sms } else { TokenType::Confirmation };
            // A sign-up's confirmation keeps what it proves (sign_up_again).
            let options = one_time::pending_options(&user_id, token_type)?.unwrap_or(json!({}));
            let issued = one_time::issue_with_options(&user_id, token_type, address, &options)?;
            outbox::send(&user_id, address, &issued, json!({}))?;
            true
        }
        (Some(account), "email_change" | "phone_change") => {
            crate::account::address_change::resend_address_change(&users::parse_id(&account.id)?, is_phone)?
        }
        _ => false,
    };
    if !resent {
        let would_be = match resend_type {
            "email_change" => TokenType::EmailChangeNew,
            "phone_change" => TokenType::PhoneChange,
            _ if is_phone => TokenType::Sms,
            _ => TokenType::Confirmation,
        };
        limits::count_send(address, is_phone, would_be.frequency_kind())?;
    }
    Ok(())
}
