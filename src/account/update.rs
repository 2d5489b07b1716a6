//! A signed-in user's own account: `update_user` (email, phone, password, metadata) and
//! `reauthenticate`. Address changes are address_change.rs.
//!
//! An email change is pending while `auth.users.email_change` holds the new address.
//! In secure mode (the default, for users whose current email is confirmed) tokens go
//! to both addresses; the first confirmation records progress
//! (`email_change_confirm_status`), only the second moves the address. Otherwise only
//! the new address confirms. Anonymous users become permanent, with the same id, when
//! an address is confirmed or an identity linked.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::limits;
use crate::core::{db, passwords, request, roles, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::current::{self, current_user};
use crate::users::{self, pg_uuid};
use crate::verification::outbox;
use crate::verification::one_time::{self, TokenType};
use crate::account::address_change;

/// A session older than this needs a nonce to change its password in secure mode.
const REAUTHENTICATION_AGE_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserAttributes {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    data: Option<Value>,
    nonce: Option<String>,
    /// Keep the user's other sessions when the password or email changes.
    keep_sessions: Option<bool>,
    /// PKCE, as supabase-js sends with an email change: the link then gives an auth code.
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AccountState {
    email: Option<String>,
    phone: Option<String>,
    email_confirmed: bool,
    phone_confirmed: bool,
    is_anonymous: bool,
    session_age: i64,
}

fn account_state(user_id: &uuid::Uuid, session_id: &uuid::Uuid) -> AuthResult<AccountState> {
    db::json_row(
        "select jsonb_build_object(
             'email', u.email, 'phone', u.phone,
             'email_confirmed', u.email_confirmed_at is not null, 'phone_confirmed', u.phone_confirmed_at is not null,
             'is_anonymous', u.is_anonymous,
             'session_age', coalesce((select extract(epoch from now() - s.created_at)::bigint
                                      from auth.sessions s where s.id = $2), 0))
         from auth.live_users u where u.id = $1 for no key update",
        &[pg_uuid(user_id).into(), pg_uuid(session_id).into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "User not found"))
}

/// The hash of a new password, once it may be set: the user has a verified address, the
/// password is strong enough, the caller has password work left, and (with secure
/// password change, in an old session) the nonce from reauthenticate proves it is them.
fn new_password_hash(password: &str, nonce: Option<&str>, state: &AccountState) -> AuthResult<String> {
    if !(state.email_confirmed || state.phone_confirmed) {
        return Err(AuthError::new(ErrorCode::EmailNotConfirmed, "a password can be set once an email or phone is verified")
            .hint("Add an email with update_user and confirm it first."));
    }
    passwords::check_strength(password)?;
    limits::spend_password_work(&request::limit_key(&request::client()))?;
    if settings::SECURE_PASSWORD_CHANGE.get() && state.session_age > REAUTHENTICATION_AGE_SECONDS {
        let Some(nonce) = nonce else {
            return Err(AuthError::new(ErrorCode::ReauthenticationNeeded, "changing the password needs reauthentication")
                .hint("Call auth.reauthenticate() and pass the code it sends as nonce."));
        };
        one_time::consume_code(state.email.as_deref().unwrap_or_default(), nonce, &[TokenType::Reauthentication])?;
    }
    passwords::hash(password)
}

/// Updates the signed-in user's own account. `email` and `phone` start a change that
/// the new address must confirm (and, in secure mode, the current email too); `password`
/// needs a verified email or phone; `data` merges into user metadata one level deep
/// (`null` deletes a key). Changing password or email ends the user's other sessions
/// unless `keep_sessions` is true. Returns the user.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn update_user(attributes: Option<pgrx::JsonB>, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || update_own_account(attributes))
}

fn update_own_account(attributes: Option<pgrx::JsonB>) -> Result<pgrx::JsonB, ErrorReport> {
    let (user_id, session_id) = current_user()?;
    let a: UserAttributes = serde_json::from_value(attributes.map(|j| j.0).unwrap_or(json!({}))).map_err(|e| {
        AuthError::new(ErrorCode::ValidationFailed, "invalid attributes")
            .detail(e.to_string())
            .hint("Known attributes: email, phone, password, data, nonce, keep_sessions, code_challenge, code_challenge_method.")
    })?;
    let pkce = crate::verification::pkce::challenge_options(a.code_challenge.as_deref(), a.code_challenge_method.as_deref())?;
    // A password, email or phone change with a verified factor needs aal2 (user.go:106-110).
    let changes_credentials = [&a.password, &a.email, &a.phone].iter().any(|v| v.as_deref().is_some_and(|v| !v.is_empty()));
    if changes_credentials && crate::sessions::current::requires_aal2(&user_id, &session_id)? {
        return Err(AuthError::new(ErrorCode::InsufficientAal, "AAL2 session is required to update email or password when MFA is enabled.").into());
    }
    let state = account_state(&user_id, &session_id)?;
    let keep_sessions = a.keep_sessions.unwrap_or(false);

    // Everything is checked before anything is written: a refused update changes nothing.
    let new_email = address_change::new_address(a.email.as_deref(), state.email.as_ref(), false, &user_id)?;
    let new_phone = address_change::new_address(a.phone.as_deref(), state.phone.as_ref(), true, &user_id)?;
    let data = a.data.map(|d| users::metadata(Some(d), "data")).transpose()?;
    let password_hash = match a.password.as_deref() {
        None => None,
        Some(password) => Some(new_password_hash(password, a.nonce.as_deref(), &state)?),
    };

    if let Some(data) = &data {
        db::run(
            "update auth.users set raw_user_meta_data = auth.merge_metadata(raw_user_meta_data, $2) where id = $1",
            &[pg_uuid(&user_id).into(), db::jsonb_arg(data)],
        )?;
    }
    if let Some(hash) = password_hash {
        db::run(
            "with changed as (update auth.users set encrypted_password = $2 where id = $1 returning id)
             insert into auth.audit_log_entries (actor_id, action) select id, 'user_updated_password' from changed",
            &[pg_uuid(&user_id).into(), hash.into()],
        )?;
        if !keep_sessions {
            current::end_sessions(&user_id, Some(&session_id), "password_changed")?;
        }
    }
    let options = crate::verification::pkce::with_challenge(json!({"keep_sessions": keep_sessions}), &pkce);
    if let Some(email) = &new_email {
        let secure = settings::SECURE_EMAIL_CHANGE.get() && state.email_confirmed && !state.is_anonymous;
        let current = if secure { state.email.as_deref() } else { None };
        address_change::request_address_change(&user_id, email, false, current, &options)?;
    }
    if let Some(phone) = &new_phone {
        address_change::request_address_change(&user_id, phone, true, None, &options)?;
    }
    db::run(
        "insert into auth.audit_log_entries (actor_id, action, payload)
         values ($1, 'user_modified', jsonb_build_object('email_change', $2::text, 'phone_change', $3::text,
                                                          'data', $4, 'password', $5))",
        &[
            pg_uuid(&user_id).into(),
            new_email.clone().into(),
            new_phone.clone().into(),
            data.is_some().into(),
            a.password.is_some().into(),
        ],
    )?;
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}

/// Sends the signed-in user a code to pass as `nonce` when a change needs reauthentication.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn reauthenticate(fcinfo: pg_sys::FunctionCallInfo) -> Result<(), ErrorReport> {
    roles::for_request(fcinfo, reauthenticate_own_account)
}

fn reauthenticate_own_account() -> Result<(), ErrorReport> {
    let (user_id, session_id) = current_user()?;
    let state = account_state(&user_id, &session_id)?;
    // Supabase Auth's checks, in its order (reauthenticate.go).
    let email = match (state.email.as_deref(), state.phone.as_deref()) {
        (None, None) => {
            return Err(AuthError::new(
                ErrorCode::ValidationFailed,
                "Reauthentication requires the user to have an email or a phone number",
            )
            .into())
        }
        (Some(email), _) if state.email_confirmed => email,
        (Some(_), _) => return Err(AuthError::new(ErrorCode::EmailNotConfirmed, "Please verify your email first.").into()),
        (None, Some(_)) if !state.phone_confirmed => {
            return Err(AuthError::new(ErrorCode::PhoneNotConfirmed, "Please verify your phone first.").into())
        }
        (None, Some(_)) => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "Reauthentication by text message is not supported")
                .hint("Add a confirmed email to the account.")
                .into())
        }
    };
    let issued = one_time::issue(&user_id, TokenType::Reauthentication, email)?;
    outbox::send(&user_id, email, &issued, json!({}))?;
    Ok(())
}
