//! Exchanging a callback's code at the provider and reading its user, per provider kind,
//! as each documents it:
//! - OpenID Connect and OAuth 2 (RFC 6749 4.1.3): a form POST to the token endpoint, an
//!   ID token's claims, the user-info endpoint with the access token as a Bearer;
//! - GitHub's OAuth apps: the same form (GitHub answers a refused code with 200 and an
//!   `error` field), `GET /user` and `GET /user/emails`;
//! - Feishu's web login: `POST /open-apis/authen/v2/oauth/token` with a JSON body, then
//!   `GET /open-apis/authen/v1/user_info`; each answers `code` 0 or an error code;
//! - WeChat's website login: `GET /sns/oauth2/access_token?appid&secret&code`, which gives
//!   `openid` (and `unionid`) with the token, then `GET /sns/userinfo?access_token&openid`;
//!   each answers `errcode` on failure.
//!
//! Nothing here is trusted by the extension but the network's answers: it checks the ID
//! token's issuer, audience, expiry and nonce itself.

use serde_json::{json, Value};

use crate::outbound::{Body, Call, Outbound};

/// What the flow's first step (auth.oauth_callback_begin) gave.
pub struct Exchange<'a> {
    pub kind: &'a str,
    pub token_url: &'a str,
    pub userinfo_url: Option<&'a str>,
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub code_verifier: Option<&'a str>,
}

impl<'a> Exchange<'a> {
    pub fn from_flow(begun: &'a Value) -> Result<Exchange<'a>, String> {
        let text = |name: &str| begun[name].as_str();
        Ok(Exchange {
            kind: text("kind").unwrap_or("oauth2"),
            token_url: text("token_url").ok_or("the provider has no token endpoint")?,
            userinfo_url: text("userinfo_url"),
            client_id: text("client_id").unwrap_or_default(),
            client_secret: text("client_secret"),
            redirect_uri: text("redirect_uri").unwrap_or_default(),
            code_verifier: text("code_verifier"),
        })
    }

    /// The provider's user for `code`: `{claims, userinfo, emails, provider_token,
    /// provider_refresh_token}`, as auth.oauth_callback_finish reads it.
    pub async fn read_user(&self, outbound: &Outbound, code: &str) -> Result<Value, String> {
        match self.kind {
            "feishu" => self.feishu(outbound, code).await,
            "wechat" => self.wechat(outbound, code).await,
            _ => self.standard(outbound, code).await,
        }
    }

    async fn standard(&self, outbound: &Outbound, code: &str) -> Result<Value, String> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.redirect_uri.to_owned()),
            ("client_id", self.client_id.to_owned()),
        ];
        if let Some(secret) = self.client_secret {
            form.push(("client_secret", secret.to_owned()));
        }
        if let Some(verifier) = self.code_verifier {
            form.push(("code_verifier", verifier.to_owned()));
        }
        let tokens = outbound.send(Call::post(self.token_url, Body::Form(form))).await.and_then(refused).map_err(exchange_failed)?;
        let access_token = tokens["access_token"].as_str();
        let claims = tokens["id_token"].as_str().and_then(jwt_payload).unwrap_or(Value::Null);
        let (mut userinfo, mut emails) = (Value::Null, Value::Null);
        if let (Some(url), Some(token)) = (self.userinfo_url, access_token) {
            userinfo = outbound.send(Call::get(url).bearer(token)).await.map_err(profile_failed)?;
            if self.kind == "github" {
                let url = format!("{}/emails", url.trim_end_matches('/'));
                emails = outbound
                    .send(Call::get(&url).bearer(token))
                    .await
                    .map_err(|why| format!("Error getting user email from external provider: {why}"))?;
            }
        }
        if claims.is_null() && userinfo.is_null() {
            return Err("the provider gave neither an ID token nor user info".into());
        }
        Ok(json!({
            "claims": claims, "userinfo": userinfo, "emails": emails,
            "provider_token": access_token, "provider_refresh_token": tokens["refresh_token"],
        }))
    }

    async fn feishu(&self, outbound: &Outbound, code: &str) -> Result<Value, String> {
        let body = json!({
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code": code,
            "redirect_uri": self.redirect_uri,
        });
        let tokens = outbound.send(Call::post(self.token_url, Body::Json(body))).await.and_then(feishu_ok).map_err(exchange_failed)?;
        let token = tokens["access_token"].as_str().ok_or_else(|| exchange_failed("no access_token".into()))?;
        let url = self.userinfo_url.ok_or("the provider has no user-info endpoint")?;
        let userinfo = outbound.send(Call::get(url).bearer(token)).await.and_then(feishu_ok).map_err(profile_failed)?;
        Ok(json!({
            "claims": null, "userinfo": userinfo, "emails": null,
            "provider_token": token, "provider_refresh_token": tokens["refresh_token"],
        }))
    }

    async fn wechat(&self, outbound: &Outbound, code: &str) -> Result<Value, String> {
        let url = with_query(self.token_url, &[
            ("appid", self.client_id),
            ("secret", self.client_secret.unwrap_or_default()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ]);
        let tokens = outbound.send(Call::get(&url)).await.and_then(wechat_ok).map_err(exchange_failed)?;
        let (Some(token), Some(openid)) = (tokens["access_token"].as_str(), tokens["openid"].as_str()) else {
            return Err(exchange_failed("no access_token or openid".into()));
        };
        let url = self.userinfo_url.ok_or("the provider has no user-info endpoint")?;
        let userinfo = outbound
            .send(Call::get(&with_query(url, &[("access_token", token), ("openid", openid)])))
            .await
            .and_then(wechat_ok)
            .map_err(profile_failed)?;
        Ok(json!({
            // The token's answer names the user too (unionid only there for some apps).
            "claims": {"openid": openid, "unionid": tokens["unionid"]},
            "userinfo": userinfo, "emails": null,
            "provider_token": token, "provider_refresh_token": tokens["refresh_token"],
        }))
    }
}

fn exchange_failed(why: String) -> String {
    format!("Unable to exchange external code: {why}")
}

fn profile_failed(why: String) -> String {
    format!("Error getting user profile from external provider: {why}")
}

/// An OAuth error in a 200 answer, as GitHub gives one.
fn refused(answer: Value) -> Result<Value, String> {
    match answer["error"].as_str() {
        Some(error) => Err(answer["error_description"].as_str().unwrap_or(error).to_owned()),
        None => Ok(answer),
    }
}

/// Feishu's answers carry `code`: 0, or the error's number with `msg` or `error_description`.
fn feishu_ok(answer: Value) -> Result<Value, String> {
    match answer["code"].as_i64() {
        Some(0) => Ok(answer),
        code => Err(format!(
            "code {}: {}",
            code.map_or("missing".into(), |c| c.to_string()),
            answer["error_description"].as_str().or(answer["msg"].as_str()).unwrap_or("")
        )),
    }
}

/// WeChat's failures carry `errcode` (and `errmsg`); successes have none or 0.
fn wechat_ok(answer: Value) -> Result<Value, String> {
    match answer["errcode"].as_i64() {
        None | Some(0) => Ok(answer),
        Some(code) => Err(format!("errcode {code}: {}", answer["errmsg"].as_str().unwrap_or(""))),
    }
}

fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", auth_ext_http::percent_encode(v))).collect();
    format!("{base}{}{}", if base.contains('?') { '&' } else { '?' }, query.join("&"))
}

/// A JWT's payload, unverified (the extension checks what it says).
fn jwt_payload(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = auth_ext_http::base64url_decode(payload)?;
    serde_json::from_slice(&bytes).ok()
}
