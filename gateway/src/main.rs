//! auth_ext_gateway: Supabase Auth's HTTP API (`/auth/v1/*`) in front of the auth_ext
//! extension, and `/rest/v1/*` passed through to PostgREST, on one base URL, so that
//! `createClient(url, anonKey)` from supabase-js works unchanged.
//!
//! Stateless: each auth request is one transaction that begins with
//! `auth.gateway_begin` (the extension checks the API key and token and becomes the
//! request's role) and makes one call of one SQL function. Every decision is the
//! extension's; this maps HTTP to SQL and results or errors back to HTTP.

#[macro_use]
mod request;
mod outbound;
mod captcha;
mod mail_templates;
mod sender;
mod webhooks;
mod exchange;
mod social;
mod custom_providers;
mod mfa;
mod api;
mod gotrue;
mod config;
mod proxy;
mod serve;
mod sql;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use config::Config;

pub struct AppState {
    pub config: Config,
    pub db: sql::Db,
    pub proxy: proxy::Proxy,
    /// Requests to sign-in providers.
    pub outbound: outbound::Outbound,
    /// Request bodies held in memory at once (serve::read_body).
    pub body_budget: serve::BodyBudget,
}

pub type Shared = Arc<AppState>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "send") {
        return send(&args[1..]).await;
    }
    let config = match Config::load(args) {
        Ok(Some(config)) => config,
        Ok(None) => return, // --help
        Err(e) => {
            eprintln!("auth_ext_gateway: {e}\n\n{}", config::HELP);
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "auth_ext_gateway=info".into()),
        )
        .init();
    let db = match sql::Db::connect(&config).await {
        Ok(db) => db,
        Err(e) => {
            tracing::error!("cannot use the database: {e}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.listen);
            std::process::exit(1);
        }
    };
    let proxy = proxy::Proxy::new(config.postgrest_url.clone());
    let body_budget = serve::BodyBudget::new(serve::BODY_BUDGET_BYTES, serve::BODY_BUDGET_PER_NETWORK_BYTES);
    let state: Shared = Arc::new(AppState { config, db, proxy, outbound: outbound::Outbound::new(), body_budget });
    let app = Router::new()
        .nest("/auth/v1", api::routes())
        .route("/rest/v1", axum::routing::any(proxy::forward))
        .route("/rest/v1/{*rest}", axum::routing::any(proxy::forward))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
        .layer(middleware::from_fn(cors))
        .with_state(state.clone());
    tracing::info!("listening on http://{}", state.config.listen);
    // Behind a trusted proxy every client shares the proxy's address: no cap per address.
    let per_peer = state.config.trusted_proxy_header.is_none();
    serve::serve(listener, app, per_peer, shutdown_signal()).await;
}

/// Ctrl-C or SIGTERM (what a service manager, or a script's kill, sends).
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Headers a browser may read: the API version (auth-js reads error codes by it),
/// pagination, PostgREST's ranges, and limits.
const EXPOSED: &str = "X-Supabase-Api-Version, X-Total-Count, Link, Content-Range, Content-Location, Location, Retry-After";
/// What supabase-js sends, for preflights that do not list their headers.
const ALLOWED: &str = "authorization, apikey, content-type, x-client-info, x-supabase-api-version, accept-profile, \
                       content-profile, prefer, range, x-retry-count";

/// CORS for browsers on any origin, as Supabase's gateway answers (no cookies are used:
/// tokens travel in headers). Preflights are answered here for auth and data alike;
/// PostgREST's own CORS headers are replaced by these.
async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let requested = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        // No request holds the server longer than this (the database's statement_timeout,
        // set on the gateway's role, ends its query too).
        match tokio::time::timeout(std::time::Duration::from_secs(30), next.run(request)).await {
            Ok(response) => response,
            Err(_) => sql::ApiError::new(504, "request_timeout", "Processing this request timed out, please retry after a moment.")
                .into_response(),
        }
    };
    let headers = response.headers_mut();
    drop_cors_headers(headers);
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.unwrap_or(HeaderValue::from_static(ALLOWED)));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

/// Drops CORS headers set further in (PostgREST's), so that each is sent once.
fn drop_cors_headers(headers: &mut HeaderMap) {
    let names: Vec<_> = headers.keys().filter(|k| k.as_str().starts_with("access-control-")).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// The client's address: the TCP peer, or the last entry of the trusted proxy's header
/// when one is configured (the entry that proxy appended; earlier ones are the client's).
/// A header sent on several lines counts as one list, in order: the proxy's own entry is
/// the last of the last line, whatever lines the client sent before it.
pub fn client_ip(state: &AppState, peer: &ConnectInfo<SocketAddr>, headers: &HeaderMap) -> std::net::IpAddr {
    state
        .config
        .trusted_proxy_header
        .as_ref()
        .and_then(|name| auth_ext_http::forwarded_client(headers.get_all(name).iter().last().and_then(|v| v.to_str().ok())))
        .unwrap_or(peer.0.ip())
}

pub type Ctx = (State<Shared>, ConnectInfo<SocketAddr>);

/// `auth_ext_gateway send [--config FILE]`: the outbox's mail sender (sender.rs).
async fn send(args: &[String]) {
    let file = match args {
        [] => Default::default(),
        [flag, path] if flag == "--config" => match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| config::parse_file(&t)) {
            Ok(values) => values,
            Err(e) => {
                eprintln!("auth_ext_gateway send: {path}: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprint!("{}", sender::HELP);
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "auth_ext_gateway=info".into()))
        .init();
    let get = |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned()).filter(|v| !v.is_empty());
    if let Err(e) = sender::run(&get).await {
        eprintln!("auth_ext_gateway send: {e}\n\n{}", sender::HELP);
        std::process::exit(2);
    }
}
