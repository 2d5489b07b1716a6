//! Sign-in with a custom identity provider's verified claims.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::json;

use crate::flows::gates;
use crate::core::{db, request};
use crate::sessions::open::create_session;
use crate::users::{self, NewUser, pg_uuid};

/// Signs in with an identity the application's server has verified with the provider
/// (Feishu, WeChat, ...): finds the user by (provider, provider_id) or creates user and
/// identity together, stores what the provider returned, and opens a session.
/// Concurrent first sign-ins of one identity end with one user.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_idp(
    provider: &str,
    provider_id: &str,
    data: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<pgrx::JsonB, ErrorReport> {
    let provider = users::check_identity(provider, provider_id)?;
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let identity_data = {
        let mut d = data.clone();
        d["sub"] = json!(provider_id);
        d["provider"] = json!(provider);
        d
    };
    // Serialises sign-ins of this one identity, so the first one creates it only once.
    db::lock(&format!("identity:{provider}:{provider_id}"))?;
    let existing: Option<String> = db::json_row(
        "with identity as (
             update auth.user_identities set identity_data = $3, last_sign_in_at = now()
             where provider = $1 and provider_id = $2
             returning user_id),
         profile as (
             update auth.users u set raw_user_meta_data = u.raw_user_meta_data || $4
             from identity i where u.id = i.user_id)
         select to_jsonb(user_id) from identity",
        &[provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data), db::jsonb_arg(&data)],
    )?;
    let user_id = match existing {
        Some(id) => users::parse_id(&id)?,
        None => {
            gates::signups_allowed()?;
            let user_id = users::create(&NewUser {
                user_metadata: data,
                app_metadata: users::provider_metadata(&provider),
                ..Default::default()
            })?;
            db::run(
                "select auth.insert_identity($1, $2, $3, $4)",
                &[pg_uuid(&user_id).into(), provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data)],
            )?;
            db::run(
                "update auth.user_identities set last_sign_in_at = now() where provider = $1 and provider_id = $2",
                &[provider.as_str().into(), provider_id.into()],
            )?;
            user_id
        }
    };
    Ok(pgrx::JsonB(create_session(&user_id, "oauth", &request::client())?))
}
