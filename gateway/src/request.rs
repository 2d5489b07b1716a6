//! What every endpoint's handler works with: the request as read (`Input`: its headers,
//! query, JSON or form body and client address), its one SQL call as the role its key and
//! token give (`Input::call`), and the handler! macro that answers success and error alike.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, Query, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;

use crate::serve::BodyError;
use crate::gotrue;
use crate::sql::{ApiError, Caller, API_VERSION};
use crate::Shared;

/// The API key, from the `apikey` header or query parameter (as Supabase's gateway takes it).
pub fn apikey(headers: &HeaderMap) -> Option<String> {
    headers.get("apikey").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned)
}

/// The bearer token of `Authorization: Bearer <token>`: the scheme in any case, then
/// spaces or tabs (PostgREST takes `Bearer<TAB>token` too), then one token. Anything
/// else is no bearer. /rest/v1 hands PostgREST only this token, in this form.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let blank = |c: char| c == ' ' || c == '\t';
    let (scheme, token) = value.trim_matches(blank).split_once(blank)?;
    let token = token.trim_matches(blank);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(char::is_whitespace))
        .then(|| token.to_owned())
}

/// Everything a handler needs of a request.
pub struct Input {
    pub state: Shared,
    /// The endpoint, below /auth/v1.
    pub path: String,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub ip: IpAddr,
}

impl FromRequest<Shared> for Input {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Shared) -> Result<Input, Response> {
        let headers = request.headers().clone();
        let path = request.uri().path().to_owned();
        let fail = |e: ApiError| e.for_request(&headers).into_response();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .cloned()
            .unwrap_or(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        let ip = crate::client_ip(state, &peer, &headers);
        let query = Query::<HashMap<String, String>>::try_from_uri(request.uri())
            .map(|q| q.0)
            .map_err(|_| fail(ApiError::new(400, "validation_failed", "Could not parse the query string")))?;
        // Auth requests are small (metadata is capped at 8 kB): 64 kB is room to spare.
        let bytes = crate::serve::read_body(request.into_body(), 64 << 10, &state.body_budget, ip)
            .await
            .map_err(|e| {
                fail(match e {
                    BodyError::TimedOut => ApiError::new(408, "request_timeout", "Reading the request body timed out"),
                    BodyError::TooLarge => ApiError::new(413, "request_too_large", "Request body too large"),
                    BodyError::Busy => ApiError::new(503, "over_request_rate_limit", "The server is busy, please retry after a moment.")
                        .retry_after(1),
                })
            })?
            .bytes;
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else if form {
            // A provider's form_post callback (Apple's): its fields as strings.
            let text = String::from_utf8_lossy(&bytes);
            Value::Object(auth_ext_http::form_fields(&text).into_iter().map(|(k, v)| (k, Value::String(v))).collect())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| fail(ApiError::new(400, "bad_json", &format!("Could not parse request body as JSON: {e}"))))?
        };
        Ok(Input { state: state.clone(), path, headers, query, body, ip })
    }
}

/// What a request sends besides its body: whether the endpoint acts for a signed-in
/// user or the application's server (its bearer token goes to the extension), or is
/// where links lead (no key needed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Key,
    User,
    Admin,
    Nothing,
}

pub type Answer = Result<Response, Response>;

impl Input {
    pub fn text(&self, name: &str) -> Option<String> {
        match self.body.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn json(&self, name: &str) -> Value {
        match self.body.get(name) {
            None | Some(Value::Null) => json!({}),
            Some(v) => v.clone(),
        }
    }

    pub fn fail(&self, e: ApiError) -> Response {
        e.for_request(&self.headers).into_response()
    }

    /// One SQL call in one transaction, as the role the key and token give.
    pub async fn call(&self, needs: Needs, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Value, Response> {
        let key = apikey(&self.headers).or_else(|| self.query.get("apikey").cloned());
        if key.is_none() && needs != Needs::Nothing {
            return Err(self.fail(ApiError::new(401, "no_api_key", "No API key found in request")));
        }
        let token = bearer(&self.headers);
        let acts_for_someone = matches!(needs, Needs::User | Needs::Admin);
        if acts_for_someone && token.is_none() {
            return Err(self.fail(ApiError::new(401, "no_authorization", "This endpoint requires a valid Bearer token")));
        }
        // A key is no user: Supabase Auth finds no sub in it (auth.go:126).
        if needs == Needs::User && token == key {
            return Err(self.fail(ApiError::new(403, "bad_jwt", "invalid claim: missing sub claim")));
        }
        let caller = Caller {
            apikey: key,
            bearer: if acts_for_someone { token } else { None },
            ip: self.ip,
            user_agent: self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        };
        self.state.db.call(&caller, sql, params).await.map_err(|e| self.fail(gotrue::gotrue_status(&self.path, needs == Needs::User, e)))
    }
}

pub fn ok(value: Value) -> Answer {
    let mut response = axum::Json(value).into_response();
    response.headers_mut().insert(API_VERSION, HeaderValue::from_static("2024-01-01"));
    Ok(response)
}

pub fn empty_object() -> Answer {
    ok(json!({}))
}

/// Answers with the handler's response, success or error alike.
macro_rules! handler {
    ($(#[$doc:meta])* $name:ident($input:ident $(, $extra:ident: $ty:ty)*) $body:block) => {
        $(#[$doc])*
        pub(crate) async fn $name($($extra: $ty,)* $input: Input) -> Response {
            let answer: Answer = async { $body }.await;
            answer.unwrap_or_else(|e| e)
        }
    };
}

/// A JSON value as a redirect carries it: a string as it is, anything else as JSON.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The status, code and message of an error response we made.
pub async fn error_parts(response: Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = body["error_code"].as_str().or(body["code"].as_str()).unwrap_or("unexpected_failure").to_owned();
    let message = body["msg"].as_str().or(body["message"].as_str()).unwrap_or("").to_owned();
    (status, code, message)
}

/// A redirect to `location` with `status` (302 or 303, as GoTrue's endpoints answer).
pub fn redirect(status: axum::http::StatusCode, location: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `auth_ext.site_url`, where redirects go when nothing else is allowed: read on its own,
/// as after a failed call its transaction could not.
pub async fn site_url(input: &Input) -> Result<String, Response> {
    let site = input.call(Needs::Nothing, "select pg_catalog.current_setting('auth_ext.site_url', true)", &[]).await?;
    Ok(site.as_str().unwrap_or("/").to_owned())
}

/// A path segment that names a user or factor by UUID, else GoTrue's answer (admin.go:75-94):
/// 404 validation_failed "{what} must be an UUID".
pub fn path_uuid(input: &Input, id: &str, what: &str) -> Result<String, Response> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| input.fail(ApiError::new(404, "validation_failed", &format!("{what} must be an UUID"))))
}
