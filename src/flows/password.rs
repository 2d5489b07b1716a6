//! Sign-in with a password, by email or phone.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::Value;

use crate::flows::gates;
use crate::limits;
use crate::core::{crypto, db, request, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::passwords::{self, Check};
use crate::sessions::open::create_session;
use crate::users::{self, Lookup, pg_uuid};
use crate::workers::durable;

fn invalid_credentials() -> AuthError {
    AuthError::new(ErrorCode::InvalidCredentials, "Invalid login credentials")
}

/// Password sign-in by email or phone. Unknown account and wrong password take the same
/// time and give the same error.
///
/// Guessing is bounded per client address (an hourly limit and a burst) and per account
/// *and* client address; never per account alone, which would let anyone lock its owner
/// out with wrong passwords. The account is the address signed in with (hashed), so
/// unknown and known addresses count and answer alike. Every count is read before the
/// password is checked (tries of one user queue on the user's row, so each sees the last
/// one's count), and every failure is counted by a durable-write worker, since the
/// failing call itself rolls back. Once an account has a failure from this client this
/// hour, each try is counted before the password is compared, and refused if it cannot
/// be counted: when counting is impossible, at most one guess an hour goes uncounted.
fn password_sign_in(lookup: Lookup<'_>, password: &str) -> AuthResult<Value> {
    // Failures must be counted: never served without the writer that counts them.
    durable::check_writer()?;
    let client = request::client();
    let client_key = request::limit_key(&client);
    let per_hour = settings::RATE_LIMIT_FAILED_SIGN_INS.get();
    limits::check_counted_limit("failed_sign_in", &client_key, per_hour, "failed sign-ins from this address")?;
    // Every try costs argon2, right or wrong: bounded per client before any of it.
    limits::spend_password_work(&client_key)?;
    let (Lookup::Email(address) | Lookup::Phone(address)) = lookup;
    let account_key = crypto::short_hash(&users::normalize_address(address, matches!(lookup, Lookup::Phone(_)))?);
    let count = durable::DurableWrite::count_failed_sign_in(&account_key, &client_key);
    let account_bucket = format!("{account_key} {}", durable::client_key(&client_key));
    let account = users::find(lookup)?;
    if let Some(account) = &account {
        // No application role can lock this row, so nobody can stall someone's sign-ins.
        db::run("select from auth.users where id = $1 for no key update", &[pg_uuid(&users::parse_id(&account.id)?).into()])?;
    }
    let failures = limits::check_counted_limit(
        "failed_sign_in_account",
        &account_bucket,
        settings::RATE_LIMIT_FAILED_SIGN_INS_PER_USER.get(),
        "failed sign-ins for this address from this client",
    )?;
    let counted = failures > 0;
    if counted {
        let counted_now = || limits::counted_hits("failed_sign_in_account", &account_bucket).map(|hits| hits > failures);
        if !(durable::commit_now(count.clone()) && counted_now()?) {
            return Err(durable::not_recorded());
        }
    }
    let failed = || {
        if !counted {
            durable::commit_now(count.clone());
        }
        invalid_credentials()
    };
    let Some((account, stored)) = account.and_then(|a| a.encrypted_password.clone().map(|h| (a, h))) else {
        passwords::check_nothing(password);
        return Err(failed());
    };
    let Check::Match { rehash } = passwords::check(password, &stored)? else {
        return Err(failed());
    };
    let user_id = users::parse_id(&account.id)?;
    if let Some(rehash) = rehash {
        db::run(
            "update auth.users set encrypted_password = $2 where id = $1",
            &[pg_uuid(&user_id).into(), rehash.into()],
        )?;
    }
    match lookup {
        Lookup::Email(_) if !account.email_confirmed => {
            return Err(AuthError::new(ErrorCode::EmailNotConfirmed, "Email not confirmed")
                .hint("Follow the link or enter the code sent to the address."))
        }
        Lookup::Phone(_) if !account.phone_confirmed => {
            return Err(AuthError::new(ErrorCode::PhoneNotConfirmed, "Phone not confirmed"))
        }
        _ => {}
    }
    let mut session = create_session(&user_id, "password", &client)?;
    // As Supabase Auth's password grant: always present, null for a strong password.
    session["weak_password"] = serde_json::to_value(passwords::weakness(password)).unwrap_or(Value::Null);
    Ok(session)
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_password(email: Option<&str>, password: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    gates::captcha_checked()?;
    gates::provider_enabled(false, gates::Use::SignIn)?;
    let email = email.unwrap_or_default();
    users::check_address(email, "email address")?;
    Ok(pgrx::JsonB(password_sign_in(Lookup::Email(email), password.unwrap_or_default())?))
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_phone_password(phone: Option<&str>, password: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    gates::captcha_checked()?;
    gates::provider_enabled(true, gates::Use::SignIn)?;
    let phone = phone.unwrap_or_default();
    users::check_address(phone, "phone number")?;
    Ok(pgrx::JsonB(password_sign_in(Lookup::Phone(phone), password.unwrap_or_default())?))
}
