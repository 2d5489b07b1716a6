//! `/rest/v1/*` passed through to PostgREST, as Supabase's gateway does: the same
//! headers (apikey, and Authorization as `Bearer <token>` with the token the gateway checked;
//! PostgREST verifies it), with the client's
//! address, as the gateway determined it, as the only `X-Forwarded-For` and `X-Real-IP`
//! (what the client sent there is dropped). The API key must be a live one, and a
//! session's token must belong to a session that stands: signing out ends data access
//! at once, not when the access token expires.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::request::apikey;
use crate::serve::BodyError;
use crate::sql::{ApiError, Caller};
use crate::Shared;

pub struct Proxy {
    base: Option<String>,
    client: Client<HttpConnector, Body>,
}

impl Proxy {
    pub fn new(base: Option<String>) -> Proxy {
        Proxy { base, client: Client::builder(TokioExecutor::new()).build_http() }
    }
}

/// Hop-by-hop headers (RFC 9110 7.6.1) end at each hop, with those `Connection` names.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization", "keep-alive", "proxy-connection"];

fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Bodies PostgREST reads as text (JSON, CSV, text): all but octet-stream uploads.
fn is_text(headers: &axum::http::HeaderMap) -> bool {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    !content_type.trim_start().to_ascii_lowercase().starts_with("application/octet-stream")
}

/// An error in PostgREST's own shape, for requests refused before they reach it.
fn postgrest_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"code": code, "details": null, "hint": null, "message": message});
    (status, axum::Json(body)).into_response()
}

/// The `apikey` query parameter (the first), and the query without any of them, its other
/// parameters as they came.
fn take_apikey(query: &str) -> (Option<String>, String) {
    let mut key = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match auth_ext_http::form_fields(pair).into_iter().next() {
            Some((name, value)) if name == "apikey" => {
                if key.is_none() && !value.trim().is_empty() {
                    key = Some(value.trim().to_owned());
                }
            }
            _ => kept.push(pair),
        }
    }
    (key, kept.join("&"))
}

/// The most a request body to PostgREST may be.
const MAX_BODY: usize = 16 << 20;

pub async fn forward(State(state): State<Shared>, peer: ConnectInfo<std::net::SocketAddr>, mut request: Request) -> Response {
    let Some(base) = state.proxy.base.as_deref() else {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    };
    let headers = request.headers().clone();
    let ip = crate::client_ip(&state, &peer, &headers);
    // The key must be live (a revoked anon key stops anonymous requests): the extension says.
    // As Supabase's gateway, it may come as the `apikey` query parameter, which PostgREST
    // never sees (it would read it as a filter).
    let raw_query = request.uri().query().unwrap_or("").to_owned();
    let (query_key, kept_query) = take_apikey(&raw_query);
    let Some(key) = apikey(&headers).or(query_key) else {
        return ApiError::new(401, "no_api_key", "No API key found in request").for_request(&headers).into_response();
    };
    let bearer = crate::request::bearer(&headers);
    let caller = Caller { apikey: Some(key), bearer: bearer.clone(), ip, user_agent: None };
    if let Err(e) = state.db.call(&caller, "select null::text", &[]).await {
        return e.for_request(&headers).into_response();
    }
    let rest = request.uri().path().strip_prefix("/rest/v1").unwrap_or("");
    let query = if kept_query.is_empty() { String::new() } else { format!("?{kept_query}") };
    let target: Uri = match format!("{base}{}{query}", if rest.is_empty() { "/" } else { rest }).parse() {
        Ok(uri) => uri,
        Err(_) => return ApiError::new(400, "validation_failed", "bad request path").into_response(),
    };
    *request.uri_mut() = target;
    let h = request.headers_mut();
    strip_hop_by_hop(h);
    h.remove(header::HOST);
    // PostgREST gets exactly the token checked above, or none: a form the gateway does not
    // read as a bearer must not reach PostgREST, which may read it otherwise.
    h.remove(header::AUTHORIZATION);
    if let Some(value) = bearer.as_ref().and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok()) {
        h.insert(header::AUTHORIZATION, value);
    }
    h.remove(header::FORWARDED);
    if let Some(name) = &state.config.trusted_proxy_header {
        h.remove(name.as_str());
    }
    let ip_value = HeaderValue::from_str(&ip.to_string()).expect("an address is a header value");
    h.insert("x-forwarded-for", ip_value.clone());
    h.insert("x-real-ip", ip_value);
    // The body is read whole first (within its deadline and size): PostgREST drops the
    // connection on a text body that is not UTF-8, so such a body is refused here, as
    // PostgREST refuses a body it cannot parse.
    let (parts, body) = request.into_parts();
    // Held from the body budget until PostgREST has answered.
    let body = match crate::serve::read_body(body, MAX_BODY, &state.body_budget, ip).await {
        Err(BodyError::TimedOut) => return postgrest_error(StatusCode::REQUEST_TIMEOUT, "PGRST000", "Reading the request body timed out"),
        Err(BodyError::TooLarge) => return postgrest_error(StatusCode::PAYLOAD_TOO_LARGE, "PGRST000", "Request body too large"),
        Err(BodyError::Busy) => {
            let mut busy = postgrest_error(StatusCode::SERVICE_UNAVAILABLE, "PGRST000", "The server is busy, please retry after a moment.");
            busy.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return busy;
        }
        Ok(body) => body,
    };
    if is_text(&parts.headers) && std::str::from_utf8(&body.bytes).is_err() {
        return postgrest_error(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json");
    }
    let request = Request::from_parts(parts, Body::from(body.bytes.clone()));
    match state.proxy.client.request(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::error!("PostgREST is unreachable: {e}");
            (StatusCode::BAD_GATEWAY, axum::Json(serde_json::json!({"message": "PostgREST is unreachable"}))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::take_apikey;

    #[test]
    fn the_apikey_parameter_is_taken_out_of_the_query() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("select=*&apikey=k1&id=eq.1", Some("k1"), "select=*&id=eq.1"),
            ("apikey=k%2B1", Some("k+1"), ""),
            ("apikey=a&apikey=b&x=1", Some("a"), "x=1"),
            ("apikey=&x=1", None, "x=1"),
            ("or=(a.eq.1,b.eq.2)&order=id.desc", None, "or=(a.eq.1,b.eq.2)&order=id.desc"),
            ("", None, ""),
        ];
        for (query, key, kept) in cases {
            assert_eq!(take_apikey(query), (key.map(str::to_owned), kept.to_string()), "{query:?}");
        }
    }
}
