//! Every hook call: functions an application names in a setting, run as their owner,
//! never with the extension's rights (`auth.call_hook` does the SQL side).


use pgrx::pg_sys;

use crate::core::{db, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

use serde_json::{json, Map, Value};


use crate::core::roles;
use crate::tokens::jwt;


/// Calls a hook function (named by a setting: `schema.function` or with its signature)
/// as its owner. With `wrap_errors` anything it raises becomes `hook_failed`; without,
/// its own error reaches the caller (a before-sign-in hook refusing).
pub fn call_hook(hook: &str, event: &serde_json::Value, wrap_errors: bool) -> AuthResult<Option<serde_json::Value>> {
    let owner: Option<pg_sys::Oid> = db::read_value(
        "select p.proowner from pg_catalog.pg_proc p where p.oid = auth.hook_function($1)",
        &[hook.into()],
    )?;
    roles::as_code_owner(owner.unwrap_or(pg_sys::InvalidOid), || {
        db::json_row("select auth.call_hook($1, $2, $3)", &[hook.into(), db::jsonb_arg(event), wrap_errors.into()])
    })
}

/// Claims a hook may change but never remove (Supabase's required set).
const REQUIRED_CLAIMS: &[&str] =
    &["iss", "aud", "exp", "iat", "sub", "email", "phone", "role", "aal", "session_id", "is_anonymous"];
/// Claims a hook may not change: they say whose token this is.
/// Nor the assurance level: a hook that could raise it would make a password alone pass
/// an RLS policy that demands aal2.
const FIXED_CLAIMS: &[&str] = &["sub", "session_id", "iss", "aal"];

/// Runs `auth_ext.custom_access_token_hook`, when set, on the claims about to be signed.
pub fn apply_hook(user_id: &str, claims: Map<String, Value>, method: &str) -> AuthResult<Map<String, Value>> {
    let Some(hook) = settings::text_string(&settings::CUSTOM_ACCESS_TOKEN_HOOK) else {
        return Ok(claims);
    };
    let event = json!({"user_id": user_id, "claims": claims, "authentication_method": method});
    // Someone else's code: it runs with its owner's rights, never the extension's.
    let output = call_hook(&hook, &event, true)?;
    let hook_error = |why: String| AuthError::new(ErrorCode::HookFailed, "the custom access token hook returned invalid claims").detail(why);
    let Some(Value::Object(mut output)) = output else {
        return Err(hook_error("it must return a JSON object with a claims object".into()));
    };
    let Some(Value::Object(new_claims)) = output.remove("claims") else {
        return Err(hook_error("its result has no claims object".into()));
    };
    for name in REQUIRED_CLAIMS {
        if !new_claims.contains_key(*name) {
            return Err(hook_error(format!("it removed the required claim {name}")));
        }
    }
    for name in FIXED_CLAIMS {
        if new_claims.get(*name) != claims.get(*name) {
            return Err(hook_error(format!("it changed the {name} claim, which identifies the token")));
        }
    }
    // A hook may shorten a token's life, never lengthen it, and may not grant a role.
    match (new_claims.get("exp").and_then(Value::as_i64), claims.get("exp").and_then(Value::as_i64)) {
        (Some(new_exp), Some(exp)) if new_exp <= exp => {}
        _ => return Err(hook_error("exp must be a number no later than the configured lifetime allows".into())),
    }
    if new_claims.get("iat") != claims.get("iat") {
        return Err(hook_error("it changed the iat claim".into()));
    }
    let role = new_claims.get("role").and_then(Value::as_str).unwrap_or_default();
    if new_claims.get("role") != claims.get("role") {
        jwt::check_token_role(role).map_err(|e| hook_error(e.message))?;
    }
    Ok(new_claims)
}

/// Calls the hook function a setting names, if set, as its owner. Errors it raises
/// reach the caller unchanged: raising is how a before-create hook refuses.
pub fn run_app_hook(setting: &'static pgrx::guc::GucSetting<Option<std::ffi::CString>>, event: Value) -> AuthResult<()> {
    if let Some(hook) = settings::text_string(setting) {
        call_hook(&hook, &event, false)?;
    }
    Ok(())
}
