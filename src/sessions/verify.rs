//! Whether a session still stands: the one reader of `auth.session_state`, for access
//! tokens and refresh tokens alike.

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
        return Err(AuthError::new(ErrorCode::BadJwt, "invalid claim: session_id claim must be a UUID")
            .detail("the session_id and sub claims must be uuids"));
    };
    // Three texts, not a jsonb object: this runs on every access check, and building
    // and decoding an object cost more than the reads.
    let state: Vec<Option<String>> = db::read_value(
        "select array[
             coalesce((select auth.session_state(s, exists (select from auth.session_revocations r where r.session_id = s.id), $3, $4)
                       from auth.sessions s where s.id = $1 and s.user_id = $2), 'ended'),
             coalesce((select auth.sign_in_state(u) from auth.users u where u.id = $2), 'not_found'),
             ($5::text is null or exists (select from auth.signing_keys where kid = $5))::text]",
        &[
            pgrx::Uuid::from_bytes(*session_id.as_bytes()).into(),
            pgrx::Uuid::from_bytes(*sub.as_bytes()).into(),
            settings::SESSION_TIMEBOX.get().into(),
            settings::SESSION_INACTIVITY_TIMEOUT.get().into(),
            kid.into(),
        ],
    )?
    .unwrap_or_default();
    // auth.session_state's, auth.sign_in_state's, and whether the key still stands.
    let [Some(session), Some(user), Some(key_stands)] = state.as_slice() else {
        return Err(AuthError::new(ErrorCode::UnexpectedFailure, "the session check returned nothing"));
    };
    if key_stands != "true" {
        return Err(jwt::unknown_key(kid.unwrap_or_default()));
    }
    standing(&session_id, session, user, None).check_access(&session_id)
}

/// How a session stands: what `auth.session_state` and `auth.sign_in_state` said of it
/// and its user, and whether a reserved writer is still committing its revocation. The
/// one rule, for access tokens (`check_access`) and refresh tokens (`check_refresh`),
/// which Supabase Auth checks in different orders, with different words.
#[derive(Debug, PartialEq)]
pub struct Standing {
    pub session: SessionStanding,
    pub user: UserStanding,
}

#[derive(Debug, PartialEq)]
pub enum SessionStanding {
    Active,
    /// Signed out, revoked or gone; `replayed` when revoked because a spent refresh token
    /// was replayed (committed, or still being committed by a reserved writer).
    Ended { replayed: bool },
    /// Past its not_after or time-box, or idle past the inactivity timeout (`idle`).
    Expired { idle: bool },
}

#[derive(Debug, PartialEq)]
pub enum UserStanding {
    Ok,
    Banned,
    Gone,
}

/// `session_state` as `auth.session_state` returns it ('ended' for no session at all),
/// `user_state` as `auth.sign_in_state`, `revoked_reason` from auth.session_revocations.
pub fn standing(session_id: &uuid::Uuid, session_state: &str, user_state: &str, revoked_reason: Option<&str>) -> Standing {
    let session = if durable::revocation_pending(session_id) {
        SessionStanding::Ended { replayed: true }
    } else {
        match session_state {
            "active" => SessionStanding::Active,
            "expired" => SessionStanding::Expired { idle: false },
            "inactive" => SessionStanding::Expired { idle: true },
            "revoked" => SessionStanding::Ended { replayed: revoked_reason == Some("token_reuse") },
            _ => SessionStanding::Ended { replayed: false },
        }
    };
    let user = match user_state {
        "ok" => UserStanding::Ok,
        "banned" => UserStanding::Banned,
        _ => UserStanding::Gone,
    };
    Standing { session, user }
}

impl Standing {
    /// As Supabase Auth checks an access token: its user, its session, then a ban.
    pub fn check_access(&self, session_id: &uuid::Uuid) -> AuthResult<()> {
        if self.user == UserStanding::Gone {
            return Err(AuthError::new(ErrorCode::UserNotFound, "User from sub claim in JWT does not exist"));
        }
        match self.session {
            SessionStanding::Ended { .. } => {
                return Err(AuthError::new(ErrorCode::SessionNotFound, "Session from session_id claim in JWT does not exist")
                    .detail(format!("session {session_id} was signed out or revoked")))
            }
            SessionStanding::Expired { .. } => {
                return Err(AuthError::new(ErrorCode::SessionExpired, "Session is no longer valid").hint("Sign in again."))
            }
            SessionStanding::Active => {}
        }
        if self.user == UserStanding::Banned {
            return Err(AuthError::new(ErrorCode::UserBanned, "User is banned"));
        }
        Ok(())
    }

    /// As Supabase Auth checks a refresh token: a replay, a ban, its session, its time.
    pub fn check_refresh(&self) -> AuthResult<()> {
        let refused = |code, message: &str| Err(AuthError::new(code, format!("Invalid Refresh Token: {message}")));
        match (&self.session, &self.user) {
            (SessionStanding::Ended { replayed: true }, _) => refused(ErrorCode::RefreshTokenAlreadyUsed, "Already Used"),
            (_, UserStanding::Banned) => refused(ErrorCode::UserBanned, "User Banned"),
            (_, UserStanding::Gone) => refused(ErrorCode::RefreshTokenNotFound, "Refresh Token Not Found"),
            (SessionStanding::Ended { .. }, _) => refused(ErrorCode::SessionNotFound, "No Valid Session Found"),
            (SessionStanding::Expired { idle: true }, _) => refused(ErrorCode::SessionExpired, "Session Expired (Inactivity)"),
            (SessionStanding::Expired { idle: false }, _) => refused(ErrorCode::SessionExpired, "Session Expired"),
            (SessionStanding::Active, UserStanding::Ok) => Ok(()),
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
