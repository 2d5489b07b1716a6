//! Opening a session for a user: its row, its first refresh token, and the answer in
//! Supabase's shape (`session_response`), which refresh.rs gives too.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::{crypto, db};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::request::{self, Client};
use crate::sessions::verify;
use crate::tokens::{hooks, jwt};
use crate::tokens::keys::KeyRow;
use crate::users::pg_uuid;

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
    let now = jwt::now_epoch();
    let user_id = user.get("id").and_then(Value::as_str).unwrap_or_default();
    let claims = jwt::access_claims(user, session_id, aal, amr, now);
    let claims = hooks::apply_hook(user_id, claims, method)?;
    let access_token = jwt::sign(&claims, key)?;
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
    let refresh_token = crypto::random_token::<32>();
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
            crypto::sha256(&[refresh_token.as_bytes()]).into(),
        ],
    )?
    .expect("the statement always returns a row");
    verify::check_sign_in_state(&opened.state)?;
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
                      "is_anonymous", "created_at", "updated_at", "last_sign_in_at"] {
            assert!(s["user"].get(field).is_some(), "user.{field} missing");
        }
        // As Supabase Auth, empty fields are left out: this user's email is not confirmed.
        for field in ["email_confirmed_at", "confirmed_at", "new_email", "banned_until"] {
            assert!(s["user"].get(field).is_none(), "user.{field} should be left out");
        }
        let claims = verify::verify_session(s["access_token"].as_str().unwrap()).unwrap();
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

    #[pg_test(error = "user_not_found: User not found")]
    fn no_session_for_unknown_users() {
        create_session(&uuid::Uuid::new_v4(), "password", &Client::default()).map_err(|e| e.raise()).unwrap();
    }

    #[pg_test(error = "validation_failed: the sign-in method must be a short snake_case word")]
    fn method_is_validated() {
        let user = new_user();
        create_session(&user, "'; drop table auth.users; --", &Client::default()).map_err(|e| e.raise()).unwrap();
    }
}
