//! The database side: a pool of connections as the gateway's login role, one
//! transaction per request, and the extension's errors as GoTrue's HTTP errors.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::config::Config;

pub struct Db {
    pool: Pool,
    /// `auth.error_codes()`: each code's HTTP status, read once at start.
    statuses: HashMap<String, u16>,
}

/// Who sends a request: its API key, its bearer token (for endpoints that act for a
/// user), and the client's address and user agent.
pub struct Caller {
    pub apikey: Option<String>,
    pub bearer: Option<String>,
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

const BEGIN: &str = "select auth.gateway_begin($1, $2, $3, $4)";

impl Db {
    pub async fn connect(config: &Config) -> Result<Db, String> {
        let mut pg: tokio_postgres::Config = config.database_url.parse().map_err(|e| format!("AUTH_GATEWAY_DATABASE_URL: {e}"))?;
        // Its statements name only built-ins and schema auth: with pg_catalog alone on the
        // path, nobody's function in public (a json_agg(jsonb), a jsonb_build_object of the
        // exact argument types, which would win over the built-in) can stand in for one.
        let options = format!("{} -c search_path=pg_catalog", pg.get_options().unwrap_or_default());
        pg.options(options.trim());
        let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        // A request waits at most this long for a connection, then hears 503: a flood of
        // slow requests (the per-user password lock queues them) cannot stall the rest forever.
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| e.to_string())?;
        let client = pool.get().await.map_err(|e| e.to_string())?;
        let rows = client
            .query("select code, http_status from auth.error_codes()", &[])
            .await
            .map_err(|e| format!("reading auth.error_codes() (is auth_ext installed?): {e}"))?;
        let statuses = rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1) as u16)).collect();
        Ok(Db { pool, statuses })
    }

    /// One request: `auth.gateway_begin` (the extension checks the key and token and
    /// becomes the request's role), then `sql`, in one transaction. Returns the first
    /// column of the one row `sql` gives (NULL for void functions).
    pub async fn call(&self, caller: &Caller, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Value, ApiError> {
        let client = self.pool.get().await.map_err(|e| {
            tracing::error!("no database connection: {e}");
            match e {
                // Every connection is busy: the database is there, the gateway is full.
                deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => ApiError::new(
                    503,
                    "over_request_rate_limit",
                    "The server is busy, please retry after a moment.",
                )
                .retry_after(1),
                _ => ApiError::unavailable(),
            }
        })?;
        let begin = client.prepare_cached(BEGIN).await.map_err(|e| self.error(e))?;
        let call = client.prepare_cached(sql).await.map_err(|e| self.error(e))?;
        // The transaction's four messages go out together, in one round trip
        // (tokio-postgres pipelines what is polled at once), and are all queued by the
        // first poll: a request dropped later (a timeout, a client gone) still ends
        // its transaction before the connection serves anyone else. After a failure,
        // later statements only report the aborted transaction and COMMIT rolls back,
        // so the first error counts. Nothing is checked client-side after the call ran:
        // gateway_begin's parameters (text and inet) always encode, and every `sql` is one
        // `select f(...)`, which gives exactly one row.
        let begin_params: [&(dyn ToSql + Sync); 4] = [&caller.apikey, &caller.bearer, &caller.ip, &caller.user_agent];
        let (opened, began, called, committed) = tokio::join!(
            client.batch_execute("begin"),
            client.query_one(&begin, &begin_params),
            client.query_one(&call, params),
            client.batch_execute("commit"),
        );
        opened.map_err(|e| self.error(e))?;
        began.map_err(|e| self.error(e))?;
        let row = called.map_err(|e| self.error(e))?;
        committed.map_err(|e| self.error(e))?;
        let value = match row.columns().first().map(|c| c.type_().name()) {
            Some("jsonb" | "json") => row.try_get::<_, Option<Value>>(0).map_err(|e| self.error(e))?.unwrap_or(Value::Null),
            Some("text") => row.try_get::<_, Option<String>>(0).map_err(|e| self.error(e))?.map_or(Value::Null, Value::String),
            _ => Value::Null,
        };
        Ok(value)
    }

    /// An SQL error as GoTrue's error: our codes (`code: message`) with the status the
    /// extension gives them; a missing privilege (an admin endpoint without the
    /// service_role key) as GoTrue's `not_admin`; other codes a hook raised by their class.
    fn error(&self, e: tokio_postgres::Error) -> ApiError {
        let Some(db) = e.as_db_error() else {
            tracing::error!("database connection failed: {e}");
            return ApiError::unavailable();
        };
        let sqlstate = db.code().code();
        // The server is shutting down or restarting (57P01 admin_shutdown, 57P02, 57P03),
        // or the connection was cut: the request may be retried shortly.
        if sqlstate.starts_with("57P") {
            tracing::warn!(sqlstate, "the database went away: {}", db.message());
            return ApiError::unavailable();
        }
        let (code, message) = match db.message().split_once(": ") {
            Some((code, rest)) if is_code(code) => (code.to_owned(), rest.to_owned()),
            _ => (String::new(), db.message().to_owned()),
        };
        if let Some(status) = self.statuses.get(&code) {
            let mut error = ApiError::new(*status, &code, &message);
            // A weak password's reasons, which auth-js reads as AuthWeakPasswordError's.
            if code == "weak_password" {
                error.weak_password = db.detail().and_then(|d| serde_json::from_str::<Value>(d).ok());
            }
            if code == "bad_id_token" {
                error = error.oauth();
            }
            return error;
        }
        let class = &sqlstate[..2];
        let status = match (sqlstate, class) {
            ("42501", _) => return ApiError::new(403, "not_admin", "User not allowed"),
            (_, "28") => 403,
            (_, "53" | "54") => 429,
            (_, "22" | "23" | "P0" | "39" | "38") => 400,
            _ => 500,
        };
        if status == 500 {
            tracing::error!(sqlstate, "unexpected database error: {}", db.message());
            return ApiError::new(500, "unexpected_failure", "Unexpected failure, please check server logs for more information");
        }
        let code = if code.is_empty() { "validation_failed".to_owned() } else { code };
        ApiError::new(status, &code, &message)
    }
}

/// The stable snake_case code an error message starts with.
fn is_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// An error in GoTrue's shape. With the `X-Supabase-Api-Version` request header (which
/// supabase-js sends) the body is `{code, message}`, else `{code: status, error_code, msg}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Whether the client asked for the 2024-01-01 error shape.
    pub versioned: bool,
    /// Seconds after which the client may retry (`Retry-After`).
    pub retry_after: Option<u32>,
    /// GoTrue's `weak_password` field: `{"reasons": [...]}`.
    pub weak_password: Option<Value>,
    /// An OAuthError's `error` (the ID token grant's refusals): the body is then
    /// `{error, error_description}`, without an error code (errors.go:208-216).
    pub oauth_error: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: &str) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_owned(),
            message: message.to_owned(),
            versioned: false,
            retry_after: None,
            weak_password: None,
            oauth_error: None,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The database cannot be reached now (down, restarting, shutting down): retry soon.
    pub fn unavailable() -> ApiError {
        ApiError::new(503, "unexpected_failure", "The database is not available").retry_after(5)
    }

    /// As GoTrue's OAuthError for an ID token it refuses (token_oidc.go:202-320).
    pub fn oauth(mut self) -> ApiError {
        self.status = StatusCode::BAD_REQUEST;
        self.oauth_error = Some(if self.message == "Nonces mismatch" { "invalid nonce" } else { "invalid request" });
        self
    }

    pub fn for_request(mut self, headers: &HeaderMap) -> ApiError {
        self.versioned = headers.contains_key(API_VERSION);
        self
    }
}

pub const API_VERSION: &str = "x-supabase-api-version";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(error) = self.oauth_error {
            let mut response = (self.status, axum::Json(json!({"error": error, "error_description": self.message}))).into_response();
            response.headers_mut().insert(API_VERSION, HeaderValue::from_static("2024-01-01"));
            return response;
        }
        let mut body = if self.versioned {
            json!({"code": self.code, "message": self.message})
        } else {
            json!({"code": self.status.as_u16(), "error_code": self.code, "msg": self.message})
        };
        if let Some(weak) = self.weak_password {
            body["weak_password"] = weak;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(API_VERSION, HeaderValue::from_static("2024-01-01"));
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-sb-error-code", code);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
