//! What the current request says about its client: the address and user agent, from
//! PostgREST's `request.headers` when it is in front, else from the connection.

use std::net::IpAddr;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::Value;

use crate::settings;

#[derive(Debug, Default, Clone)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The client of the current request. `x-forwarded-for`'s first address wins (the
/// original client as the proxy saw it), then the connection's peer address. Headers
/// are client-controlled: anything malformed is ignored, never an error.
pub fn client() -> Client {
    let headers: Option<Value> =
        settings::placeholder_text(c"request.headers").and_then(|text| serde_json::from_slice(text).ok());
    let header = |name: &str| headers.as_ref().and_then(|h| h.get(name)).and_then(Value::as_str);
    let forwarded = header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_string());
    let ip = forwarded.or_else(connection_address);
    let user_agent = header("user-agent").map(|ua| ua.chars().take(1024).collect());
    Client { ip, user_agent }
}

fn connection_address() -> Option<String> {
    Spi::get_one::<String>("select pg_catalog.host(pg_catalog.inet_client_addr())").ok().flatten()
}

/// An `inet` argument from text, NULL when absent.
pub fn inet_arg(ip: Option<&str>) -> DatumWithOid<'static> {
    match ip {
        Some(ip) => pgrx::Inet(ip.to_owned()).into(),
        None => DatumWithOid::null::<pgrx::Inet>(),
    }
}
