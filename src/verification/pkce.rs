//! PKCE (RFC 7636) as Supabase Auth runs it. A flow that begins with a `code_challenge`
//! (sign-up, magic link or code, recovery, email change) keeps it in its one-time
//! token's options. When the token's link is followed (`auth.verify_link`, the HTTP
//! front's `GET /verify`), the answer is a one-time auth code instead of a session; the
//! code with the verifier (`auth.exchange_code_for_session`) gives the session, so a
//! link opened by someone else's browser signs nobody in there.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::core::{crypto, db, request, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::open::create_session;
use crate::users::{self, pg_uuid};

/// RFC 7636: 43 to 128 unreserved characters, for verifiers and S256 challenges alike.
fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The options a token keeps for a flow that began with a code challenge (none without).
pub fn challenge_options(challenge: Option<&str>, method: Option<&str>) -> AuthResult<Value> {
    let (challenge, method) = match (challenge, method) {
        (None, None) => return Ok(json!({})),
        (Some(c), Some(m)) => (c, m.to_ascii_lowercase()),
        _ => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "PKCE flow requires code_challenge_method and code_challenge")
                .hint("Give both, or neither."))
        }
    };
    if !matches!(method.as_str(), "s256" | "plain") {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "code_challenge_method must be s256 or plain")
            .detail(format!("method {:?}", method.chars().take(20).collect::<String>())));
    }
    // Supabase Auth's words (pkce.go:25-27).
    if !(43..=128).contains(&challenge.len()) {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "code challenge has to be between 43 and 128 characters"));
    }
    if !well_formed(challenge) {
        return Err(AuthError::new(
            ErrorCode::ValidationFailed,
            "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes",
        ));
    }
    Ok(json!({"code_challenge": challenge, "code_challenge_method": method}))
}

/// Options with the challenge of `from` (if it has one) added.
pub fn with_challenge(mut options: Value, from: &Value) -> Value {
    for field in ["code_challenge", "code_challenge_method"] {
        if let (Some(v), Some(o)) = (from.get(field), options.as_object_mut()) {
            o.insert(field.into(), v.clone());
        }
    }
    options
}

pub fn has_challenge(options: &Value) -> bool {
    options.get("code_challenge").is_some_and(Value::is_string)
}

/// Ends a followed link of a PKCE flow: a one-time auth code, `{"code": ...}`, of which
/// only the SHA-256 is kept.
pub fn issue_auth_code(user_id: &uuid::Uuid, method: &str, options: &Value) -> AuthResult<Value> {
    let code = crypto::random_token::<32>();
    db::run(
        "with stale as (delete from auth.flow_state where user_id = $1 and created_at < now() - make_interval(secs => $6))
         insert into auth.flow_state (auth_code_hash, user_id, code_challenge, code_challenge_method, authentication_method)
         values ($2, $1, $3, $4, $5)",
        &[
            pg_uuid(user_id).into(),
            crypto::sha256(&[code.as_bytes()]).as_slice().into(),
            options.get("code_challenge").and_then(Value::as_str).into(),
            options.get("code_challenge_method").and_then(Value::as_str).into(),
            method.into(),
            f64::from(settings::FLOW_STATE_EXP.get()).into(),
        ],
    )?;
    Ok(json!({"code": code}))
}

/// Supabase's `exchangeCodeForSession`: the auth code a PKCE link gave, and the verifier
/// whose challenge began the flow. The code works once, within `auth_ext.flow_state_exp`.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn exchange_code_for_session(auth_code: Option<&str>, code_verifier: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let auth_code = auth_code.map(str::trim).unwrap_or_default();
    let verifier = code_verifier.unwrap_or_default();
    if auth_code.is_empty() || auth_code.len() > 128 || !well_formed(verifier) {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "invalid request: both auth code and code verifier should be non-empty")
            .detail("a code_verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
            .into());
    }
    #[derive(Deserialize)]
    struct Flow {
        user_id: String,
        code_challenge: String,
        code_challenge_method: String,
        authentication_method: String,
        expired: bool,
    }
    // Taken once: a failure below rolls the delete back only with its transaction, and a
    // wrong verifier is refused before anything else is done.
    let flow: Flow = db::json_row(
        "delete from auth.flow_state where auth_code_hash = $1
         returning jsonb_build_object('user_id', user_id, 'code_challenge', code_challenge,
                                      'code_challenge_method', code_challenge_method,
                                      'authentication_method', authentication_method,
                                      'expired', created_at < now() - make_interval(secs => $2))",
        &[crypto::sha256(&[auth_code.as_bytes()]).as_slice().into(), f64::from(settings::FLOW_STATE_EXP.get()).into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::FlowStateNotFound, "invalid flow state, no valid flow state found"))?;
    if flow.expired {
        return Err(AuthError::new(ErrorCode::FlowStateExpired, "invalid flow state, flow state has expired")
            .hint("Follow a new link.")
            .into());
    }
    let derived = match flow.code_challenge_method.as_str() {
        "s256" => crypto::b64url(&crypto::sha256(&[verifier.as_bytes()])),
        _ => verifier.to_owned(),
    };
    if !bool::from(derived.as_bytes().ct_eq(flow.code_challenge.as_bytes())) {
        return Err(AuthError::new(ErrorCode::BadCodeVerifier, "code challenge does not match previously saved code verifier").into());
    }
    let user_id = users::parse_id(&flow.user_id)?;
    Ok(pgrx::JsonB(create_session(&user_id, &flow.authentication_method, &request::client())?))
}

/// How a verification ends once the address is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A session (`verify_otp`).
    Session,
    /// A followed link (`verify_link`): an auth code when its flow began with a PKCE
    /// challenge, else a session.
    Link,
}

impl Finish {
    pub fn open(self, consumed: &crate::verification::one_time::Consumed) -> AuthResult<Value> {
        let method = consumed.token_type.method();
        if self == Finish::Link && has_challenge(&consumed.options) {
            return issue_auth_code(&consumed.user_id, method, &consumed.options);
        }
        create_session(&consumed.user_id, method, &request::client())
    }
}
