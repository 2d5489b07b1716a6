//! Sign-up with an address and a password, and what a confirmation proves.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::flows::gates;
use crate::limits;
use crate::core::{db, request, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::core::passwords::{self, Check};
use crate::sessions::open::create_session;
use crate::users::{self, Lookup, NewUser, pg_uuid};
use crate::verification::outbox;
use crate::verification::one_time::{self, TokenType};
use crate::workers::durable;

/// Signs up with an email or a phone and a password. With `auth_ext.mailer_autoconfirm`
/// off (the default) the user must confirm first: a confirmation link and code go to
/// the email (a code by text message to the phone) and the user is returned without a
/// session. With it on, a session is returned. With a PKCE `code_challenge`, the
/// confirmation link gives an auth code (see verification/pkce.rs).
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_up(
    email: Option<&str>,
    password: Option<&str>,
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    phone: default!(Option<&str>, "NULL"),
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
) -> Result<pgrx::JsonB, ErrorReport> {
    // Supabase Auth's order: sign-ups on at all, the password, one address, its provider, its form.
    gates::signups_allowed()?;
    let password = password.unwrap_or_default();
    if password.is_empty() {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "Signup requires a valid password").into());
    }
    passwords::check_strength(password)?;
    let (address, is_phone) = match (email, phone) {
        (email, None) => (email.unwrap_or_default(), false),
        (None, Some(phone)) => (phone, true),
        (Some(_), Some(_)) => {
            return Err(AuthError::new(
                ErrorCode::ValidationFailed,
                "Only an email address or phone number should be provided on signup.",
            )
            .into())
        }
    };
    gates::captcha_checked()?;
    gates::provider_enabled(is_phone, gates::Use::SignUp)?;
    let lookup = Lookup::of(address, is_phone).check()?;
    let pkce = crate::verification::pkce::challenge_options(code_challenge, code_challenge_method)?;
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let provider = if is_phone { "phone" } else { "email" };
    // Checked before anything depends on the address: a registered one stores no data,
    // and an answer that differed would tell which addresses are.
    db::run("select auth.check_metadata_size($1, '{}')", &[db::jsonb_arg(&data)])?;
    let autoconfirm = if is_phone { settings::SMS_AUTOCONFIRM.get() } else { settings::MAILER_AUTOCONFIRM.get() };
    if autoconfirm {
        return Ok(pgrx::JsonB(sign_up_confirmed(lookup, password, data)?));
    }
    // A caller over the send limits is refused before any expensive work (argon2), and the
    // limits count alike whether or not the address is registered.
    let recipient = limits::count_send(address, is_phone, confirmation_type(is_phone).frequency_kind())?;
    let mut existing = users::find_serialized(lookup)?;
    // An unconfirmed user's password is the one its latest sign-up set (auth.sign_up_passwords).
    if let Some(account) = existing.as_mut().filter(|a| !(if is_phone { a.phone_confirmed } else { a.email_confirmed })) {
        account.encrypted_password =
            db::read_value("select auth.unconfirmed_password($1)", &[pg_uuid(&users::parse_id(&account.id)?).into()])?;
    }
    // Every answer costs one password check and one hash, whatever the address's state,
    // so that its time tells nothing either.
    let same_password = match existing.as_ref().and_then(|a| a.encrypted_password.as_deref()) {
        Some(stored) => matches!(passwords::check(password, stored)?, Check::Match { .. }),
        None => {
            passwords::check_nothing(password);
            true
        }
    };
    let password_hash = passwords::hash(password)?;
    let Some(existing) = existing else {
        let user_id = users::create(&NewUser {
            email: (!is_phone).then(|| address.to_owned()),
            phone: is_phone.then(|| address.to_owned()),
            password_hash: Some(password_hash.clone()),
            user_metadata: data,
            app_metadata: users::provider_metadata(provider),
            ..Default::default()
        })?;
        let options = crate::verification::pkce::with_challenge(proof_of(true, &password_hash)?, &pkce);
        let issued = one_time::issue_with_options(&user_id, confirmation_type(is_phone), address, &options)?;
        outbox::queue(&user_id, &recipient, &issued, json!({}))?;
        return Ok(pgrx::JsonB(users::user_json(&user_id)?));
    };
    sign_up_again(existing, address, is_phone, &recipient, same_password, password_hash, &pkce)?;
    let decoy: Option<Value> = db::json_row(
        "select auth.sign_up_decoy($1, $2, $3, $4)",
        &[address.into(), provider.into(), db::jsonb_arg(&data), db::jsonb_arg(&users::provider_metadata(provider))],
    )?;
    Ok(pgrx::JsonB(decoy.unwrap_or_default()))
}

/// A sign-up that needs no confirmation (autoconfirm): a new user, signed in at once.
fn sign_up_confirmed(lookup: Lookup<'_>, password: &str, data: Value) -> AuthResult<Value> {
    let (Lookup::Email(address) | Lookup::Phone(address)) = lookup;
    let is_phone = matches!(lookup, Lookup::Phone(_));
    // No message to count: the password work is what is limited.
    limits::spend_password_work(&request::limit_key(&request::client()))?;
    // As Supabase Auth answers with autoconfirm on (it tells whether the address is taken).
    if users::find_serialized(lookup)?.is_some() {
        return Err(AuthError::new(ErrorCode::UserAlreadyExists, "User already registered"));
    }
    let user_id = users::create(&NewUser {
        email: (!is_phone).then(|| address.to_owned()),
        phone: is_phone.then(|| address.to_owned()),
        password_hash: Some(passwords::hash(password)?),
        email_confirmed: !is_phone,
        phone_confirmed: is_phone,
        user_metadata: data,
        app_metadata: users::provider_metadata(if is_phone { "phone" } else { "email" }),
        ..Default::default()
    })?;
    create_session(&user_id, "password", &request::client())
}

/// What a sign-up's confirmation proves: the password whose hash it was issued with, if
/// any (auth.confirm_address checks that it is still the user's).
pub fn proof_of(proves_password: bool, password_hash: &str) -> AuthResult<Value> {
    let digest: Option<String> = db::read_value("select auth.password_digest($1)", &[password_hash.into()])?;
    Ok(json!({"proves_password": proves_password, "password": digest}))
}

/// The token that confirms a sign-up: a link and code to an email, a code to a phone.
fn confirmation_type(is_phone: bool) -> TokenType {
    if is_phone { TokenType::Sms } else { TokenType::Confirmation }
}

/// A sign-up for an address that is registered already, while confirmations are on.
/// The caller learns nothing and changes nothing of the account but what its owner must
/// confirm (the answer is auth.sign_up_decoy, as Supabase Auth's is made up; the caller's
/// data is never merged in). The owner of a confirmed address is mailed a sign-in link
/// that says someone tried to sign up with it. An unconfirmed user gets the new password
/// and a fresh confirmation, which only the address's owner can follow. The confirmation
/// proves that password only if the person who set it is the one confirming: not when
/// it differs from the one set before (two parties may have signed up the address; the
/// owner then sets one through recovery), nor while a sign-in code or link is pending
/// (auth.confirm_address; for a phone, checked here, since its sign-up and sign-in codes
/// are one token that the new one replaces).
fn sign_up_again(
    existing: users::Account,
    address: &str,
    is_phone: bool,
    recipient: &str,
    same_password: bool,
    password_hash: String,
    pkce: &Value,
) -> AuthResult<()> {
    let user_id = users::parse_id(&existing.id)?;
    if if is_phone { existing.phone_confirmed } else { existing.email_confirmed } {
        let sign_in = if is_phone { TokenType::Sms } else { TokenType::Magiclink };
        let issued = one_time::issue_with_options(&user_id, sign_in, address, pkce)?;
        return outbox::queue(&user_id, recipient, &issued, json!({"reason": "signup_attempt"}));
    }
    // The same password keeps its stored hash, so that earlier confirmations, issued for
    // it, still prove it; another becomes the latest (and they prove nothing any more).
    // It is kept beside the user, per requester, never on the user's row: a stranger who
    // signs the address up and leaves the transaction open must not hold the row that the
    // owner's confirmation writes.
    let stored = match existing.encrypted_password.filter(|_| same_password) {
        Some(stored) => stored,
        None => {
            db::run(
                "insert into auth.sign_up_passwords (user_id, requested_from, password_hash) values ($1, $2, $3)
                 on conflict (user_id, requested_from) do update
                 set password_hash = excluded.password_hash, set_at = excluded.set_at",
                &[
                    pg_uuid(&user_id).into(),
                    durable::current_client_key().into(),
                    password_hash.as_str().into(),
                ],
            )?;
            password_hash
        }
    };
    // Sticky: a pending confirmation that proves no password (a phone's sign-in code, a
    // sign-up code already marked so, an operator's link) keeps every later one from
    // proving one, however often the address is signed up again (each new one replaces
    // the last): two sign-ups by a stranger, the second with the first's password, prove
    // nothing.
    let sign_in_pending = one_time::pending_proves_nothing(&user_id, confirmation_type(is_phone))?;
    let proves_password = same_password && !sign_in_pending;
    let options = crate::verification::pkce::with_challenge(proof_of(proves_password, &stored)?, pkce);
    let issued = one_time::issue_with_options(&user_id, confirmation_type(is_phone), address, &options)?;
    outbox::queue(&user_id, recipient, &issued, json!({}))
}
