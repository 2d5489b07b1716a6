//! The HTTP rules the extension (behind PostgREST) and auth_ext_gateway both apply,
//! written once: which entry of a trusted proxy's header is the client, and how a value
//! is put into a URL.

use std::net::IpAddr;

/// The client's address from the header a trusted proxy sets: the last entry of the
/// header's last line, the one that proxy appended (earlier entries, and earlier lines,
/// came from the client). `None` when that entry is not an address: the caller then
/// falls back to the connection's peer, never to an entry the client wrote.
pub fn forwarded_client(last_line: Option<&str>) -> Option<IpAddr> {
    last_line?.rsplit(',').next()?.trim().parse().ok()
}

/// Percent-encodes a URL query or fragment value: RFC 3986's unreserved characters pass
/// through, every other byte becomes `%XX`.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A value as Go's `url.QueryEscape` writes it (what GoTrue's redirects carry): RFC 3986's
/// unreserved characters as they are, a space as `+`, every other byte as `%XX`.
pub fn query_escape(value: &str) -> String {
    percent_encode(value).replace("%20", "+")
}

/// A `redirect_to` value as Supabase Auth puts it into its links: as given, unless it
/// holds `&`, `=` or `#` (then it was not encoded by the caller), which it query-escapes
/// (a space as `+`).
pub fn redirect_value(redirect_to: &str) -> String {
    if !redirect_to.contains(['&', '=', '#']) {
        return redirect_to.to_owned();
    }
    query_escape(redirect_to)
}

/// Base64url without padding, as JOSE writes a token's parts (padding and the standard
/// alphabet's `+/` are taken too); `None` for anything else.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A lone leftover character (6 bits) encodes no byte.
    (bits < 6).then_some(out)
}

/// The fields of an `application/x-www-form-urlencoded` body (a provider's form_post
/// callback, a token endpoint's answer): `+` is a space, `%XX` a byte; a malformed
/// escape stays as written, and bytes that are not UTF-8 become U+FFFD.
pub fn form_fields(body: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(&part[i + 1..i + 3], 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_as_jose_writes_it() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("eyJhIjoxfQ", Some(br#"{"a":1}"#)),
            ("eyJhIjoxfQ==", Some(br#"{"a":1}"#)),
            ("_-8", Some(&[0xff, 0xef])),
            ("/+8", Some(&[0xff, 0xef])),
            ("", Some(b"")),
            ("a", None),
            ("ab$d", None),
        ];
        for (text, want) in cases {
            assert_eq!(base64url_decode(text).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn form_fields_decode_as_browsers_encode() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("code=abc&state=1f2e", &[("code", "abc"), ("state", "1f2e")]),
            ("a=x+y%20z&b=%C3%A9", &[("a", "x y z"), ("b", "é")]),
            ("bad=%zz&cut=%4", &[("bad", "%zz"), ("cut", "%4")]),
            ("flag&=v&&", &[("flag", ""), ("", "v")]),
            ("", &[]),
        ];
        for (body, want) in cases {
            let got = form_fields(body);
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(got, want, "{body:?}");
        }
    }

    #[test]
    fn the_proxys_entry_is_the_last() {
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (Some("203.0.113.9"), Some("203.0.113.9")),
            // A client's own entries come first; the proxy's is last.
            (Some("6.6.6.6, 203.0.113.9"), Some("203.0.113.9")),
            (Some("6.6.6.6,2001:db8::1"), Some("2001:db8::1")),
            // The proxy's entry is not an address: nothing, not the client's entry.
            (Some("203.0.113.9, unknown"), None),
            (Some("203.0.113.9,"), None),
            (Some(""), None),
            (None, None),
        ];
        for (line, want) in cases {
            let want = want.map(|w| w.parse::<IpAddr>().unwrap());
            assert_eq!(forwarded_client(*line), want, "{line:?}");
        }
    }

    #[test]
    fn only_unreserved_characters_pass() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("https://x.test/a?b=c&d=e f#g"), "https%3A%2F%2Fx.test%2Fa%3Fb%3Dc%26d%3De%20f%23g");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn redirects_go_as_given_unless_unencoded() {
        assert_eq!(redirect_value("https://app.test/welcome"), "https://app.test/welcome");
        assert_eq!(redirect_value("https://app.test/a?b=c&d=e f"), "https%3A%2F%2Fapp.test%2Fa%3Fb%3Dc%26d%3De+f");
        assert_eq!(redirect_value("https://app.test/x%20y"), "https://app.test/x%20y");
    }
}
