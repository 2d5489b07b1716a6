//! `auth_ext_gateway send`: delivers auth.outbox's messages, at least once: mail over
//! SMTP or a send-email webhook, text messages through Twilio or a send-SMS webhook. It
//! LISTENs on `auth_outbox` and also polls, so a missed notification only delays a
//! message; leases due messages (auth.lease_outbox: several senders never share one),
//! renders Supabase Auth's templates (auth.email_templates, else its defaults), sends
//! HTML and text parts, and reports each: sent (its secrets leave the table), or not,
//! to be retried with backoff, or failed for good on an SMTP 5xx (auth.outbox_retry).
//! One log line per message, never its code or link.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{json, Value};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::mail_templates::{default_template, render, template_for, text_part};
use crate::outbound::Outbound;
use crate::webhooks::{Failure, Twilio, Webhook};

pub const HELP: &str = "\
auth_ext_gateway send: delivers auth_ext's outbox mail over SMTP (at least once)

Settings (environment variables, or NAME=value lines in the --config file):
  AUTH_SENDER_DATABASE_URL   required; its role must be a member of service_role
Mail, over SMTP or to a webhook:
  AUTH_SENDER_SMTP_HOST      the SMTP server
  AUTH_SENDER_SMTP_PORT      default 587 (starttls), 465 (implicit), 25 (none)
  AUTH_SENDER_SMTP_TLS       starttls (default), implicit, or none (local servers only)
  AUTH_SENDER_SMTP_USER, AUTH_SENDER_SMTP_PASSWORD   optional
  AUTH_SENDER_FROM           required: the sender address
  AUTH_SENDER_FROM_NAME      optional: its display name
  AUTH_SENDER_EMAIL_WEBHOOK_URL, AUTH_SENDER_EMAIL_WEBHOOK_SECRET
                             instead of SMTP: Supabase's send-email hook, signed (Standard Webhooks)
Text messages:
  AUTH_SENDER_SMS_PROVIDER   twilio or webhook
  AUTH_SENDER_TWILIO_ACCOUNT_SID, AUTH_SENDER_TWILIO_AUTH_TOKEN, AUTH_SENDER_TWILIO_FROM
                             (a number, or a messaging service MG...); AUTH_SENDER_TWILIO_URL for tests
  AUTH_SENDER_SMS_WEBHOOK_URL, AUTH_SENDER_SMS_WEBHOOK_SECRET   Supabase's send-SMS hook, signed
  AUTH_SENDER_LEASE          seconds a message is leased to this sender (default 60)
  AUTH_SENDER_POLL           seconds between looks without a notification (default 5)
";

enum Mail {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
    Webhook(Webhook),
}

enum Sms {
    Twilio(Twilio),
    Webhook(Webhook),
}

struct Settings {
    database_url: String,
    mail: Option<Mail>,
    sms: Option<Sms>,
    outbound: Outbound,
    lease: i32,
    poll: Duration,
}

fn webhook(get: &dyn Fn(&str) -> Option<String>, prefix: &str) -> Result<Option<Webhook>, String> {
    let Some(url) = get(&format!("{prefix}_URL")) else { return Ok(None) };
    let secret = get(&format!("{prefix}_SECRET")).ok_or(format!("{prefix}_SECRET is required with {prefix}_URL"))?;
    Webhook::new(url, &secret).map(Some).map_err(|e| format!("{prefix}_SECRET: {e}"))
}

fn sms(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Sms>, String> {
    let required = |name: &str| get(name).ok_or(format!("{name} is required"));
    match get("AUTH_SENDER_SMS_PROVIDER").as_deref() {
        None => Ok(None),
        Some("twilio") => Ok(Some(Sms::Twilio(Twilio {
            base_url: get("AUTH_SENDER_TWILIO_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
            account_sid: required("AUTH_SENDER_TWILIO_ACCOUNT_SID")?,
            auth_token: required("AUTH_SENDER_TWILIO_AUTH_TOKEN")?,
            sender: required("AUTH_SENDER_TWILIO_FROM")?,
        }))),
        Some("webhook") => Ok(Some(Sms::Webhook(webhook(get, "AUTH_SENDER_SMS_WEBHOOK")?.ok_or("AUTH_SENDER_SMS_WEBHOOK_URL is required")?))),
        Some(other) => Err(format!("AUTH_SENDER_SMS_PROVIDER {other:?} is neither twilio nor webhook")),
    }
}

fn settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    let required = |name: &str| get(name).ok_or(format!("{name} is required"));
    let mail = match (webhook(get, "AUTH_SENDER_EMAIL_WEBHOOK")?, get("AUTH_SENDER_SMTP_HOST")) {
        (Some(hook), _) => Some(Mail::Webhook(hook)),
        (None, Some(host)) => Some(smtp(get, host)?),
        (None, None) => None,
    };
    let sms = sms(get)?;
    if mail.is_none() && sms.is_none() {
        return Err("nothing to deliver: set AUTH_SENDER_SMTP_HOST (or AUTH_SENDER_EMAIL_WEBHOOK_URL), AUTH_SENDER_SMS_PROVIDER, or both".into());
    }
    let seconds = |name: &str, default: u64| -> Result<u64, String> {
        get(name).map(|v| v.parse::<u64>().map_err(|_| format!("{name} {v:?} is not a number of seconds"))).unwrap_or(Ok(default))
    };
    Ok(Settings {
        database_url: required("AUTH_SENDER_DATABASE_URL")?,
        mail,
        sms,
        outbound: Outbound::new(),
        lease: i32::try_from(seconds("AUTH_SENDER_LEASE", 60)?.clamp(5, 3600)).unwrap_or(60),
        poll: Duration::from_secs(seconds("AUTH_SENDER_POLL", 5)?.clamp(1, 300)),
    })
}

fn smtp(get: &dyn Fn(&str) -> Option<String>, host: String) -> Result<Mail, String> {
    let required = |name: &str| get(name).ok_or(format!("{name} is required"));
    let tls = get("AUTH_SENDER_SMTP_TLS").unwrap_or_else(|| "starttls".into());
    let default_port = match tls.as_str() {
        "implicit" => 465,
        "none" => 25,
        "starttls" => 587,
        other => return Err(format!("AUTH_SENDER_SMTP_TLS {other:?} is not starttls, implicit or none")),
    };
    let port = match get("AUTH_SENDER_SMTP_PORT") {
        Some(p) => p.parse().map_err(|_| format!("AUTH_SENDER_SMTP_PORT {p:?} is not a port"))?,
        None => default_port,
    };
    let tls_parameters = || TlsParameters::new(host.clone()).map_err(|e| format!("TLS for {host}: {e}"));
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(port)
        .timeout(Some(Duration::from_secs(10)))
        .tls(match tls.as_str() {
            "implicit" => Tls::Wrapper(tls_parameters()?),
            "none" => Tls::None,
            _ => Tls::Required(tls_parameters()?),
        });
    if let Some(user) = get("AUTH_SENDER_SMTP_USER") {
        builder = builder.credentials(Credentials::new(user, get("AUTH_SENDER_SMTP_PASSWORD").unwrap_or_default()));
    }
    let address = required("AUTH_SENDER_FROM")?;
    let from = format!("{} <{address}>", get("AUTH_SENDER_FROM_NAME").unwrap_or_default().replace(['\r', '\n', '<', '>', '"'], ""));
    let from: Mailbox = from.trim().parse().map_err(|e| format!("AUTH_SENDER_FROM {address:?}: {e}"))?;
    Ok(Mail::Smtp { transport: builder.build(), from })
}

/// Runs until killed; reconnects when the database goes away.
pub async fn run(get: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let settings = settings(get)?;
    loop {
        if let Err(e) = serve(&settings).await {
            tracing::warn!("sender: {e}; reconnecting in 2 s");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn serve(settings: &Settings) -> Result<(), String> {
    let (client, mut connection) = tokio_postgres::connect(&settings.database_url, NoTls).await.map_err(|e| e.to_string())?;
    let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    let _ = wake.send(());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("sender: database connection: {e}");
                    break;
                }
            }
        }
    });
    client.batch_execute("set role service_role; listen auth_outbox").await.map_err(|e| e.to_string())?;
    tracing::info!("sender: delivering auth.outbox's messages");
    loop {
        let mut delivered = 0;
        if settings.mail.is_some() {
            delivered += deliver_batch(settings, &client, "email").await?;
        }
        if settings.sms.is_some() {
            delivered += deliver_batch(settings, &client, "sms").await?;
        }
        if delivered > 0 {
            continue;
        }
        // A notification, or the poll interval: whichever comes first.
        let _ = tokio::time::timeout(settings.poll, woken.recv()).await;
        while woken.try_recv().is_ok() {}
        if client.is_closed() {
            return Err("the database connection closed".into());
        }
    }
}

const BATCH: i64 = 20;
/// The longest one message's delivery may take, all steps together.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(20);

async fn deliver_batch(settings: &Settings, client: &Client, channel: &str) -> Result<usize, String> {
    let rows = client
        .query(
            "select id, kind, recipient, payload, attempts, context from auth.lease_outbox($1::int, $2::int, $3)",
            &[&(BATCH as i32), &settings.lease, &channel],
        )
        .await
        .map_err(|e| e.to_string())?;
    let templates: Value = client
        .query_one("select coalesce(jsonb_object_agg(template, jsonb_build_object('subject', subject, 'body', body)), '{}') from auth.email_templates", &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    let leased_at = std::time::Instant::now();
    for row in &rows {
        // Never past half the lease: what is left goes back when the lease runs out, rather
        // than to two senders at once.
        if leased_at.elapsed() > Duration::from_secs(settings.lease as u64 / 2) {
            break;
        }
        let (id, kind, recipient): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        let (payload, attempts, context): (Value, i32, Value) = (row.get(3), row.get(4), row.get(5));
        let delivery = deliver(settings, &templates, id, &kind, &recipient, &payload, &context);
        let outcome = match tokio::time::timeout(DELIVERY_DEADLINE, delivery).await {
            Ok(result) => result.map_err(|f| (f.permanent, f.why)),
            Err(_) => Err((false, format!("not delivered within {} s", DELIVERY_DEADLINE.as_secs()))),
        };
        match outcome {
            Ok(()) => {
                client.execute("select auth.outbox_sent($1)", &[&id]).await.map_err(|e| e.to_string())?;
                tracing::info!(id, kind, attempts, "sent");
            }
            Err((permanent, why)) => {
                let status: String = client
                    .query_one("select auth.outbox_retry($1, $2, $3)", &[&id, &why, &permanent])
                    .await
                    .map_err(|e| e.to_string())?
                    .get::<_, Option<String>>(0)
                    .unwrap_or_default();
                tracing::warn!(id, kind, attempts, status, "not sent: {why}");
            }
        }
    }
    Ok(rows.len())
}

/// Hands one message to its channel's service.
async fn deliver(settings: &Settings, templates: &Value, id: i64, kind: &str, recipient: &str, payload: &Value, context: &Value) -> Result<(), Failure> {
    let hook_id = format!("msg_auth_ext_{id}");
    let text = |name: &str| payload.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let permanent = |why: String| Failure { permanent: true, why };
    if payload.get("channel").and_then(Value::as_str) == Some("sms") {
        let code = text("otp");
        // Supabase Auth's SMS template, "Your code is {{ .Code }}".
        let message = format!("Your code is {code}");
        return match &settings.sms {
            Some(Sms::Twilio(twilio)) => twilio.send(&settings.outbound, recipient, &message).await,
            Some(Sms::Webhook(hook)) => {
                let body = json!({"user": context.get("user").cloned().unwrap_or(Value::Null), "sms": {"otp": code}});
                hook.post(&settings.outbound, &hook_id, &body).await
            }
            None => Err(Failure { permanent: false, why: "no SMS provider configured".into() }),
        };
    }
    match &settings.mail {
        Some(Mail::Smtp { transport, from }) => {
            let message = compose(from, templates, kind, recipient, payload, context).map_err(permanent)?;
            transport.send(message).await.map(|_| ()).map_err(|e| Failure { permanent: e.is_permanent(), why: e.to_string() })
        }
        Some(Mail::Webhook(hook)) => {
            // Supabase Auth's send-email hook payload.
            let action = match kind {
                "confirmation" => "signup",
                "email_change_current" | "email_change_new" => "email_change",
                other => other,
            };
            // A secure email change's mail to the current address carries its code as
            // token_new / token_hash_new, as Supabase Auth's hook does (the new address's
            // in token / token_hash), so that a receiver written to Supabase's docs mails
            // each code to its own address.
            let (code, hash) = (text("email_otp"), text("token_hash"));
            let (token, token_hash, token_new, token_hash_new) = if kind == "email_change_current" {
                (String::new(), String::new(), code, hash)
            } else {
                (code, hash, String::new(), String::new())
            };
            let body = json!({
                "user": context.get("user").cloned().unwrap_or(Value::Null),
                "email_data": {
                    "token": token, "token_hash": token_hash, "redirect_to": context["RedirectTo"],
                    "email_action_type": action, "site_url": context["SiteURL"], "token_new": token_new, "token_hash_new": token_hash_new,
                },
            });
            hook.post(&settings.outbound, &hook_id, &body).await
        }
        None => Err(Failure { permanent: false, why: "no mail delivery configured".into() }),
    }
}

/// The mail for a message: its template (the database's, else Supabase Auth's default)
/// rendered with Supabase's variables, as HTML and text.
fn compose(from: &Mailbox, templates: &Value, kind: &str, recipient: &str, payload: &Value, context: &Value) -> Result<Message, String> {
    let template = template_for(kind).ok_or(format!("no email template for messages of kind {kind}"))?;
    let (default_subject, default_body) = default_template(template);
    let subject_src = templates[template]["subject"].as_str().unwrap_or(default_subject);
    let body_src = templates[template]["body"].as_str().unwrap_or(default_body);
    let mut vars = context.clone();
    vars["ConfirmationURL"] = payload.get("action_link").cloned().unwrap_or(json!(""));
    vars["Token"] = payload.get("email_otp").cloned().unwrap_or(json!(""));
    vars["TokenHash"] = payload.get("token_hash").cloned().unwrap_or(json!(""));
    // Subjects are one line: a line break from user data would start a header.
    let subject = render(subject_src, &vars)?.replace(['\r', '\n'], " ");
    let html = render(body_src, &vars)?;
    let to: Mailbox = recipient.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text_part(&html)))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
        )
        .map_err(|e| e.to_string())
}
