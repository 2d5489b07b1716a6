//! The HTTP front's way in. Each request to the gateway (the `gateway/` crate) is one
//! transaction that begins with `auth.gateway_begin` (sql/access.sql): this checks the
//! request's API key and bearer token, records the client the front reports, and names
//! the role the request acts as, which the SQL wrapper then becomes (as PostgREST does).
//! The front itself decides nothing.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::core::{db, pooled, roles, settings};
use crate::core::crypto::truncate;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::current;
use crate::tokens::jwt::{self, TokenKind};

thread_local! {
    /// API keys whose signature this backend verified: (issuer, key) to (jti, role). Every
    /// request sends its key, and checking an ES256 signature costs more than the rest of
    /// the check; whether the key still stands (revoked, expired, its signing key
    /// removed) is read from the tables on every request all the same.
    static VERIFIED_KEYS: RefCell<HashMap<(String, String), (String, String)>> = RefCell::new(HashMap::new());
}

fn invalid(why: String) -> AuthError {
    AuthError::new(ErrorCode::InvalidApiKey, "Invalid API key").detail(why)
}

/// At most this many keys are remembered (a deployment has a handful).
const VERIFIED_KEYS_MAX: usize = 64;

/// The jti and role of an API key whose signature, issuer and claims are ours.
fn verified_key(token: &str) -> AuthResult<(String, String)> {
    let cache_key = (jwt::issuer(), token.to_owned());
    if let Some(hit) = VERIFIED_KEYS.with(|c| c.borrow().get(&cache_key).cloned()) {
        return Ok(hit);
    }
    let claims = jwt::verify_as(token, TokenKind::ApiKey).map_err(|e| invalid(e.message))?;
    let Some(role) = claims.get("role").and_then(Value::as_str) else {
        return Err(invalid("the token is not an API key (no role)".into()));
    };
    // A key without a jti is one that a holder of a signing key made itself, as Supabase's
    // anon and service_role keys are made: it stands while its signing key does.
    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
    // A session's access token is never a key, whatever role it carries.
    if claims.contains_key("session_id") || claims.contains_key("sub") {
        return Err(invalid("a session's access token is not an API key".into()));
    }
    if jti.is_empty() && !matches!(role, "anon" | "service_role") {
        return Err(invalid(format!("a key without a jti is for anon or service_role, not {}", truncate(role, 64))));
    }
    let verified = (jti.to_owned(), role.to_owned());
    VERIFIED_KEYS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= VERIFIED_KEYS_MAX {
            c.clear();
        }
        c.insert(cache_key, verified.clone());
    });
    Ok(verified)
}

/// Verifies an API key: signed by one of our keys (which still exists), a live row in
/// auth.api_keys, and the role that row was made for. Returns that role.
fn api_key_role(token: &str) -> AuthResult<String> {
    let (jti, role) = verified_key(token)?;
    let (jti, role) = (jti.as_str(), role.as_str());
    if jti.is_empty() {
        // verify_as checked that its signing key still stands; nothing else can revoke it.
        return Ok(role.to_owned());
    }
    let state: Option<String> = db::read_value(
        "select case when revoked_at is not null then 'revoked'
                     when expires_at <= now() then 'expired'
                     when not exists (select from auth.signing_keys s where s.kid = k.kid) then 'unsigned'
                     else 'live' end
         from auth.api_keys k where id::text = $1 and role = $2",
        &[jti.into(), role.into()],
    )?;
    match state.as_deref() {
        Some("live") => Ok(role.to_owned()),
        Some("revoked") => Err(AuthError::new(ErrorCode::ApiKeyRevoked, "this API key was revoked")
            .detail(format!("jti {}", truncate(jti, 64)))),
        _ => Err(invalid(format!("jti {} is not a current API key", truncate(jti, 64)))),
    }
}

/// The role a session's access token acts as, after verifying it and its session; its
/// claims become the transaction's verified claims, as `auth.set_session` does.
fn session_role(token: &str) -> AuthResult<String> {
    let claims = current::adopt_session(Some(token))?;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or_default().to_owned();
    jwt::check_token_role(&role)?;
    Ok(role)
}

/// Who an HTTP request is. Only members of auth_ext_gateway may ask (they are trusted to
/// report the client's address). `apikey` must be a live API key; `access_token` (the
/// bearer token, when the endpoint acts for a user) is the key itself, another API key,
/// or a session's access token, whose session must stand. Without either, the request
/// is a visitor's (`anon`): the front allows that only where links lead (`GET /verify`).
/// Returns the role to act as.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn gateway_request(
    apikey: Option<&str>,
    access_token: Option<&str>,
    ip: Option<pgrx::Inet>,
    user_agent: Option<&str>,
) -> Result<String, ErrorReport> {
    if !roles::acting_role_is_member(roles::GATEWAY) {
        return Err(AuthError::new(ErrorCode::NoAuthorization, "only an HTTP front may begin a gateway request")
            .detail("the session's role is not a member of auth_ext_gateway")
            .into());
    }
    // What an earlier request's code left on this pooled connection ends here.
    pooled::reset_session_settings();
    let role = match (apikey.map(str::trim).filter(|k| !k.is_empty()), access_token.map(str::trim).filter(|t| !t.is_empty())) {
        // A followed link (mail clients send no key): a visitor, as the anon key would make it.
        (None, None) => "anon".to_owned(),
        (None, Some(_)) => {
            return Err(AuthError::new(ErrorCode::InvalidApiKey, "No API key found in request")
                .hint("Send the anon or service_role key as the apikey header.")
                .into())
        }
        (Some(apikey), token) => keyed_role(apikey, token)?,
    };
    let client = json!({
        "ip": ip.map(|ip| ip.0),
        "user_agent": user_agent.map(|ua| ua.chars().take(1024).collect::<String>()),
    });
    settings::set_internal_local(settings::GATEWAY_CLIENT_NAME, &client.to_string());
    // auth.gateway_begin becomes this role next, from inside its body.
    let role_oid = std::ffi::CString::new(role.as_str()).map(|name| unsafe { pg_sys::get_role_oid(name.as_ptr(), true) });
    pooled::allow_role_change(role_oid.unwrap_or(pg_sys::InvalidOid));
    Ok(role)
}

/// The role of a request with an API key: the key's, unless the bearer token is a
/// session's access token or another API key.
fn keyed_role(apikey: &str, access_token: Option<&str>) -> AuthResult<String> {
    let key_role = api_key_role(apikey)?;
    Ok(match access_token {
        None => key_role,
        Some(token) if token == apikey => key_role,
        Some(token) => match jwt::unverified_claim(token, "session_id") {
            Some(_) => session_role(token)?,
            // A bearer is a JWT first: one that does not verify is Supabase Auth's bad_jwt.
            None => api_key_role(token).map_err(|e| match e.code {
                ErrorCode::InvalidApiKey => jwt::bad_jwt(e.detail.as_deref().unwrap_or("it is not a key of ours")),
                _ => e,
            })?,
        },
    })
}
