//! Sessions: opening one for a user, verifying access tokens for direct connections,
//! and signing out. Refreshing one is refresh.rs.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::claims::{self, Claims};
use crate::db;
use crate::errors::{AuthError, AuthResult, ErrorCode};
use crate::keys::{self, KeyRow};
use crate::request::{self, Client};
use crate::roles;
use crate::settings;
use crate::tokens;
use crate::users::{self, pg_uuid};

/// Longest refresh token looked up; ours are 43 characters.
pub const MAX_REFRESH_TOKEN_LEN: usize = 256;

pub fn no_signing_key() -> AuthError {
    AuthError::new(ErrorCode::NoSigningKey, "there is no current signing key")
        .hint("Create one with select auth.rotate_signing_key();")
}

/// The access token and the session JSON of Supabase Auth's clients.
pub fn session_response(
    user: &Value,
    session_id: &str,
    aal: &str,
    amr: &Value,
    method: &str,
    refresh_token: &str,
    key: &KeyRow,
) -> AuthResult<Value> {
    let now = tokens::now_epoch();
    let user_id = user.get("id").and_then(Value::as_str).unwrap_or_default();
    let claims = tokens::access_claims(user, session_id, aal, amr, now);
    let claims = tokens::apply_hook(user_id, claims, method)?;
    let access_token = tokens::sign(&claims, key)?;
    let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_at - now,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": user,
    }))
}

#[derive(Debug, Deserialize)]
struct OpenedSession {
    state: String,
    key: Option<KeyRow>,
    session: Option<SessionRow>,
    user: Value,
}

#[derive(Debug, Deserialize)]
struct SessionRow {
    session_id: String,
    aal: String,
    amr: Value,
}

/// Opens a session for a user who has just proved who they are by `method`
/// (`password`, `otp`, `anonymous`, `oauth`, `admin`, ...). The entry point every
/// sign-in flow ends in. One statement, plus the claims hook when one is set: it checks
/// who may sign in (`auth.sign_in_state`), and only then records the sign-in and
/// inserts the session, its refresh token and the audit entry.
pub fn create_session(user_id: &uuid::Uuid, method: &str, client: &Client) -> AuthResult<Value> {
    if method.is_empty() || method.len() > 32 || !method.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "the sign-in method must be a short snake_case word")
            .detail(format!("method {:?}", method.chars().take(40).collect::<String>())));
    }
    let refresh_token = keys::random_token::<32>();
    // The statement sees the users table as it was when it began, so the user returned
    // is that row with the sign-in time this statement sets.
    let opened: OpenedSession = db::json_row(
        "with target as (select auth.sign_in_state(u) as state from auth.users u where u.id = $1),
         signed_in as (
             update auth.users set last_sign_in_at = now()
             where id = $1 and (select state from target) = 'ok' and last_sign_in_at is distinct from now()),
         session as (
             insert into auth.sessions (user_id, ip, user_agent, amr)
             select $1, $2, $3, jsonb_build_array(jsonb_build_object(
                 'method', $4::text, 'timestamp', floor(extract(epoch from now()))::bigint))
             where (select state from target) = 'ok'
             returning id, aal, amr),
         token as (
             insert into auth.refresh_tokens (session_id, user_id, token_hash)
             select id, $1, $5 from session),
         audit as (
             insert into auth.audit_log_entries (actor_id, action, ip, payload)
             select $1, 'login', $2, jsonb_build_object('method', $4::text, 'session_id', id) from session)
         select jsonb_build_object(
             'state', coalesce((select state from target), 'not_found'),
             'key', auth.current_signing_key(),
             'session', (select jsonb_build_object('session_id', id, 'aal', aal, 'amr', amr) from session),
             'user', auth.user_json($1) || jsonb_build_object('last_sign_in_at', now()))",
        &[
            pg_uuid(user_id).into(),
            request::inet_arg(client.ip.as_deref()),
            client.user_agent.clone().into(),
            method.into(),
            keys::sha256(&[refresh_token.as_bytes()]).into(),
        ],
    )?
    .expect("the statement always returns a row");
    tokens::check_sign_in_state(&opened.state)?;
    let key = opened.key.ok_or_else(no_signing_key)?;
    let session = opened
        .session
        .ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "the session was not opened"))?;
    session_response(&opened.user, &session.session_id, &session.aal, &session.amr, method, &refresh_token, &key)
}

/// Opens a session for any user, as service_role: for servers that authenticate users
/// themselves, and for tests.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_create_session(user_id: pgrx::Uuid, method: default!(&str, "'admin'")) -> Result<pgrx::JsonB, ErrorReport> {
    let user_id = uuid::Uuid::from_bytes(*user_id.as_bytes());
    Ok(pgrx::JsonB(create_session(&user_id, method, &request::client())?))
}

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
    tokens::check_session(claims.object())?;
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
    tokens::verify_session(token)
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
    let user = user.ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "no such user"))?;
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
    if let Err(e) = tokens::check_session(claims.object()) {
        if scope == "local" && e.code == ErrorCode::SessionNotFound {
            return Ok(());
        }
        return Err(e.into());
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

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    fn new_user() -> uuid::Uuid {
        let id: pgrx::Uuid = Spi::get_one("insert into auth.users (email) values ('t' || gen_random_uuid() || '@example.com') returning id")
            .unwrap()
            .unwrap();
        uuid::Uuid::from_bytes(*id.as_bytes())
    }

    fn session(user: &uuid::Uuid) -> Value {
        create_session(user, "password", &Client::default()).unwrap()
    }

    #[pg_test]
    fn session_has_the_supabase_shape() {
        let user = new_user();
        let s = session(&user);
        assert_eq!(s["token_type"], "bearer");
        assert_eq!(s["expires_in"], 3600);
        assert_eq!(s["refresh_token"].as_str().unwrap().len(), 43);
        assert_eq!(s["user"]["id"], user.to_string());
        for field in ["aud", "role", "email", "phone", "app_metadata", "user_metadata", "identities",
                      "is_anonymous", "created_at", "updated_at", "last_sign_in_at", "confirmed_at"] {
            assert!(s["user"].get(field).is_some(), "user.{field} missing");
        }
        let claims = tokens::verify_session(s["access_token"].as_str().unwrap()).unwrap();
        for claim in ["iss", "aud", "sub", "exp", "iat", "email", "phone", "role", "aal", "amr",
                      "session_id", "is_anonymous", "app_metadata", "user_metadata"] {
            assert!(claims.contains_key(claim), "claim {claim} missing");
        }
        assert_eq!(claims["amr"][0]["method"], "password");
        assert_eq!(claims["sub"], user.to_string());
    }

    #[pg_test]
    fn refresh_tokens_are_stored_only_as_hashes() {
        let user = new_user();
        let s = session(&user);
        let token = s["refresh_token"].as_str().unwrap();
        let plain: i64 = Spi::get_one_with_args(
            "select count(*) from auth.refresh_tokens where position(convert_to($1, 'UTF8') in token_hash) > 0",
            &[token.into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(plain, 0);
        let hashed: i64 = Spi::get_one_with_args(
            "select count(*) from auth.refresh_tokens where token_hash = sha256(convert_to($1, 'UTF8'))",
            &[token.into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(hashed, 1);
    }

    #[pg_test(error = "user_not_found: no such user")]
    fn no_session_for_unknown_users() {
        create_session(&uuid::Uuid::new_v4(), "password", &Client::default()).map_err(|e| e.raise()).unwrap();
    }

    #[pg_test(error = "validation_failed: the sign-in method must be a short snake_case word")]
    fn method_is_validated() {
        let user = new_user();
        create_session(&user, "'; drop table auth.users; --", &Client::default()).map_err(|e| e.raise()).unwrap();
    }
}
