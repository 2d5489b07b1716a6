//! Challenging a factor (`auth.mfa_challenge`) and verifying its code (`auth.mfa_verify`),
//! which raises the same session to aal2 (Supabase Auth's mfa.go:342-1023).
//!
//! A code is never accepted twice: the TOTP step it belongs to must be later than the
//! last one accepted (RFC 6238 5.2; Supabase Auth only makes each challenge single use).
//! Tries are counted per factor and client address, never per factor alone, so that a
//! stranger's guesses (someone with the password but not the phone) never lock the owner
//! out; each is counted before the code is compared, by a worker, so no failing call
//! undoes it.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, db, request, roles, settings};
use crate::limits;
use crate::mfa::factors::{own_factor, signed_in_user, Factor};
use crate::sessions::current::requires_aal2;
use crate::mfa::totp;
use crate::sessions::refresh::reissue;
use crate::tokens::hooks;
use crate::users::pg_uuid;
use crate::workers::durable::{self, DurableWrite};

/// GoTrue's switch for challenging and verifying a factor type.
fn verify_enabled(factor: &Factor) -> AuthResult<()> {
    match factor.factor_type.as_str() {
        "totp" if !settings::MFA_TOTP_VERIFY_ENABLED.get() => {
            Err(AuthError::new(ErrorCode::MfaTotpVerifyNotEnabled, "MFA verification is disabled for TOTP"))
        }
        "phone" if !settings::MFA_PHONE_VERIFY_ENABLED.get() => {
            Err(AuthError::new(ErrorCode::MfaPhoneVerifyNotEnabled, "MFA verification is disabled for Phone"))
        }
        _ => Ok(()),
    }
}

/// Starts verifying one of the signed-in user's factors: `{id, type, expires_at}`. The
/// challenge is verified once, from the same client address, within
/// auth_ext.mfa_challenge_expiry.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn mfa_challenge(factor_id: pgrx::Uuid, channel: default!(Option<&str>, "NULL"), fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || {
        let (user, _) = signed_in_user()?;
        let factor = own_factor(&user, factor_id)?;
        verify_enabled(&factor)?;
        let code = if factor.factor_type == "phone" { Some(send_code(&user, &factor, channel)?) } else { None };
        let salt = crypto::random_bytes::<16>();
        let client = request::client();
        let made: Option<Value> = db::json_row(
            "with factor as (update auth.mfa_factors set last_challenged_at = now() where id = $1::text::uuid)
             insert into auth.mfa_challenges (factor_id, ip, otp_salt, otp_hash) values ($1::text::uuid, $2, $5, $6)
             returning jsonb_build_object('id', id, 'type', $3::text,
                 'expires_at', floor(extract(epoch from created_at + make_interval(secs => $4)))::bigint)",
            &[
                factor.id.as_str().into(),
                request::inet_arg(client.ip.as_deref()),
                factor.factor_type.as_str().into(),
                f64::from(settings::MFA_CHALLENGE_EXPIRY.get()).into(),
                code.as_ref().map(|_| salt.to_vec()).into(),
                code.as_ref().map(|c| crypto::sha256(&[&salt, c.as_bytes()])).into(),
            ],
        )?;
        Ok(pgrx::JsonB(made.unwrap_or_default()))
    })
}

/// A phone factor's code, queued in the outbox as a text message ("Your code is …", as
/// Supabase Auth's MFA_PHONE_TEMPLATE), within a minute of the last (MFA_PHONE_MAX_FREQUENCY)
/// and the send limits.
fn send_code(user: &uuid::Uuid, factor: &Factor, channel: Option<&str>) -> AuthResult<String> {
    let channel = channel.filter(|c| !c.is_empty()).unwrap_or("sms");
    if channel != "sms" {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Invalid channel provided: only sms is supported"));
    }
    // Per factor *and* client address: keyed on the factor alone, whoever has the password
    // could keep the owner's codes from being sent.
    let wait: Option<i32> = db::read_value(
        "select auth.rate_window_take('mfa_phone_frequency', $1, 60)",
        &[format!("{} {}", factor.id, durable::current_client_key()).into()],
    )?;
    if let Some(wait) = wait.filter(|w| *w > 0) {
        return Err(AuthError::new(ErrorCode::OverSmsSendRateLimit, format!("For security purposes, you can only request this after {wait} seconds."))
            .retry_after(i64::from(wait.max(1))));
    }
    let phone = factor.phone.as_deref().unwrap_or_default();
    let recipient = limits::count_send(phone, true, None)?;
    let code = crypto::six_digit_code();
    db::run(
        "insert into auth.outbox (kind, recipient, user_id, payload) values ('sms', $1, $2, $3)",
        &[recipient.as_str().into(), pg_uuid(user).into(), db::jsonb_arg(&json!({"channel": "sms", "otp": code, "sms_type": "mfa"}))],
    )?;
    Ok(code)
}

#[derive(Debug, Deserialize)]
struct Challenge {
    verified: bool,
    same_address: bool,
    expired: bool,
    otp_salt: Option<String>,
    otp_hash: Option<String>,
}

/// Checks `code` for the challenge `challenge_id` of one of the signed-in user's factors.
/// Right, the factor is verified, the session is raised to aal2 (amr gains the factor's
/// method) and answered with new tokens; the user's other aal1 sessions end, as in
/// Supabase Auth.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn mfa_verify(factor_id: pgrx::Uuid, challenge_id: Option<pgrx::Uuid>, code: Option<&str>, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || verify(factor_id, challenge_id, code.unwrap_or_default()).map(pgrx::JsonB).map_err(ErrorReport::from))
}

fn verify(factor_id: pgrx::Uuid, challenge_id: Option<pgrx::Uuid>, code: &str) -> AuthResult<Value> {
    durable::check_writer()?;
    let (user, session) = signed_in_user()?;
    let factor = own_factor(&user, factor_id)?;
    if code.trim().is_empty() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Code needs to be non-empty"));
    }
    verify_enabled(&factor)?;
    // A second factor is added only by someone who has the first: else whoever had the
    // password could leave a factor of their own waiting and verify it later.
    if factor.status != "verified" && requires_aal2(&user, &session)? {
        return Err(AuthError::new(ErrorCode::InsufficientAal, "AAL2 required to verify a new factor"));
    }
    let client = request::client();
    let challenge: Option<Challenge> = db::json_row(
        "select jsonb_build_object('verified', verified_at is not null, 'same_address', ip is not distinct from $3,
             'expired', created_at < now() - make_interval(secs => $4),
             'otp_salt', encode(otp_salt, 'base64'), 'otp_hash', encode(otp_hash, 'base64'))
         from auth.mfa_challenges where id = $1 and factor_id = $2::text::uuid for update",
        &[challenge_id.into(), factor.id.as_str().into(), request::inet_arg(client.ip.as_deref()), f64::from(settings::MFA_CHALLENGE_EXPIRY.get()).into()],
    )?;
    let challenge = challenge.ok_or_else(|| AuthError::new(ErrorCode::MfaFactorNotFound, "MFA factor with the provided challenge ID not found"))?;
    if challenge.verified || !challenge.same_address {
        return Err(AuthError::new(ErrorCode::MfaIpAddressMismatch, "Challenge and verify IP addresses mismatch."));
    }
    if challenge.expired {
        let id = challenge_id.map(|c| uuid::Uuid::from_bytes(*c.as_bytes()).to_string()).unwrap_or_default();
        return Err(AuthError::new(ErrorCode::MfaChallengeExpired, format!("MFA challenge {id} has expired, verify against another challenge or create a new challenge.")));
    }
    let phone = factor.factor_type == "phone";
    let invalid = || AuthError::new(ErrorCode::MfaVerificationFailed, if phone { "Invalid MFA Phone code entered" } else { "Invalid TOTP code entered" });
    // Counted before the code is compared, per factor and address (module comment).
    let factor_uuid = crate::users::parse_id(&factor.id)?;
    let key = format!("{} {}", factor.id, durable::current_client_key());
    let tried = limits::counted_hits("mfa_tries", &key)?;
    if tried >= settings::MFA_MAX_ATTEMPTS.get() {
        return Err(invalid().detail("too many wrong codes were tried from this address").hint("Try again in an hour."));
    }
    if !durable::commit_now(DurableWrite::count_mfa_attempt(&factor_uuid, &request::limit_key(&client))) || limits::counted_hits("mfa_tries", &key)? <= tried {
        return Err(durable::not_recorded());
    }
    let (right, step) = if phone {
        // The challenge's own code (each challenge is verified once).
        let (Some(salt), Some(expected)) = (challenge.otp_salt.as_deref(), challenge.otp_hash.as_deref()) else {
            return Err(invalid());
        };
        let given = crypto::sha256(&[&db::base64_bytes(salt)?, code.trim().as_bytes()]);
        (bool::from(subtle::ConstantTimeEq::ct_eq(&given[..], &db::base64_bytes(expected)?[..])), None)
    } else {
        let now = crate::tokens::jwt::now_epoch();
        let step = factor.secret.as_deref().and_then(|secret| totp::matching_step(secret, code, now, factor.last_used_step));
        (step.is_some(), step)
    };
    attempt_hook(&user, &factor, right)?;
    if !right {
        return Err(invalid());
    }
    let method = if phone { "mfa/phone" } else { "totp" };
    db::run(
        "with factor as (
             update auth.mfa_factors set status = 'verified', last_used_step = coalesce($3, last_used_step), updated_at = now()
             where id = $2::text::uuid),
         challenge as (update auth.mfa_challenges set verified_at = now() where id = $4),
         session as (
             update auth.sessions set aal = 'aal2', factor_id = $2::text::uuid, updated_at = now(),
                 amr = jsonb_build_array(jsonb_build_object('method', $6::text, 'timestamp', floor(extract(epoch from now()))::bigint))
                       || coalesce((select jsonb_agg(e) from jsonb_array_elements(amr) e where e->>'method' <> $6::text), '[]')
             where id = $5),
         lower_sessions as (delete from auth.sessions where user_id = $1 and id <> $5 and aal <> 'aal2'),
         -- Every other unverified factor goes (Supabase Auth: of the same type only), so that
         -- none left waiting by someone who had the password outlives the owner's MFA.
         others as (delete from auth.mfa_factors where user_id = $1 and status = 'unverified' and id <> $2::text::uuid)
         insert into auth.audit_log_entries (actor_id, action, payload)
         values ($1, 'mfa_verified', jsonb_build_object('factor_id', $2::text, 'session_id', $5))",
        &[pg_uuid(&user).into(), factor.id.as_str().into(), step.into(), challenge_id.into(), pg_uuid(&session).into(), method.into()],
    )?;
    reissue(&session)
}

/// Supabase Auth's MFA verification attempt hook (v0hooks.go:115-142): told of every
/// attempt, right or wrong; `{"decision": "reject"}` ends all the user's sessions and
/// refuses. The function runs as its owner.
fn attempt_hook(user: &uuid::Uuid, factor: &Factor, valid: bool) -> AuthResult<()> {
    let Some(hook) = settings::text_string(&settings::MFA_VERIFICATION_ATTEMPT_HOOK) else {
        return Ok(());
    };
    let event = json!({"user_id": user.to_string(), "factor_id": factor.id, "factor_type": factor.factor_type, "valid": valid});
    let output = hooks::call_hook(&hook, &event, true)?.unwrap_or(Value::Null);
    match output.get("decision").and_then(Value::as_str) {
        Some("continue") => Ok(()),
        Some("reject") => {
            if !durable::commit_now(DurableWrite::end_user_sessions(user)) {
                return Err(durable::not_recorded());
            }
            let message = output.get("message").and_then(Value::as_str).filter(|m| !m.is_empty());
            Err(AuthError::new(ErrorCode::MfaVerificationRejected, message.unwrap_or("Further MFA verification attempts will be rejected.")))
        }
        _ => Err(AuthError::new(ErrorCode::HookFailed, "the MFA verification attempt hook returned no decision")
            .detail("it must return {\"decision\": \"continue\" | \"reject\", \"message\": ...}")),
    }
}
