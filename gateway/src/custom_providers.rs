//! Supabase Auth's `/admin/custom-providers` (custom_oauth_admin.go), over the extension's
//! providers (auth.admin_*_oauth_provider): GoTrue's `custom:` OAuth 2 and OpenID
//! providers, in GoTrue's field names. GitHub, Feishu, WeChat and named providers are
//! managed in SQL; this lists only the `custom:` ones, as GoTrue does.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::request::{ok, Answer, Input, Needs};
use crate::sql::ApiError;

fn invalid(message: &str) -> ApiError {
    ApiError::new(400, "validation_failed", message)
}

/// The `custom:` identifier a path names (custom_oauth_admin.go:117-123).
fn identifier(input: &Input, id: &str) -> Result<String, Response> {
    if id.is_empty() {
        return Err(input.fail(invalid("identifier is required")));
    }
    if !id.starts_with("custom:") {
        return Err(input.fail(invalid(&format!("identifier must start with 'custom:' prefix, e.g. 'custom:{id}'"))));
    }
    Ok(id.to_owned())
}

/// A provider in GoTrue's shape (models/custom_oauth_provider.go) from ours.
fn gotrue_shape(p: &Value) -> Value {
    let oidc = p["kind"] == "oidc";
    let scopes: Vec<&str> = p["scopes"].as_str().unwrap_or_default().split([' ', ',']).filter(|s| !s.is_empty()).collect();
    let mut out = json!({
        "provider_type": if oidc { "oidc" } else { "oauth2" },
        "identifier": p["provider"],
        "name": p["name"].as_str().unwrap_or_default(),
        "client_id": p["client_id"],
        "acceptable_client_ids": p["client_ids"],
        "scopes": scopes,
        // Towards an OpenID provider the gateway always uses PKCE.
        "pkce_enabled": oidc,
        "attribute_mapping": {},
        "custom_claims_allowlist": [],
        "authorization_params": {},
        "enabled": p["enabled"],
        "email_optional": p["email_optional"],
        "skip_nonce_check": false,
        "created_at": p["created_at"],
        "updated_at": p["updated_at"],
    });
    for (ours, theirs) in [("issuer", "issuer"), ("authorization_url", "authorization_url"), ("token_url", "token_url"), ("userinfo_url", "userinfo_url"), ("jwks_url", "jwks_uri")] {
        if let Some(v) = p[ours].as_str() {
            out[theirs] = json!(v);
        }
    }
    out
}

/// Our config from GoTrue's parameters; `create` checks what GoTrue requires of a new
/// provider (custom_oauth_admin.go:415-455).
fn our_config(input: &Input, create: bool) -> Result<Value, Response> {
    let body = &input.body;
    let text = |name: &str| body[name].as_str().filter(|v| !v.is_empty());
    let mut config = Map::new();
    if create {
        let kind = text("provider_type").filter(|k| matches!(*k, "oauth2" | "oidc"));
        let kind = kind.ok_or_else(|| input.fail(invalid("provider_type must be either 'oauth2' or 'oidc'")))?;
        let id = identifier(input, text("identifier").unwrap_or_default())?;
        for (field, message) in [("name", "name is required"), ("client_id", "client_id is required"), ("client_secret", "client_secret is required")] {
            if text(field).is_none() {
                return Err(input.fail(invalid(message)));
            }
        }
        match kind {
            "oidc" if text("issuer").is_none() => return Err(input.fail(invalid("issuer is required for OIDC providers"))),
            "oauth2" => {
                for field in ["authorization_url", "token_url", "userinfo_url"] {
                    if text(field).is_none() {
                        return Err(input.fail(invalid(&format!("{field} is required for OAuth2 providers"))));
                    }
                }
            }
            _ => {}
        }
        config.insert("provider".into(), json!(id));
        config.insert("kind".into(), json!(kind));
    }
    for (theirs, ours) in [
        ("name", "name"), ("client_id", "client_id"), ("client_secret", "client_secret"), ("issuer", "issuer"),
        ("authorization_url", "authorization_url"), ("token_url", "token_url"), ("userinfo_url", "userinfo_url"), ("jwks_uri", "jwks_url"),
    ] {
        if let Some(v) = text(theirs) {
            config.insert(ours.into(), json!(v));
        }
    }
    for (theirs, ours) in [("enabled", "enabled"), ("email_optional", "email_optional")] {
        if let Some(v) = body[theirs].as_bool() {
            config.insert(ours.into(), json!(v));
        }
    }
    if let Some(ids) = body["acceptable_client_ids"].as_array() {
        config.insert("client_ids".into(), json!(ids.iter().filter_map(Value::as_str).collect::<Vec<_>>()));
    }
    if let Some(scopes) = body["scopes"].as_array() {
        config.insert("scopes".into(), json!(scopes.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")));
    }
    Ok(Value::Object(config))
}

handler!(
/// `GET /admin/custom-providers[?type=oauth2|oidc]`: `{"providers": [...]}`.
list(input) {
    let kind = input.query.get("type").cloned();
    if kind.as_deref().is_some_and(|k| !matches!(k, "oauth2" | "oidc")) {
        return Err(input.fail(invalid("type must be either 'oauth2' or 'oidc'")));
    }
    let all = input.call(Needs::Admin, "select auth.admin_list_oauth_providers()", &[]).await?;
    let providers: Vec<Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["provider"].as_str().is_some_and(|n| n.starts_with("custom:")))
        .map(gotrue_shape)
        .filter(|p| kind.as_deref().is_none_or(|k| p["provider_type"] == k))
        .collect();
    ok(json!({ "providers": providers }))
});

handler!(
/// `POST /admin/custom-providers`: 201 with the provider.
create(input) {
    let config = our_config(&input, true)?;
    let made = input.call(Needs::Admin, "select auth.admin_create_oauth_provider($1)", &[&config]).await?;
    Ok((StatusCode::CREATED, axum::Json(gotrue_shape(&made))).into_response())
});

handler!(get_one(input, id: Path<String>) {
    let id = identifier(&input, &id.0)?;
    let all = input.call(Needs::Admin, "select auth.admin_list_oauth_providers()", &[]).await?;
    match all.as_array().into_iter().flatten().find(|p| p["provider"] == id.as_str()) {
        Some(p) => ok(gotrue_shape(p)),
        None => Err(input.fail(ApiError::new(404, "custom_provider_not_found", "Custom OAuth provider not found"))),
    }
});

handler!(update(input, id: Path<String>) {
    let id = identifier(&input, &id.0)?;
    let config = our_config(&input, false)?;
    ok(gotrue_shape(&input.call(Needs::Admin, "select auth.admin_update_oauth_provider($1, $2)", &[&id, &config]).await?))
});

handler!(
/// `DELETE /admin/custom-providers/{identifier}`: 204.
delete(input, id: Path<String>) {
    let id = identifier(&input, &id.0)?;
    input.call(Needs::Admin, "select auth.admin_delete_oauth_provider($1)", &[&id]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
});
