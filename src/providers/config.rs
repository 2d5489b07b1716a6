//! Managing providers (service_role): `auth.admin_create_oauth_provider(config)`,
//! `admin_update_oauth_provider(provider, config)`, `admin_delete_oauth_provider(provider)`
//! and `admin_list_oauth_providers()`. A provider's config never shows its client secret.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, db, settings};
use crate::providers::sealed;

/// What a config may say; absent fields keep their value on update (`client_secret: null`
/// removes the secret).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    provider: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    issuer: Option<String>,
    authorization_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    jwks_url: Option<String>,
    client_id: Option<String>,
    client_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    client_secret: Option<Option<String>>,
    scopes: Option<String>,
    email_optional: Option<bool>,
    id_claim: Option<String>,
    enabled: Option<bool>,
}

/// A field that is present (even as null) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn invalid(message: impl Into<String>) -> AuthError {
    AuthError::new(ErrorCode::ValidationFailed, message)
}

fn parse(config: Option<pgrx::JsonB>) -> AuthResult<Config> {
    let value = config.map(|c| c.0).unwrap_or(Value::Null);
    if !value.is_object() {
        return Err(invalid("the provider config must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| {
        invalid("invalid provider config").detail(e.to_string()).hint(
            "Known fields: provider, name, kind, issuer, authorization_url, token_url, userinfo_url, jwks_url, client_id, client_ids, client_secret, scopes, email_optional, id_claim, enabled.",
        )
    })
}

/// The name clients pass (`google`, `custom:acme`): lowercase letters, digits, `_` and
/// `-`, at most 41 characters, with `custom:` before it for a provider of one's own.
fn check_name(provider: &str) -> AuthResult<()> {
    let name = provider.strip_prefix("custom:").unwrap_or(provider);
    let ok = (1..=41).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(invalid("provider must be a lowercase name (letters, digits, _ and -), custom:name for one's own")
            .detail(format!("provider {:?}", crypto::truncate(provider, 64))));
    }
    Ok(())
}

/// The endpoints a kind's real provider publishes (each may be overridden), per its
/// documents: GitHub's OAuth apps, Feishu's web-app login (v2 token endpoint), WeChat's
/// website QR login.
fn default_endpoints(kind: &str) -> [Option<&'static str>; 3] {
    match kind {
        "github" => [
            Some("https://github.com/login/oauth/authorize"),
            Some("https://github.com/login/oauth/access_token"),
            Some("https://api.github.com/user"),
        ],
        "feishu" => [
            Some("https://accounts.feishu.cn/open-apis/authen/v1/authorize"),
            Some("https://open.feishu.cn/open-apis/authen/v2/oauth/token"),
            Some("https://open.feishu.cn/open-apis/authen/v1/user_info"),
        ],
        "wechat" => [
            Some("https://open.weixin.qq.com/connect/qrconnect"),
            Some("https://api.weixin.qq.com/sns/oauth2/access_token"),
            Some("https://api.weixin.qq.com/sns/userinfo"),
        ],
        _ => [None, None, None],
    }
}

/// An endpoint the gateway will call or send browsers to: https (plain http only with
/// auth_ext.provider_allow_http, for local test providers), no spaces, a host.
fn check_url(field: &str, url: &str) -> AuthResult<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|_| settings::PROVIDER_ALLOW_HTTP.get()));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) || host.is_none_or(str::is_empty) {
        return Err(invalid(format!("{field} must be an https:// URL"))
            .detail(format!("{field} {:?}", crypto::truncate(url, 100)))
            .hint("Plain http:// is taken only with auth_ext.provider_allow_http on (local test providers)."));
    }
    Ok(())
}

/// Checks each endpoint a JSON object names (`check_url`), as a discovery document's.
pub fn check_endpoints(urls: &Value) -> AuthResult<()> {
    for (field, url) in urls.as_object().into_iter().flatten() {
        if let Some(url) = url.as_str() {
            check_url(field, url)?;
        }
    }
    Ok(())
}

/// The row a config makes, over `current` (the stored row's fields, for an update).
fn merged(mut row: Map<String, Value>, c: Config) -> AuthResult<Map<String, Value>> {
    let mut set = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            row.insert(name.into(), v);
        }
    };
    set("kind", c.kind.map(Value::from));
    set("name", c.name.map(Value::from));
    set("issuer", c.issuer.map(Value::from));
    set("authorization_url", c.authorization_url.map(Value::from));
    set("token_url", c.token_url.map(Value::from));
    set("userinfo_url", c.userinfo_url.map(Value::from));
    set("jwks_url", c.jwks_url.map(Value::from));
    set("client_id", c.client_id.map(Value::from));
    set("extra_client_ids", c.client_ids.map(|ids| json!(ids)));
    set("scopes", c.scopes.map(Value::from));
    set("email_optional", c.email_optional.map(Value::from));
    set("id_claim", c.id_claim.map(Value::from));
    set("enabled", c.enabled.map(Value::from));
    let text = |row: &Map<String, Value>, name: &str| row.get(name).and_then(Value::as_str).map(str::to_owned);
    let kind = text(&row, "kind").ok_or_else(|| invalid("kind is required").hint("One of oidc, oauth2, github, feishu, wechat."))?;
    if !["oidc", "oauth2", "github", "feishu", "wechat"].contains(&kind.as_str()) {
        return Err(invalid("kind must be one of oidc, oauth2, github, feishu, wechat"));
    }
    let defaults = default_endpoints(&kind);
    for (field, default) in ["authorization_url", "token_url", "userinfo_url"].into_iter().zip(defaults) {
        if text(&row, field).is_none() {
            if let Some(default) = default {
                row.insert(field.into(), default.into());
            }
        }
    }
    // What a kind's users must grant for their email or their login at all: GitHub's
    // emails (as Supabase Auth asks), WeChat's website login.
    let default_scope = match kind.as_str() {
        "github" => Some("user:email"),
        "wechat" => Some("snsapi_login"),
        _ => None,
    };
    if let (Some(scope), true) = (default_scope, text(&row, "scopes").is_none_or(|s| s.is_empty())) {
        row.insert("scopes".into(), scope.into());
    }
    for field in ["issuer", "authorization_url", "token_url", "userinfo_url", "jwks_url"] {
        if let Some(url) = text(&row, field) {
            check_url(field, &url)?;
        }
    }
    let has = |field: &str| text(&row, field).is_some();
    match kind.as_str() {
        "oidc" if !has("issuer") && !(has("authorization_url") && has("token_url") && has("jwks_url")) => {
            return Err(invalid("an oidc provider needs its issuer (its endpoints are discovered from it), or authorization_url, token_url and jwks_url"))
        }
        "oauth2" if !(has("authorization_url") && has("token_url") && has("userinfo_url")) => {
            return Err(invalid("an oauth2 provider needs authorization_url, token_url and userinfo_url"))
        }
        _ => {}
    }
    match text(&row, "client_id") {
        Some(id) if !id.is_empty() && id.len() <= 512 => {}
        _ => return Err(invalid("client_id is required")),
    }
    if let Some(claim) = text(&row, "id_claim") {
        let allowed: &[&str] = match kind.as_str() {
            "feishu" => &["open_id", "union_id", "user_id"],
            "wechat" => &["unionid", "openid"],
            _ => &["sub", "id"],
        };
        if !allowed.contains(&claim.as_str()) {
            return Err(invalid(format!("id_claim must be one of {} for {kind}", allowed.join(", "))));
        }
    }
    Ok(row)
}

/// The sealed secret a config asks for: `None` to keep the stored one.
fn secret_change(provider: &str, secret: Option<Option<String>>) -> AuthResult<Option<Option<Vec<u8>>>> {
    match secret {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.is_empty() || s.len() > 4096 => Err(invalid("client_secret must be 1 to 4096 characters")),
        Some(Some(s)) => Ok(Some(Some(sealed::seal(provider, &s)?))),
    }
}

/// Writes the row (insert or update) and answers the provider as listed.
fn store(provider: &str, row: Map<String, Value>, secret: Option<Option<Vec<u8>>>, insert: bool) -> AuthResult<Value> {
    let sql = if insert {
        "insert into auth.oauth_providers as p (provider, name, kind, issuer, authorization_url, token_url, userinfo_url, jwks_url,
             client_id, extra_client_ids, scopes, email_optional, id_claim, enabled, client_secret)
         select $1, r.name, r.kind, r.issuer, r.authorization_url, r.token_url, r.userinfo_url, r.jwks_url, r.client_id,
                coalesce(r.extra_client_ids, '{}'), coalesce(r.scopes, ''), coalesce(r.email_optional, false), r.id_claim,
                coalesce(r.enabled, true), $4
         from jsonb_populate_record(null::auth.oauth_providers, $2) r
         on conflict (provider) do nothing
         returning auth.oauth_provider_json(p)"
    } else {
        "update auth.oauth_providers p set name = r.name, kind = r.kind, issuer = r.issuer, authorization_url = r.authorization_url,
             token_url = r.token_url, userinfo_url = r.userinfo_url, jwks_url = r.jwks_url, client_id = r.client_id,
             extra_client_ids = coalesce(r.extra_client_ids, '{}'), scopes = coalesce(r.scopes, ''),
             email_optional = coalesce(r.email_optional, false), id_claim = r.id_claim, enabled = coalesce(r.enabled, true),
             -- A secret goes only where it was given for: endpoints that change without it
             -- drop it (service_role could otherwise point token_url at itself and read it).
             client_secret = case when $3 then $4
                                  when (r.issuer, r.authorization_url, r.token_url, r.userinfo_url, r.jwks_url)
                                       is distinct from (p.issuer, p.authorization_url, p.token_url, p.userinfo_url, p.jwks_url)
                                      then null
                                  else p.client_secret end,
             -- Other endpoints may mean other keys.
             jwks = case when r.issuer is distinct from p.issuer or r.jwks_url is distinct from p.jwks_url then null else p.jwks end,
             updated_at = now()
         from jsonb_populate_record(null::auth.oauth_providers, $2) r
         where p.provider = $1
         returning auth.oauth_provider_json(p)"
    };
    let (change, sealed) = match secret {
        None => (false, None),
        Some(s) => (true, s),
    };
    let stored: Option<Value> = db::json_row(sql, &[provider.into(), db::jsonb_arg(&Value::Object(row)), change.into(), sealed.into()])?;
    stored.ok_or_else(|| {
        if insert {
            AuthError::new(ErrorCode::Conflict, "A custom OAuth provider with this identifier already exists")
                .detail(format!("provider {}", crypto::truncate(provider, 64)))
                .hint("Change it with auth.admin_update_oauth_provider.")
        } else {
            not_found(provider)
        }
    })
}

fn not_found(provider: &str) -> AuthError {
    AuthError::new(ErrorCode::ProviderNotFound, "Custom OAuth provider not found")
        .detail(format!("provider {}", crypto::truncate(provider, 64)))
}

/// Adds a provider. `config`: provider, kind, client_id, and what the kind needs
/// (README, "Social sign-in").
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_create_oauth_provider(config: Option<pgrx::JsonB>) -> Result<pgrx::JsonB, ErrorReport> {
    let mut config = parse(config)?;
    let provider = config.provider.take().ok_or_else(|| invalid("provider is required"))?;
    check_name(&provider)?;
    let secret = secret_change(&provider, config.client_secret.take())?;
    let row = merged(Map::new(), config)?;
    Ok(pgrx::JsonB(store(&provider, row, secret, true)?))
}

/// Changes a provider's config; the fields it leaves out stay.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_update_oauth_provider(provider: Option<&str>, config: Option<pgrx::JsonB>) -> Result<pgrx::JsonB, ErrorReport> {
    let provider = provider.unwrap_or_default();
    let mut config = parse(config)?;
    if config.provider.take().is_some_and(|p| p != provider) {
        return Err(invalid("a provider cannot be renamed").into());
    }
    let current: Option<Value> = db::json_row(
        "select to_jsonb(p) - 'client_secret' - 'jwks' from auth.oauth_providers p where provider = $1 for update",
        &[provider.into()],
    )?;
    let Some(Value::Object(current)) = current else { return Err(not_found(provider).into()) };
    let secret = secret_change(provider, config.client_secret.take())?;
    let row = merged(current, config)?;
    Ok(pgrx::JsonB(store(provider, row, secret, false)?))
}

/// Removes a provider. Its users keep their accounts and identities.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_delete_oauth_provider(provider: Option<&str>) -> Result<(), ErrorReport> {
    let provider = provider.unwrap_or_default();
    let gone: Option<bool> =
        db::json_row("delete from auth.oauth_providers where provider = $1 returning to_jsonb(true)", &[provider.into()])?;
    gone.map(|_| ()).ok_or_else(|| not_found(provider).into())
}

/// Every provider, by name, without secrets (`has_client_secret` says whether one is set).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn admin_list_oauth_providers() -> Result<pgrx::JsonB, ErrorReport> {
    let listed: Option<Value> = db::json_row(
        "select coalesce(jsonb_agg(auth.oauth_provider_json(p) order by provider), '[]') from auth.oauth_providers p",
        &[],
    )?;
    Ok(pgrx::JsonB(listed.unwrap_or(json!([]))))
}
