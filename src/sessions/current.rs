//! The session a request carries: its user, adopting it for a connection
//! (`auth.set_session`), reading it (`auth.get_user`) and ending it (`auth.sign_out`).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::{Map, Value};

use crate::core::{db, roles, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::verify;
use crate::tokens::claims::{self, Claims};
use crate::users::{self, pg_uuid};

/// The user and session the current claims (verified session or request claims) name,
/// without checking that the session still stands.
fn claimed_user() -> AuthResult<(uuid::Uuid, uuid::Uuid, std::rc::Rc<Claims>)> {
    let no_session = || {
        AuthError::new(ErrorCode::NoAuthorization, "no signed-in user")
            .hint("Call auth.set_session(access_token) first, or send the request through PostgREST with the token.")
    };
    let claims = claims::current_claims()?.ok_or_else(no_session)?;
    let (Some(sub), Some(session_id)) = (claims.uuid("sub")?, claims.uuid("session_id")?) else {
        return Err(no_session());
    };
    Ok((uuid::Uuid::from_bytes(*sub.as_bytes()), uuid::Uuid::from_bytes(*session_id.as_bytes()), claims))
}

/// The signed-in user and session of the current claims, refusing signed-out, revoked
/// and expired sessions.
pub fn current_user() -> AuthResult<(uuid::Uuid, uuid::Uuid)> {
    let (user, session, claims) = claimed_user()?;
    verify::check_session(claims.object())?;
    Ok((user, session))
}

/// Whether this needs a second factor first: the user has a verified factor and the
/// session has not reached aal2 (the rule is SQL's, `auth.requires_aal2`).
pub fn requires_aal2(user: &uuid::Uuid, session: &uuid::Uuid) -> AuthResult<bool> {
    Ok(db::read_value::<bool>("select auth.requires_aal2($1, $2)", &[pg_uuid(user).into(), pg_uuid(session).into()])?.unwrap_or(true))
}

/// The signed-in user and session, for a change of how the user signs in: with a verified
/// factor, only from an aal2 session ("AAL2 required to {action}").
pub fn current_user_at_aal2(action: &str) -> AuthResult<(uuid::Uuid, uuid::Uuid)> {
    let (user, session) = current_user()?;
    if requires_aal2(&user, &session)? {
        return Err(AuthError::new(ErrorCode::InsufficientAal, format!("AAL2 required to {action}")));
    }
    Ok((user, session))
}

/// Ends every session of the user but `keep` (all of them when None), as a password
/// or email change does.
pub fn end_sessions(user_id: &uuid::Uuid, keep: Option<&uuid::Uuid>, reason: &str) -> AuthResult<()> {
    db::run(
        "with ended as (delete from auth.sessions where user_id = $1 and id is distinct from $2 returning id)
         insert into auth.audit_log_entries (actor_id, action, payload)
         select $1, 'logout', jsonb_build_object('scope', 'others', 'reason', $3::text, 'sessions', jsonb_agg(id))
         from ended having count(*) > 0",
        &[pg_uuid(user_id).into(), keep.map(pg_uuid).into(), reason.into()],
    )
}

/// Verifies an access token and that its session still stands.
fn verify_session_token(access_token: Option<&str>) -> AuthResult<Map<String, Value>> {
    let token = access_token.map(str::trim).unwrap_or_default();
    verify::verify_session(token)
}

/// Verifies an access token and its session, then makes the claim functions answer from
/// its claims until the end of the current transaction (`set_session`, and the HTTP
/// gateway's bearer token). Returns the claims.
pub fn adopt_session(access_token: Option<&str>) -> AuthResult<Map<String, Value>> {
    let claims = verify_session_token(access_token)?;
    let text = serde_json::to_string(&claims).expect("a JSON map serializes");
    settings::set_verified_claims_local(&text);
    claims::remember_verified(&text, Claims::parse(text.as_bytes(), "verified claims")?);
    Ok(claims)
}

/// Verifies an access token against the signing keys and its session, then makes the
/// claim functions answer from it until the end of the current transaction.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn set_session(access_token: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    Ok(pgrx::JsonB(Value::Object(adopt_session(access_token)?)))
}

/// The user behind `access_token`, or behind the current claims when it is NULL.
/// Refuses tokens whose session was signed out or revoked, even before they expire.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn get_user(access_token: default!(Option<&str>, "NULL")) -> Result<pgrx::JsonB, ErrorReport> {
    let user = match access_token {
        Some(_) => {
            let claims = verify_session_token(access_token)?;
            claims.get("sub").and_then(Value::as_str).map(users::parse_id).transpose()?
        }
        None => Some(current_user()?.0),
    };
    let user = user.ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "User not found"))?;
    Ok(pgrx::JsonB(users::user_json(&user)?))
}

/// Ends sessions of the current user: `local` the current one, `global` all of them,
/// `others` all but the current one. Their refresh tokens stop working at once and
/// their access tokens stop passing `set_session` and `get_user`.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn sign_out(scope: default!(&str, "'local'"), fcinfo: pg_sys::FunctionCallInfo) -> Result<(), ErrorReport> {
    roles::for_request(fcinfo, || sign_out_own_sessions(scope))
}

fn sign_out_own_sessions(scope: &str) -> Result<(), ErrorReport> {
    if !matches!(scope, "local" | "global" | "others") {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "scope must be local, global or others")
            .detail(format!("scope {:?}", scope.chars().take(40).collect::<String>()))
            .into());
    }
    // The claims must name a standing session of their user, as for get_user: else
    // whoever can set claims could end anyone's sessions. Ending an already ended
    // session (local) is no error, as in Supabase.
    let (sub, session_id, claims) = claimed_user()?;
    if let Err(e) = verify::check_session(claims.object()) {
        if scope == "local" && e.code == ErrorCode::SessionNotFound {
            return Ok(());
        }
        return Err(e.into());
    }
    // Someone who has the password but not the second factor ends no other session.
    if scope != "local" && requires_aal2(&sub, &session_id)? {
        return Err(AuthError::new(ErrorCode::InsufficientAal, "AAL2 required to sign out other sessions").into());
    }
    db::run(
        "with ended as (
             delete from auth.sessions
             where user_id = $1
               and case $3 when 'local' then id = $2 when 'others' then id <> $2 else true end
             returning id)
         insert into auth.audit_log_entries (actor_id, action, payload)
         select $1, 'logout', jsonb_build_object('scope', $3::text, 'sessions', coalesce(jsonb_agg(id), '[]'))
         from ended",
        &[pg_uuid(&sub).into(), pg_uuid(&session_id).into(), scope.into()],
    )?;
    Ok(())
}
