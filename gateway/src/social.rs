//! Sign-in through a provider's pages, as Supabase Auth serves it: `GET /authorize` sends
//! the browser to the provider, `GET` and `POST /callback` (Apple posts a form) bring it
//! back, `GET /user/identities/authorize` starts linking. The extension decides everything
//! (src/flows/social.rs); this does only what needs the network: fetching an OpenID
//! provider's discovery document, exchanging the code, reading the user.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::gotrue;
use crate::exchange::Exchange;
use crate::outbound::Call;
use crate::request::{error_parts, ok, redirect, scalar, site_url, Answer, Input, Needs};
use crate::sql::ApiError;

/// Fetches an OpenID provider's discovery document for the extension.
async fn discover(input: &Input, needs: Needs, provider: &Option<String>, issuer: &str) -> Result<(), Response> {
    let issuer = issuer.trim_end_matches('/');
    let document = input
        .state
        .outbound
        .send(Call::get(&format!("{issuer}/.well-known/openid-configuration")))
        .await
        .map_err(|why| input.fail(ApiError::new(500, "unexpected_failure", &format!("Error fetching the provider's discovery document: {why}"))))?;
    input.call(needs, "select auth.oauth_store_discovery($1, $2)", &[provider, &document]).await?;
    Ok(())
}

/// The flow's URL at the provider: asks the extension, fetching an OpenID provider's
/// discovery document first when the extension asks for it.
async fn provider_url(input: &Input, needs: Needs, link: bool) -> Result<String, Response> {
    let param = |name: &str| input.query.get(name).filter(|v| !v.is_empty()).cloned();
    let provider = param("provider").map(|p| p.to_ascii_lowercase());
    let redirect_to = param("redirect_to").filter(|u| input.state.config.redirect_allowed(u));
    let (scopes, challenge, method) = (param("scopes"), param("code_challenge"), param("code_challenge_method"));
    for _ in 0..2 {
        let started = input
            .call(
                needs,
                "select auth.oauth_authorize($1, $2, $3, $4, $5, $6)",
                &[&provider, &redirect_to, &scopes, &challenge, &method, &link],
            )
            .await?;
        if let Some(url) = started["url"].as_str() {
            return Ok(url.to_owned());
        }
        discover(input, needs, &provider, started["discover"].as_str().unwrap_or_default()).await?;
    }
    Err(input.fail(ApiError::new(500, "unexpected_failure", "the provider's discovery document named no endpoints")))
}

handler!(
/// `GET /authorize?provider=...&redirect_to=...&scopes=...&code_challenge=...`: 302 to
/// the provider (GoTrue: external.go:27-137).
authorize(input) {
    let url = provider_url(&input, Needs::Nothing, false).await?;
    Ok(redirect(StatusCode::FOUND, &url))
});

handler!(
/// `GET /user/identities/authorize`: the same for the signed-in user, to link the
/// provider's identity to it; `{"url"}` with `skip_http_redirect=true`, as auth-js asks.
link_identity(input) {
    let url = provider_url(&input, Needs::User, true).await?;
    if input.query.get("skip_http_redirect").is_some_and(|v| v == "true") {
        return ok(json!({ "url": url }));
    }
    Ok(redirect(StatusCode::FOUND, &url))
});

/// GoTrue's `error` for a failed callback: by status, any other a server_error, and
/// access_denied for refusals of the user (external.go:821-846).
fn oauth_error(status: u16, code: &str) -> &'static str {
    if matches!(code, "signup_disabled" | "user_banned" | "provider_email_needs_verification") {
        return "access_denied";
    }
    gotrue::oauth_error(status).unwrap_or("server_error")
}

/// Back to `target` with the error in the query and the fragment, as GoTrue's callback.
fn failed(target: &str, fields: Vec<(&str, String)>) -> Response {
    let query: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redirect(StatusCode::FOUND, &gotrue::with_fragment(&gotrue::with_query(target, &query), &fields))
}

fn param(input: &Input, name: &str) -> Option<String> {
    input.query.get(name).cloned().or_else(|| input.body.get(name).and_then(Value::as_str).map(str::to_owned)).filter(|v| !v.is_empty())
}

handler!(
/// `GET` or `POST /callback?state=...&code=...`: takes the flow, exchanges the code, reads
/// the user, and lets the extension decide; then 302 to `redirect_to` with the session in
/// the fragment, `?code=` for a PKCE flow, or the error (external.go:140-299).
callback(input) {
    let state = param(&input, "state");
    let begun = match input.call(Needs::Nothing, "select auth.oauth_callback_begin($1, $2)", &[&state, &param(&input, "iss")]).await {
        Ok(begun) => begun,
        Err(response) => {
            // No flow to go back to: to the site, with the query only (external_oauth.go:44-57).
            let (status, code, message) = error_parts(response).await;
            let target = site_url(&input).await?;
            let fields = [("error", oauth_error(status, &code)), ("error_code", code.as_str()), ("error_description", message.as_str())];
            return Ok(redirect(StatusCode::SEE_OTHER, &gotrue::with_query(&target, &fields)));
        }
    };
    let target = begun["redirect_to"].as_str().unwrap_or("/").to_owned();
    if let Some(error) = param(&input, "error") {
        // The provider's own error, passed on without a code (external_oauth.go:70-73).
        let description = param(&input, "error_description").unwrap_or_default();
        return Ok(failed(&target, vec![("error", error), ("error_description", description)]));
    }
    let Some(code) = param(&input, "code") else {
        return Ok(failed(&target, vec![
            ("error", "invalid_request".into()),
            ("error_code", "bad_oauth_callback".into()),
            ("error_description", "OAuth callback with missing authorization code missing".into()),
        ]));
    };
    let read = match Exchange::from_flow(&begun) {
        Ok(exchange) => exchange.read_user(&input.state.outbound, &code).await,
        Err(why) => Err(why),
    };
    let fetched = match read {
        Ok(fetched) => fetched,
        Err(why) => {
            tracing::warn!("provider {}: {why}", scalar(&begun["provider"]));
            return Ok(failed(&target, vec![
                ("error", "server_error".into()),
                ("error_code", "unexpected_failure".into()),
                ("error_description", why),
            ]));
        }
    };
    match input.call(Needs::Nothing, "select auth.oauth_callback_finish($1, $2)", &[&state, &fetched]).await {
        Ok(result) if result["code"].is_string() => {
            Ok(redirect(StatusCode::FOUND, &gotrue::with_query(&target, &[("code", result["code"].as_str().unwrap_or_default())])))
        }
        Ok(result) => {
            let fields: Vec<(&str, String)> =
                ["access_token", "expires_at", "expires_in", "provider_refresh_token", "provider_token", "refresh_token", "token_type"]
                    .iter()
                    .filter(|k| !result[**k].is_null())
                    .map(|k| (*k, scalar(&result[*k])))
                    .collect();
            Ok(redirect(StatusCode::FOUND, &gotrue::with_fragment(&target, &fields)))
        }
        Err(response) => {
            let (status, code, message) = error_parts(response).await;
            Ok(failed(&target, vec![
                ("error", oauth_error(status, &code).into()),
                ("error_code", code),
                ("error_description", message),
            ]))
        }
    }
});

/// `POST /token?grant_type=id_token` (signInWithIdToken): the extension verifies the token;
/// when it says the provider's keys are missing, stale or lack the token's, they are
/// fetched once and it is asked again (token_oidc.go:202-370).
pub async fn id_token_grant(input: &Input) -> Result<Value, Response> {
    let provider = input.text("provider").map(|p| p.to_ascii_lowercase());
    let args = (input.text("id_token"), input.text("nonce"), input.text("access_token"));
    for attempt in 0..2 {
        let signed_in = input
            .call(Needs::Key, "select auth.sign_in_with_id_token($1, $2, $3, $4)", &[&provider, &args.0, &args.1, &args.2])
            .await;
        match signed_in {
            Err(response) if attempt == 0 && error_code(&response) == Some("provider_keys_needed") => {
                fetch_keys(input, &provider).await?;
            }
            done => return done,
        }
    }
    Err(input.fail(ApiError::new(400, "bad_id_token", "Bad ID token").oauth()))
}

fn error_code(response: &Response) -> Option<&str> {
    response.headers().get("x-sb-error-code").and_then(|v| v.to_str().ok())
}

/// Fetches the provider's JWKS (discovering its jwks_uri first when needed) for the
/// extension to keep. A provider that cannot be reached makes the token a bad one, as
/// for Supabase Auth, whose verifier fetches the keys itself.
async fn fetch_keys(input: &Input, provider: &Option<String>) -> Result<(), Response> {
    let unreachable = |why: String| {
        tracing::warn!("provider {}: {why}", provider.as_deref().unwrap_or_default());
        input.fail(ApiError::new(400, "bad_id_token", "Bad ID token").oauth())
    };
    for _ in 0..2 {
        let source = input.call(Needs::Key, "select auth.oauth_keys_source($1)", &[provider]).await?;
        let Some(url) = source["url"].as_str() else {
            let issuer = source["discover"].as_str().unwrap_or_default();
            discover(input, Needs::Key, provider, issuer).await.map_err(|_| unreachable("discovery failed".into()))?;
            continue;
        };
        let jwks = input.state.outbound.send(Call::get(url)).await.map_err(unreachable)?;
        input.call(Needs::Key, "select auth.oauth_store_keys($1, $2)", &[provider, &jwks]).await?;
        return Ok(());
    }
    Err(unreachable("the discovery document names no jwks_uri".into()))
}
