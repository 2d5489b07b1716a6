//! One error type for the whole extension, and the one table that maps each
//! error code to its SQLSTATE and to the HTTP status PostgREST turns it into.
//!
//! Every message starts with the stable snake_case code (`bad_jwt: ...`) so that
//! clients can match on it the way they match on Supabase Auth's `error_code`.
//!
//! Behind PostgREST (a request that has `request.method` set), an error of ours that
//! reaches the client is re-raised as PostgREST's `PGRST` SQLSTATE, whose JSON carries
//! the status Supabase Auth uses, the code in `code`, and `Retry-After` for limits.
//! Plain SQL callers, and handlers that catch the error, keep the SQLSTATE below.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

macro_rules! error_codes {
    ($( $variant:ident => $code:literal, $sqlstate:ident, $http:literal, $what:literal; )*) => {
        /// The stable error codes. Names follow Supabase Auth's `error_code` values where one exists.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            pub fn sqlstate(self) -> PgSqlErrorCode {
                match self { $( ErrorCode::$variant => PgSqlErrorCode::$sqlstate, )* }
            }

            /// The HTTP status Supabase Auth answers with for this code.
            pub fn http_status(self) -> i32 {
                match self { $( ErrorCode::$variant => $http, )* }
            }

            pub fn description(self) -> &'static str {
                match self { $( ErrorCode::$variant => $what, )* }
            }

            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    BadJwt => "bad_jwt", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 403,
        "The JWT claims (request.jwt.claims, a legacy claim setting, or a token) are malformed or fail verification.";
    IdentityAlreadyExists => "identity_already_exists", ERRCODE_UNIQUE_VIOLATION, 422,
        "The identity (provider, provider_id) already belongs to another user.";
    ValidationFailed => "validation_failed", ERRCODE_INVALID_PARAMETER_VALUE, 400,
        "An argument is missing, malformed or too large.";
    RefreshTokenNotFound => "refresh_token_not_found", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The refresh token does not exist (never issued, or its session was signed out).";
    RefreshTokenAlreadyUsed => "refresh_token_already_used", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "A spent refresh token was presented outside the reuse interval; its whole session is revoked.";
    SessionNotFound => "session_not_found", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 403,
        "The token's session no longer exists or was revoked.";
    SessionExpired => "session_expired", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The session passed its time-box, its inactivity timeout or its not_after time.";
    UserBanned => "user_banned", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The user is banned until banned_until.";
    UserNotFound => "user_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "No such user, or the user was deleted.";
    NoAuthorization => "no_authorization", ERRCODE_INSUFFICIENT_PRIVILEGE, 401,
        "The call needs a signed-in user (a verified session or request claims with sub and session_id).";
    SigningKeyNotFound => "signing_key_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "No signing key has that kid.";
    ApiKeyNotFound => "api_key_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "No API key has that id.";
    ApiKeyRevoked => "api_key_revoked", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 401,
        "The request's API key was revoked (auth.revoke_api_key).";
    InvalidApiKey => "invalid_api_key", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 401,
        "The request's API key is not one auth.create_api_key made, or it has expired.";
    ProviderNotFound => "custom_provider_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "No sign-in provider has that name (auth.admin_list_oauth_providers lists them).";
    BadOauthState => "bad_oauth_state", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "A provider's callback came with a state that is unknown, expired or used.";
    BadOauthCallback => "bad_oauth_callback", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "A provider's callback lacks its state or code, or what the provider sent does not hold.";
    Conflict => "conflict", ERRCODE_UNIQUE_VIOLATION, 400,
        "A provider with that name exists already.";
    InsufficientAal => "insufficient_aal", ERRCODE_INSUFFICIENT_PRIVILEGE, 401,
        "The session must reach aal2 (verify a factor) for this, since the user has a verified factor.";
    MfaFactorNotFound => "mfa_factor_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "The user has no factor with that id, or no challenge with that id for it.";
    MfaFactorNameConflict => "mfa_factor_name_conflict", ERRCODE_UNIQUE_VIOLATION, 422,
        "The user has a factor with that friendly name already.";
    TooManyEnrolledMfaFactors => "too_many_enrolled_mfa_factors", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, 422,
        "The user has auth_ext.mfa_max_enrolled_factors factors already.";
    MfaVerifiedFactorExists => "mfa_verified_factor_exists", ERRCODE_UNIQUE_VIOLATION, 422,
        "A verified phone factor with that number exists already.";
    MfaTotpEnrollNotEnabled => "mfa_totp_enroll_not_enabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "auth_ext.mfa_totp_enroll_enabled is off.";
    MfaPhoneEnrollNotEnabled => "mfa_phone_enroll_not_enabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "auth_ext.mfa_phone_enroll_enabled is off.";
    MfaTotpVerifyNotEnabled => "mfa_totp_verify_not_enabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "auth_ext.mfa_totp_verify_enabled is off.";
    MfaPhoneVerifyNotEnabled => "mfa_phone_verify_not_enabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "auth_ext.mfa_phone_verify_enabled is off.";
    MfaChallengeExpired => "mfa_challenge_expired", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 422,
        "The challenge is older than auth_ext.mfa_challenge_expiry.";
    MfaIpAddressMismatch => "mfa_ip_address_mismatch", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 422,
        "The challenge was verified already, or is verified from another address than made it.";
    MfaVerificationFailed => "mfa_verification_failed", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 422,
        "The code is wrong, used already, or too many wrong codes were tried from this address.";
    MfaVerificationRejected => "mfa_verification_rejected", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 403,
        "The MFA verification attempt hook rejected the attempt; the user's sessions were ended.";
    CaptchaFailed => "captcha_failed", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "auth_ext.captcha_required is on and the call did not come through the HTTP front, which checks CAPTCHA tokens.";
    ProviderDisabled => "provider_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 400,
        "The provider is not configured for ID tokens, or is disabled (auth.admin_update_oauth_provider).";
    BadIdToken => "bad_id_token", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "An ID token given to auth.sign_in_with_id_token does not hold: signature, issuer, audience, expiry, nonce or at_hash (the detail says which).";
    ProviderKeysNeeded => "provider_keys_needed", ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 503,
        "The provider's signing keys (its JWKS) are missing, stale, or lack the token's key: auth_ext_gateway fetches them and retries; a direct caller stores them with auth.oauth_store_keys.";
    FlowStateNotFound => "flow_state_not_found", ERRCODE_UNDEFINED_OBJECT, 404,
        "No PKCE flow has that auth code (never issued, used already, or expired).";
    FlowStateExpired => "flow_state_expired", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 422,
        "The PKCE auth code is older than auth_ext.flow_state_exp.";
    BadCodeVerifier => "bad_code_verifier", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The PKCE code_verifier does not match the code_challenge the flow began with.";
    NoSigningKey => "no_signing_key", ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 500,
        "There is no current signing key; add or rotate one.";
    HookFailed => "hook_failed", ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, 500,
        "A configured hook function raised an error or returned something invalid.";
    AnonymousProviderDisabled => "anonymous_provider_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "Anonymous sign-ins are off (auth_ext.anonymous_sign_ins).";
    OtpDisabled => "otp_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "No user has that email and the call may not create one.";
    OverRequestRateLimit => "over_request_rate_limit", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, 429,
        "Too many requests from this client address, or tries for this account; the hint says when to retry.";
    OverEmailSendRateLimit => "over_email_send_rate_limit", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, 429,
        "Too many emails queued, in all, for this recipient or from this client; the hint says when to retry.";
    OverSmsSendRateLimit => "over_sms_send_rate_limit", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, 429,
        "Too many text messages queued, in all, for this number or from this client; the hint says when to retry.";
    InvalidCredentials => "invalid_credentials", ERRCODE_INVALID_PASSWORD, 400,
        "Wrong email, phone or password (which one is not said).";
    EmailNotConfirmed => "email_not_confirmed", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The email address is not confirmed yet.";
    PhoneNotConfirmed => "phone_not_confirmed", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "The phone number is not confirmed yet.";
    WeakPassword => "weak_password", ERRCODE_INVALID_PARAMETER_VALUE, 422,
        "The password is too short, or too common (auth_ext.password_reject_common); the detail lists the reasons.";
    EmailExists => "email_exists", ERRCODE_UNIQUE_VIOLATION, 422,
        "Another user has that email address.";
    PhoneExists => "phone_exists", ERRCODE_UNIQUE_VIOLATION, 422,
        "Another user has that phone number.";
    UserAlreadyExists => "user_already_exists", ERRCODE_UNIQUE_VIOLATION, 422,
        "sign_up with auth_ext.mailer_autoconfirm (or sms_autoconfirm) on, for an address that has a user.";
    OtpExpired => "otp_expired", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 403,
        "No such one-time link or code, or it is wrong, expired, used, of another kind, or tried too often (the detail says which when it may).";
    SignupDisabled => "signup_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "A new user was asked for while auth_ext.disable_signup is on.";
    EmailProviderDisabled => "email_provider_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "Sign-up or sign-in with an email address while auth_ext.external_email_enabled is off.";
    PhoneProviderDisabled => "phone_provider_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 422,
        "Sign-up or sign-in with a phone number while auth_ext.external_phone_enabled is off.";
    ManualLinkingDisabled => "manual_linking_disabled", ERRCODE_FEATURE_NOT_SUPPORTED, 404,
        "A user linked or unlinked an identity while auth_ext.manual_linking_enabled is off.";
    IdentityNotFound => "identity_not_found", ERRCODE_UNDEFINED_OBJECT, 422,
        "The user has no identity with that id.";
    SingleIdentityNotDeletable => "single_identity_not_deletable", ERRCODE_FOREIGN_KEY_VIOLATION, 422,
        "The identity is the user's last way to sign in.";
    EmailIdentityNotDeletable => "email_identity_not_deletable", ERRCODE_FOREIGN_KEY_VIOLATION, 422,
        "The email identity holds a confirmed email, which only a confirmed email change may remove (auth_ext.secure_email_change).";
    NotAdmin => "not_admin", ERRCODE_INSUFFICIENT_PRIVILEGE, 403,
        "Only a superuser may do this (change the settings of a role that requests act as).";
    IndirectCall => "indirect_call", ERRCODE_INSUFFICIENT_PRIVILEGE, 403,
        "An account-changing function was called from a trigger, from code that runs with another role's rights, or inside a statement that writes or reads an application table: only the request itself may change its account.";
    MergeConflict => "merge_conflict", ERRCODE_UNIQUE_VIOLATION, 409,
        "Rows of an application table would clash with the target user's; the detail names the table.";
    MergeNotAllowed => "merge_not_allowed", ERRCODE_INSUFFICIENT_PRIVILEGE, 403,
        "The anonymous user has rows in an application table that merges may not move; the hint says what to grant.";
    ReauthenticationNeeded => "reauthentication_needed", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, 400,
        "This change needs a nonce from auth.reauthenticate().";
    DurableWriterUnavailable => "durable_writer_unavailable", ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, 503,
        "This database's reserved durable writer is not serving now; refreshes and code checks are refused until it is (retryable).";
    ReadOnlyReplica => "read_only_replica", ERRCODE_READ_ONLY_SQL_TRANSACTION, 503,
        "The call writes, and this server is a read-only replica: send it to the primary (retryable).";
    UnexpectedFailure => "unexpected_failure", ERRCODE_INTERNAL_ERROR, 500,
        "An internal step failed; the detail says which.";
    UnknownErrorCode => "unknown_error_code", ERRCODE_INVALID_PARAMETER_VALUE, 500,
        "auth.raise_error was called with a code this extension does not define.";
}

/// A failure with its code, a human message, and optional detail and hint.
#[derive(Debug, Clone)]
pub struct AuthError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// For limits: seconds until the client may try again (HTTP `Retry-After`).
    pub retry_after: Option<i64>,
}

pub type AuthResult<T> = Result<T, AuthError>;

impl AuthError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AuthError { code, message: message.into(), detail: None, hint: None, retry_after: None }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The full message as clients see it: `code: message`.
    pub fn text(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.message)
    }

    /// Raise as a Postgres ERROR. Goes through pgrx's unwinding, so Rust destructors run.
    pub fn raise(self) -> ! {
        ErrorReport::from(self).report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl From<AuthError> for ErrorReport {
    fn from(e: AuthError) -> ErrorReport {
        let mut report = ErrorReport::new(e.code.sqlstate(), e.text(), "auth_ext");
        if let Some(detail) = e.detail {
            report = report.set_detail(detail);
        }
        if let Some(hint) = e.hint {
            report = report.set_hint(hint);
        }
        http::remember_retry_after(e.code, e.retry_after);
        report
    }
}

/// What PostgREST makes of our errors: the `PGRST` form, applied as the error is sent.
pub mod http {
    use std::cell::Cell;
    use std::ffi::{CStr, CString};

    use pgrx::pg_sys;
    use serde_json::json;

    use super::ErrorCode;

    thread_local! {
        /// The retry delay of the last error raised with one, for the hook to put in a header.
        static RETRY_AFTER: Cell<Option<(ErrorCode, i64)>> = const { Cell::new(None) };
    }
    static mut PREVIOUS_HOOK: pg_sys::emit_log_hook_type = None;

    pub(super) fn remember_retry_after(code: ErrorCode, seconds: Option<i64>) {
        RETRY_AFTER.with(|r| r.set(seconds.map(|s| (code, s))));
    }

    pub fn register() {
        // SAFETY: _PG_init runs once per backend, before any error is reported through us.
        unsafe {
            PREVIOUS_HOOK = pg_sys::emit_log_hook;
            pg_sys::emit_log_hook = Some(emit_log_hook);
        }
    }

    /// Postgres calls this as it sends an error that nobody caught. It must not fail:
    /// anything unexpected leaves the error as it was.
    unsafe extern "C-unwind" fn emit_log_hook(edata: *mut pg_sys::ErrorData) {
        if !edata.is_null() {
            let _ = std::panic::catch_unwind(|| unsafe { rewrite_for_postgrest(&mut *edata) });
        }
        if let Some(previous) = unsafe { PREVIOUS_HOOK } {
            unsafe { previous(edata) };
        }
    }

    fn text(ptr: *const std::os::raw::c_char) -> Option<String> {
        (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
    }

    /// The error as PostgREST's `raise sqlstate 'PGRST'` wants it: the body in the
    /// message, the status and headers in the detail.
    pub fn postgrest_form(code: ErrorCode, message: &str, detail: Option<&str>, hint: Option<&str>, retry_after: Option<i64>) -> (String, String) {
        let body = json!({"code": code.as_str(), "message": message, "details": detail, "hint": hint});
        // PostgREST requires `headers`, if only empty.
        let headers = match retry_after {
            Some(seconds) => json!({"Retry-After": seconds.to_string()}),
            None => json!({}),
        };
        let response = json!({"status": code.http_status(), "headers": headers});
        (body.to_string(), response.to_string())
    }

    unsafe fn rewrite_for_postgrest(edata: &mut pg_sys::ErrorData) {
        // ERROR only: a FATAL or PANIC ends the connection and goes out as it is.
        if edata.elevel != pgrx::PgLogLevel::ERROR as i32 || crate::core::settings::placeholder_text(c"request.method").is_none() {
            return;
        }
        let Some(message) = text(edata.message) else { return };
        let Some(code) = message.split_once(':').and_then(|(c, _)| ErrorCode::parse(c)) else { return };
        if edata.sqlerrcode != code.sqlstate() as i32 {
            return;
        }
        let retry_after = RETRY_AFTER.with(|r| r.take()).filter(|(c, _)| *c == code).map(|(_, s)| s);
        let (body, response) =
            postgrest_form(code, &message, text(edata.detail).as_deref(), text(edata.hint).as_deref(), retry_after);
        let (Ok(body), Ok(response)) = (CString::new(body), CString::new(response)) else { return };
        let (Some(body), Some(response)) = (unsafe { error_context_copy(&body) }, unsafe { error_context_copy(&response) })
        else {
            return;
        };
        edata.message = body;
        edata.detail = response;
        edata.hint = std::ptr::null_mut();
        edata.sqlerrcode = postgrest_sqlstate();
    }

    /// A copy in ErrorContext, or None when memory is short: while an error is being
    /// sent nothing may raise another (MCXT_ALLOC_NO_OOM returns NULL instead).
    unsafe fn error_context_copy(s: &CStr) -> Option<*mut std::os::raw::c_char> {
        let bytes = s.to_bytes_with_nul();
        let p = unsafe {
            pg_sys::MemoryContextAllocExtended(pg_sys::ErrorContext, bytes.len(), pg_sys::MCXT_ALLOC_NO_OOM as i32)
        } as *mut u8;
        if p.is_null() {
            return None;
        }
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        Some(p.cast())
    }

    /// MAKE_SQLSTATE('P','G','R','S','T').
    fn postgrest_sqlstate() -> i32 {
        b"PGRST".iter().enumerate().map(|(i, c)| (((c - b'0') & 0x3f) as i32) << (6 * i)).sum()
    }
}

/// Lets SQL-language parts of the extension (triggers, wrappers) raise the same
/// errors with the same SQLSTATEs as the Rust parts.
#[pg_extern(volatile, parallel_safe, name = "raise_error")]
fn raise_error(
    code: &str,
    message: &str,
    detail: default!(Option<&str>, "NULL"),
    hint: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let Some(code) = ErrorCode::parse(code) else {
        return Err(AuthError::new(ErrorCode::UnknownErrorCode, format!("{code:?} is not an auth_ext error code"))
            .into());
    };
    let mut e = AuthError::new(code, message);
    e.detail = detail.map(str::to_owned);
    e.hint = hint.map(str::to_owned);
    Err(e.into())
}

/// The error table, for documentation and for clients that map codes to messages.
#[pg_extern(immutable, parallel_safe)]
fn error_codes() -> TableIterator<
    'static,
    (
        name!(code, &'static str),
        name!(sqlstate, String),
        name!(http_status, i32),
        name!(description, &'static str),
    ),
> {
    TableIterator::new(ErrorCode::ALL.iter().map(|c| {
        (c.as_str(), sqlstate_text(c.sqlstate()), c.http_status(), c.description())
    }))
}

/// The five-character SQLSTATE of a pgrx error code (Postgres packs it six bits a character).
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let mut packed = code as u32;
    (0..5)
        .map(|_| {
            let c = ((packed & 0x3f) as u8 + b'0') as char;
            packed >>= 6;
            c
        })
        .collect()
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    #[pg_test]
    fn sqlstates_are_the_documented_ones() {
        let cases = [
            (ErrorCode::BadJwt, "28000", 403),
            (ErrorCode::IdentityAlreadyExists, "23505", 422),
            (ErrorCode::ValidationFailed, "22023", 400),
        ];
        for (code, sqlstate, http) in cases {
            assert_eq!(sqlstate_text(code.sqlstate()), sqlstate, "{code:?}");
            assert_eq!(code.http_status(), http, "{code:?}");
        }
    }

    #[pg_test]
    fn codes_round_trip_through_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[pg_test(error = "identity_already_exists: taken")]
    fn raise_error_uses_the_code_as_message_prefix() {
        Spi::run("select auth.raise_error('identity_already_exists', 'taken')").unwrap();
    }

    #[pg_test(error = "unknown_error_code: \"nope\" is not an auth_ext error code")]
    fn raise_error_refuses_unknown_codes() {
        Spi::run("select auth.raise_error('nope', 'x')").unwrap();
    }
}
