//! Whether a session still stands: the one reader of `auth.session_state`, for access
//! tokens and refresh tokens alike.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::core::{db, settings};
use crate::workers::durable;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::tokens::jwt;

/// Verifies a session's access token (see `verify_as`) and that its session still
/// stands (`check_session`), in as few statements as it can: one, once this backend
/// has parsed the token's key.
pub fn verify_session(token: &str) -> AuthResult<Map<String, Value>> {
    let (claims, unchecked_kid) = jwt::verify_signature(token, jwt::TokenKind::Access)?;
    check_session_and_key(&claims, unchecked_kid.as_deref())?;
    Ok(claims)
}

/// What verification needs to know of a session (`auth.session_state`, `auth.sign_in_state`).
#[derive(Debug, Deserialize)]
pub struct SessionState {
    pub session: String,
    #[serde(default)]
    pub user: String,
    /// Whether the token's signing key still stands (true when not asked).
    pub key: bool,
}

/// Checks that the session a token names still stands: it exists, is not revoked or
/// expired, and its user is neither deleted nor banned.
pub fn check_session(claims: &Map<String, Value>) -> AuthResult<()> {
    check_session_and_key(claims, None)
}

/// `check_session`, and in the same statement that the signing key `kid` still stands.
fn check_session_and_key(claims: &Map<String, Value>, kid: Option<&str>) -> AuthResult<()> {
    let session_id = claims.get("session_id").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (Some(session_id), Some(sub)) = (session_id, sub) else {
        return Err(AuthError::new(ErrorCode::SessionNotFound, "the token belongs to no session")
            .detail("it carries no session_id or sub claim"));
    };
    let (Ok(session_id), Ok(sub)) = (uuid::Uuid::parse_str(session_id), uuid::Uuid::parse_str(sub)) else {
        return Err(jwt::bad_jwt("the session_id and sub claims must be uuids"));
    };
    let state: SessionState = db::read_row(
        "select coalesce((
             select jsonb_build_object('session', auth.session_state(s, $3, $4), 'user', auth.sign_in_state(u))
             from auth.sessions s join auth.users u on u.id = s.user_id
             where s.id = $1 and s.user_id = $2), '{\"session\": \"ended\"}')
             || jsonb_build_object('key', $5::text is null or exists (select from auth.signing_keys where kid = $5))",
        &[
            pgrx::Uuid::from_bytes(*session_id.as_bytes()).into(),
            pgrx::Uuid::from_bytes(*sub.as_bytes()).into(),
            settings::SESSION_TIMEBOX.get().into(),
            settings::SESSION_INACTIVITY_TIMEOUT.get().into(),
            kid.into(),
        ],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "the session check returned nothing"))?;
    if !state.key {
        return Err(jwt::unknown_key(kid.unwrap_or_default()));
    }
    standing(&session_id, &state.session, &state.user, None).check(&session_id)
}

/// How a session stands: what `auth.session_state` and `auth.sign_in_state` said of it,
/// and whether a reserved writer is still committing its revocation. The one rule, for
/// access tokens (`check`) and refresh tokens alike.
#[derive(Debug, PartialEq)]
pub enum Standing {
    Active,
    /// Signed out, revoked or gone; `replayed` when revoked because a spent refresh token
    /// was replayed (committed, or still being committed by a reserved writer).
    Ended { replayed: bool },
    Expired,
    UserBanned,
    UserGone,
}

/// `session_state` as `auth.session_state` returns it ('ended' for no session at all),
/// `user_state` as `auth.sign_in_state`, `revoked_reason` from auth.session_revocations.
pub fn standing(session_id: &uuid::Uuid, session_state: &str, user_state: &str, revoked_reason: Option<&str>) -> Standing {
    if durable::revocation_pending(session_id) {
        return Standing::Ended { replayed: true };
    }
    match (session_state, user_state) {
        ("revoked", _) => Standing::Ended { replayed: revoked_reason == Some("token_reuse") },
        ("active" | "expired", "banned") => Standing::UserBanned,
        ("active" | "expired", "ok") if session_state == "active" => Standing::Active,
        ("active" | "expired", "ok") => Standing::Expired,
        ("active" | "expired", _) => Standing::UserGone,
        _ => Standing::Ended { replayed: false },
    }
}

impl Standing {
    /// The error a request carrying this session gets, if any.
    pub fn check(self, session_id: &uuid::Uuid) -> AuthResult<()> {
        match self {
            Standing::Active => Ok(()),
            Standing::Ended { .. } => Err(AuthError::new(ErrorCode::SessionNotFound, "the session has ended")
                .detail(format!("session {session_id} was signed out or revoked"))),
            Standing::Expired => Err(AuthError::new(ErrorCode::SessionExpired, "the session has expired").hint("Sign in again.")),
            Standing::UserBanned => check_sign_in_state("banned"),
            Standing::UserGone => check_sign_in_state("gone"),
        }
    }
}

/// The errors of `auth.sign_in_state`, the one rule for who may sign in.
pub fn check_sign_in_state(state: &str) -> AuthResult<()> {
    match state {
        "ok" => Ok(()),
        "banned" => Err(AuthError::new(ErrorCode::UserBanned, "User is banned")),
        _ => Err(AuthError::new(ErrorCode::UserNotFound, "User not found")),
    }
}
