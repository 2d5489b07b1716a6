//! Supabase Auth's email templates: its defaults (internal/mailer/templatemailer), and
//! the part of Go's html/template that Supabase users write in theirs: `{{ .Var }}`,
//! `{{ .Data.key }}`, `{{ if PIPELINE }} … {{ else }} … {{ end }}` with PIPELINE a value or
//! `eq`/`ne` of a value and a string. Values are HTML-escaped, as html/template does.

use serde_json::Value;

/// A message kind's template name (auth.email_templates.template).
pub fn template_for(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "confirmation" => "confirmation",
        "invite" => "invite",
        "magiclink" => "magic_link",
        "recovery" => "recovery",
        "email_change_current" | "email_change_new" => "email_change",
        "reauthentication" => "reauthentication",
        _ => return None,
    })
}

/// Supabase Auth's default subject and body of a template.
pub fn default_template(template: &str) -> (&'static str, &'static str) {
    match template {
        "invite" => ("You've been invited", "<h2>You've been invited</h2>\n\n<p>You've been invited to create an account. Follow the link below to accept.</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Accept invitation</a></p>"),
        "recovery" => ("Reset your password", "<h2>Reset your password</h2>\n\n<p>We received a request to reset your password. Follow the link below to choose a new one.</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Reset password</a></p>\n<p>If you didn't request this, you can safely ignore this email.</p>"),
        "magic_link" => ("Your sign-in link", "<h2>Your sign-in link</h2>\n\n<p>Follow the link below to sign in. This link expires shortly and can only be used once.</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Sign in</a></p>"),
        "email_change" => ("Confirm your new email address", "<h2>Confirm your new email address</h2>\n\n<p>Follow the link below to confirm {{ .NewEmail }} as your new email address.</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Confirm new email address</a></p>\n<p>If you didn't request this change, you can safely ignore this email.</p>"),
        "reauthentication" => ("{{ .Token }} is your verification code", "<h2>Your verification code</h2>\n\n<p>Use the code below to verify your identity. It expires shortly.</p>\n<p>{{ .Token }}</p>"),
        _ => ("Confirm your email address", "<h2>Confirm your email address</h2>\n\n<p>Follow the link below to confirm this email address and finish signing up.</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Confirm email address</a></p>\n"),
    }
}

/// HTML escaping as Go's html/template does for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A field path's value: `.Data.name` in `vars`.
fn lookup<'a>(vars: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix('.')?;
    if path.is_empty() {
        return Some(vars);
    }
    path.split('.').try_fold(vars, |v, key| v.get(key))
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(_)) => "map[…]".into(),
        Some(other) => other.to_string(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Bool(true)) => true,
    }
}

/// A pipeline's value as a condition: `.X`, or `eq .X "s"`, `ne .X "s"`.
fn condition(vars: &Value, pipeline: &str) -> Result<bool, String> {
    let words: Vec<&str> = pipeline.split_whitespace().collect();
    match words.as_slice() {
        [path] if path.starts_with('.') => Ok(truthy(lookup(vars, path))),
        [op @ ("eq" | "ne"), path, literal] if path.starts_with('.') && literal.len() >= 2 && literal.starts_with('"') && literal.ends_with('"') => {
            let equal = text_of(lookup(vars, path)) == literal[1..literal.len() - 1];
            Ok(if *op == "eq" { equal } else { !equal })
        }
        _ => Err(format!("unsupported template condition {pipeline:?}")),
    }
}

enum Node {
    Text(String),
    Value(String),
    If(String, Vec<Node>, Vec<Node>),
}

/// The deepest `{{ if }}` nesting a template may have (a template is service_role's, but
/// rendering it must not exhaust the sender's stack).
const MAX_NESTING: usize = 32;

/// Parses up to an `{{ else }}` or `{{ end }}` (returned) or the end of the template.
fn parse(src: &mut &str, depth: usize) -> Result<(Vec<Node>, Option<&'static str>), String> {
    if depth > MAX_NESTING {
        return Err(format!("{{{{ if }}}} is nested more than {MAX_NESTING} deep"));
    }
    let mut nodes = Vec::new();
    loop {
        let Some(open) = src.find("{{") else {
            nodes.push(Node::Text(src.to_string()));
            *src = "";
            return Ok((nodes, None));
        };
        nodes.push(Node::Text(src[..open].to_string()));
        let close = src[open..].find("}}").ok_or("an action is not closed with }}")? + open;
        let action = src[open + 2..close].trim().trim_start_matches('-').trim_end_matches('-').trim().to_owned();
        *src = &src[close + 2..];
        match action.split_whitespace().next().unwrap_or_default() {
            "end" => return Ok((nodes, Some("end"))),
            "else" => return Ok((nodes, Some("else"))),
            "if" => {
                let pipeline = action["if".len()..].trim().to_owned();
                let (then, stop) = parse(src, depth + 1)?;
                let otherwise = match stop {
                    Some("else") => match parse(src, depth + 1)? {
                        (nodes, Some("end")) => nodes,
                        _ => return Err("an {{ else }} has no {{ end }}".into()),
                    },
                    Some("end") => Vec::new(),
                    _ => return Err("an {{ if }} has no {{ end }}".into()),
                };
                nodes.push(Node::If(pipeline, then, otherwise));
            }
            _ if action.starts_with('.') && !action.contains(char::is_whitespace) => nodes.push(Node::Value(action)),
            _ => return Err(format!("unsupported template action {{{{ {action} }}}}")),
        }
    }
}

fn render_nodes(nodes: &[Node], vars: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Value(path) => out.push_str(&escape(&text_of(lookup(vars, path)))),
            Node::If(pipeline, then, otherwise) => render_nodes(if condition(vars, pipeline)? { then } else { otherwise }, vars, out)?,
        }
    }
    Ok(())
}

/// Renders `template` with `vars` (Supabase's names at the top level).
pub fn render(template: &str, vars: &Value) -> Result<String, String> {
    let mut src = template;
    let (nodes, stop) = parse(&mut src, 0)?;
    if stop.is_some() {
        return Err("an {{ end }} or {{ else }} without its {{ if }}".into());
    }
    let mut out = String::new();
    render_nodes(&nodes, vars, &mut out)?;
    Ok(out)
}

/// The text part of an HTML body: tags out (a link's URL kept after its text, in
/// parentheses), entities of the escaping back.
pub fn text_part(html: &str) -> String {
    let mut out = String::new();
    let (mut in_tag, mut tag, mut link) = (false, String::new(), None::<String>);
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let lower = tag.to_ascii_lowercase();
                if lower.starts_with("a ") {
                    link = tag.split("href=\"").nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned);
                } else if lower == "/a" {
                    if let Some(url) = link.take() {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            c if in_tag => tag.push(c),
            c => out.push(c),
        }
    }
    out.replace("&#34;", "\"").replace("&#39;", "'").replace("&#43;", "+").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn supabase_variables_and_conditions() {
        let vars = json!({"ConfirmationURL": "https://a.test/verify?token=x&type=signup", "Token": "123456", "Email": "a@b.c",
            "Data": {"name": "<Ann>", "lang": "de"}, "SiteURL": "https://a.test"});
        let out = render("{{ .Token }} {{.Email}} <a href=\"{{ .ConfirmationURL }}\">{{ .Data.name }}</a>{{ if eq .Data.lang \"de\" }}Hallo{{ else }}Hi{{ end }}{{ if .Missing }}x{{ end }}", &vars).unwrap();
        assert_eq!(out, "123456 a@b.c <a href=\"https://a.test/verify?token=x&amp;type=signup\">&lt;Ann&gt;</a>Hallo");
        assert!(render("{{ .Token ", &vars).is_err());
        assert!(render("{{ if .Token }}no end", &vars).is_err());
        assert!(render("{{ template \"x\" }}", &vars).is_err());
        assert_eq!(text_part("<p>Use <b>123456</b> &amp; go</p>"), "Use 123456 & go");
        assert_eq!(text_part("<a href=\"https://a.test/v?x=1&amp;y=2\">Sign in</a>"), "Sign in (https://a.test/v?x=1&y=2)");
        assert!(render(&"{{ if .Token }}".repeat(40), &vars).is_err());
    }
}
