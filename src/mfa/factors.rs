//! A user's factors: enrolling (`auth.mfa_enroll`), removing (`auth.mfa_unenroll`), and
//! the admin's view (`auth.admin_list_factors`, `auth.admin_delete_factor`).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, db, roles, settings};
use crate::mfa::totp;
use crate::sessions::current::{current_user, requires_aal2};
use crate::users::{self, pg_uuid};

/// Unverified factors no challenge was made for, removed at the next enrollment after
/// this long (GoTrue's MFA_FACTOR_EXPIRY_DURATION).
const UNVERIFIED_FACTOR_LIFETIME_SECS: i32 = 300;

/// A factor of the signed-in user, as the flows read it.
#[derive(Debug, Deserialize)]
pub struct Factor {
    pub id: String,
    pub factor_type: String,
    pub status: String,
    pub secret: Option<String>,
    pub phone: Option<String>,
    pub last_used_step: Option<i64>,
}

pub fn not_found() -> AuthError {
    AuthError::new(ErrorCode::MfaFactorNotFound, "Factor not found")
}

/// The signed-in user and session, refusing anonymous users, as Supabase Auth's
/// requireNotAnonymous does for every MFA call (auth.go:44-51).
pub fn signed_in_user() -> AuthResult<(uuid::Uuid, uuid::Uuid)> {
    let (user, session) = current_user()?;
    let anonymous: Option<bool> = db::read_value("select is_anonymous from auth.users where id = $1", &[pg_uuid(&user).into()])?;
    if anonymous == Some(true) {
        return Err(AuthError::new(ErrorCode::NoAuthorization, "Anonymous user not allowed to perform these actions"));
    }
    Ok((user, session))
}

/// The user's factor `id`, locked for the rest of the call (only the user's own calls
/// lock it).
pub fn own_factor(user: &uuid::Uuid, id: pgrx::Uuid) -> AuthResult<Factor> {
    db::json_row(
        "select to_jsonb(f) from auth.mfa_factors f where id = $1 and user_id = $2 for update",
        &[id.into(), pg_uuid(user).into()],
    )?
    .ok_or_else(not_found)
}

/// Adds a factor to the signed-in user: `totp` answers its secret, otpauth:// URI and QR
/// code (SVG) for an authenticator app; `phone` the number codes will go to. It stays
/// `unverified` until a code of it is verified (auth.mfa_verify).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn mfa_enroll(
    factor_type: Option<&str>,
    friendly_name: default!(Option<&str>, "NULL"),
    issuer: default!(Option<&str>, "NULL"),
    phone: default!(Option<&str>, "NULL"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || enroll(factor_type.unwrap_or_default(), friendly_name, issuer, phone).map(pgrx::JsonB).map_err(ErrorReport::from))
}

fn enroll(factor_type: &str, friendly_name: Option<&str>, issuer: Option<&str>, phone: Option<&str>) -> AuthResult<Value> {
    let (user, session) = signed_in_user()?;
    // mfa.go:306-340, in its order.
    let phone = match factor_type {
        "phone" if !settings::MFA_PHONE_ENROLL_ENABLED.get() => {
            return Err(AuthError::new(ErrorCode::MfaPhoneEnrollNotEnabled, "MFA enroll is disabled for Phone"))
        }
        "totp" if !settings::MFA_TOTP_ENROLL_ENABLED.get() => {
            return Err(AuthError::new(ErrorCode::MfaTotpEnrollNotEnabled, "MFA enroll is disabled for TOTP"))
        }
        "phone" => Some(enrollable_phone(&user, phone)?),
        "totp" => None,
        _ => return Err(AuthError::new(ErrorCode::ValidationFailed, "factor_type needs to be totp, phone, or webauthn")),
    };
    if issuer.is_some_and(|i| i.chars().count() > 256) {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "issuer is at most 256 characters"));
    }
    let name = friendly_name.unwrap_or_default();
    if name.chars().count() > 256 {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "friendly_name is at most 256 characters"));
    }
    db::lock(&format!("mfa_factors:{user}"))?;
    // Abandoned enrollments make way (GoTrue's validateFactors), in a statement of their own
    // so that the counts below see it.
    db::run(
        "delete from auth.mfa_factors f where f.user_id = $1 and f.status = 'unverified'
           and f.created_at < now() - make_interval(secs => $2)
           and not exists (select from auth.mfa_challenges c where c.factor_id = f.id)",
        &[pg_uuid(&user).into(), UNVERIFIED_FACTOR_LIFETIME_SECS.into()],
    )?;
    let counts: Value = db::json_row(
        "select jsonb_build_object(
             'named', exists (select from auth.mfa_factors where user_id = $1 and coalesce(friendly_name, '') = $2),
             'total', (select count(*) from auth.mfa_factors where user_id = $1))",
        &[pg_uuid(&user).into(), name.into()],
    )?
    .unwrap_or_default();
    if counts["named"] == true {
        return Err(AuthError::new(ErrorCode::MfaFactorNameConflict, format!("A factor with the friendly name {name:?} for this user already exists")));
    }
    if counts["total"].as_i64().unwrap_or(0) >= i64::from(settings::MFA_MAX_ENROLLED_FACTORS.get()) {
        return Err(AuthError::new(ErrorCode::TooManyEnrolledMfaFactors, "Maximum number of verified factors reached, unenroll to continue"));
    }
    if requires_aal2(&user, &session)? {
        return Err(AuthError::new(ErrorCode::InsufficientAal, "AAL2 required to enroll a new factor"));
    }
    let secret = phone.is_none().then(|| totp::base32(&crypto::random_bytes::<20>()));
    let id: Option<String> = db::json_row(
        "insert into auth.mfa_factors (user_id, friendly_name, factor_type, secret, phone)
         values ($1, nullif($2, ''), $3, $4, $5) returning to_jsonb(id)",
        &[pg_uuid(&user).into(), name.into(), factor_type.into(), secret.clone().into(), phone.clone().into()],
    )?;
    let mut answer = json!({"id": id, "type": factor_type, "friendly_name": name});
    match (secret, phone) {
        (Some(secret), _) => {
            let issuer = issuer.filter(|i| !i.is_empty()).map(str::to_owned).unwrap_or_else(site_host);
            let account: Option<String> = db::read_value(
                "select coalesce(nullif(email, ''), nullif(phone, ''), id::text) from auth.users where id = $1",
                &[pg_uuid(&user).into()],
            )?;
            let uri = totp::uri(&issuer, &account.unwrap_or_default(), &secret);
            let qr = totp::qr_svg(&uri).ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "Error generating QR Code"))?;
            answer["totp"] = json!({"qr_code": qr, "secret": secret, "uri": uri});
        }
        (None, Some(phone)) => answer["phone"] = json!(format!("+{phone}")),
        (None, None) => {}
    }
    Ok(answer)
}

/// The issuer apps show beside a TOTP code: the site's host, as Supabase Auth names it.
fn site_host() -> String {
    let site = settings::text_string(&settings::SITE_URL).unwrap_or_default();
    let host = site.split("://").nth(1).unwrap_or(&site).split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() { "auth_ext".into() } else { host.to_owned() }
}

/// A phone factor's number: E.164, and not a verified factor's already (mfa.go:137-196).
fn enrollable_phone(user: &uuid::Uuid, phone: Option<&str>) -> AuthResult<String> {
    let phone = phone.filter(|p| !p.trim().is_empty())
        .ok_or_else(|| AuthError::new(ErrorCode::ValidationFailed, "Phone number required to enroll Phone factor"))?;
    let number = users::normalize_address(phone, true)?;
    // E.164: at most 15 digits (mfa.go's ^[1-9][0-9]{1,14}$).
    if number.is_empty() || number.len() > 15 {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Invalid phone number format (E.164 required)"));
    }
    // Written, so not a read: an unverified factor of the same number makes way.
    let verified: Option<bool> = db::json_row(
        "with gone as (delete from auth.mfa_factors where user_id = $1 and phone = $2 and status = 'unverified')
         select to_jsonb(exists (select from auth.mfa_factors where user_id = $1 and phone = $2 and status = 'verified'))",
        &[pg_uuid(user).into(), number.as_str().into()],
    )?;
    if verified == Some(true) {
        return Err(AuthError::new(ErrorCode::MfaVerifiedFactorExists, "A verified phone factor already exists, unenroll the existing factor to continue"));
    }
    Ok(number)
}

/// Removes one of the signed-in user's factors; a verified one only from an aal2
/// session. Sessions it raised to aal2 fall back to aal1. Answers `{"id"}`.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn mfa_unenroll(factor_id: pgrx::Uuid, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || {
        let (user, session) = signed_in_user()?;
        let factor = own_factor(&user, factor_id)?;
        if factor.status == "verified" && requires_aal2(&user, &session)? {
            return Err(AuthError::new(ErrorCode::InsufficientAal, "AAL2 required to unenroll verified factor").into());
        }
        remove(&user, &factor.id)?;
        Ok(pgrx::JsonB(json!({"id": factor.id})))
    })
}

/// Deletes a factor and lowers the sessions it raised (mfa.go:1025-1076, factor.go:415-430).
fn remove(user: &uuid::Uuid, factor_id: &str) -> AuthResult<Option<Value>> {
    db::json_row(
        "with gone as (delete from auth.mfa_factors where id = $2::text::uuid and user_id = $1 returning *),
         lowered as (
             update auth.sessions s set aal = 'aal1', factor_id = null,
                 amr = coalesce((select jsonb_agg(e) from jsonb_array_elements(s.amr) e
                                 where e->>'method' <> (select case factor_type when 'totp' then 'totp' else 'mfa/phone' end from gone)), '[]')
             where s.user_id = $1 and s.factor_id = $2::text::uuid)
         select auth.factor_json(g) from gone g",
        &[pg_uuid(user).into(), factor_id.into()],
    )
}

/// A user's factors (service_role), as GET /admin/users/{id}/factors lists them.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_list_factors(user_id: pgrx::Uuid) -> Result<pgrx::JsonB, ErrorReport> {
    let user = uuid::Uuid::from_bytes(*user_id.as_bytes());
    users::user_json(&user)?;
    let listed: Option<Value> = db::json_row(
        "select coalesce(jsonb_agg(auth.factor_json(f) order by f.created_at, f.id), '[]') from auth.mfa_factors f where f.user_id = $1",
        &[pg_uuid(&user).into()],
    )?;
    Ok(pgrx::JsonB(listed.unwrap_or(json!([]))))
}

/// Removes a user's factor (service_role): a lost phone or authenticator. Answers the
/// factor removed.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_delete_factor(user_id: pgrx::Uuid, factor_id: pgrx::Uuid) -> Result<pgrx::JsonB, ErrorReport> {
    let user = uuid::Uuid::from_bytes(*user_id.as_bytes());
    users::user_json(&user)?;
    let id = uuid::Uuid::from_bytes(*factor_id.as_bytes()).to_string();
    Ok(pgrx::JsonB(remove(&user, &id)?.ok_or_else(not_found)?))
}
