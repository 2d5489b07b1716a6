//! The gateway's only requests of its own: to sign-in providers, to exchange a callback's
//! code, read the user and fetch an OpenID provider's discovery document. Each has a
//! deadline and a size cap, so that a provider that answers slowly or with garbage is a
//! clear error, never a hung request.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

/// How long a provider has to answer in full.
const DEADLINE: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
const MAX_ANSWER: usize = 1 << 20;

pub struct Outbound {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A request to a provider: a GET, or a POST of a form or of JSON.
pub struct Call<'a> {
    pub url: &'a str,
    pub body: Body,
    pub bearer: Option<&'a str>,
}

pub enum Body {
    None,
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

impl<'a> Call<'a> {
    pub fn get(url: &'a str) -> Call<'a> {
        Call { url, body: Body::None, bearer: None }
    }

    pub fn post(url: &'a str, body: Body) -> Call<'a> {
        Call { url, body, bearer: None }
    }

    pub fn bearer(mut self, token: &'a str) -> Call<'a> {
        self.bearer = Some(token);
        self
    }
}

impl Outbound {
    pub fn new() -> Outbound {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Outbound { client: Client::builder(TokioExecutor::new()).build(connector) }
    }

    /// Sends a request and reads the answer, whatever its status: `headers` besides
    /// Accept and User-Agent, and a body with its content type. A slow or oversized answer,
    /// or none, is an error that says which.
    pub async fn exchange(&self, url: &str, headers: &[(&str, String)], body: Option<(&str, String)>) -> Result<(u16, Bytes), String> {
        let host = url.split('/').nth(2).unwrap_or("?").to_owned();
        let mut request = hyper::Request::builder()
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("auth_ext_gateway/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let body = match body {
            Some((content_type, text)) => {
                request = request.method("POST").header(header::CONTENT_TYPE, content_type);
                text
            }
            None => String::new(),
        };
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| format!("a request to {host} could not be made: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| format!("{host} could not be reached: {e}"))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("{host}'s answer could not be read: {e}"))?
                .to_bytes();
            Ok::<_, String>((status.as_u16(), bytes))
        };
        tokio::time::timeout(DEADLINE, exchange).await.map_err(|_| format!("{host} did not answer within {} s", DEADLINE.as_secs()))?
    }

    /// Sends `call` and reads the answer as JSON (or, as GitHub may answer a token request,
    /// a form). A status other than 2xx, a slow or oversized answer, or one that is
    /// neither is an error that says which.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, String> {
        let host = call.url.split('/').nth(2).unwrap_or("?").to_owned();
        let mut headers = Vec::new();
        if let Some(token) = call.bearer {
            headers.push((header::AUTHORIZATION.as_str(), format!("Bearer {token}")));
        }
        let body = match &call.body {
            Body::Form(fields) => Some(("application/x-www-form-urlencoded", crate::gotrue::form(fields))),
            Body::Json(value) => Some(("application/json; charset=utf-8", value.to_string())),
            Body::None => None,
        };
        let (status, bytes) = self.exchange(call.url, &headers, body).await?;
        let value = serde_json::from_slice::<Value>(&bytes).or_else(|_| {
            let text = std::str::from_utf8(&bytes).map_err(|_| format!("{host} answered with neither JSON nor a form"))?;
            let fields = auth_ext_http::form_fields(text);
            if fields.is_empty() || fields.iter().any(|(k, _)| k.is_empty()) {
                return Err(format!("{host} answered with neither JSON nor a form"));
            }
            Ok(Value::Object(fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>()))
        })?;
        if !(200..300).contains(&status) {
            let why = value.get("error_description").or_else(|| value.get("error")).and_then(Value::as_str).unwrap_or("");
            return Err(format!("{host} answered {status}{}", if why.is_empty() { String::new() } else { format!(": {why}") }));
        }
        Ok(value)
    }
}
