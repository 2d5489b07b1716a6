//! `/rest/v1/*` passed through to PostgREST, as Supabase's gateway does: the same
//! headers (apikey and Authorization; PostgREST verifies the token), with the client's
//! address appended to `X-Forwarded-For`. The API key must be a live one.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::api::apikey;
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

/// Hop-by-hop headers (RFC 9110 7.6.1) end at each hop.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

pub async fn forward(State(state): State<Shared>, peer: ConnectInfo<std::net::SocketAddr>, mut request: Request) -> Response {
    let Some(base) = state.proxy.base.as_deref() else {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    };
    let headers = request.headers().clone();
    let ip = crate::client_ip(&state, &peer, &headers);
    // The key must be live (a revoked anon key stops anonymous requests): the extension says.
    let Some(key) = apikey(&headers) else {
        return ApiError::new(401, "no_api_key", "No API key found in request").for_request(&headers).into_response();
    };
    let caller = Caller { apikey: Some(key), bearer: None, ip, user_agent: None };
    if let Err(e) = state.db.call(&caller, "select null::text", &[]).await {
        return e.for_request(&headers).into_response();
    }
    let rest = request.uri().path().strip_prefix("/rest/v1").unwrap_or("");
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let target: Uri = match format!("{base}{}{query}", if rest.is_empty() { "/" } else { rest }).parse() {
        Ok(uri) => uri,
        Err(_) => return ApiError::new(400, "validation_failed", "bad request path").into_response(),
    };
    *request.uri_mut() = target;
    let h = request.headers_mut();
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    h.remove(header::HOST);
    let forwarded = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {ip}"),
        None => ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        h.insert("x-forwarded-for", v);
    }
    match state.proxy.client.request(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::error!("PostgREST is unreachable: {e}");
            (StatusCode::BAD_GATEWAY, axum::Json(serde_json::json!({"message": "PostgREST is unreachable"}))).into_response()
        }
    }
}
