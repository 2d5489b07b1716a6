//! CAPTCHA at the front door, as Supabase Auth checks it (api/middleware.go:237-300,
//! security/captcha.go): with a provider configured (hCaptcha or Cloudflare Turnstile),
//! sign-up (anonymous too), password sign-in, `/otp`, `/recover` and `/resend` need the
//! `gotrue_meta_security.captcha_token` supabase-js sends, which the provider's
//! `siteverify` must accept for this client's address. Refreshes, PKCE exchanges and ID
//! tokens are not checked, as in Supabase Auth.

use axum::response::Response;
use serde_json::Value;

use crate::outbound::{Body, Call};
use crate::request::Input;
use crate::sql::ApiError;

fn refused(detail: &str) -> ApiError {
    ApiError::new(400, "captcha_failed", &format!("captcha protection: request disallowed ({detail})"))
}

/// Passes when no CAPTCHA is configured or the provider accepts the request's token.
pub async fn check(input: &Input) -> Result<(), Response> {
    let Some(captcha) = &input.state.config.captcha else {
        return Ok(());
    };
    let token = input.body.pointer("/gotrue_meta_security/captcha_token").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err(input.fail(refused("no captcha_token found")));
    }
    let form = vec![("secret", captcha.secret.clone()), ("response", token.to_owned()), ("remoteip", input.ip.to_string())];
    let answer = input.state.outbound.send(Call::post(&captcha.verify_url, Body::Form(form))).await.map_err(|why| {
        tracing::warn!("captcha verification: {why}");
        input.fail(ApiError::new(500, "unexpected_failure", "captcha verification process failed"))
    })?;
    if answer["success"] == true {
        return Ok(());
    }
    let codes: Vec<&str> = answer["error-codes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    Err(input.fail(refused(&codes.join(", "))))
}
