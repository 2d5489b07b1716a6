//! Sign-in flows. Each is one SQL function call that does all of its work in the
//! caller's transaction and returns a session (or, for a sign-up awaiting
//! confirmation, the user), or raises a clear error.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::db;
use crate::keys;
use crate::errors::{AuthError, AuthResult, ErrorCode};
use crate::otp::{self, TokenType};
use crate::pkce::Finish;
use crate::passwords::{self, Check};
use crate::request;
use crate::roles;
use crate::sessions::create_session;
use crate::settings;
use crate::users::{self, pg_uuid, Lookup, NewUser};
use crate::workers;

/// Calls the hook function a setting names, if set, as its owner. Errors it raises
/// reach the caller unchanged: raising is how a before-create hook refuses.
fn run_app_hook(setting: &'static pgrx::guc::GucSetting<Option<std::ffi::CString>>, event: Value) -> AuthResult<()> {
    if let Some(hook) = settings::text_string(setting) {
        roles::call_hook(&hook, &event, false)?;
    }
    Ok(())
}

/// Creates an anonymous user and signs it in. Off unless `auth_ext.anonymous_sign_ins`;
/// limited per client address by `auth_ext.rate_limit_anonymous` an hour.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_anonymously(
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    ip: default!(Option<pgrx::Inet>, "NULL"),
    attestation: default!(Option<&str>, "NULL"),
) -> Result<pgrx::JsonB, ErrorReport> {
    if !settings::ANONYMOUS_SIGN_INS.get() {
        return Err(AuthError::new(ErrorCode::AnonymousProviderDisabled, "anonymous sign-ins are disabled")
            .hint("A superuser can turn them on: alter database ... set auth_ext.anonymous_sign_ins = on")
            .into());
    }
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let client = request::client_reported_by_caller(ip.map(|ip| ip.0))?;
    let limit_key = request::limit_key(&client);
    let limit = settings::RATE_LIMIT_ANONYMOUS.get();
    let what = "anonymous sign-ins from this address";
    // A client over its limit is refused before any work, by a read that locks nothing.
    otp::check_counted_limit("anonymous", &limit_key, limit, what)?;
    run_app_hook(
        &settings::ANONYMOUS_BEFORE_CREATE_HOOK,
        json!({"ip": client.ip, "attestation": attestation, "data": data}),
    )?;
    let user_id = users::create(&NewUser {
        user_metadata: data.clone(),
        app_metadata: users::provider_metadata("anonymous"),
        is_anonymous: true,
        signing_in: true,
        ..Default::default()
    })?;
    run_app_hook(
        &settings::ANONYMOUS_AFTER_CREATE_HOOK,
        json!({"user_id": user_id.to_string(), "ip": client.ip, "data": data}),
    )?;
    let session = create_session(&user_id, "anonymous", &client)?;
    // Counted last: the counter's row stays locked until commit, and sign-ins from one
    // address queue on it, so it is held for as short a time as possible. Over the limit,
    // the error rolls back everything above; the count is exact either way.
    otp::rate_limit("anonymous", &limit_key, limit, ErrorCode::OverRequestRateLimit, what)?;
    Ok(pgrx::JsonB(session))
}

/// Signs up with an email or a phone and a password. With `auth_ext.mailer_autoconfirm`
/// off (the default) the user must confirm first: a confirmation link and code go to
/// the email (a code by text message to the phone) and the user is returned without a
/// session. With it on, a session is returned. With a PKCE `code_challenge`, the
/// confirmation link gives an auth code (see pkce.rs).
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
    let (address, is_phone) = match (email, phone) {
        (email, None) => (email.unwrap_or_default(), false),
        (None, Some(phone)) => (phone, true),
        (Some(_), Some(_)) => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "give either email or phone, not both").into())
        }
    };
    let lookup = Lookup::of(address, is_phone).check()?;
    let password = password.unwrap_or_default();
    passwords::check_strength(password)?;
    let pkce = crate::pkce::challenge_options(code_challenge, code_challenge_method)?;
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let provider = if is_phone { "phone" } else { "email" };
    // Checked before anything depends on the address: a registered one stores no data,
    // and an answer that differed would tell which addresses are.
    db::run("select auth.check_metadata_size($1, '{}')", &[db::jsonb_arg(&data)])?;
    let autoconfirm = if is_phone { settings::SMS_AUTOCONFIRM.get() } else { settings::MAILER_AUTOCONFIRM.get() };
    if autoconfirm {
        // No message to count: the password work is what is limited.
        otp::spend_password_work(&request::limit_key(&request::client()))?;
        let user_id = users::create(&NewUser {
            email: (!is_phone).then(|| address.to_owned()),
            phone: is_phone.then(|| address.to_owned()),
            password_hash: Some(passwords::hash(password)?),
            email_confirmed: !is_phone,
            phone_confirmed: is_phone,
            user_metadata: data,
            app_metadata: users::provider_metadata(provider),
            ..Default::default()
        })?;
        return Ok(pgrx::JsonB(create_session(&user_id, "password", &request::client())?));
    }
    // A caller over the send limits is refused before any expensive work (argon2), and the
    // limits count alike whether or not the address is registered.
    let recipient = otp::count_send(address, is_phone)?;
    let existing = users::find_serialized(lookup)?;
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
        let options = crate::pkce::with_challenge(proof_of(true, &password_hash)?, &pkce);
        let issued = otp::issue_with_options(&user_id, confirmation_type(is_phone), address, &options)?;
        otp::queue(&user_id, &recipient, &issued, json!({}))?;
        return Ok(pgrx::JsonB(users::user_json(&user_id)?));
    };
    sign_up_again(existing, address, is_phone, &recipient, same_password, password_hash, &pkce)?;
    let decoy: Option<Value> = db::json_row(
        "select auth.sign_up_decoy($1, $2, $3, $4)",
        &[address.into(), provider.into(), db::jsonb_arg(&data), db::jsonb_arg(&users::provider_metadata(provider))],
    )?;
    Ok(pgrx::JsonB(decoy.unwrap_or_default()))
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
        let issued = otp::issue_with_options(&user_id, sign_in, address, pkce)?;
        return otp::queue(&user_id, recipient, &issued, json!({"reason": "signup_attempt"}));
    }
    // The same password keeps its stored hash, so that earlier confirmations, issued for
    // it, still prove it; another replaces it (and they prove nothing any more).
    let stored = match existing.encrypted_password.filter(|_| same_password) {
        Some(stored) => stored,
        None => {
            db::run(
                "update auth.users set encrypted_password = $2 where id = $1",
                &[pg_uuid(&user_id).into(), password_hash.as_str().into()],
            )?;
            password_hash
        }
    };
    // Sticky: a pending confirmation that proves no password (a phone's sign-in code, a
    // sign-up code already marked so, an operator's link) keeps every later one from
    // proving one, however often the address is signed up again (each new one replaces
    // the last): two sign-ups by a stranger, the second with the first's password, prove
    // nothing.
    let sign_in_pending = otp::pending_proves_nothing(&user_id, confirmation_type(is_phone))?;
    let proves_password = same_password && !sign_in_pending;
    let options = crate::pkce::with_challenge(proof_of(proves_password, &stored)?, pkce);
    let issued = otp::issue_with_options(&user_id, confirmation_type(is_phone), address, &options)?;
    otp::queue(&user_id, recipient, &issued, json!({}))
}

fn invalid_credentials() -> AuthError {
    AuthError::new(ErrorCode::InvalidCredentials, "invalid login credentials")
}

/// Password sign-in by email or phone. Unknown account and wrong password take the same
/// time and give the same error.
///
/// Guessing is bounded per client address (an hourly limit and a burst) and per account
/// *and* client address; never per account alone, which would let anyone lock its owner
/// out with wrong passwords. The account is the address signed in with (hashed), so
/// unknown and known addresses count and answer alike. Every count is read before the
/// password is checked (tries of one user queue on the user's row, so each sees the last
/// one's count), and every failure is counted by a durable-write worker, since the
/// failing call itself rolls back. Once an account has a failure from this client this
/// hour, each try is counted before the password is compared, and refused if it cannot
/// be counted: when counting is impossible, at most one guess an hour goes uncounted.
fn password_sign_in(lookup: Lookup<'_>, password: &str) -> AuthResult<Value> {
    // Failures must be counted: never served without the writer that counts them.
    workers::check_writer()?;
    let client = request::client();
    let client_key = request::limit_key(&client);
    let per_hour = settings::RATE_LIMIT_FAILED_SIGN_INS.get();
    otp::check_counted_limit("failed_sign_in", &client_key, per_hour, "failed sign-ins from this address")?;
    // Every try costs argon2, right or wrong: bounded per client before any of it.
    otp::spend_password_work(&client_key)?;
    let (Lookup::Email(address) | Lookup::Phone(address)) = lookup;
    let account_key = keys::short_hash(&users::normalize_address(address, matches!(lookup, Lookup::Phone(_)))?);
    let count = workers::DurableWrite::CountFailedSignIn { account: account_key.clone(), client: client_key.clone() };
    let account_bucket = format!("{account_key} {}", workers::client_key(&client_key));
    let account = users::find(lookup)?;
    if let Some(account) = &account {
        // No application role can lock this row, so nobody can stall someone's sign-ins.
        db::run("select from auth.users where id = $1 for no key update", &[pg_uuid(&users::parse_id(&account.id)?).into()])?;
    }
    let failures = otp::check_counted_limit(
        "failed_sign_in_account",
        &account_bucket,
        settings::RATE_LIMIT_FAILED_SIGN_INS_PER_USER.get(),
        "failed sign-ins for this address from this client",
    )?;
    let counted = failures > 0;
    if counted {
        let counted_now = || otp::counted_hits("failed_sign_in_account", &account_bucket).map(|hits| hits > failures);
        if !(workers::commit_now(count.clone()) && counted_now()?) {
            return Err(workers::not_recorded());
        }
    }
    let failed = || {
        if !counted {
            workers::commit_now(count.clone());
        }
        invalid_credentials()
    };
    let Some((account, stored)) = account.and_then(|a| a.encrypted_password.clone().map(|h| (a, h))) else {
        passwords::check_nothing(password);
        return Err(failed());
    };
    let Check::Match { rehash } = passwords::check(password, &stored)? else {
        return Err(failed());
    };
    let user_id = users::parse_id(&account.id)?;
    if let Some(rehash) = rehash {
        db::run(
            "update auth.users set encrypted_password = $2 where id = $1",
            &[pg_uuid(&user_id).into(), rehash.into()],
        )?;
    }
    match lookup {
        Lookup::Email(_) if !account.email_confirmed => {
            return Err(AuthError::new(ErrorCode::EmailNotConfirmed, "email not confirmed")
                .hint("Follow the link or enter the code sent to the address."))
        }
        Lookup::Phone(_) if !account.phone_confirmed => {
            return Err(AuthError::new(ErrorCode::PhoneNotConfirmed, "phone number not confirmed"))
        }
        _ => {}
    }
    create_session(&user_id, "password", &client)
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_password(email: Option<&str>, password: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let email = email.unwrap_or_default();
    users::check_address(email, "email address")?;
    Ok(pgrx::JsonB(password_sign_in(Lookup::Email(email), password.unwrap_or_default())?))
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_phone_password(phone: Option<&str>, password: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let phone = phone.unwrap_or_default();
    users::check_address(phone, "phone number")?;
    Ok(pgrx::JsonB(password_sign_in(Lookup::Phone(phone), password.unwrap_or_default())?))
}

/// Signs in with an identity the application's server has verified with the provider
/// (Feishu, WeChat, ...): finds the user by (provider, provider_id) or creates user and
/// identity together, stores what the provider returned, and opens a session.
/// Concurrent first sign-ins of one identity end with one user.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_idp(
    provider: &str,
    provider_id: &str,
    data: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<pgrx::JsonB, ErrorReport> {
    let provider = users::check_identity(provider, provider_id)?;
    let data = users::metadata(data.map(|d| d.0), "data")?;
    let identity_data = {
        let mut d = data.clone();
        d["sub"] = json!(provider_id);
        d["provider"] = json!(provider);
        d
    };
    // Serialises sign-ins of this one identity, so the first one creates it only once.
    db::lock(&format!("identity:{provider}:{provider_id}"))?;
    let existing: Option<String> = db::json_row(
        "with identity as (
             update auth.user_identities set identity_data = $3, last_sign_in_at = now()
             where provider = $1 and provider_id = $2
             returning user_id),
         profile as (
             update auth.users u set raw_user_meta_data = u.raw_user_meta_data || $4
             from identity i where u.id = i.user_id)
         select to_jsonb(user_id) from identity",
        &[provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data), db::jsonb_arg(&data)],
    )?;
    let user_id = match existing {
        Some(id) => users::parse_id(&id)?,
        None => {
            let user_id = users::create(&NewUser {
                user_metadata: data,
                app_metadata: users::provider_metadata(&provider),
                ..Default::default()
            })?;
            db::run(
                "select auth.insert_identity($1, $2, $3, $4)",
                &[pg_uuid(&user_id).into(), provider.as_str().into(), provider_id.into(), db::jsonb_arg(&identity_data)],
            )?;
            db::run(
                "update auth.user_identities set last_sign_in_at = now() where provider = $1 and provider_id = $2",
                &[provider.as_str().into(), provider_id.into()],
            )?;
            user_id
        }
    };
    Ok(pgrx::JsonB(create_session(&user_id, "oauth", &request::client())?))
}

/// Sends a one-time code: to an email as a magic link and code, to a phone as a text
/// message. Creates the user first when the address is new and `create_user` allows it
/// (with `data` as its metadata), as Supabase Auth's `signInWithOtp` does.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn sign_in_with_otp(
    email: default!(Option<&str>, "NULL"),
    create_user: default!(bool, true),
    phone: default!(Option<&str>, "NULL"),
    data: default!(Option<pgrx::JsonB>, "'{}'"),
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let pkce = crate::pkce::challenge_options(code_challenge, code_challenge_method)?;
    let (address, token_type) = match (email, phone) {
        (Some(email), None) => (email, TokenType::Magiclink),
        (None, Some(phone)) => (phone, TokenType::Sms),
        _ => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "give either email or phone")
                .hint("sign_in_with_otp(email => ...) or sign_in_with_otp(phone => ...)")
                .into())
        }
    };
    let is_phone = token_type.is_phone();
    let client = request::limit_key(&request::client());
    // Asking costs what a message would, whether or not the address is registered.
    otp::check_send_budget(&client, is_phone)?;
    let user_id = match users::find_serialized(Lookup::of(address, is_phone).check()?)? {
        Some(account) => users::parse_id(&account.id)?,
        None if create_user => users::create(&NewUser {
            email: (!is_phone).then(|| address.to_owned()),
            phone: is_phone.then(|| address.to_owned()),
            user_metadata: users::metadata(data.map(|d| d.0), "data")?,
            app_metadata: users::provider_metadata(if is_phone { "phone" } else { "email" }),
            ..Default::default()
        })?,
        None => {
            otp::count_address_probe(&client)?;
            return Err(AuthError::new(ErrorCode::OtpDisabled, "signups not allowed for otp")
                .detail("no user has this address and create_user is false")
                .into())
        }
    };
    let issued = otp::issue_with_options(&user_id, token_type, address, &pkce)?;
    otp::send(&user_id, address, &issued, json!({}))?;
    Ok(())
}

/// "Forgot password": mails a recovery link and code, which `verify_otp(..., 'recovery')`
/// turns into a session, after which `update_user({password})` sets a new password.
/// An unknown address gets the same answer (and counts against the same limits), so
/// the call tells nobody which addresses have accounts.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn reset_password_for_email(
    email: Option<&str>,
    code_challenge: default!(Option<&str>, "NULL"),
    code_challenge_method: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let email = email.unwrap_or_default();
    users::check_address(email, "email address")?;
    let pkce = crate::pkce::challenge_options(code_challenge, code_challenge_method)?;
    match users::find(Lookup::Email(email))? {
        Some(account) => {
            let user_id = users::parse_id(&account.id)?;
            let issued = otp::issue_with_options(&user_id, TokenType::Recovery, email, &pkce)?;
            otp::send(&user_id, email, &issued, json!({}))?;
        }
        None => {
            otp::count_send(email, false)?;
        }
    }
    Ok(())
}

/// Sends again what a pending confirmation is waiting for, as Supabase Auth's `resend`:
/// `signup` (an unconfirmed email), `email_change` (found by the current email),
/// `sms` (an unconfirmed phone) or `phone_change` (found by the current phone). The
/// new message replaces the earlier one. When nothing is pending the answer is the
/// same, and counts against the same limits.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn resend_message(
    resend_type: Option<&str>,
    email: default!(Option<&str>, "NULL"),
    phone: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    let resend_type = resend_type.unwrap_or_default();
    let is_phone = match resend_type {
        "signup" | "email_change" => false,
        "sms" | "phone_change" => true,
        other => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "unknown resend type")
                .detail(format!("type {:?} is not one of signup, email_change, sms, phone_change",
                    other.chars().take(40).collect::<String>()))
                .into())
        }
    };
    let address = if is_phone { phone } else { email };
    let (Some(address), None) = (address, if is_phone { email } else { phone }) else {
        let to = if is_phone { "a phone: give phone" } else { "an email: give email" };
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("{resend_type} is resent to {to}")).into());
    };
    let resent = match (users::find(Lookup::of(address, is_phone).check()?)?, resend_type) {
        (Some(account), "signup" | "sms") if !(if is_phone { account.phone_confirmed } else { account.email_confirmed }) => {
            let user_id = users::parse_id(&account.id)?;
            let token_type = if is_phone { TokenType::Sms } else { TokenType::Confirmation };
            // A sign-up's confirmation keeps what it proves (sign_up_again).
            let options = otp::pending_options(&user_id, token_type)?.unwrap_or(json!({}));
            let issued = otp::issue_with_options(&user_id, token_type, address, &options)?;
            otp::send(&user_id, address, &issued, json!({}))?;
            true
        }
        (Some(account), "email_change" | "phone_change") => {
            crate::account::resend_address_change(&users::parse_id(&account.id)?, is_phone)?
        }
        _ => false,
    };
    if !resent {
        otp::count_send(address, is_phone)?;
    }
    Ok(())
}

/// After a token is used: confirm the address it went to and open a session.
fn finish_verification(consumed: otp::Consumed, finish: Finish) -> AuthResult<Value> {
    match consumed.token_type {
        TokenType::EmailChangeCurrent | TokenType::EmailChangeNew | TokenType::PhoneChange => {
            crate::account::confirm_address_change(&consumed, finish)
        }
        _ => {
            // A sign-up's confirmation proves the password it was issued for unless it was
            // marked otherwise (sign_up_again); any other token proves the address only.
            let proves_password = consumed.options.get("proves_password").and_then(Value::as_bool)
                .unwrap_or(consumed.token_type == TokenType::Confirmation);
            let digest = consumed.options.get("password").and_then(Value::as_str);
            db::run(
                "select auth.confirm_address($1, $2, $3, $4)",
                &[pg_uuid(&consumed.user_id).into(), consumed.token_type.is_phone().into(), proves_password.into(), digest.into()],
            )?;
            finish.open(&consumed)
        }
    }
}

const VERIFY_OTP_FORMS: &str =
    "verify_otp(token_hash => ..., type => ...), or verify_otp(email | phone => ..., token => ..., type => ...)";

/// Verifies a one-time token and returns a session, as Supabase Auth's `verifyOtp`:
/// a link's `token_hash`, or the 6-digit `token` sent to `email` or `phone`, with the
/// `type` it was sent as. Called as `auth.verify_otp(...)` (sql/access.sql).
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_one_time_token(
    email: Option<&str>,
    token: Option<&str>,
    verification_type: Option<&str>,
    phone: Option<&str>,
    token_hash: Option<&str>,
) -> Result<pgrx::JsonB, ErrorReport> {
    let Some(verification_type) = verification_type else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "type is required")
            .hint(VERIFY_OTP_FORMS)
            .into());
    };
    let accepted = otp::accepted_types(verification_type)?;
    let sent_by_sms = accepted.iter().all(|t| t.is_phone());
    let sent_to = match (token_hash, email, phone) {
        (Some(hash), None, None) => {
            let consumed = otp::consume_link(hash.trim(), accepted)?;
            return Ok(pgrx::JsonB(finish_verification(consumed, Finish::Session)?));
        }
        (None, Some(email), None) => Lookup::Email(email),
        (None, None, Some(phone)) => Lookup::Phone(phone),
        _ => {
            return Err(AuthError::new(ErrorCode::ValidationFailed, "give one of token_hash, email or phone")
                .hint(VERIFY_OTP_FORMS)
                .into())
        }
    };
    if matches!(sent_to, Lookup::Phone(_)) != sent_by_sms {
        let by = if sent_by_sms { "phone" } else { "email" };
        return Err(AuthError::new(ErrorCode::ValidationFailed, format!("{verification_type} codes are verified with {by} =>")).into());
    }
    let (Lookup::Email(address) | Lookup::Phone(address)) = sent_to.check()?;
    let consumed = otp::consume_code(address, token.unwrap_or_default(), accepted)?;
    Ok(pgrx::JsonB(finish_verification(consumed, Finish::Session)?))
}

/// A followed link (the HTTP front's `GET /verify`): as `verify_otp(token_hash => ...,
/// type => ...)`, but when the link's flow began with a PKCE code challenge the answer is
/// `{"code": ...}` for `auth.exchange_code_for_session`, not a session.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_link(token_hash: Option<&str>, verification_type: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    let Some(verification_type) = verification_type else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "type is required").into());
    };
    let accepted = otp::accepted_types(verification_type)?;
    let consumed = otp::consume_link(token_hash.unwrap_or_default().trim(), accepted)?;
    Ok(pgrx::JsonB(finish_verification(consumed, Finish::Link)?))
}

// The entry points of 0.1.0's auth.verify_otp wrappers, kept so that a database still on
// 0.1.0 keeps working with this library until ALTER EXTENSION auth_ext UPDATE.
#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_otp_by_link(token_hash: Option<&str>, verification_type: Option<&str>) -> Result<pgrx::JsonB, ErrorReport> {
    verify_one_time_token(None, None, verification_type, None, token_hash)
}

#[pg_extern(volatile, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn verify_otp_by_code(
    email: Option<&str>,
    token: Option<&str>,
    verification_type: Option<&str>,
) -> Result<pgrx::JsonB, ErrorReport> {
    verify_one_time_token(email, token, verification_type, None, None)
}
