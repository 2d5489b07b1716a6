//! Identities of a user: linking one that the application's server verified with its
//! provider (which makes an anonymous user permanent), and unlinking one, never the last
//! way to sign in.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::core::{db, roles, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::sessions::current::current_user_at_aal2;
use crate::users::{self, pg_uuid};

/// Links an identity that the application's server verified with the provider to the
/// signed-in user (or, for service_role, to `user_id`). An identity that belongs to
/// another user is `identity_already_exists`: nothing moves silently. Linking makes an
/// anonymous user permanent. Returns the user.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn link_identity(
    provider: &str,
    provider_id: &str,
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    user_id: default!(Option<pgrx::Uuid>, "NULL"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<pgrx::JsonB, ErrorReport> {
    // Linking to the caller's own account is an account change; service_role naming a
    // user acts as the application's server.
    let link = || link_identity_as(provider, provider_id, data, user_id);
    if user_id.is_none() { roles::for_request(fcinfo, link) } else { roles::as_extension(link) }
}

fn link_identity_as(
    provider: &str,
    provider_id: &str,
    data: Option<pgrx::JsonB>,
    user_id: Option<pgrx::Uuid>,
) -> Result<pgrx::JsonB, ErrorReport> {
    let user_id = match user_id {
        Some(id) if roles::acting_role_has(c"service_role") => uuid::Uuid::from_bytes(*id.as_bytes()),
        Some(_) => {
            return Err(AuthError::new(ErrorCode::NoAuthorization, "only service_role links identities for another user")
                .into())
        }
        None => {
            manual_linking_enabled()?;
            current_user_at_aal2("link an identity")?.0
        }
    };
    let provider = users::check_identity(provider, provider_id)?;
    let mut identity_data = users::metadata(data.map(|d| d.0), "data")?;
    identity_data["sub"] = json!(provider_id);
    identity_data["provider"] = json!(provider);
    let found: Option<bool> = db::json_row(
        "select to_jsonb(true) from auth.live_users where id = $1 for no key update",
        &[pg_uuid(&user_id).into()],
    )?;
    if found.is_none() {
        return Err(AuthError::new(ErrorCode::UserNotFound, "User not found").into());
    }
    db::run(
        "select auth.insert_identity($1, $2, $3, $4)",
        &[pg_uuid(&user_id).into(), provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data)],
    )?;
    db::run(
        "with linked as (
             update auth.user_identities set identity_data = $4 where provider = $2 and provider_id = $3 returning user_id)
         insert into auth.audit_log_entries (actor_id, action, payload)
         values ($1, 'identity_linked', jsonb_build_object('provider', $2::text, 'provider_id', $3::text))",
        &[pg_uuid(&user_id).into(), provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data)],
    )?;
    db::run("select auth.become_permanent($1, $2)", &[pg_uuid(&user_id).into(), provider.as_str().into()])?;
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}

/// Removes one of the signed-in user's identities, never the last way to sign in.
/// Unlinking the email or phone identity clears that address. Returns the user.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn unlink_identity(identity_id: pgrx::Uuid, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    roles::for_request(fcinfo, || unlink_own_identity(identity_id))
}

/// A user links and unlinks identities only where the operator allows it, as Supabase
/// Auth's manual linking (off by default there too).
fn manual_linking_enabled() -> AuthResult<()> {
    if !settings::MANUAL_LINKING_ENABLED.get() {
        return Err(AuthError::new(ErrorCode::ManualLinkingDisabled, "Manual linking is disabled")
            .hint("A superuser can allow it: alter database ... set auth_ext.manual_linking_enabled = on"));
    }
    Ok(())
}

fn unlink_own_identity(identity_id: pgrx::Uuid) -> Result<pgrx::JsonB, ErrorReport> {
    manual_linking_enabled()?;
    let (user_id, _) = current_user_at_aal2("unlink an identity")?;
    #[derive(Deserialize)]
    struct Target {
        provider: Option<String>,
        count: i64,
        email_confirmed: bool,
    }
    // Lock the user first: concurrent unlinks of two identities cannot both pass the count.
    let target: Target = db::json_row(
        "select jsonb_build_object(
             'provider', (select provider from auth.user_identities where id = $2 and user_id = $1),
             'count', (select count(*) from auth.user_identities where user_id = $1),
             'email_confirmed', email_confirmed_at is not null)
         from auth.users where id = $1 for no key update",
        &[pg_uuid(&user_id).into(), identity_id.into()],
    )?
    .ok_or_else(|| AuthError::new(ErrorCode::UserNotFound, "User not found"))?;
    let Some(provider) = target.provider else {
        return Err(AuthError::new(ErrorCode::IdentityNotFound, "the user has no identity with that id").into());
    };
    // With secure email change on, a confirmed email changes only when the current
    // address confirms: removing it by unlinking would skip that.
    if provider == "email" && settings::SECURE_EMAIL_CHANGE.get() && target.email_confirmed {
        return Err(AuthError::new(ErrorCode::EmailIdentityNotDeletable, "a confirmed email cannot be unlinked")
            .detail("auth_ext.secure_email_change is on: change the address with update_user, which the current address confirms")
            .into());
    }
    if target.count <= 1 {
        return Err(AuthError::new(ErrorCode::SingleIdentityNotDeletable, "the user's last identity cannot be unlinked")
            .hint("Link another identity first.")
            .into());
    }
    db::run(
        "with unlinked as (delete from auth.user_identities where id = $2 returning provider, provider_id),
         cleared as (
             update auth.users set
                 email = case when $3 = 'email' then null else email end,
                 email_confirmed_at = case when $3 = 'email' then null else email_confirmed_at end,
                 phone = case when $3 = 'phone' then null else phone end,
                 phone_confirmed_at = case when $3 = 'phone' then null else phone_confirmed_at end,
                 raw_app_meta_data = raw_app_meta_data || jsonb_build_object('providers',
                     coalesce(raw_app_meta_data->'providers', '[]') - $3)
             where id = $1)
         insert into auth.audit_log_entries (actor_id, action, payload)
         select $1, 'identity_unlinked', jsonb_build_object('provider', provider, 'provider_id', provider_id) from unlinked",
        &[pg_uuid(&user_id).into(), identity_id.into(), provider.as_str().into()],
    )?;
    Ok(pgrx::JsonB(users::user_json(&user_id)?))
}
