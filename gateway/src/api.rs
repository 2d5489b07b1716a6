//! Supabase Auth's endpoints, as supabase-js calls them. Each handler picks the SQL
//! function of the extension that does the work and maps its result to GoTrue's answer.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::gotrue;
use crate::request::{path_uuid, empty_object, error_parts, ok, redirect, scalar, site_url, Answer, Input, Needs};
use crate::sql::ApiError;
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/signup", post(signup))
        .route("/token", post(token))
        .route("/otp", post(otp))
        .route("/verify", post(verify).get(follow_link))
        .route("/recover", post(recover))
        .route("/resend", post(resend))
        .route("/reauthenticate", get(reauthenticate))
        .route("/user", get(get_user).put(update_user))
        .route("/logout", post(logout))
        .route("/user/identities/authorize", get(crate::social::link_identity))
        .route("/user/identities/{id}", axum::routing::delete(unlink_identity))
        .route("/settings", get(settings))
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/users/{id}", get(get_user_by_id).put(update_user_by_id).delete(delete_user))
        .route("/admin/generate_link", post(generate_link))
        .route("/admin/custom-providers", get(crate::custom_providers::list).post(crate::custom_providers::create))
        .route(
            "/admin/custom-providers/{id}",
            get(crate::custom_providers::get_one).put(crate::custom_providers::update).delete(crate::custom_providers::delete),
        )
        .route("/invite", post(invite))
        .route("/authorize", get(crate::social::authorize))
        .route("/callback", get(crate::social::callback).post(crate::social::callback))
        .route("/factors", post(crate::mfa::enroll))
        .route("/factors/{id}", axum::routing::delete(crate::mfa::unenroll))
        .route("/factors/{id}/challenge", post(crate::mfa::challenge))
        .route("/factors/{id}/verify", post(crate::mfa::verify))
        .route("/admin/users/{id}/factors", get(crate::mfa::admin_list))
        .route("/admin/users/{id}/factors/{factor_id}", axum::routing::delete(crate::mfa::admin_delete))
        // Not offered; answered as GoTrue answers when the feature is off.
        .route("/sso", any(saml))
        .route("/sso/{*rest}", any(saml))
        .route("/saml/{*rest}", any(saml))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
}

handler!(signup(input) {
    crate::captcha::check(&input).await?;
    let data = input.json("data");
    let (email, phone) = (input.text("email"), input.text("phone"));
    if email.is_none() && phone.is_none() {
        let captcha = input.body.pointer("/gotrue_meta_security/captcha_token").and_then(Value::as_str).map(str::to_owned);
        return ok(input.call(Needs::Key, "select auth.sign_in_anonymously(data => $1, attestation => $2)", &[&data, &captcha]).await?);
    }
    let (password, challenge, method) = (input.text("password"), input.text("code_challenge"), input.text("code_challenge_method"));
    ok(input
        .call(
            Needs::Key,
            "select auth.sign_up(email => $1, password => $2, data => $3, phone => $4,
                                 code_challenge => $5, code_challenge_method => $6)",
            &[&email, &password, &data, &phone, &challenge, &method],
        )
        .await?)
});

handler!(token(input) {
    let grant = input.query.get("grant_type").cloned().unwrap_or_default();
    if !matches!(grant.as_str(), "pkce" | "refresh_token" | "id_token") {
        crate::captcha::check(&input).await?;
    }
    let value = match grant.as_str() {
        "password" => {
            let password = input.text("password");
            // token.go:82-106: one address, and one is needed.
            match (input.text("email").filter(|e| !e.is_empty()), input.text("phone").filter(|p| !p.is_empty())) {
                (Some(_), Some(_)) => {
                    return Err(input.fail(ApiError::new(400, "validation_failed", "Only an email address or phone number should be provided on login.")))
                }
                (None, None) => return Err(input.fail(ApiError::new(400, "validation_failed", "missing email or phone"))),
                (None, Some(phone)) => input.call(Needs::Key, "select auth.sign_in_with_phone_password($1, $2)", &[&phone, &password]).await?,
                (email, None) => input.call(Needs::Key, "select auth.sign_in_with_password($1, $2)", &[&email, &password]).await?,
            }
        }
        "refresh_token" => {
            input.call(Needs::Key, "select auth.refresh_session($1)", &[&input.text("refresh_token")]).await?
        }
        "pkce" => {
            let (code, verifier) = (input.text("auth_code"), input.text("code_verifier"));
            input.call(Needs::Key, "select auth.exchange_code_for_session($1, $2)", &[&code, &verifier]).await?
        }
        // web3.go:28: no Web3 chain is enabled, checked before the body is read.
        "web3" => return Err(input.fail(ApiError::new(422, "web3_provider_disabled", "Web3 provider is disabled"))),
        "id_token" => crate::social::id_token_grant(&input).await?,
        // token.go:59-60.
        _ => return Err(input.fail(ApiError::new(400, "invalid_credentials", "unsupported_grant_type"))),
    };
    ok(value)
});

handler!(otp(input) {
    crate::captcha::check(&input).await?;
    let create_user = input.body.get("create_user").and_then(Value::as_bool).unwrap_or(true);
    input
        .call(
            Needs::Key,
            "select auth.sign_in_with_otp(email => $1, create_user => $2, phone => $3, data => $4,
                                          code_challenge => $5, code_challenge_method => $6)",
            &[
                &input.text("email"),
                &create_user,
                &input.text("phone"),
                &input.json("data"),
                &input.text("code_challenge"),
                &input.text("code_challenge_method"),
            ],
        )
        .await?;
    empty_object()
});

handler!(verify(input) {
    ok(input
        .call(
            Needs::Key,
            "select auth.verify_otp(email => $1, token => $2, type => $3, phone => $4, token_hash => $5)",
            &[&input.text("email"), &input.text("token"), &input.text("type"), &input.text("phone"), &input.text("token_hash")],
        )
        .await?)
});

handler!(
/// `GET /verify?token=...&type=...&redirect_to=...`, where links lead: 303 to
/// `redirect_to` (when the allow list has it, else `auth_ext.site_url`) with the session
/// in the fragment, `?code=` for a PKCE flow, or the error in the fragment.
follow_link(input) {
    let token = input.query.get("token").cloned();
    let kind = input.query.get("type").cloned();
    let wanted = input.query.get("redirect_to").filter(|u| input.state.config.redirect_allowed(u)).cloned();
    let outcome = input
        .call(
            Needs::Nothing,
            "select pg_catalog.jsonb_build_object('result', auth.verify_link($1, $2),
                                       'site_url', pg_catalog.current_setting('auth_ext.site_url', true))",
            &[&token, &kind],
        )
        .await;
    let location = match outcome {
        Ok(v) => {
            let target = wanted.clone().or_else(|| v["site_url"].as_str().map(str::to_owned)).unwrap_or_else(|| "/".into());
            let result = &v["result"];
            if let Some(code) = result["code"].as_str() {
                gotrue::with_query(&target, &[("code", code)])
            } else if result["access_token"].is_string() {
                let fields: Vec<(&str, String)> = ["access_token", "expires_at", "expires_in", "refresh_token", "token_type"]
                    .iter()
                    .map(|k| (*k, scalar(&result[*k])))
                    .chain([("type", kind.clone().unwrap_or_default())])
                    .collect();
                gotrue::with_fragment(&target, &fields)
            } else {
                let message = result["message"].as_str().unwrap_or("Confirmation link accepted").to_owned();
                gotrue::with_fragment(&target, &[("message", message)])
            }
        }
        Err(response) => {
            let (status, code, message) = error_parts(response).await;
            let target = match wanted.clone() {
                Some(url) => url,
                None => site_url(&input).await?,
            };
            let mut fields: Vec<(&str, String)> =
                gotrue::oauth_error(status).map(|e| ("error", e.to_owned())).into_iter().collect();
            fields.push(("error_code", code));
            fields.push(("error_description", message));
            gotrue::with_fragment(&target, &fields)
        }
    };
    Ok(redirect(StatusCode::SEE_OTHER, &location))
});

handler!(recover(input) {
    crate::captcha::check(&input).await?;
    input
        .call(
            Needs::Key,
            "select auth.reset_password_for_email($1, $2, $3)",
            &[&input.text("email"), &input.text("code_challenge"), &input.text("code_challenge_method")],
        )
        .await?;
    empty_object()
});

handler!(resend(input) {
    crate::captcha::check(&input).await?;
    input
        .call(Needs::Key, "select auth.resend($1, $2, $3)", &[&input.text("type"), &input.text("email"), &input.text("phone")])
        .await?;
    empty_object()
});

handler!(reauthenticate(input) {
    input.call(Needs::User, "select auth.reauthenticate()", &[]).await?;
    empty_object()
});

handler!(get_user(input) {
    ok(input.call(Needs::User, "select auth.get_user()", &[]).await?)
});

handler!(update_user(input) {
    ok(input.call(Needs::User, "select auth.update_user($1)", &[&input.body]).await?)
});

handler!(logout(input) {
    let scope = input.query.get("scope").cloned().unwrap_or_else(|| "global".into());
    input.call(Needs::User, "select auth.sign_out($1)", &[&scope]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
});

handler!(unlink_identity(input, id: Path<String>) {
    let Ok(id) = uuid::Uuid::parse_str(&id.0) else {
        return Err(input.fail(ApiError::new(404, "validation_failed", "identity_id must be an UUID")));
    };
    input.call(Needs::User, "select auth.unlink_identity($1::text::uuid)", &[&id.to_string()]).await?;
    empty_object()
});

handler!(settings(input) {
    ok(input.call(Needs::Key, "select auth.settings()", &[]).await?)
});

handler!(health(input) {
    input.call(Needs::Nothing, "select null::text", &[]).await?;
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "name": "auth_ext_gateway",
        "description": "Supabase Auth's API for auth_ext, which keeps users, sessions and sign-ins in Postgres",
    }))
});

handler!(jwks(input) {
    ok(input.call(Needs::Nothing, "select auth.jwks()", &[]).await?)
});

/// `page` or `per_page` as Supabase Auth parses them (admin.go:134, pagination.go:52):
/// an unsigned number; `absent` when not given, `zero` for 0 (pop's paginator: the first
/// page, 20 a page).
fn page_number(input: &Input, name: &str, absent: u64, zero: u64) -> Result<i32, String> {
    let Some(text) = input.query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(absent as i32);
    };
    let number = match text.parse::<u64>() {
        Ok(n) => n,
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
            return Err(format!("strconv.ParseUint: parsing {text:?}: value out of range"))
        }
        Err(_) => return Err(format!("strconv.ParseUint: parsing {text:?}: invalid syntax")),
    };
    Ok(i32::try_from(if number == 0 { zero } else { number }).unwrap_or(i32::MAX))
}

/// `sort` as Supabase Auth reads it (sorting.go:11): only `created_at`, `asc` or `desc`
/// (the default); whether it asks for oldest first.
fn ascending(input: &Input) -> Result<bool, String> {
    let Some(value) = input.query.get("sort") else { return Ok(false) };
    let (field, direction) = value.split_once(' ').map_or((value.as_str(), None), |(f, d)| (f, Some(d)));
    if field != "created_at" {
        return Err(format!("bad field for sort '{field}'"));
    }
    match direction.map(str::to_uppercase).as_deref() {
        None | Some("DESC") => Ok(false),
        Some("ASC") => Ok(true),
        Some(_) => Err(format!("bad direction for sort '{}', only 'asc' and 'desc' allowed", direction.unwrap_or_default())),
    }
}

handler!(
/// A page of users, with GoTrue's `X-Total-Count` and `Link` headers.
list_users(input) {
    let parsed = ascending(&input).map_err(|e| format!("Bad Sort Parameters: {e}")).and_then(|ascending| {
        let pages = (page_number(&input, "page", 1, 1)?, page_number(&input, "per_page", 50, 20)?);
        Ok((ascending, pages))
    });
    let (ascending, (page, per_page)) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            let message = if message.starts_with("Bad Sort") { message } else { format!("Bad Pagination Parameters: {message}") };
            // Only an admin learns what is wrong with its parameters (admin.go:123).
            input.call(Needs::Admin, "select auth.admin_list_users(1, 1)", &[]).await?;
            return Err(input.fail(ApiError::new(400, "validation_failed", &message)));
        }
    };
    let filter = input.query.get("filter").filter(|f| !f.is_empty()).cloned();
    let mut listed = input
        .call(Needs::Admin, "select auth.admin_list_users($1, $2, $3, $4)", &[&page, &per_page, &filter, &ascending])
        .await?;
    let total = listed["total"].as_i64().unwrap_or(0);
    listed["aud"] = json!("authenticated");
    let mut response = ok(listed)?;
    let last = ((total + i64::from(per_page) - 1) / i64::from(per_page)).max(1);
    let mut links = Vec::new();
    if i64::from(page) < last {
        links.push(format!("</admin/users?page={}&per_page={per_page}>; rel=\"next\"", page + 1));
    }
    links.push(format!("</admin/users?page={last}&per_page={per_page}>; rel=\"last\""));
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(header::LINK, v);
    }
    Ok(response)
});

handler!(create_user(input) {
    ok(input.call(Needs::Admin, "select auth.admin_create_user($1)", &[&input.body]).await?)
});

handler!(get_user_by_id(input, id: Path<String>) {
    ok(input.call(Needs::Admin, "select auth.admin_get_user_by_id($1::text::uuid)", &[&path_uuid(&input, &id.0, "user_id")?]).await?)
});

handler!(update_user_by_id(input, id: Path<String>) {
    ok(input
        .call(Needs::Admin, "select auth.admin_update_user_by_id($1::text::uuid, $2)", &[&path_uuid(&input, &id.0, "user_id")?, &input.body])
        .await?)
});

handler!(delete_user(input, id: Path<String>) {
    let soft = input.body.get("should_soft_delete").and_then(Value::as_bool).unwrap_or(false);
    input.call(Needs::Admin, "select auth.admin_delete_user($1::text::uuid, $2)", &[&path_uuid(&input, &id.0, "user_id")?, &soft]).await?;
    empty_object()
});

handler!(generate_link(input) {
    let mut options = serde_json::Map::new();
    for name in ["password", "data", "new_email"] {
        if let Some(v) = input.body.get(name).filter(|v| !v.is_null()) {
            options.insert(name.into(), v.clone());
        }
    }
    let redirect = input.query.get("redirect_to").cloned().or_else(|| input.text("redirect_to"));
    if let Some(r) = redirect {
        options.insert("redirect_to".into(), r.into());
    }
    let options = Value::Object(options);
    ok(input
        .call(Needs::Admin, "select auth.admin_generate_link($1, $2, $3)", &[&input.text("type"), &input.text("email"), &options])
        .await?)
});

handler!(invite(input) {
    let redirect = input.query.get("redirect_to").cloned();
    ok(input
        .call(Needs::Admin, "select auth.invite_user_by_email($1, $2, $3)", &[&input.text("email"), &input.json("data"), &redirect])
        .await?)
});

handler!(saml(input) {
    Err(input.fail(ApiError::new(404, "saml_provider_disabled", "SAML 2.0 is disabled")))
});
