//! A user's own account: confirming an email change.
//!
//! An email change is pending while `auth.users.email_change` holds the new address.
//! When it was requested in secure mode, tokens went to both the current and the new
//! address; the first confirmation records progress (`email_change_confirm_status`)
//! and only the second moves the address. Otherwise only the new address confirms.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::db;
use crate::errors::{AuthError, AuthResult, ErrorCode};
use crate::otp::{self, TokenType};
use crate::request;
use crate::sessions::create_session;
use crate::users::pg_uuid;

#[derive(Debug, Deserialize)]
struct Pending {
    email_change: Option<String>,
    other_live: bool,
}

/// Applies a used email-change token: records progress, or moves the new address into
/// `email` (confirming it, updating the email identity, and making an anonymous user
/// permanent, with the same id) and opens a session.
pub fn confirm_email_change(consumed: &otp::Consumed) -> AuthResult<Value> {
    let other = match consumed.token_type {
        TokenType::EmailChangeCurrent => TokenType::EmailChangeNew,
        _ => TokenType::EmailChangeCurrent,
    };
    let pending: Pending = db::json_row(
        "select jsonb_build_object(
             'email_change', u.email_change,
             'other_live', exists (select from auth.one_time_tokens t
                                   where t.user_id = u.id and t.token_type = $2
                                     and t.consumed_at is null and t.expires_at > now()))
         from auth.users u where u.id = $1 for update",
        &[pg_uuid(&consumed.user_id).into(), other.as_str().into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "no such user"))?;
    let Some(new_email) = pending.email_change else {
        return Err(AuthError::new(ErrorCode::OtpInvalid, "no email change is pending"));
    };
    if consumed.token_type == TokenType::EmailChangeNew && consumed.relates_to != new_email {
        return Err(AuthError::new(ErrorCode::OtpInvalid, "this link is for an earlier email change"));
    }
    if pending.other_live {
        db::run(
            "update auth.users set email_change_confirm_status = 1 where id = $1",
            &[pg_uuid(&consumed.user_id).into()],
        )?;
        return Ok(json!({
            "message": "Confirmation accepted. Please proceed to confirm the link sent to the other address.",
            "email_change_confirm_status": 1,
        }));
    }
    db::run(
        "with moved as (
             update auth.users set email = email_change, email_change = null, email_change_confirm_status = 0,
                    email_confirmed_at = now(), is_anonymous = false,
                    raw_app_meta_data = raw_app_meta_data
                        || jsonb_build_object('provider', coalesce(nullif(raw_app_meta_data->>'provider', 'anonymous'), 'email'),
                                              'providers', (select jsonb_agg(distinct p) from jsonb_array_elements_text(
                                                  coalesce(raw_app_meta_data->'providers', '[]') || '[\"email\"]') p
                                                  where p <> 'anonymous'))
             where id = $1
             returning id, email),
         audit as (
             insert into auth.audit_log_entries (actor_id, action, payload)
             select id, 'user_modified', jsonb_build_object('email_changed_to', email) from moved)
         select count(*) from moved",
        &[pg_uuid(&consumed.user_id).into()],
    )?;
    // A statement of its own: it must see the moved address.
    db::run("select auth.sync_address_identity($1, 'email')", &[pg_uuid(&consumed.user_id).into()])?;
    create_session(&consumed.user_id, "email_change", &request::client())
}
