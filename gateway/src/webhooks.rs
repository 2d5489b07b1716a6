//! Where the sender hands messages to other services: webhooks signed as the Standard
//! Webhooks spec says (www.standardwebhooks.com; Supabase's send-SMS and send-email
//! hooks have this shape), and Twilio's Messages API (www.twilio.com/docs/messaging/api/
//! message-resource#create-a-message-resource). Each answers whether a failure is
//! permanent (a 4xx but 401, 403, 404, 408 and 429) or worth another try.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::outbound::Outbound;

/// A failed hand-over: its reason, and whether trying again could help.
pub struct Failure {
    pub permanent: bool,
    pub why: String,
}

fn by_status(status: u16, what: &str, detail: &str) -> Result<(), Failure> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    // A 4xx is the message's fault, and final; but a missing or refused credential, an
    // unknown path (the receiver is misconfigured or not deployed yet), a timeout or a rate
    // limit are worth another try: the message must not be lost to a typo.
    let permanent = (400..500).contains(&status) && !matches!(status, 401 | 403 | 404 | 408 | 429);
    Err(Failure { permanent, why: format!("{what} answered {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") }) })
}

/// A Standard Webhooks endpoint: its URL and its secret (`v1,whsec_<base64>` as Supabase
/// writes hook secrets, or `whsec_<base64>`).
pub struct Webhook {
    pub url: String,
    key: Vec<u8>,
}

impl Webhook {
    pub fn new(url: String, secret: &str) -> Result<Webhook, String> {
        let encoded = secret.trim().trim_start_matches("v1,").trim_start_matches("whsec_");
        let key = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| "a webhook secret is whsec_ and base64".to_owned())?;
        if key.len() < 16 {
            return Err("a webhook secret has at least 16 bytes".into());
        }
        Ok(Webhook { url, key })
    }

    /// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (the spec's signature).
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Posts `payload`, signed; `id` stays the same across retries of one message, so the
    /// receiver can tell a retry from a new message.
    pub async fn post(&self, outbound: &Outbound, id: &str, payload: &Value) -> Result<(), Failure> {
        let body = payload.to_string();
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let headers = [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.signature(id, timestamp, &body)),
        ];
        let (status, answer) = outbound
            .exchange(&self.url, &headers, Some(("application/json", body)))
            .await
            .map_err(|why| Failure { permanent: false, why })?;
        by_status(status, "the webhook", String::from_utf8_lossy(&answer[..answer.len().min(200)]).trim())
    }
}

/// Twilio's Messages API.
pub struct Twilio {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// A phone number (`From`) or a messaging service (`MG…`, `MessagingServiceSid`).
    pub sender: String,
}

impl Twilio {
    pub async fn send(&self, outbound: &Outbound, to: &str, text: &str) -> Result<(), Failure> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url.trim_end_matches('/'), self.account_sid);
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token));
        let from_field = if self.sender.starts_with("MG") { "MessagingServiceSid" } else { "From" };
        let to = if to.starts_with('+') { to.to_owned() } else { format!("+{to}") };
        let form = crate::gotrue::form(&[("To", to), (from_field, self.sender.clone()), ("Body", text.to_owned())]);
        let (status, answer) = outbound
            .exchange(&url, &[("authorization", format!("Basic {credentials}"))], Some(("application/x-www-form-urlencoded", form)))
            .await
            .map_err(|why| Failure { permanent: false, why })?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let detail = match (answer.get("code"), answer.get("message").and_then(Value::as_str)) {
            (Some(code), Some(message)) => format!("{code} {message}"),
            _ => String::new(),
        };
        by_status(status, "Twilio", &detail)
    }
}
