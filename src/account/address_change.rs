//! Changing a user's email or phone: started by the user or an admin, confirmed by a
//! code or link to the new address (and the old one, with secure email change).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::limits;
use crate::core::{db, request};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::current::{self, current_user};
use crate::users::{self, pg_uuid};
use crate::verification::outbox;
use crate::verification::one_time::{self, TokenType};

/// Whether another user has this address confirmed already (`email_exists` /
/// `phone_exists`). An address that someone signed up and never confirmed is not taken:
/// whoever proves it gets it (auth.take_address), so a stranger's sign-up cannot keep
/// everyone else from moving to the address. Asking is what a message to the address
/// would cost: refused once the client's message budget is spent, and a "taken" answer
/// counted against it (durably: the call fails), so that nobody, from an anonymous
/// session, probes which addresses have accounts for free.
fn check_address_free(address: &str, phone: bool, user_id: &uuid::Uuid) -> AuthResult<()> {
    let client = request::limit_key(&request::client());
    limits::check_send_budget(&client, phone)?;
    match users::find(users::Lookup::of(address, phone))? {
        Some(other) if other.id != user_id.to_string() && (if phone { other.phone_confirmed } else { other.email_confirmed }) => {
            limits::count_address_probe(&client)?;
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
pub fn request_address_change(
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
    let issued = one_time::issue_with_options(user_id, new_type, new, options)?;
    outbox::send(user_id, new, &issued, json!({}))?;
    if let Some(current) = current {
        let issued = one_time::issue_with_options(user_id, TokenType::EmailChangeCurrent, current, options)?;
        outbox::send(user_id, current, &issued, json!({"new_email": new}))?;
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
         from auth.users where id = $1 for no key update",
        &[pg_uuid(user_id).into(), phone.into()],
    )?;
    let Some(Pending { new: Some(new), email }) = pending else {
        return Ok(false);
    };
    let new_type = if phone { TokenType::PhoneChange } else { TokenType::EmailChangeNew };
    let options = one_time::pending_options(user_id, new_type)?.unwrap_or(json!({}));
    // The current email is asked again only while its own confirmation is pending.
    let current = match one_time::pending_options(user_id, TokenType::EmailChangeCurrent)? {
        Some(_) if !phone => email,
        _ => None,
    };
    send_address_change(user_id, &new, phone, current.as_deref(), &options)?;
    Ok(true)
}

/// A new address the caller asks for: normalised, None when it is the current one, and
/// checked (well-formed, and nobody else's) before anything is written.
pub fn new_address(requested: Option<&str>, current: Option<&String>, phone: bool, user_id: &uuid::Uuid) -> AuthResult<Option<String>> {
    let Some(address) = requested.map(|a| users::normalize_address(a, phone)).transpose()?.filter(|a| Some(a) != current) else {
        return Ok(None);
    };
    users::Lookup::of(&address, phone).check()?;
    check_address_free(&address, phone, user_id)?;
    Ok(Some(address))
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
pub fn confirm_address_change(consumed: &one_time::Consumed, finish: crate::verification::pkce::Finish) -> AuthResult<Value> {
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
         from auth.users u where u.id = $1 for no key update",
        &[pg_uuid(&consumed.user_id).into(), other.as_str().into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "User not found"))?;
    let pending_address = if phone { pending.phone_change } else { pending.email_change };
    let Some(new_address) = pending_address else {
        return Err(one_time::invalid_code().detail("no address change is pending"));
    };
    if consumed.token_type != TokenType::EmailChangeCurrent && consumed.relates_to != new_address {
        return Err(one_time::invalid_code().detail("it is for an earlier address change"));
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
        current::end_sessions(&consumed.user_id, own_session.as_ref(), "address_changed")?;
    }
    match own_session {
        Some(session_id) => crate::sessions::refresh::reissue(&session_id),
        None => finish.open(consumed),
    }
}
