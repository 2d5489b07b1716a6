//! Sign-in through a third-party provider's pages, as Supabase Auth's `GET /authorize` and
//! `/callback` run it. The HTTP front (auth_ext_gateway) does only what needs the network:
//! it sends the browser to the URL `oauth_authorize` makes, fetches an OpenID provider's
//! discovery document when asked, and on the callback exchanges the code and reads the
//! user. Every decision is made here: the flow's state (single use, flow_state_exp),
//! which user the provider's user is (by identity, then by a verified email, else a new
//! one), linking, and what the browser is sent back with.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::{crypto, db, request, roles, settings};
use crate::flows::gates;
use crate::limits;
use crate::providers::provider::{usable, Provider};
use crate::providers::{id_token, profile, sealed};
use crate::sessions::current::current_user_at_aal2;
use crate::sessions::open::create_session;
use crate::users::{self, NewUser, pg_uuid};
use crate::verification::pkce;

const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// Flows one client address may start in an hour (each is a row until it is used or
/// flow_state_exp passes).
const FLOWS_PER_HOUR: i32 = 120;

/// Where providers send the browser back: Supabase Auth's `{API_EXTERNAL_URL}/callback`.
fn callback_url() -> AuthResult<String> {
    let base = settings::text_string(&settings::API_EXTERNAL_URL).filter(|u| !u.is_empty()).ok_or_else(|| {
        AuthError::new(ErrorCode::ValidationFailed, "auth_ext.api_external_url is not set")
            .hint("Set it to the gateway's public URL (https://auth.example.com/auth/v1): providers send browsers to its /callback.")
    })?;
    Ok(format!("{}/callback", base.trim_end_matches('/')))
}

/// Only the HTTP front's own statement may run a flow's steps: they take a redirect_to its
/// allow list checked, hand out client secrets, and decide who signs in from what the
/// front says the provider said.
pub(crate) fn front_only<T>(fcinfo: pg_sys::FunctionCallInfo, f: impl FnOnce() -> AuthResult<T>) -> Result<T, ErrorReport> {
    if settings::text(&settings::GATEWAY_CLIENT).is_none() {
        return Err(AuthError::new(ErrorCode::NoAuthorization, "only the HTTP front runs a sign-in through a provider")
            .detail("this call is for auth_ext_gateway's requests, which check redirect_to against their allow list")
            .into());
    }
    roles::for_request(fcinfo, || f().map_err(ErrorReport::from))
}

/// The HTTP front's, or the application's server's (service_role): whoever fetches a
/// provider's keys for the requests that need them.
pub(crate) fn front_or_server<T>(fcinfo: pg_sys::FunctionCallInfo, f: impl FnOnce() -> AuthResult<T>) -> Result<T, ErrorReport> {
    if roles::acting_role_has(c"service_role") {
        return roles::as_extension(|| f().map_err(ErrorReport::from));
    }
    front_only(fcinfo, f)
}

fn query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    for (i, (k, v)) in params.iter().enumerate() {
        url.push(if i == 0 && !base.contains('?') { '?' } else { '&' });
        url.push_str(k);
        url.push('=');
        url.push_str(&auth_ext_http::percent_encode(v));
    }
    url
}

/// Starts a sign-in (or, with `link`, a linking of the signed-in user) through
/// `provider`: remembers the flow and answers `{"url": ...}`, the provider's page to send
/// the browser to, or, for an OpenID provider whose endpoints are not known yet,
/// `{"discover": issuer}` (the front fetches the discovery document, hands it to
/// `auth.oauth_store_discovery` and asks again). `redirect_to` is where the browser ends,
/// checked by the caller against its allow list. The HTTP front's alone, as the
/// callback's steps are.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_authorize(
    provider: Option<&str>,
    redirect_to: Option<&str>,
    scopes: default!(Option<&str>, "NULL"),
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
    link: default!(bool, false),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<pgrx::JsonB, ErrorReport> {
    // The front's alone: it checks redirect_to against its allow list first, and only it
    // can finish a flow. Started over SQL or PostgREST, a flow could send the session to
    // any site the caller named.
    front_only(fcinfo, || authorize(provider.unwrap_or_default(), redirect_to, scopes, code_challenge, code_challenge_method, link))
        .map(pgrx::JsonB)
}

fn authorize(
    provider: &str,
    redirect_to: Option<&str>,
    scopes: Option<&str>,
    code_challenge: Option<&str>,
    code_challenge_method: Option<&str>,
    link: bool,
) -> AuthResult<Value> {
    // Manual linking is checked first, as Supabase Auth's middleware does (api.go:281-288).
    let linking = if link {
        if !settings::MANUAL_LINKING_ENABLED.get() {
            return Err(AuthError::new(ErrorCode::ManualLinkingDisabled, "Manual linking is disabled"));
        }
        Some(current_user_at_aal2("link an identity")?.0)
    } else {
        None
    };
    let p = usable(&provider.to_ascii_lowercase())?;
    let pkce = pkce::challenge_options(code_challenge, code_challenge_method)?;
    // Checked by the caller against its allow list; else the site.
    let site = settings::text_string(&settings::SITE_URL).unwrap_or_default();
    let redirect_to = redirect_to.filter(|r| !r.is_empty() && r.len() <= 2048).unwrap_or(site.as_str());
    let Some(authorization_url) = p.authorization_url.clone() else {
        return Ok(json!({"discover": p.issuer}));
    };
    // Each flow is a row for flow_state_exp: bounded per client address.
    limits::rate_limit(
        "oauth_flow",
        &request::limit_key(&request::client()),
        FLOWS_PER_HOUR,
        ErrorCode::OverRequestRateLimit,
        "sign-ins through a provider started from this address",
    )?;
    let verifier = crypto::random_token::<32>();
    let nonce = crypto::random_token::<16>();
    let state: Option<String> = db::json_row(
        "with stale as (delete from auth.oauth_flows where created_at < now() - make_interval(secs => $8))
         insert into auth.oauth_flows (provider, redirect_to, code_challenge, code_challenge_method, provider_verifier, nonce, linking_user_id)
         values ($1, $2, $3, $4, $5, $6, $7) returning to_jsonb(id)",
        &[
            p.provider.as_str().into(),
            redirect_to.into(),
            pkce.get("code_challenge").and_then(Value::as_str).into(),
            pkce.get("code_challenge_method").and_then(Value::as_str).into(),
            verifier.as_str().into(),
            nonce.as_str().into(),
            linking.as_ref().map(pg_uuid).into(),
            f64::from(settings::FLOW_STATE_EXP.get()).into(),
        ],
    )?;
    let state = state.unwrap_or_default();
    let mut requested: Vec<String> = p.scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if p.kind == "oidc" && !requested.iter().any(|s| s == "openid") {
        requested.insert(0, "openid".into());
    }
    for s in scopes.unwrap_or_default().split([' ', ',']).filter(|s| !s.is_empty()) {
        if !requested.iter().any(|r| r == s) {
            requested.push(s.to_owned());
        }
    }
    let scope = requested.join(if p.kind == "wechat" { "," } else { " " });
    let redirect_uri = callback_url()?;
    let challenge = crypto::b64url(&crypto::sha256(&[verifier.as_bytes()]));
    let page = ProviderPage { authorization_url: &authorization_url, redirect_uri: &redirect_uri, scope: &scope, state: &state };
    Ok(json!({"url": page.url(&p, &nonce, &challenge)}))
}

/// What the provider's sign-in page is sent.
struct ProviderPage<'a> {
    authorization_url: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    state: &'a str,
}

impl ProviderPage<'_> {
    /// The page's URL, as `p`'s kind wants it: towards an OpenID provider with our nonce
    /// and PKCE challenge.
    fn url(&self, p: &Provider, nonce: &str, challenge: &str) -> String {
        let (authorization_url, redirect_uri, scope, state) = (self.authorization_url, self.redirect_uri, self.scope, self.state);
        match p.kind.as_str() {
            // WeChat's website login names the client appid, and wants its fragment.
            "wechat" => format!(
                "{}#wechat_redirect",
                query(authorization_url, &[("appid", &p.client_id), ("redirect_uri", redirect_uri), ("response_type", "code"), ("scope", scope), ("state", state)])
            ),
            "oidc" => {
                let mut params = vec![
                    ("client_id", p.client_id.as_str()),
                    ("redirect_uri", redirect_uri),
                    ("response_type", "code"),
                    ("scope", scope),
                    ("state", state),
                    ("nonce", nonce),
                    ("code_challenge", challenge),
                    ("code_challenge_method", "S256"),
                ];
                // Apple gives a name or email scope only to a form post back (POST /callback).
                if p.issuer.as_deref() == Some(APPLE_ISSUER) {
                    params.push(("response_mode", "form_post"));
                }
                query(authorization_url, &params)
            }
            _ => query(authorization_url, &[("client_id", &p.client_id), ("redirect_uri", redirect_uri), ("response_type", "code"), ("scope", scope), ("state", state)]),
        }
    }
}

/// Fills an OpenID provider's endpoints from its discovery document, which the front
/// fetched from `{issuer}/.well-known/openid-configuration`. The document must name the
/// configured issuer exactly (OpenID Connect Discovery 4.3).
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_store_discovery(provider: &str, document: pgrx::JsonB, fcinfo: pg_sys::FunctionCallInfo) -> Result<(), ErrorReport> {
    front_or_server(fcinfo, || {
        let p = usable(provider)?;
        let doc = document.0;
        let named = doc.get("issuer").and_then(Value::as_str);
        if p.issuer.is_none() || named != p.issuer.as_deref() {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "the discovery document names another issuer")
                .detail(format!("configured {:?}, document {:?}", p.issuer.as_deref().unwrap_or(""), named.map(|n| crypto::truncate(n, 200)))));
        }
        let endpoint = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
        let urls = json!({
            "authorization_url": endpoint("authorization_endpoint"),
            "token_url": endpoint("token_endpoint"),
            "userinfo_url": endpoint("userinfo_endpoint"),
            "jwks_url": endpoint("jwks_uri"),
        });
        crate::providers::config::check_endpoints(&urls)?;
        db::run(
            "update auth.oauth_providers set
                 authorization_url = coalesce(authorization_url, $2->>'authorization_url'),
                 token_url = coalesce(token_url, $2->>'token_url'),
                 userinfo_url = coalesce(userinfo_url, $2->>'userinfo_url'),
                 jwks_url = coalesce(jwks_url, $2->>'jwks_url'),
                 updated_at = now()
             where provider = $1",
            &[p.provider.as_str().into(), db::jsonb_arg(&urls)],
        )
    })
}

#[derive(Debug, Deserialize)]
struct Flow {
    id: String,
    provider: String,
    redirect_to: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    provider_verifier: String,
    nonce: String,
    linking_user_id: Option<String>,
    expired: bool,
    used: bool,
}

fn bad_state(message: &str) -> AuthError {
    AuthError::new(ErrorCode::BadOauthState, message)
}

/// The flow a callback's `state` names, taken (used once) when `take`.
fn flow(state: Option<&str>, take: bool) -> AuthResult<Flow> {
    let state = state.filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::new(ErrorCode::BadOauthCallback, "OAuth state parameter missing"))?;
    let id = uuid::Uuid::parse_str(state).map_err(|_| bad_state("OAuth state parameter is invalid"))?;
    let found: Option<Flow> = db::json_row(
        "select to_jsonb(f) || jsonb_build_object(
             'expired', f.created_at < now() - make_interval(secs => $2),
             'used', f.used_at is not null)
         from auth.oauth_flows f where id = $1 for update",
        &[pg_uuid(&id).into(), f64::from(settings::FLOW_STATE_EXP.get()).into()],
    )?;
    let found = found.ok_or_else(|| bad_state("OAuth state not found or expired"))?;
    if found.expired {
        return Err(bad_state("OAuth state has expired"));
    }
    if take {
        if found.used {
            return Err(bad_state("OAuth state not found or expired"));
        }
        db::run("update auth.oauth_flows set used_at = now() where id = $1", &[pg_uuid(&id).into()])?;
    } else if !found.used {
        return Err(bad_state("OAuth state not found or expired"));
    }
    Ok(found)
}

/// The first step of a provider's callback: takes the flow `state` names (once) and
/// answers what exchanging the code needs: the provider's token and user-info endpoints,
/// the client id and secret, the redirect URI, and the PKCE verifier; with the flow's
/// `redirect_to`, where errors go from now on. `iss`, when the provider sent it (RFC 9207),
/// must be its issuer.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_callback_begin(state: Option<&str>, iss: default!(Option<&str>, "NULL"), fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    front_only(fcinfo, || {
        let f = flow(state, true)?;
        let p = usable(&f.provider)?;
        if let (Some(sent), Some(issuer)) = (iss, p.issuer.as_deref()) {
            if sent != issuer {
                return Err(AuthError::new(ErrorCode::BadOauthCallback, "OAuth callback from another issuer")
                    .detail(format!("iss {:?} is not {issuer:?} (RFC 9207)", crypto::truncate(sent, 200))));
            }
        }
        let secret = match p.client_secret.as_deref() {
            Some(b64) => {
                let bytes = db::base64_bytes(b64)?;
                Some(sealed::open(&p.provider, &bytes)?)
            }
            None => None,
        };
        Ok(pgrx::JsonB(json!({
            "provider": p.provider,
            "kind": p.kind,
            "token_url": p.token_url,
            "userinfo_url": p.userinfo_url,
            "client_id": p.client_id,
            "client_secret": secret,
            "redirect_uri": callback_url()?,
            "code_verifier": (p.kind == "oidc").then_some(f.provider_verifier),
            "redirect_to": f.redirect_to,
        })))
    })
}

/// The last step of a provider's callback: `fetched` is what the front read from the
/// provider (`claims`, an ID token's payload; `userinfo`; GitHub's `emails`; and
/// `provider_token`, `provider_refresh_token`). Decides the user: the one whose identity
/// this is; else, when the provider verified the email, the user with that email; else a
/// new user (linking adds the identity to the signed-in user instead). Answers
/// `{"redirect_to", "code"}` for a PKCE flow, else the session with the provider's tokens.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn oauth_callback_finish(state: Option<&str>, fetched: pgrx::JsonB, fcinfo: pg_sys::FunctionCallInfo) -> Result<pgrx::JsonB, ErrorReport> {
    front_only(fcinfo, || {
        let f = flow(state, false)?;
        finish(&f, &fetched.0)
    })
    .map(pgrx::JsonB)
}

fn finish(f: &Flow, fetched: &Value) -> AuthResult<Value> {
    let p = usable(&f.provider)?;
    let claims = fetched.get("claims").cloned().unwrap_or(Value::Null);
    if p.kind == "oidc" {
        id_token::check_claims(&p, &claims, ErrorCode::BadOauthCallback)?;
        if claims.get("nonce").and_then(Value::as_str) != Some(f.nonce.as_str()) {
            return Err(AuthError::new(ErrorCode::BadOauthCallback, "Bad ID token").detail("Nonces mismatch"));
        }
    }
    let user = profile::read(
        &p.kind,
        p.id_claim.as_deref(),
        &claims,
        fetched.get("userinfo").unwrap_or(&Value::Null),
        fetched.get("emails").unwrap_or(&Value::Null),
    )?;
    let linking = f.linking_user_id.as_deref().map(users::parse_id).transpose()?;
    let user_id = sign_in_user(&p, &user, linking)?;
    db::run("delete from auth.oauth_flows where id = $1::text::uuid", &[f.id.as_str().into()])?;
    let mut answer = if f.code_challenge.is_some() {
        let options = json!({"code_challenge": f.code_challenge, "code_challenge_method": f.code_challenge_method});
        pkce::issue_auth_code(&user_id, "oauth", &options)?
    } else {
        let mut session = create_session(&user_id, "oauth", &request::client())?;
        for token in ["provider_token", "provider_refresh_token"] {
            if let Some(t) = fetched.get(token).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                session[token] = json!(t);
            }
        }
        session
    };
    answer["redirect_to"] = json!(f.redirect_to);
    Ok(answer)
}

/// Who signs in: the identity's user; else (no linking) the user with the email the
/// provider verified; else a new user (without an email only when the provider is
/// email_optional). Linking adds the identity to `linking` instead.
pub(crate) fn sign_in_user(p: &Provider, user: &profile::Profile, linking: Option<uuid::Uuid>) -> AuthResult<uuid::Uuid> {
    if user.email.is_none() && !p.email_optional {
        return Err(AuthError::new(ErrorCode::UnexpectedFailure, "Error getting user email from external provider")
            .hint("Set email_optional on the provider to sign in users without an email."));
    }
    let provider = p.provider.as_str();
    let data = serde_json::Value::Object(user.data.clone());
    db::lock(&format!("identity:{provider}:{}", user.id))?;
    let owner: Option<String> = db::json_row(
        "with identity as (
             update auth.user_identities set identity_data = $3, last_sign_in_at = now()
             where provider = $1 and provider_id = $2 returning user_id)
         select to_jsonb(user_id) from identity",
        &[provider.into(), user.id.as_str().into(), db::jsonb_arg(&data)],
    )?;
    let owner = owner.map(|o| users::parse_id(&o)).transpose()?;
    if let Some(target) = linking {
        if owner.is_some_and(|o| o != target) {
            return Err(AuthError::new(ErrorCode::IdentityAlreadyExists, "Identity is already linked to another user"));
        }
        if owner == Some(target) {
            return Err(AuthError::new(ErrorCode::IdentityAlreadyExists, "Identity is already linked"));
        }
        db::run("select auth.insert_identity($1, $2, $3, $4)", &[pg_uuid(&target).into(), provider.into(), user.id.as_str().into(), db::jsonb_arg(&data)])?;
        db::run("select auth.become_permanent($1, $2)", &[pg_uuid(&target).into(), provider.into()])?;
        // A user without an email (a guest) takes the one the provider verified, as
        // Supabase Auth's linking does (identity.go:199-222); an unverified one is not taken.
        if let Some(email) = user.email.as_deref().filter(|_| user.email_verified) {
            let without: Option<bool> = db::read_value("select coalesce(email, '') = '' from auth.users where id = $1", &[pg_uuid(&target).into()])?;
            if without == Some(true) && !adopt_email(&target, email)? {
                return Err(AuthError::new(ErrorCode::EmailExists, "A user with this email address has already been registered"));
            }
        }
        return Ok(target);
    }
    if let Some(owner) = owner {
        return Ok(owner);
    }
    // Only an email the provider verified counts: an unverified one would let whoever
    // claims a victim's address at a provider hold it (the victim's later sign-up would
    // land in the attacker's user), so such a user is made without it (it stays in the
    // identity's data). A verified one joins the user who confirmed it; from a holder who
    // never confirmed it (someone signed it up), the provider's proof takes it, as any
    // proof of an address does (auth.take_address): never into that holder's account,
    // whose password nobody proved.
    let verified = user.email.as_deref().filter(|_| user.email_verified);
    if let Some(email) = verified {
        if let Some(account) = users::find(users::Lookup::Email(email))?.filter(|a| a.email_confirmed) {
            let id = users::parse_id(&account.id)?;
            db::run("select auth.insert_identity($1, $2, $3, $4)", &[pg_uuid(&id).into(), provider.into(), user.id.as_str().into(), db::jsonb_arg(&data)])?;
            return Ok(id);
        }
    }
    gates::signups_allowed()?;
    let id = users::create(&NewUser {
        user_metadata: users::metadata(Some(data.clone()), "data")?,
        app_metadata: users::provider_metadata(provider),
        ..Default::default()
    })?;
    if let Some(email) = verified {
        adopt_email(&id, email)?;
    }
    db::run("select auth.insert_identity($1, $2, $3, $4)", &[pg_uuid(&id).into(), provider.into(), user.id.as_str().into(), db::jsonb_arg(&data)])?;
    Ok(id)
}

/// Gives `user` the `email` a provider verified, confirmed, unless a confirmed user holds
/// it (auth.take_address frees it from one who never confirmed it). Whether it did.
fn adopt_email(user: &uuid::Uuid, email: &str) -> AuthResult<bool> {
    let taken: Option<bool> = db::read_value("select auth.take_address($1, 'email', $2)", &[pg_uuid(user).into(), email.into()])?;
    if taken == Some(true) {
        db::run("update auth.users set email = $2, email_confirmed_at = now() where id = $1", &[pg_uuid(user).into(), email.into()])?;
    }
    Ok(taken == Some(true))
}
