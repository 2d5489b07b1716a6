//! Supabase Auth's shapes that the endpoints answer in: the status it gives a code on one
//! endpoint where it differs from the error table's, and how its redirects encode their fields.

use axum::http::StatusCode;

use crate::sql::ApiError;

/// Where Supabase Auth answers a code (or one message of it) with another status than the
/// error table gives it (the status it answers that code with elsewhere), by endpoint.
const STATUS_BY_ENDPOINT: &[(&str, &str, u16)] = &[
    // verify.go:74-77: the one validation error that is 422 there.
    ("/verify", "validation_failed: Invalid email format", 422),
    // internal/tokens/service.go:228: a refresh's missing session is 400.
    ("/token", "session_not_found", 400),
    // reauthenticate.go:31-36.
    ("/reauthenticate", "email_not_confirmed", 422),
    ("/reauthenticate", "phone_not_confirmed", 422),
    // signup.go:142-152 and otp.go:107.
    ("/signup", "email_provider_disabled", 400),
    ("/signup", "phone_provider_disabled", 400),
    ("/otp", "phone_provider_disabled", 400),
    // mfa.go and auth.go:44-51: MFA's own statuses ("*" is one path segment).
    ("/factors", "insufficient_aal", 403),
    ("/factors/*", "insufficient_aal", 422),
    ("/factors/*/verify", "mfa_factor_not_found: MFA factor with the provided challenge ID not found", 422),
    ("/factors", "no_authorization: Anonymous user not allowed to perform these actions", 403),
    ("/factors/*", "no_authorization: Anonymous user not allowed to perform these actions", 403),
    ("/factors/*/challenge", "no_authorization: Anonymous user not allowed to perform these actions", 403),
    ("/factors/*/verify", "no_authorization: Anonymous user not allowed to perform these actions", 403),
];

/// Whether `path` is `pattern`, where a `*` segment stands for any one segment.
fn path_is(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// What Supabase Auth's check of a user's access token answers (auth.go:20-42), on every
/// endpoint that acts for a signed-in user.
const STATUS_FOR_USERS: &[(&str, u16)] = &[("user_not_found", 403), ("user_banned", 403), ("session_expired", 403)];

/// GoTrue's status for an error of ours on this endpoint.
pub fn gotrue_status(path: &str, acts_for_user: bool, mut error: ApiError) -> ApiError {
    let code = error.code.as_str();
    let with_message = format!("{code}: {}", error.message);
    let status = STATUS_BY_ENDPOINT
        .iter()
        .find(|(endpoint, c, _)| path_is(endpoint, path) && (code == *c || with_message == *c))
        .map(|(_, _, status)| *status)
        .or_else(|| acts_for_user.then(|| STATUS_FOR_USERS.iter().find(|(c, _)| code == *c).map(|(_, s)| *s)).flatten());
    if let Some(status) = status {
        error.status = StatusCode::from_u16(status).unwrap_or(error.status);
    }
    error
}


/// Fields as Go's url.Values encodes them, which GoTrue's redirects use: keys sorted,
/// each value query-escaped (a space as `+`).
pub fn form(fields: &[(&str, String)]) -> String {
    let mut fields = fields.to_vec();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    fields.iter().map(|(k, v)| format!("{k}={}", auth_ext_http::query_escape(v))).collect::<Vec<_>>().join("&")
}

/// A redirect's fragment as GoTrue's: its fields and an empty `sb` (verify.go:483-514).
pub fn with_fragment(url: &str, fields: &[(&str, String)]) -> String {
    let base = url.split('#').next().unwrap_or(url);
    let mut fields = fields.to_vec();
    fields.push(("sb", String::new()));
    format!("{base}#{}", form(&fields))
}

pub fn with_query(url: &str, fields: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let owned: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{}", form(&owned));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// GoTrue's OAuth `error` for a failed request's status, as its redirects carry it
/// (errors.go:30-36); None where it has none.
pub fn oauth_error(status: u16) -> Option<&'static str> {
    match status {
        400 => Some("invalid_request"),
        401 => Some("unauthorized_client"),
        403 => Some("access_denied"),
        500 => Some("server_error"),
        503 => Some("temporarily_unavailable"),
        _ => None,
    }
}
