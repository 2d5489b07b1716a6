//! A signed-in user's own account: `update_user` (email, phone, password, metadata),
//! confirming address changes, linking and unlinking identities, and merging an
//! anonymous user into an existing account.
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

use crate::db;
use crate::errors::{AuthError, AuthResult, ErrorCode};
use crate::otp::{self, TokenType};
use crate::passwords;
use crate::request;
use crate::roles;
use crate::sessions::{self, current_user};
use crate::settings;
use crate::users::{self, pg_uuid};

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
         from auth.live_users u where u.id = $1 for update",
        &[pg_uuid(user_id).into(), pg_uuid(session_id).into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "no such user"))
}

/// Whether another user has this address already (`email_exists` / `phone_exists`).
/// Asking is what a message to the address would cost: refused once the client's message
/// budget is spent, and a "taken" answer counted against it (durably: the call fails), so
/// that nobody, from an anonymous session, probes which addresses have accounts for free.
fn check_address_free(address: &str, phone: bool, user_id: &uuid::Uuid) -> AuthResult<()> {
    let client = request::limit_key(&request::client());
    otp::check_send_budget(&client, phone)?;
    match users::find(users::Lookup::of(address, phone))? {
        Some(other) if other.id != user_id.to_string() => {
            otp::count_address_probe(&client)?;
            Err(users::address_taken((!phone).then_some(address), phone.then_some(address))?)
        }
        _ => Ok(()),
    }
}

/// Starts an address change: the new address is pending, confirmed by nothing yet, and
/// the tokens of an earlier change (to another address) no longer count. The one rule,
/// for update_user and for the email change links of the application's server (admin.rs),
/// which makes the current and the new address's links in two calls.
pub fn start_address_change(user_id: &uuid::Uuid, new: &str, phone: bool) -> AuthResult<()> {
    db::run(
        "with earlier as (
             select case when $3 then phone_change else email_change end is distinct from $2 as other
             from auth.users where id = $1),
         pending as (
             update auth.users set
                 email_change = case when $3 then email_change else $2 end,
                 phone_change = case when $3 then $2 else phone_change end,
                 email_change_confirm_status = 0
             where id = $1)
         delete from auth.one_time_tokens
         where user_id = $1 and consumed_at is null and (select other from earlier)
           and token_type = any(case when $3 then '{phone_change}'::auth.one_time_token_type[]
                                     else '{email_change_current,email_change_new}'::auth.one_time_token_type[] end)",
        &[pg_uuid(user_id).into(), new.into(), phone.into()],
    )
}

/// Starts an address change and sends the tokens that confirm it. `current` is the
/// address a secure change also confirms from.
fn request_address_change(
    user_id: &uuid::Uuid,
    new: &str,
    phone: bool,
    current: Option<&str>,
    options: &Value,
) -> AuthResult<()> {
    start_address_change(user_id, new, phone)?;
    send_address_change(user_id, new, phone, current, options)?;
    if current.is_none() && !phone {
        // A change that no longer needs the current address must not wait for an old token.
        db::run(
            "delete from auth.one_time_tokens where user_id = $1 and token_type = 'email_change_current' and consumed_at is null",
            &[pg_uuid(user_id).into()],
        )?;
    }
    Ok(())
}

/// Sends the tokens that confirm an address change: to the new address, and to the
/// current email when the change must be confirmed from there too.
fn send_address_change(
    user_id: &uuid::Uuid,
    new: &str,
    phone: bool,
    current: Option<&str>,
    options: &Value,
) -> AuthResult<()> {
    let new_type = if phone { TokenType::PhoneChange } else { TokenType::EmailChangeNew };
    let issued = otp::issue_with_options(user_id, new_type, new, options)?;
    otp::send(user_id, new, &issued, json!({}))?;
    if let Some(current) = current {
        let issued = otp::issue_with_options(user_id, TokenType::EmailChangeCurrent, current, options)?;
        otp::send(user_id, current, &issued, json!({"new_email": new}))?;
    }
    Ok(())
}

/// `resend('email_change' | 'phone_change')`: sends the pending change's tokens again
/// (the current email's too, while it has not confirmed), with the options the change
/// was asked with. False when no change is pending.
pub fn resend_address_change(user_id: &uuid::Uuid, phone: bool) -> AuthResult<bool> {
    #[derive(Deserialize)]
    struct Pending {
        new: Option<String>,
        email: Option<String>,
    }
    let pending: Option<Pending> = db::json_row(
        "select jsonb_build_object('new', case when $2 then phone_change else email_change end, 'email', email)
         from auth.users where id = $1 for update",
        &[pg_uuid(user_id).into(), phone.into()],
    )?;
    let Some(Pending { new: Some(new), email }) = pending else {
        return Ok(false);
    };
    let new_type = if phone { TokenType::PhoneChange } else { TokenType::EmailChangeNew };
    let options = otp::pending_options(user_id, new_type)?.unwrap_or(json!({}));
    // The current email is asked again only while its own confirmation is pending.
    let current = match otp::pending_options(user_id, TokenType::EmailChangeCurrent)? {
        Some(_) if !phone => email,
        _ => None,
    };
    send_address_change(user_id, &new, phone, current.as_deref(), &options)?;
    Ok(true)
}

/// A new address the caller asks for: normalised, None when it is the current one, and
/// checked (well-formed, and nobody else's) before anything is written.
fn new_address(requested: Option<&str>, current: Option<&String>, phone: bool, user_id: &uuid::Uuid) -> AuthResult<Option<String>> {
    let Some(address) = requested.map(|a| users::normalize_address(a, phone)).transpose()?.filter(|a| Some(a) != current) else {
        return Ok(None);
    };
    users::check_address(&address, if phone { "phone number" } else { "email address" })?;
    db::run("select auth.check_address_format($1, $2)", &[address.as_str().into(), (if phone { "phone" } else { "email" }).into()])?;
    check_address_free(&address, phone, user_id)?;
    Ok(Some(address))
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
    otp::spend_password_work(&request::limit_key(&request::client()))?;
    if settings::SECURE_PASSWORD_CHANGE.get() && state.session_age > REAUTHENTICATION_AGE_SECONDS {
        let Some(nonce) = nonce else {
            return Err(AuthError::new(ErrorCode::ReauthenticationNeeded, "changing the password needs reauthentication")
                .hint("Call auth.reauthenticate() and pass the code it sends as nonce."));
        };
        otp::consume_code(state.email.as_deref().unwrap_or_default(), nonce, &[TokenType::Reauthentication])?;
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
    let pkce = crate::pkce::challenge_options(a.code_challenge.as_deref(), a.code_challenge_method.as_deref())?;
    let state = account_state(&user_id, &session_id)?;
    let keep_sessions = a.keep_sessions.unwrap_or(false);

    // Everything is checked before anything is written: a refused update changes nothing.
    let new_email = new_address(a.email.as_deref(), state.email.as_ref(), false, &user_id)?;
    let new_phone = new_address(a.phone.as_deref(), state.phone.as_ref(), true, &user_id)?;
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
            sessions::end_sessions(&user_id, Some(&session_id), "password_changed")?;
        }
    }
    let options = crate::pkce::with_challenge(json!({"keep_sessions": keep_sessions}), &pkce);
    if let Some(email) = &new_email {
        let secure = settings::SECURE_EMAIL_CHANGE.get() && state.email_confirmed && !state.is_anonymous;
        let current = if secure { state.email.as_deref() } else { None };
        request_address_change(&user_id, email, false, current, &options)?;
    }
    if let Some(phone) = &new_phone {
        request_address_change(&user_id, phone, true, None, &options)?;
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
    let (Some(email), true) = (state.email.as_deref(), state.email_confirmed) else {
        return Err(AuthError::new(ErrorCode::EmailNotConfirmed, "reauthentication needs a confirmed email").into());
    };
    let issued = otp::issue(&user_id, TokenType::Reauthentication, email)?;
    otp::send(&user_id, email, &issued, json!({}))?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Pending {
    email_change: Option<String>,
    phone_change: Option<String>,
    other_live: bool,
}

/// Applies a used email- or phone-change token: records progress, or moves the new
/// address in (confirmed, with its identity), makes an anonymous user permanent with
/// the same id, ends the user's other sessions (unless asked to keep them), and returns
/// a session: the caller's own session re-issued when it is this user's, else a new one.
pub fn confirm_address_change(consumed: &otp::Consumed, finish: crate::pkce::Finish) -> AuthResult<Value> {
    let phone = consumed.token_type == TokenType::PhoneChange;
    let other = match consumed.token_type {
        TokenType::EmailChangeCurrent => TokenType::EmailChangeNew,
        _ => TokenType::EmailChangeCurrent,
    };
    // One side is confirmed: its other live tokens (asked for again, from elsewhere) are
    // spent too, so that only the other side's can still be pending.
    db::run(
        "delete from auth.one_time_tokens where user_id = $1 and token_type = $2 and consumed_at is null",
        &[pg_uuid(&consumed.user_id).into(), consumed.token_type.as_str().into()],
    )?;
    let pending: Pending = db::json_row(
        "select jsonb_build_object(
             'email_change', u.email_change, 'phone_change', u.phone_change,
             'other_live', exists (select from auth.one_time_tokens t
                                   where t.user_id = u.id and t.token_type = $2
                                     and t.consumed_at is null and t.expires_at > now()))
         from auth.users u where u.id = $1 for update",
        &[pg_uuid(&consumed.user_id).into(), other.as_str().into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "no such user"))?;
    let pending_address = if phone { pending.phone_change } else { pending.email_change };
    let Some(new_address) = pending_address else {
        return Err(AuthError::new(ErrorCode::OtpInvalid, "no address change is pending"));
    };
    if consumed.token_type != TokenType::EmailChangeCurrent && consumed.relates_to != new_address {
        return Err(AuthError::new(ErrorCode::OtpInvalid, "this code is for an earlier address change"));
    }
    if !phone && pending.other_live {
        db::run("update auth.users set email_change_confirm_status = 1 where id = $1", &[pg_uuid(&consumed.user_id).into()])?;
        return Ok(json!({
            "message": "Confirmation accepted. Please proceed to confirm the link sent to the other address.",
            "email_change_confirm_status": 1,
        }));
    }
    // The address goes to whoever proved it: a user who signed it up meanwhile, unconfirmed,
    // loses it (auth.take_address); a confirmed holder keeps it.
    let kind = if phone { "phone" } else { "email" };
    let taken: Option<bool> = db::json_row(
        "select to_jsonb(auth.take_address($1, $2, $3))",
        &[pg_uuid(&consumed.user_id).into(), kind.into(), new_address.as_str().into()],
    )?;
    if taken != Some(true) {
        return Err(users::address_taken((!phone).then_some(new_address.as_str()), phone.then_some(new_address.as_str()))?);
    }
    let provider = if phone { "phone" } else { "email" };
    // First: an anonymous user has no address (a constraint says so).
    db::run("select auth.become_permanent($1, $2)", &[pg_uuid(&consumed.user_id).into(), provider.into()])?;
    db::run(
        "with moved as (
             update auth.users set
                 email = case when $2 = 'email' then email_change else email end,
                 email_change = case when $2 = 'email' then null else email_change end,
                 email_change_confirm_status = case when $2 = 'email' then 0 else email_change_confirm_status end,
                 email_confirmed_at = case when $2 = 'email' then now() else email_confirmed_at end,
                 phone = case when $2 = 'phone' then phone_change else phone end,
                 phone_change = case when $2 = 'phone' then null else phone_change end,
                 phone_confirmed_at = case when $2 = 'phone' then now() else phone_confirmed_at end
             where id = $1
             returning id, email, phone)
         insert into auth.audit_log_entries (actor_id, action, payload)
         select id, 'user_modified', jsonb_build_object('confirmed', $2::text, 'email', email, 'phone', phone) from moved",
        &[pg_uuid(&consumed.user_id).into(), provider.into()],
    )?;
    // Statements of their own: they must see the moved address.
    db::run("select auth.sync_address_identity($1, $2)", &[pg_uuid(&consumed.user_id).into(), provider.into()])?;
    let own_session = current_user().ok().filter(|(user, _)| *user == consumed.user_id).map(|(_, s)| s);
    if consumed.options.get("keep_sessions") != Some(&json!(true)) {
        sessions::end_sessions(&consumed.user_id, own_session.as_ref(), "address_changed")?;
    }
    match own_session {
        Some(session_id) => crate::refresh::reissue(&session_id),
        None => finish.open(consumed),
    }
}
