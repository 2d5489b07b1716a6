//! What a provider says of its user, read the same way for every kind: the stable id that
//! becomes the identity's provider_id, the email and whether the provider verified it,
//! and the profile fields Supabase Auth puts in user_metadata.

use serde_json::{json, Map, Value};

use crate::core::errors::{AuthError, AuthResult, ErrorCode};

/// A provider's user, as the callback or an ID token gave it.
#[derive(Debug)]
pub struct Profile {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// identity_data and the user_metadata of a new user.
    pub data: Map<String, Value>,
}

fn text(v: &Value, name: &str) -> Option<String> {
    match v.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: &Value, name: &str) -> bool {
    match v.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// The profile of `kind`'s user from what the HTTP front fetched: `claims` (an ID token's
/// payload, for oidc), `userinfo` (the user-info endpoint's answer; GitHub's `/user`),
/// `emails` (GitHub's `/user/emails`). `id_claim` picks Feishu's or WeChat's id.
pub fn read(kind: &str, id_claim: Option<&str>, claims: &Value, userinfo: &Value, emails: &Value) -> AuthResult<Profile> {
    // Feishu wraps its user in {"code": 0, "data": {...}}.
    let userinfo = if kind == "feishu" { userinfo.get("data").unwrap_or(userinfo) } else { userinfo };
    // For oidc the ID token decides; the user-info answer only adds fields it lacks, and
    // must be about the same user (OpenID Connect Core 5.3.2).
    if let (Some(a), Some(b)) = (text(claims, "sub"), text(userinfo, "sub")) {
        if a != b {
            return Err(AuthError::new(ErrorCode::BadOauthCallback, "Bad ID token")
                .detail("the user-info answer is about another user than the ID token"));
        }
    }
    let mut merged = Map::new();
    for source in [userinfo, claims] {
        if let Value::Object(fields) = source {
            merged.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let all = Value::Object(merged);
    let id_fields: &[&str] = match (kind, id_claim) {
        (_, Some(claim)) => &[claim][..],
        ("github", None) => &["id"],
        ("feishu", None) => &["open_id"],
        ("wechat", None) => &["unionid", "openid"],
        _ => &["sub", "id"],
    };
    let id = id_fields.iter().find_map(|f| text(&all, f)).ok_or_else(|| {
        AuthError::new(ErrorCode::BadOauthCallback, "Missing sub claim in user data")
            .detail(format!("the provider gave none of {}", id_fields.join(", ")))
    })?;
    let (email, email_verified) = match kind {
        "github" => github_email(&all, emails),
        // Feishu's email is the user's own, which Feishu does not say it verified;
        // WeChat gives none.
        "feishu" => (text(&all, "enterprise_email").or_else(|| text(&all, "email")), false),
        "wechat" => (None, false),
        _ => (text(&all, "email"), truthy(&all, "email_verified")),
    };
    let name = ["name", "nickname", "en_name", "login"].iter().find_map(|f| text(&all, f));
    let picture = ["picture", "avatar_url", "headimgurl", "avatar_big"].iter().find_map(|f| text(&all, f));
    let mut data = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            data.insert(k.into(), json!(v));
        }
    };
    put("iss", text(&all, "iss"));
    put("sub", Some(id.clone()));
    put("provider_id", Some(id.clone()));
    put("email", email.clone());
    put("name", name.clone());
    put("full_name", name);
    put("picture", picture.clone());
    put("avatar_url", picture);
    put("preferred_username", text(&all, "preferred_username").or_else(|| text(&all, "login")));
    put("user_name", text(&all, "login"));
    put("union_id", text(&all, "union_id").or_else(|| text(&all, "unionid")));
    put("open_id", text(&all, "open_id").or_else(|| text(&all, "openid")));
    // Everything else the provider said, as Supabase Auth keeps it (Feishu's tenant_key,
    // WeChat's country), but the token's own claims.
    const READ: &[&str] = &[
        "iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time", "azp", "jti", "sid",
        "email", "email_verified", "name", "full_name", "picture", "avatar_url", "preferred_username", "login",
    ];
    if let Value::Object(fields) = &all {
        let custom: Map<String, Value> = fields.iter().filter(|(k, v)| !READ.contains(&k.as_str()) && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !custom.is_empty() {
            data.insert("custom_claims".into(), Value::Object(custom));
        }
    }
    data.insert("email_verified".into(), json!(email_verified));
    data.insert("phone_verified".into(), json!(false));
    Ok(Profile { id, email: email.map(|e| e.to_lowercase()), email_verified, data })
}

/// GitHub's primary verified email from `/user/emails`, else the profile's (unverified).
fn github_email(user: &Value, emails: &Value) -> (Option<String>, bool) {
    let listed = emails.as_array().map(Vec::as_slice).unwrap_or_default();
    let pick = listed
        .iter()
        .find(|e| truthy(e, "primary") && truthy(e, "verified"))
        .or_else(|| listed.iter().find(|e| truthy(e, "verified")));
    match pick {
        Some(e) => (text(e, "email"), true),
        None => (text(user, "email"), false),
    }
}
