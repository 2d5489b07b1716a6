//! Which flows the operator turned off, answered as Supabase Auth answers them: sign-ups
//! altogether (`auth_ext.disable_signup`, GoTrue's DISABLE_SIGNUP), and the email and
//! phone providers one by one (`auth_ext.external_email_enabled`, `..._phone_enabled`).

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::settings;

/// What a caller is doing with an address, which decides GoTrue's words for "off".
#[derive(Clone, Copy)]
pub enum Use {
    SignUp,
    SignIn,
    Code,
}

/// With auth_ext.captcha_required, the flows Supabase Auth guards with a CAPTCHA (sign-up,
/// anonymous too, password sign-in, codes, recovery, resend) are the HTTP front's, which
/// checked the token, or the application's server's: never PostgREST's auth_api.
pub fn captcha_checked() -> AuthResult<()> {
    if !settings::CAPTCHA_REQUIRED.get() || settings::text(&settings::GATEWAY_CLIENT).is_some() || crate::core::roles::acting_role_has(c"service_role") {
        return Ok(());
    }
    Err(AuthError::new(ErrorCode::CaptchaFailed, "captcha protection: request disallowed (no captcha_token found)")
        .hint("auth_ext.captcha_required is on: sign-ups and sign-ins go through auth_ext_gateway, which checks CAPTCHA tokens."))
}

/// Refuses when new users may not be made.
pub fn signups_allowed() -> AuthResult<()> {
    if settings::DISABLE_SIGNUP.get() {
        return Err(AuthError::new(ErrorCode::SignupDisabled, "Signups not allowed for this instance"));
    }
    Ok(())
}

/// Refuses when the address's provider is off.
pub fn provider_enabled(is_phone: bool, used_for: Use) -> AuthResult<()> {
    let enabled = if is_phone { settings::EXTERNAL_PHONE_ENABLED.get() } else { settings::EXTERNAL_EMAIL_ENABLED.get() };
    if enabled {
        return Ok(());
    }
    let (code, message) = match (is_phone, used_for) {
        (false, Use::SignUp) => (ErrorCode::EmailProviderDisabled, "Email signups are disabled"),
        (false, _) => (ErrorCode::EmailProviderDisabled, "Email logins are disabled"),
        (true, Use::SignUp) => (ErrorCode::PhoneProviderDisabled, "Phone signups are disabled"),
        (true, Use::SignIn) => (ErrorCode::PhoneProviderDisabled, "Phone logins are disabled"),
        (true, Use::Code) => (ErrorCode::PhoneProviderDisabled, "Unsupported phone provider"),
    };
    Err(AuthError::new(code, message))
}
