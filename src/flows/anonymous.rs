//! Anonymous sign-in: a user with no address, signed in at once.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::json;

use crate::flows::gates;
use crate::limits;
use crate::core::{request, settings};
use crate::core::errors::{AuthError, ErrorCode};
use crate::sessions::open::create_session;
use crate::users::{self, NewUser};
use crate::tokens::hooks;

/// Creates an anonymous user and signs it in. Off unless `auth_ext.anonymous_sign_ins`;
/// limited per client address by `auth_ext.rate_limit_anonymous` an hour.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_anonymously(
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    ip: default!(Option<pgrx::Inet>, "NULL"),
    attestation: default!(Option<&str>, "NULL"),
) -> Result<pgrx::JsonB, ErrorReport> {
    if !settings::ANONYMOUS_SIGN_INS.get() {
        return Err(AuthError::new(ErrorCode::AnonymousProviderDisabled, "Anonymous sign-ins are disabled")
            .hint("A superuser can turn them on: alter database ... set auth_ext.anonymous_sign_ins = on")
            .into());
    }
    gates::captcha_checked()?;
    gates::signups_allowed()?;
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let client = request::client_reported_by_caller(ip.map(|ip| ip.0))?;
    let limit_key = request::limit_key(&client);
    let limit = settings::RATE_LIMIT_ANONYMOUS.get();
    let what = "anonymous sign-ins from this address";
    // A client over its limit is refused before any work, by a read that locks nothing.
    limits::check_counted_limit("anonymous", &limit_key, limit, what)?;
    hooks::run_app_hook(
        &settings::ANONYMOUS_BEFORE_CREATE_HOOK,
        json!({"ip": client.ip, "attestation": attestation, "data": data}),
    )?;
    let user_id = users::create(&NewUser {
        user_metadata: data.clone(),
        app_metadata: users::provider_metadata("anonymous"),
        is_anonymous: true,
        signing_in: true,
        ..Default::default()
    })?;
    hooks::run_app_hook(
        &settings::ANONYMOUS_AFTER_CREATE_HOOK,
        json!({"user_id": user_id.to_string(), "ip": client.ip, "data": data}),
    )?;
    let session = create_session(&user_id, "anonymous", &client)?;
    // Counted last: the counter's row stays locked until commit, and sign-ins from one
    // address queue on it, so it is held for as short a time as possible. Over the limit,
    // the error rolls back everything above; the count is exact either way.
    limits::rate_limit("anonymous", &limit_key, limit, ErrorCode::OverRequestRateLimit, what)?;
    Ok(pgrx::JsonB(session))
}
