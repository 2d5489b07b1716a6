//! A configured provider as the sign-in flows read it (flows::social, flows::id_token),
//! and Supabase Auth's answers for a provider that cannot be used.

use serde::Deserialize;
use serde_json::Value;

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, db};

/// How long a provider's JWKS is kept before it is fetched again.
pub const JWKS_LIFETIME_SECS: i32 = 3600;
/// The soonest a JWKS is fetched again for a token whose key it lacks: a stream of tokens
/// naming made-up keys costs the provider one fetch a minute, not one each.
pub const JWKS_REFETCH_SECS: i32 = 60;

#[derive(Debug, Deserialize)]
pub struct Provider {
    pub provider: String,
    pub kind: String,
    pub issuer: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub client_id: String,
    pub extra_client_ids: Vec<String>,
    pub scopes: String,
    pub email_optional: bool,
    pub id_claim: Option<String>,
    pub enabled: bool,
    /// Base64 of the sealed secret.
    pub client_secret: Option<String>,
    /// The provider's keys as last fetched, and whether they are still fresh, or may be
    /// fetched again for a key they lack.
    pub jwks: Option<Value>,
    pub jwks_fresh: bool,
    pub jwks_refetchable: bool,
}

pub fn load(provider: &str) -> AuthResult<Option<Provider>> {
    db::json_row(
        "select to_jsonb(p) - 'client_secret' || jsonb_build_object(
             'client_secret', encode(p.client_secret, 'base64'),
             'jwks_fresh', coalesce(p.jwks_expires_at > now(), false),
             'jwks_refetchable', coalesce(p.jwks_expires_at < now() + make_interval(secs => $2 - $3), true))
         from auth.oauth_providers p where provider = $1",
        &[provider.into(), JWKS_LIFETIME_SECS.into(), JWKS_REFETCH_SECS.into()],
    )
}

/// The providers Supabase Auth knows by name: one of them that is not configured here is
/// "not enabled" there, any other name "could not be found" (external.go:607-698).
const GOTRUE_PROVIDERS: &[&str] = &[
    "apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab", "google", "kakao",
    "keycloak", "linkedin", "linkedin_oidc", "notion", "slack", "slack_oidc", "snapchat", "spotify", "twitch",
    "twitter", "vercel_marketplace", "workos", "x", "zoom",
];

/// A provider the redirect flow may use; else GoTrue's answers (external.go:48-50, 698).
pub fn usable(provider: &str) -> AuthResult<Provider> {
    let unsupported = |why: String| AuthError::new(ErrorCode::ValidationFailed, format!("Unsupported provider: {why}"));
    let found = load(provider)?.ok_or_else(|| {
        unsupported(if GOTRUE_PROVIDERS.contains(&provider) {
            "provider is not enabled".to_owned()
        } else {
            format!("Provider {} could not be found", crypto::truncate(provider, 64))
        })
    })?;
    if !found.enabled {
        return Err(unsupported("provider is not enabled".into()));
    }
    Ok(found)
}

/// The issuers whose ID tokens Supabase Auth takes by a provider's name (token_oidc.go:32-199).
const GOTRUE_ISSUERS: &[(&str, &str)] = &[
    ("google", "https://accounts.google.com"),
    ("facebook", "https://www.facebook.com"),
    ("kakao", "https://kauth.kakao.com"),
    ("snapchat", "https://accounts.snapchat.com"),
    ("apple", "https://appleid.apple.com"),
];

/// A provider whose ID tokens signInWithIdToken may take; else GoTrue's answers
/// (token_oidc.go:32-199): a name it knows the issuer of is "not enabled", a custom one
/// "not found" or "disabled", any other "not allowed".
pub fn for_id_tokens(provider: &str) -> AuthResult<Provider> {
    let shown = crypto::truncate(provider, 64);
    let known = GOTRUE_ISSUERS.iter().find(|(name, _)| *name == provider).map(|(_, issuer)| *issuer);
    let disabled = |issuer: &str| AuthError::new(ErrorCode::ProviderDisabled, format!("Provider (issuer {issuer:?}) is not enabled"));
    let Some(found) = load(provider)? else {
        return Err(match known {
            Some(issuer) => disabled(issuer),
            None if provider.starts_with("custom:") => AuthError::new(ErrorCode::ValidationFailed, format!("Custom provider {shown:?} not found")),
            None => AuthError::new(ErrorCode::ValidationFailed, format!("Custom OIDC provider {shown:?} not allowed")),
        });
    };
    if !found.enabled {
        return Err(match known {
            Some(_) => disabled(found.issuer.as_deref().unwrap_or_default()),
            None => AuthError::new(ErrorCode::ProviderDisabled, format!("Custom provider {shown:?} is disabled")),
        });
    }
    if found.kind != "oidc" {
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("Provider {shown:?} is not an OIDC provider")));
    }
    if found.issuer.is_none() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("OIDC provider {shown:?} missing issuer")));
    }
    Ok(found)
}
