//! One-time tokens: the link (a 256-bit random token, stored as SHA-256) and the
//! 6-digit code (stored as SHA-256 of a per-token salt and the code) that confirm an
//! email, sign in by magic link, recover an account, accept an invite or change an email.
//! Their kinds are one table here (`KINDS`), checked against the SQL domain.

use rand::rngs::OsRng;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::core::{crypto, db, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::users::{self, pg_uuid};
use crate::workers::durable::{self, DurableWrite};
use crate::limits;

/// The kinds of one-time token, as stored (`token_type`) and as messages (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Confirmation,
    Invite,
    Magiclink,
    Recovery,
    EmailChangeCurrent,
    EmailChangeNew,
    PhoneChange,
    Reauthentication,
    Sms,
}

/// Every kind of one-time token, in one table (in TokenType's order): its stored name
/// (the SQL domain auth.one_time_token_type lists the same; a #[pg_test] checks it), the
/// `type` clients verify it with (Supabase Auth's names: `signup` for a confirmation),
/// the sign-in method its session's amr records, whether it goes to a phone, and whether
/// `generate_link` makes links of it. Which user field says when it went out is
/// auth.message_field's.
struct KindRow {
    kind: TokenType,
    stored: &'static str,
    verification: &'static str,
    method: &'static str,
    phone: bool,
    linkable: bool,
}

#[rustfmt::skip]
static KINDS: [KindRow; 9] = [
    KindRow { kind: TokenType::Confirmation, stored: "confirmation", verification: "signup", method: "signup", phone: false, linkable: true },
    KindRow { kind: TokenType::Invite, stored: "invite", verification: "invite", method: "invite", phone: false, linkable: true },
    KindRow { kind: TokenType::Magiclink, stored: "magiclink", verification: "magiclink", method: "otp", phone: false, linkable: true },
    KindRow { kind: TokenType::Recovery, stored: "recovery", verification: "recovery", method: "recovery", phone: false, linkable: true },
    KindRow { kind: TokenType::EmailChangeCurrent, stored: "email_change_current", verification: "email_change_current", method: "email_change", phone: false, linkable: true },
    KindRow { kind: TokenType::EmailChangeNew, stored: "email_change_new", verification: "email_change_new", method: "email_change", phone: false, linkable: true },
    KindRow { kind: TokenType::PhoneChange, stored: "phone_change", verification: "phone_change", method: "phone_change", phone: true, linkable: false },
    KindRow { kind: TokenType::Reauthentication, stored: "reauthentication", verification: "reauthentication", method: "reauthentication", phone: false, linkable: false },
    KindRow { kind: TokenType::Sms, stored: "sms", verification: "sms", method: "otp", phone: true, linkable: false },
];

/// Verification types that name several kinds: `email` is Supabase's name for an emailed
/// code of either a sign-up or a magic link.
static VERIFICATION_ALIASES: [(&str, &[TokenType]); 2] = [
    ("email", &[TokenType::Confirmation, TokenType::Magiclink]),
    ("email_change", &[TokenType::EmailChangeCurrent, TokenType::EmailChangeNew]),
];

impl TokenType {
    fn row(self) -> &'static KindRow {
        &KINDS[self as usize]
    }

    /// Its name in auth.one_time_tokens.token_type (and the outbox's kind).
    pub fn as_str(self) -> &'static str {
        self.row().stored
    }

    /// What Supabase Auth's one-message-a-window counts it as (auth.message_field maps
    /// it to the user field that records it); None for invitations, which it exempts.
    pub fn frequency_kind(self) -> Option<&'static str> {
        (self != TokenType::Invite).then(|| self.as_str())
    }

    /// Sent to a phone (a text message) rather than an email.
    pub fn is_phone(self) -> bool {
        self.row().phone
    }

    /// The `type` a client passes to verify it, as Supabase Auth names them.
    /// The `type` of a link to Supabase Auth's `/verify`: both halves of an email change
    /// are `email_change` there.
    pub fn link_type(self) -> &'static str {
        match self {
            TokenType::EmailChangeCurrent | TokenType::EmailChangeNew => "email_change",
            other => other.verification_type(),
        }
    }

    pub fn verification_type(self) -> &'static str {
        self.row().verification
    }

    /// The sign-in method recorded in the session's amr claim.
    pub fn method(self) -> &'static str {
        self.row().method
    }

    /// The kind `generate_link` makes for a link type (its verification type).
    pub fn of_link_type(link_type: &str) -> Option<TokenType> {
        KINDS.iter().find(|r| r.linkable && r.verification == link_type).map(|r| r.kind)
    }

    /// The link types `generate_link` takes, for messages.
    pub fn link_types() -> String {
        KINDS.iter().filter(|r| r.linkable).map(|r| r.verification).collect::<Vec<_>>().join(", ")
    }

    fn parse_stored(s: &str) -> AuthResult<TokenType> {
        KINDS
            .iter()
            .find(|r| r.stored == s)
            .map(|r| r.kind)
            .ok_or_else(|| AuthError::new(ErrorCode::UnexpectedFailure, "unknown stored token type").detail(s.to_owned()))
    }
}

/// The token types a verification `type` accepts: an alias's kinds, or the one kind it
/// names (the type a link carries, `&type=` in its action_link, is accepted as it is).
/// A reauthentication code is no verification of its own.
pub fn accepted_types(verify_type: &str) -> AuthResult<&'static [TokenType]> {
    if let Some((_, kinds)) = VERIFICATION_ALIASES.iter().find(|(alias, _)| *alias == verify_type) {
        return Ok(kinds);
    }
    match KINDS.iter().find(|r| r.verification == verify_type && r.kind != TokenType::Reauthentication) {
        Some(r) => Ok(std::slice::from_ref(&r.kind)),
        None => {
            let known: Vec<&str> = VERIFICATION_ALIASES
                .iter()
                .map(|(alias, _)| *alias)
                .chain(KINDS.iter().filter(|r| r.kind != TokenType::Reauthentication).map(|r| r.verification))
                .collect();
            Err(AuthError::new(ErrorCode::ValidationFailed, "unknown verification type").detail(format!(
                "type {:?} is not one of {}",
                verify_type.chars().take(40).collect::<String>(),
                known.join(", ")
            )))
        }
    }
}

/// A freshly issued token: what the link carries and the code, in clear, once.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token_type: TokenType,
    pub hashed_token: String,
    /// The 6-digit code.
    pub code: String,
}

impl Issued {
    /// The link a message carries, where `redirect_to` (else the site URL) is where it
    /// leads after. With `auth_ext.api_external_url` set, Supabase Auth's own link to its
    /// `/verify` endpoint; else, or with `auth_ext.mailer_links` = `confirm`, the
    /// application's confirm route, as in Supabase's server-side auth guides.
    pub fn action_link(&self, redirect_to: Option<&str>) -> String {
        let site = settings::text_string(&settings::SITE_URL).unwrap_or_else(|| "http://localhost:3000".into());
        let api = settings::text_string(&settings::API_EXTERNAL_URL).filter(|_| settings::text_string(&settings::MAILER_LINKS).as_deref() != Some("confirm"));
        match api {
            Some(api) => format!(
                "{}/verify?token={}&type={}&redirect_to={}",
                api.trim_end_matches('/'),
                self.hashed_token,
                self.token_type.link_type(),
                auth_ext_http::redirect_value(redirect_to.unwrap_or(&site))
            ),
            None => {
                let mut link = format!(
                    "{}/auth/confirm?token_hash={}&type={}",
                    site.trim_end_matches('/'),
                    self.hashed_token,
                    self.token_type.verification_type()
                );
                if let Some(redirect) = redirect_to {
                    link.push_str("&redirect_to=");
                    link.push_str(&auth_ext_http::percent_encode(redirect));
                }
                link
            }
        }
    }
}


/// Issues a token of `token_type` for the user, replacing any live one of that type.
pub fn issue(user_id: &uuid::Uuid, token_type: TokenType, relates_to: &str) -> AuthResult<Issued> {
    issue_with_options(user_id, token_type, relates_to, &json!({}))
}

/// Issues a token that remembers `options` until it is used.
pub fn issue_with_options(
    user_id: &uuid::Uuid,
    token_type: TokenType,
    relates_to: &str,
    options: &Value,
) -> AuthResult<Issued> {
    let relates_to = users::normalize_address(relates_to, token_type.is_phone())?;
    let hashed_token = crypto::random_token::<32>();
    let code = crypto::six_digit_code();
    let salt: [u8; 16] = OsRng.gen();
    // One live token per user, type and requester (the asking client address): a new one
    // replaces the asker's own, never another's, so that nobody's request makes the owner's
    // code fail. Requests of one requester queue here, so that concurrent ones each replace
    // the last instead of colliding on the one-live-token index; nobody else's wait on
    // them (a request left open in a transaction holds its own requester's lock only).
    let requested_from = durable::current_client_key();
    db::lock(&format!("otp:{user_id}:{}:{requested_from}", token_type.as_str()))?;
    db::run(
        "delete from auth.one_time_tokens where user_id = $1 and token_type = $2 and consumed_at is null and requested_from = $3",
        &[pg_uuid(user_id).into(), token_type.as_str().into(), requested_from.as_str().into()],
    )?;
    db::run(
        "insert into auth.one_time_tokens (user_id, token_type, token_hash, otp_salt, otp_hash, relates_to, expires_at, options,
                                           requested_from)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8, $9)",
        &[
            pg_uuid(user_id).into(),
            token_type.as_str().into(),
            crypto::sha256(&[hashed_token.as_bytes()]).into(),
            salt.to_vec().into(),
            crypto::sha256(&[&salt, code.as_bytes()]).into(),
            relates_to.as_str().into(),
            f64::from(settings::OTP_EXP.get()).into(),
            db::jsonb_arg(options),
            requested_from.into(),
        ],
    )?;
    // When it went out is read from this token (auth.message_field): writing it on the
    // user would hold that user's row for as long as this transaction stays open.
    Ok(Issued { token_type, hashed_token, code })
}

/// The options of the user's newest live (unused) token of a type, if one is pending:
/// what a message sent again must ask for again.
pub fn pending_options(user_id: &uuid::Uuid, token_type: TokenType) -> AuthResult<Option<Value>> {
    db::json_row(
        "select options from auth.one_time_tokens where user_id = $1 and token_type = $2 and consumed_at is null
         order by created_at desc, id limit 1",
        &[pg_uuid(user_id).into(), token_type.as_str().into()],
    )
}

/// Whether the user has a live token of a type that proves no password (a sign-in code,
/// a sign-up code already marked so, an operator's link), from anyone.
pub fn pending_proves_nothing(user_id: &uuid::Uuid, token_type: TokenType) -> AuthResult<bool> {
    let found: Option<bool> = db::json_row(
        "select to_jsonb(exists (select from auth.one_time_tokens where user_id = $1 and token_type = $2
                                 and consumed_at is null and options->'proves_password' is distinct from 'true'))",
        &[pg_uuid(user_id).into(), token_type.as_str().into()],
    )?;
    Ok(found.unwrap_or(false))
}

/// A token that has just been used.
#[derive(Debug)]
pub struct Consumed {
    pub user_id: uuid::Uuid,
    pub token_type: TokenType,
    pub relates_to: String,
    pub options: Value,
}

#[derive(Debug, Deserialize)]
struct TokenRow {
    id: String,
    user_id: String,
    token_type: String,
    relates_to: String,
    otp_salt: String,
    otp_hash: String,
    options: Value,
    expired: bool,
    consumed: bool,
    requested_from: Option<String>,
}

/// A token row as `TokenRow` reads it: spliced into the statements below at compile time.
macro_rules! token_row {
    () => {
        "jsonb_build_object('id', id, 'user_id', user_id, 'token_type', token_type,
    'relates_to', relates_to, 'options', options, 'otp_salt', encode(otp_salt, 'base64'), 'otp_hash', encode(otp_hash, 'base64'),
    'expired', expires_at <= now(), 'consumed', consumed_at is not null, 'requested_from', requested_from)"
    };
}

/// Every failed verification, as Supabase Auth answers it: one code and one message
/// for a code (wrong, expired, used or of another kind alike), one for a link. What
/// went wrong, when the caller may know it, is in the detail.
pub fn invalid_code() -> AuthError {
    AuthError::new(ErrorCode::OtpExpired, "Token has expired or is invalid")
}

pub fn invalid_link() -> AuthError {
    AuthError::new(ErrorCode::OtpExpired, "Email link is invalid or has expired")
}

/// Checks what every verification checks, then marks the token used.
fn consume(row: TokenRow, accepted: &[TokenType], invalid: fn() -> AuthError) -> AuthResult<Consumed> {
    let token_type = TokenType::parse_stored(&row.token_type)?;
    if row.consumed {
        return Err(invalid().detail("it was used already").hint("Request a new one."));
    }
    if row.expired {
        return Err(invalid().detail("it has expired").hint("Request a new one."));
    }
    if !accepted.contains(&token_type) {
        return Err(invalid().detail(format!("it is a {} token", token_type.verification_type())));
    }
    let id = users::parse_id(&row.id)?;
    db::run("update auth.one_time_tokens set consumed_at = now() where id = $1", &[pg_uuid(&id).into()])?;
    Ok(Consumed { user_id: users::parse_id(&row.user_id)?, token_type, relates_to: row.relates_to, options: row.options })
}

/// Uses the token a link carries (`token_hash`, unguessable: no attempt counting).
pub fn consume_link(token_hash: &str, accepted: &[TokenType]) -> AuthResult<Consumed> {
    if token_hash.is_empty() || token_hash.len() > 256 {
        return Err(invalid_link());
    }
    let row: Option<TokenRow> = db::json_row(
        concat!(
            "select ",
            token_row!(),
            " from auth.one_time_tokens where token_hash = sha256(convert_to($1, 'UTF8'))
             for no key update"
        ),
        &[token_hash.into()],
    )?;
    consume(row.ok_or_else(invalid_link)?, accepted, invalid_link)
}

/// Uses the live token of an accepted type sent to `address` whose code `code` is.
/// Every live token of those types is a candidate (GoTrue checks an emailed code against
/// the confirmation and the magic link alike): a later token of another type never makes
/// an earlier one fail. With none live, the answer is GoTrue's one "expired or invalid".
///
/// Every code tried is counted before it is compared, in a transaction of its own that
/// commits whatever this call does. Each client address (an IPv6 client as its /48) may
/// try `auth_ext.otp_max_attempts` codes of a user an hour, however many codes it asks
/// for. A client that asked for a code is checked against its own code only, and nobody
/// else's tries touch it: a stranger's requests and guesses never make the owner's code
/// fail. A client that asked for none is checked against every live code, and those tries
/// also come from one pool per user and hour, limits::STRANGER_BUDGET times the limit. Guessing a
/// user's codes is so bounded per client address: `otp_max_attempts` an hour for one that
/// first had a code sent to the user, and 4 × that for all others together. Per client
/// address, `auth_ext.rate_limit_verify` and its burst bound tries across users (read again
/// once the try is counted: concurrent tries get no more than tries in a row). Tries of
/// one token queue on its row lock, so each sees the count the one before it left. When
/// the count cannot be recorded, the code is not compared at all.
pub fn consume_code(address: &str, code: &str, accepted: &[TokenType]) -> AuthResult<Consumed> {
    let client = durable::current_client_key();
    limits::check_verify_limits(&client)?;
    let types: Vec<&str> = accepted.iter().map(|t| t.as_str()).collect();
    let address = users::normalize_address(address, accepted.iter().any(|t| t.is_phone()))?;
    // FOR NO KEY UPDATE: the counting worker's foreign-key check (FOR KEY SHARE) passes it.
    // Live codes only, the client's own first (however many others there are): a spent or
    // expired code answers as an unknown one does, so that codes tell nobody which
    // addresses have accounts (links, unguessable, still say why).
    let live: Vec<TokenRow> = db::json_row::<Vec<TokenRow>>(
        concat!(
            "select coalesce(jsonb_agg(t.row order by t.own desc, t.created_at desc, t.id), '[]') from (
                 select ",
            token_row!(),
            " as row, requested_from = $3 as own, created_at, id
                 from auth.one_time_tokens
                 where relates_to = $1 and token_type = any($2) and consumed_at is null and expires_at > now()
                 order by requested_from = $3 desc, created_at desc, id
                 limit 32
                 for no key update) t"
        ),
        &[address.as_str().into(), types.into(), client.as_str().into()],
    )?
    .unwrap_or_default();
    if live.is_empty() {
        return Err(invalid_code());
    }
    // A client that asked for codes here is checked against its own only (one try each);
    // any other client against every live code, each compare a try from the strangers' pool.
    let (own, others): (Vec<TokenRow>, Vec<TokenRow>) =
        live.into_iter().partition(|t| t.requested_from.as_deref() == Some(client.as_str()));
    let owner = !own.is_empty();
    let max = settings::OTP_MAX_ATTEMPTS.get();
    let mut tried_any = false;
    for row in if owner { own } else { others } {
        // Read after the lock, in statements of their own: the locking statement's snapshot
        // predates its wait, and would miss tries counted by the ones it queued behind.
        let token_id = users::parse_id(&row.id)?;
        let mine = format!("{} {client}", row.user_id);
        let tried = limits::counted_hits("otp_tries", &mine)?;
        if tried >= max || (!owner && limits::counted_hits("otp_strangers", &row.user_id)? >= max.saturating_mul(limits::STRANGER_BUDGET)) {
            continue;
        }
        tried_any = true;
        if !durable::commit_now(DurableWrite::count_otp_attempt(&token_id, &client))
            || limits::counted_hits("otp_tries", &mine)? <= tried
        {
            return Err(durable::not_recorded());
        }
        limits::recheck_verify_limits(&client)?;
        let salt = db::base64_bytes(&row.otp_salt)?;
        let expected = db::base64_bytes(&row.otp_hash)?;
        let given = crypto::sha256(&[&salt, code.trim().as_bytes()]);
        if bool::from(given.ct_eq(&expected)) {
            return consume(row, accepted, invalid_code);
        }
    }
    if !tried_any {
        return Err(invalid_code().detail("too many wrong codes were tried").hint("Request a new code."));
    }
    Err(invalid_code())
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    /// The token kinds have one home, the SQL domain auth.one_time_token_type: the Rust
    /// enum must list exactly its values.
    #[pg_test]
    fn token_types_match_the_sql_domain() {
        let sql_values: Vec<String> = Spi::get_one::<Vec<String>>(
            r#"select array(select m[1] from regexp_matches(
                 (select pg_get_constraintdef(c.oid) from pg_constraint c
                  where c.contypid = 'auth.one_time_token_type'::regtype), '''([a-z_]+)''', 'g') m order by 1)"#,
        )
        .unwrap()
        .unwrap();
        // The table is in the enum's order, so that a kind finds its row by index.
        assert!(KINDS.iter().enumerate().all(|(i, r)| r.kind as usize == i));
        let mut rust_values: Vec<String> = KINDS.iter().map(|r| r.stored.to_owned()).collect();
        rust_values.sort();
        assert_eq!(sql_values, rust_values);
    }
}
