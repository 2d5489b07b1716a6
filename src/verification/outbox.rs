//! The outbox: messages carrying a one-time token, queued in `auth.outbox` for a
//! sender process (`auth.claim_messages`) to deliver.

use serde_json::{json, Value};

use crate::core::errors::AuthResult;
use crate::core::db;
use crate::users::pg_uuid;
use crate::limits;
use crate::verification::one_time;

/// Queues a message carrying a freshly issued token, within the per-recipient,
/// per-client and global send limits, and wakes senders (pg_notify 'auth_outbox').
/// An email carries the link and the code; a text message (`channel` sms) the code.
pub fn send(user_id: &uuid::Uuid, recipient: &str, issued: &one_time::Issued, extra: Value) -> AuthResult<()> {
    let recipient = limits::count_send(recipient, issued.token_type.is_phone(), issued.token_type.frequency_kind())?;
    queue(user_id, &recipient, issued, extra)
}

/// Queues a message whose send `count_send` has counted already (a flow that must be
/// refused before expensive work counts first), to the normalized `recipient`.
pub fn queue(user_id: &uuid::Uuid, recipient: &str, issued: &one_time::Issued, extra: Value) -> AuthResult<()> {
    let sms = issued.token_type.is_phone();
    let mut payload = if sms {
        json!({"channel": "sms", "otp": issued.code, "verification_type": issued.token_type.verification_type()})
    } else {
        json!({
            "channel": "email",
            "email_otp": issued.code,
            "token_hash": issued.hashed_token,
            "action_link": issued.action_link(None),
            "verification_type": issued.token_type.verification_type(),
        })
    };
    if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
        p.extend(e);
    }
    db::run(
        "insert into auth.outbox (kind, recipient, user_id, payload) values ($1, $2, $3, $4)",
        &[issued.token_type.as_str().into(), recipient.into(), pg_uuid(user_id).into(), db::jsonb_arg(&payload)],
    )
}
