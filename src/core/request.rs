//! What the current request says about its client: the address and user agent, from
//! PostgREST's `request.headers` when it is in front, else from the connection.

use pgrx::datum::DatumWithOid;
use serde_json::Value;

use crate::core::{roles, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

#[derive(Debug, Default, Clone)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The client of the current request: what an HTTP front in auth_ext_gateway reported
/// (auth.gateway_begin), else what PostgREST's pre-request read from the request's
/// headers before any of the request's code ran (`record_postgrest_request`), else the
/// connection. Headers come from the client and are ignored, unless a superuser named, in
/// `auth_ext.trusted_proxy_header`, the one header a trusted proxy in front of PostgREST
/// sets, and PostgREST set them (its login role is a member of auth_ext_postgrest): then
/// its value is the address (for a list such as `x-forwarded-for`, its last entry, the
/// one that proxy added). Otherwise the connection's peer address: behind PostgREST, one
/// address for all of its clients. Anything malformed is ignored, never an error.
pub fn client() -> Client {
    for reported in [&settings::GATEWAY_CLIENT, &settings::REQUEST_CLIENT] {
        // Set by auth.gateway_begin for a member of auth_ext_gateway, or by PostgREST's
        // pre-request, only (SUSET).
        if let Some(reported) = settings::text(reported) {
            let reported: Value = serde_json::from_slice(reported).unwrap_or(Value::Null);
            let field = |name: &str| reported.get(name).and_then(Value::as_str).map(str::to_owned);
            return Client { ip: field("ip").or_else(connection_address), user_agent: field("user_agent") };
        }
    }
    let headers = request_headers();
    // A superuser's session (an operator's, a test's) may say where it stands itself.
    let ip = (roles::session_of() == roles::SessionOf::Superuser).then(|| forwarded(headers.as_ref())).flatten();
    Client { ip: ip.or_else(connection_address), user_agent: headers.as_ref().and_then(user_agent) }
}

/// The address the trusted proxy header names, if a superuser named one.
fn forwarded(headers: Option<&Value>) -> Option<String> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).and_then(Value::as_str);
    settings::text_string(&settings::TRUSTED_PROXY_HEADER)
        .and_then(|name| auth_ext_http::forwarded_client(header(name.trim().to_ascii_lowercase().as_str())))
        .map(|ip| ip.to_string())
}

fn request_headers() -> Option<Value> {
    settings::placeholder_text(c"request.headers").and_then(|text| serde_json::from_slice(text).ok())
}

fn user_agent(headers: &Value) -> Option<String> {
    headers.get("user-agent").and_then(Value::as_str).map(|ua| ua.chars().take(1024).collect())
}

/// Called by PostgREST's pre-request, before any code of the request runs: keeps the
/// client (from the headers PostgREST set) and the claims (from the token PostgREST
/// verified) for the rest of the transaction. Code of the request may rewrite
/// `request.headers` or `request.jwt.claims` afterwards (set_config), to choose the
/// address its guesses count against or to become another user in every policy; what was
/// kept stands (tokens::claims reads the kept claims in PostgREST's sessions). The first
/// reading of a transaction stands.
pub fn record_postgrest_request() {
    if settings::text(&settings::REQUEST_CLIENT).is_some() || roles::session_of() == roles::SessionOf::Other {
        return;
    }
    let claims = settings::placeholder_text(c"request.jwt.claims").map(|t| String::from_utf8_lossy(t).into_owned());
    settings::set_internal_local(settings::REQUEST_CLAIMS_NAME, claims.as_deref().unwrap_or(""));
    let headers = request_headers();
    let recorded = serde_json::json!({"ip": forwarded(headers.as_ref()), "user_agent": headers.as_ref().and_then(user_agent)});
    settings::set_internal_local(settings::REQUEST_CLIENT_NAME, &recorded.to_string());
}

/// The client, with the address a trusted caller (service_role, or an HTTP front in
/// auth_ext_gateway) reports for it. Anyone else may not choose the address that
/// limits are counted against.
pub fn client_reported_by_caller(ip: Option<String>) -> AuthResult<Client> {
    let mut client = client();
    if let Some(ip) = ip {
        if !roles::acting_role_is_trusted() {
            return Err(AuthError::new(ErrorCode::NoAuthorization, "only a trusted caller may give the client's address")
                .detail("ip is taken from service_role and members of auth_ext_gateway only")
                .hint("Leave ip out; the address is the connection's, or the trusted proxy header's."));
        }
        client.ip = Some(ip);
    }
    Ok(client)
}

/// The address limits are counted against: the client's, or one shared bucket when
/// unknown or not an address. An IPv6 client counts as its /48, what a site or a tunnel
/// broker's subscriber gets whole: keyed on anything finer, one host could be as many
/// clients as it has addresses.
pub fn limit_key(client: &Client) -> String {
    match client.ip.as_deref().map(str::parse::<std::net::IpAddr>) {
        Some(Ok(std::net::IpAddr::V4(v4))) => v4.to_string(),
        Some(Ok(std::net::IpAddr::V6(v6))) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
        _ => "unknown".into(),
    }
}

fn connection_address() -> Option<String> {
    crate::core::db::read_value::<String>("select pg_catalog.host(pg_catalog.inet_client_addr())", &[]).ok().flatten()
}

/// An `inet` argument from text, NULL when absent.
pub fn inet_arg(ip: Option<&str>) -> DatumWithOid<'static> {
    match ip {
        Some(ip) => pgrx::Inet(ip.to_owned()).into(),
        None => DatumWithOid::null::<pgrx::Inet>(),
    }
}
