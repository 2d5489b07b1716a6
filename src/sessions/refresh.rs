//! Refreshing a session with rotating refresh tokens.
//!
//! Refresh tokens are 256 random bits; only their SHA-256 is stored. Each refresh
//! spends the session's one live token and mints its child, under a lock on the
//! session row, so concurrent refreshes queue instead of branching.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::core::{crypto, db, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::verify;
use crate::sessions::open::{MAX_REFRESH_TOKEN_LEN, no_signing_key, session_response};
use crate::tokens::keys::KeyRow;
use crate::users::{self, pg_uuid};
use crate::workers::durable;

#[derive(Debug, Deserialize)]
struct PresentedToken {
    id: i64,
    spent: bool,
    spent_seconds_ago: f64,
    /// The token it was exchanged for, if it was.
    child_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct RefreshState {
    token: Option<PresentedToken>,
    live_parent_id: Option<i64>,
    revoked_reason: Option<String>,
    session_state: String,
    user_state: String,
    key: Option<KeyRow>,
    /// The server secret children are derived with (base64), read in the same statement.
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SessionInfo {
    session_id: String,
    aal: String,
    amr: Value,
    method: String,
    user: Value,
}

/// What a session response needs of a session and its user (after `$1`'s refresh).
/// Spliced into the statements below at compile time.
macro_rules! session_info {
    () => {
        "select jsonb_build_object(
             'session_id', s.id, 'aal', s.aal, 'amr', s.amr,
             'method', coalesce(s.amr->-1->>'method', 'unknown'),
             'user', auth.user_json(s.user_id))
         from refreshed s"
    };
}

/// Spends the token `spent_id` and mints `child_hash` as its child, the session's
/// new live token.
fn rotate(spent_id: i64, child_hash: &[u8]) -> AuthResult<SessionInfo> {
    let rotated: Option<SessionInfo> = db::json_row(
        concat!(
            "with spent as (
                 update auth.refresh_tokens set spent_at = clock_timestamp()
                 where id = $1 and spent_at is null
                 returning id, session_id, user_id),
             minted as (
                 insert into auth.refresh_tokens (session_id, user_id, token_hash, parent_id)
                 select session_id, user_id, $2, id from spent
                 returning session_id),
             refreshed as (
                 update auth.sessions s set refreshed_at = now(), updated_at = now()
                 from minted m where s.id = m.session_id
                 returning s.*),
             audit as (
                 insert into auth.audit_log_entries (actor_id, action, payload)
                 select user_id, 'token_refreshed', jsonb_build_object('session_id', id) from refreshed) ",
            session_info!()
        ),
        &[spent_id.into(), child_hash.into()],
    )?;
    rotated.ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "the live refresh token changed under its lock"))
}

/// The session of a token that was already exchanged, for a client that presents it
/// again: the child is not minted again, only the session's refresh time moves.
fn refreshed_again(session_id: &uuid::Uuid) -> AuthResult<SessionInfo> {
    db::json_row(
        concat!(
            "with refreshed as (
                 update auth.sessions s set refreshed_at = now(), updated_at = now() where s.id = $1 returning s.*) ",
            session_info!()
        ),
        &[pg_uuid(session_id).into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::SessionNotFound, "the session has ended"))
}

/// The child of a refresh token: derived from the token's hash with a server-side
/// secret (HMAC-SHA-256), so every client that holds a token gets the same child,
/// however many present it at once, and a session re-issued from its stored hash alone
/// gets the child its holders will be given too. Only hashes are stored.
fn child_token(parent_hash: &[u8], secret: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"auth_ext refresh token child\0");
    mac.update(parent_hash);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The server secret children are derived with.
fn refresh_secret() -> AuthResult<Vec<u8>> {
    secret_bytes(db::json_row("select to_jsonb(encode(auth.secret('refresh_token'), 'base64'))", &[])?)
}

fn secret_bytes(base64: Option<String>) -> AuthResult<Vec<u8>> {
    let secret = base64.ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "the refresh token secret is unreadable"))?;
    db::base64_bytes(&secret)
}

/// From a spent token, the derived chain down to the session's live token: what a
/// client presenting it converges on. None when the chain leaves the derived line (a
/// child minted at random by an earlier release) or runs past the kept history.
fn converge(session_id: &uuid::Uuid, spent_hash: &[u8], secret: &[u8]) -> AuthResult<Option<String>> {
    #[derive(Deserialize)]
    struct Token {
        hash: String,
        spent: bool,
    }
    let tokens: Vec<Token> = db::json_row(
        "select coalesce(jsonb_agg(jsonb_build_object('hash', encode(token_hash, 'base64'), 'spent', spent_at is not null)), '[]')
         from auth.refresh_tokens where session_id = $1",
        &[pg_uuid(session_id).into()],
    )?
    .unwrap_or_default();
    let known = tokens
        .into_iter()
        .map(|t| Ok((db::base64_bytes(&t.hash)?, t.spent)))
        .collect::<AuthResult<std::collections::HashMap<Vec<u8>, bool>>>()?;
    let mut parent = spent_hash.to_vec();
    for _ in 0..known.len() {
        let child = child_token(&parent, secret);
        let child_hash = crypto::sha256(&[child.as_bytes()]);
        match known.get(&child_hash) {
            Some(false) => return Ok(Some(child)),
            Some(true) => parent = child_hash,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether a revocation of the session is committed (a worker's write, seen by a new statement).
fn revocation_recorded(session_id: &uuid::Uuid) -> AuthResult<bool> {
    let recorded: Option<bool> = db::read_row(
        "select to_jsonb(exists (select from auth.session_revocations where session_id = $1))",
        &[pg_uuid(session_id).into()],
    )?;
    Ok(recorded == Some(true))
}

fn already_used(detail: &str) -> AuthError {
    AuthError::new(ErrorCode::RefreshTokenAlreadyUsed, "Invalid Refresh Token: Already Used").detail(detail.to_owned())
}

/// A spent token presented again: the live token at the end of its derived chain when
/// the replay converges (within the reuse interval, or the live token's parent: a tab
/// that fell behind while another refreshed twice still lands on it); otherwise theft,
/// and the session is revoked, committed before the caller hears it. If that cannot be
/// done now, it is queued (refusing the session meanwhile) and done after.
fn replayed(
    presented: &PresentedToken,
    live_parent_id: Option<i64>,
    session_id: &uuid::Uuid,
    hash: &[u8],
    secret: &[u8],
) -> AuthResult<(SessionInfo, String)> {
    let reuse_interval = f64::from(settings::REFRESH_TOKEN_REUSE_INTERVAL.get());
    let converges = presented.child_id.is_some()
        && (live_parent_id == Some(presented.id) || presented.spent_seconds_ago < reuse_interval);
    if !converges {
        let write = durable::DurableWrite::revoke_session(session_id);
        let what = if durable::commit_now(write.clone()) && revocation_recorded(session_id)? {
            "the session is revoked"
        } else if durable::after_abort(write) {
            "the session is being revoked"
        } else {
            // Never claimed when it did not happen: operators find the WARNING.
            "revoking the session failed"
        };
        return Err(already_used(&format!("a spent refresh token was replayed outside the reuse interval; {what}")));
    }
    let Some(live) = converge(session_id, hash, secret)? else {
        return Err(already_used("this refresh token's successor cannot be given again; sign in again"));
    };
    Ok((refreshed_again(session_id)?, live))
}

/// Exchanges a refresh token for a new session: the token is spent and its child
/// returned with a fresh access token, in the same session.
///
/// The child is derived from the token (`child_token`), so clients that present the
/// same token converge instead of revoking each other: a spent token is answered with
/// the live token at the end of its derived chain (`converge`) when it was spent within
/// `auth_ext.refresh_token_reuse_interval` (several tabs, server-side rendering) or is
/// the parent of the session's live token (the client lost the answer). Any other
/// replay of a spent token is theft: the session is revoked, committed before the
/// caller hears it, and the caller gets refresh_token_already_used.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn refresh_session(refresh_token: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let token = refresh_token.map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Refresh token is not valid").into());
    }
    let not_found = || AuthError::new(ErrorCode::RefreshTokenNotFound, "Invalid Refresh Token: Refresh Token Not Found");
    if token.len() > MAX_REFRESH_TOKEN_LEN {
        return Err(not_found().into());
    }
    let hash = crypto::sha256(&[token.as_bytes()]);
    // A replayed token must be able to revoke its session: never served without its writer.
    durable::check_writer()?;

    // Lock the session first: every refresh of it queues here, whichever of its tokens it presents.
    let session_id: Option<String> = db::json_row(
        "select to_jsonb(s.id) from auth.sessions s
         where s.id = (select session_id from auth.refresh_tokens where token_hash = $1)
         for no key update of s",
        &[hash.as_slice().into()],
    )?;
    let Some(session_id) = session_id else {
        return Err(not_found().into());
    };
    let session_uuid = users::parse_id(&session_id)?;

    // Read everything again now that the lock is held: earlier refreshes have committed.
    let state: RefreshState = db::json_row(
        "select jsonb_build_object(
             'token', (select jsonb_build_object('id', t.id, 'spent', t.spent_at is not null,
                                                 -- clock time: this transaction began before it queued for the lock
                                                 'spent_seconds_ago', greatest(0, extract(epoch from clock_timestamp() - t.spent_at)),
                                                 'child_id', c.id)
                       from auth.refresh_tokens t
                       left join auth.refresh_tokens c on c.session_id = t.session_id and c.parent_id = t.id
                       where t.token_hash = $1),
             'live_parent_id', (select parent_id from auth.refresh_tokens where session_id = $2 and spent_at is null),
             'session_state', auth.session_state(s, exists (select from auth.session_revocations r where r.session_id = s.id), $3, $4),
             'revoked_reason', (select reason from auth.session_revocations where session_id = $2),
             'user_state', auth.sign_in_state(u),
             'key', auth.current_signing_key(),
             'secret', encode(auth.secret('refresh_token'), 'base64'))
         from auth.sessions s join auth.users u on u.id = s.user_id
         where s.id = $2",
        &[
            hash.as_slice().into(),
            pg_uuid(&session_uuid).into(),
            settings::SESSION_TIMEBOX.get().into(),
            settings::SESSION_INACTIVITY_TIMEOUT.get().into(),
        ],
    )?
    .ok_or_else(not_found)?;

    let Some(presented) = state.token else {
        return Err(not_found().into());
    };
    verify::standing(&session_uuid, &state.session_state, &state.user_state, state.revoked_reason.as_deref())
        .check_refresh()?;
    let key = state.key.ok_or_else(no_signing_key)?;
    let secret = secret_bytes(state.secret)?;

    let (info, child) = if !presented.spent {
        let child = child_token(&hash, &secret);
        (rotate(presented.id, &crypto::sha256(&[child.as_bytes()]))?, child)
    } else {
        replayed(&presented, state.live_parent_id, &session_uuid, &hash, &secret)?
    };
    Ok(pgrx::JsonB(session_response(&info.user, &info.session_id, &info.aal, &info.amr, &info.method, &child, &key)?))
}

/// A fresh access token and refresh token for an existing session (its live refresh
/// token is spent), e.g. after the user's claims changed.
pub fn reissue(session_id: &uuid::Uuid) -> AuthResult<Value> {
    #[derive(Deserialize)]
    struct Live {
        live_id: Option<i64>,
        live_hash: Option<String>,
        key: Option<KeyRow>,
    }
    let live: Live = db::json_row(
        "select jsonb_build_object(
             'live_id', (select id from auth.refresh_tokens where session_id = $1 and spent_at is null),
             'live_hash', (select encode(token_hash, 'base64') from auth.refresh_tokens where session_id = $1 and spent_at is null),
             'key', auth.current_signing_key())
         from auth.sessions where id = $1 for no key update",
        &[pg_uuid(session_id).into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::SessionNotFound, "the session has ended"))?;
    let live_id = live.live_id.ok_or_else(|| AuthError::new(ErrorCode::SessionNotFound, "the session has no live refresh token"))?;
    let key = live.key.ok_or_else(no_signing_key)?;
    // The child derived from the live token's hash: other holders of that token, which
    // present it next, converge on it too.
    let live_hash = live.live_hash.ok_or_else(|| AuthError::new(ErrorCode::SessionNotFound, "the session has no live refresh token"))?;
    let live_hash = db::base64_bytes(&live_hash)?;
    let new_token = child_token(&live_hash, &refresh_secret()?);
    let r = rotate(live_id, &crypto::sha256(&[new_token.as_bytes()]))?;
    session_response(&r.user, &r.session_id, &r.aal, &r.amr, &r.method, &new_token, &key)
}
