//! Configuration: environment variables, or the same names in a file (`--config FILE`,
//! one `NAME=value` a line) whose values the environment overrides.

use std::collections::HashMap;

pub const HELP: &str = "\
auth_ext_gateway: Supabase Auth's HTTP API for a database with the auth_ext extension.

Usage: auth_ext_gateway [--config FILE]

Serves /auth/v1/* (GoTrue's API; each request is one SQL call in one transaction) and
passes /rest/v1/* through to PostgREST, so that supabase-js's createClient(url, anonKey)
works against one base URL.

Settings (environment variables, or NAME=value lines in the --config file):
  AUTH_GATEWAY_DATABASE_URL          required. postgres://auth_gateway:...@127.0.0.1:5432/app
                                     The login role must be a member of auth_ext_gateway and of
                                     anon, authenticated and service_role (examples/gateway/setup.sql).
  AUTH_GATEWAY_LISTEN                address to listen on (default 127.0.0.1:9999)
  AUTH_GATEWAY_POSTGREST_URL         PostgREST's base URL for /rest/v1 (default: /rest/v1 is not served)
  AUTH_GATEWAY_TRUSTED_PROXY_HEADER  a header your reverse proxy sets to the client's address, e.g.
                                     x-forwarded-for (its last entry counts); default: the TCP peer
  AUTH_GATEWAY_REDIRECT_ALLOW_LIST   comma-separated URLs where links may redirect (redirect_to);
                                     * matches within one part of the URL, ** across parts. Others fall
                                     back to the database's auth_ext.site_url
  AUTH_GATEWAY_POOL_SIZE             database connections (default 16)
  AUTH_GATEWAY_CAPTCHA_PROVIDER      hcaptcha or turnstile: sign-up (anonymous too), password sign-in,
                                     /otp, /recover and /resend need gotrue_meta_security.captcha_token
  AUTH_GATEWAY_CAPTCHA_SECRET        the provider's secret key (required with a provider)
  AUTH_GATEWAY_CAPTCHA_VERIFY_URL    the siteverify URL (default: the provider's; for tests)
  RUST_LOG                           log filter (default auth_ext_gateway=info)
";

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub postgrest_url: Option<String>,
    pub trusted_proxy_header: Option<String>,
    pub redirect_allow_list: Vec<String>,
    pub pool_size: usize,
    pub captcha: Option<Captcha>,
}

/// A CAPTCHA provider the front door checks tokens with (GoTrue's SECURITY_CAPTCHA_*).
#[derive(Debug, Clone)]
pub struct Captcha {
    pub secret: String,
    pub verify_url: String,
}

impl Captcha {
    fn load(provider: Option<String>, secret: Option<String>, verify_url: Option<String>) -> Result<Option<Captcha>, String> {
        let Some(provider) = provider else { return Ok(None) };
        // security/captcha.go: the providers' siteverify endpoints.
        let default_url = match provider.as_str() {
            "hcaptcha" => "https://hcaptcha.com/siteverify",
            "turnstile" => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            other => return Err(format!("AUTH_GATEWAY_CAPTCHA_PROVIDER {other:?} is neither hcaptcha nor turnstile")),
        };
        let secret = secret.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).ok_or("AUTH_GATEWAY_CAPTCHA_SECRET is required with a CAPTCHA provider")?;
        Ok(Some(Captcha { secret, verify_url: verify_url.unwrap_or_else(|| default_url.to_owned()) }))
    }
}

impl Config {
    /// From the command line and environment; `None` when `--help` was asked for.
    pub fn load(args: Vec<String>) -> Result<Option<Config>, String> {
        let mut file = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => {
                    print!("{HELP}");
                    return Ok(None);
                }
                "--config" => {
                    let path = args.next().ok_or("--config needs a file")?;
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                    file = parse_file(&text)?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let get = |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned()).filter(|v| !v.is_empty());
        let pool_size = match get("AUTH_GATEWAY_POOL_SIZE") {
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or(format!("AUTH_GATEWAY_POOL_SIZE {v:?} is not a positive number"))?,
            None => 16,
        };
        Ok(Some(Config {
            database_url: get("AUTH_GATEWAY_DATABASE_URL").ok_or("AUTH_GATEWAY_DATABASE_URL is required")?,
            listen: get("AUTH_GATEWAY_LISTEN").unwrap_or_else(|| "127.0.0.1:9999".into()),
            postgrest_url: get("AUTH_GATEWAY_POSTGREST_URL").map(|u| u.trim_end_matches('/').to_owned()),
            trusted_proxy_header: get("AUTH_GATEWAY_TRUSTED_PROXY_HEADER").map(|h| h.trim().to_ascii_lowercase()),
            redirect_allow_list: get("AUTH_GATEWAY_REDIRECT_ALLOW_LIST")
                .map(|l| l.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
                .unwrap_or_default(),
            pool_size,
            captcha: Captcha::load(get("AUTH_GATEWAY_CAPTCHA_PROVIDER"), get("AUTH_GATEWAY_CAPTCHA_SECRET"), get("AUTH_GATEWAY_CAPTCHA_VERIFY_URL"))?,
        }))
    }

    /// Whether a link may send the browser to `url`: it matches an entry of the allow
    /// list, exactly, as a glob, or below it (the next character starts a path, query or
    /// fragment, so `https://app.example` does not admit `https://app.example.evil`).
    pub fn redirect_allowed(&self, url: &str) -> bool {
        self.redirect_allow_list.iter().any(|entry| {
            if entry.contains('*') {
                glob_match(entry.as_bytes(), url.as_bytes())
            } else {
                url == entry
                    || url.strip_prefix(entry.as_str()).is_some_and(|rest| {
                        entry.ends_with('/') || rest.starts_with(['/', '?', '#'])
                    })
            }
        })
    }
}

pub fn parse_file(text: &str) -> Result<HashMap<String, String>, String> {
    let mut values = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or(format!("config line {}: expected NAME=value", n + 1))?;
        values.insert(name.trim().to_owned(), value.trim().trim_matches('"').to_owned());
    }
    Ok(values)
}

/// `*` matches any run of characters within one part of a URL (none of `/ ? # @ \`),
/// `**` any run at all.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        [b'*', rest @ ..] => {
            (0..=text.len())
                .take_while(|&i| i == 0 || !b"/?#@\\".contains(&text[i - 1]))
                .any(|i| glob_match(rest, &text[i..]))
        }
        [c, rest @ ..] => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(list: &[&str]) -> Config {
        Config {
            database_url: String::new(),
            listen: String::new(),
            postgrest_url: None,
            trusted_proxy_header: None,
            redirect_allow_list: list.iter().map(|s| s.to_string()).collect(),
            pool_size: 1,
            captcha: None,
        }
    }

    #[test]
    fn redirects_stay_on_the_allow_list() {
        let c = with(&["http://localhost:3000", "https://*.example.com/auth/**"]);
        assert!(c.redirect_allowed("http://localhost:3000"));
        assert!(c.redirect_allowed("http://localhost:3000/welcome?x=1"));
        assert!(c.redirect_allowed("https://app.example.com/auth/callback/x"));
        assert!(!c.redirect_allowed("http://localhost:30000"));
        assert!(!c.redirect_allowed("http://localhost:3000.evil.com/"));
        assert!(!c.redirect_allowed("http://localhost:3000@evil.com/"));
        assert!(!c.redirect_allowed("https://evil.com/.example.com/auth/x"));
        assert!(!c.redirect_allowed("https://evil.example"));
        assert!(!c.redirect_allowed("https://evil.com?.example.com/auth/x"));
        assert!(!c.redirect_allowed("https://evil.com#.example.com/auth/x"));
        assert!(!c.redirect_allowed("https://u@evil.com@x.example.com/auth/x"));
        assert!(!with(&[]).redirect_allowed("http://localhost:3000"));
    }

    #[test]
    fn config_file_lines() {
        let v = parse_file("# c\nAUTH_GATEWAY_LISTEN = 127.0.0.1:1\n\nX=\"y\"\n").unwrap();
        assert_eq!(v["AUTH_GATEWAY_LISTEN"], "127.0.0.1:1");
        assert_eq!(v["X"], "y");
        assert!(parse_file("nonsense").is_err());
    }
}
