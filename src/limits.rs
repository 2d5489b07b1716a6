//! Rate limits: counters per client address, recipient and bucket, checked before any
//! expensive work and counted exactly (`auth.rate_limits`). Sign-in, sign-up, codes and
//! messages all read them here.


use crate::core::{db, request, settings};
use crate::core::errors::{AuthError, AuthResult, ErrorCode};
use crate::users;
use crate::workers::durable::{self, DurableWrite};

fn rate_limited(bucket: &str, key: &str, limit: i32) -> AuthResult<bool> {
    let allowed: Option<bool> = db::json_row(
        "select to_jsonb(auth.rate_limit_hit($1, $2, $3))",
        &[bucket.into(), key.into(), limit.into()],
    )?;
    Ok(!allowed.unwrap_or(false))
}

/// Limits count in hourly windows (auth.rate_limit_hit): the client may retry when
/// the current one ends.
fn over_limit(code: ErrorCode, what: &str, limit: i32) -> AuthError {
    let retry_after = db::read_value::<i32>("select auth.rate_limit_retry_after()", &[]).ok().flatten().unwrap_or(3600);
    AuthError::new(code, format!("too many {what} this hour"))
        .detail(format!("the limit is {limit} per hour"))
        .hint(format!("Try again in {retry_after} seconds."))
        .retry_after(retry_after.into())
}

/// Counts a hit against a per-hour limit, refusing with `code` once it is exceeded.
pub fn rate_limit(bucket: &str, key: &str, limit: i32, code: ErrorCode, what: &str) -> AuthResult<()> {
    if rate_limited(bucket, key, limit)? {
        return Err(over_limit(code, what, limit));
    }
    Ok(())
}

/// Refuses once a limit whose hits are counted by durable-write workers (failed tries,
/// which roll back) is reached. Counts nothing itself.
/// Returns the hits so far.
pub fn check_counted_limit(bucket: &str, key: &str, limit: i32, what: &str) -> AuthResult<i32> {
    counted_limit(bucket, key, limit, Counted::No, what)
}

fn counted_limit(bucket: &str, key: &str, limit: i32, counted: Counted, what: &str) -> AuthResult<i32> {
    let hits = counted_hits(bucket, key)?;
    if hits >= limit.saturating_add(counted.own_try()) {
        return Err(over_limit(ErrorCode::OverRequestRateLimit, what, limit));
    }
    Ok(hits)
}

/// Refuses a client over its hourly limit or its burst for codes tried.
pub fn check_verify_limits(client: &str) -> AuthResult<()> {
    verify_limits(client, Counted::No)
}

/// check_verify_limits again once this call's own try is counted (committed): checked
/// before the count only, concurrent tries all read the same count and all pass; checked
/// after it, the k-th to commit reads at least k, so no more pass than the limits allow.
pub fn recheck_verify_limits(client: &str) -> AuthResult<()> {
    verify_limits(client, Counted::Yes)
}

fn verify_limits(client: &str, counted: Counted) -> AuthResult<()> {
    let (per_hour, what) = (settings::RATE_LIMIT_VERIFY.get(), "codes tried from this address");
    counted_limit("verify", client, per_hour, counted, what)?;
    burst_allows("verify", client, per_hour, counted, what)
}

/// Password work (argon2) a client causes, successful or not, at most
/// `auth_ext.rate_limit_burst` at once and refilled at `auth_ext.rate_limit_failed_sign_ins`
/// an hour: checked, then counted by a durable-write worker (a failing call cannot undo
/// it, and it locks nothing of this transaction), before the work.
/// Checked again once counted, as recheck_verify_limits is, so that concurrent calls do not
/// all pass on one reading.
pub fn spend_password_work(client: &str) -> AuthResult<()> {
    let (per_hour, what) = (settings::RATE_LIMIT_FAILED_SIGN_INS.get(), "password attempts from this address");
    check_burst("password", client, per_hour, what)?;
    if !durable::commit_now(DurableWrite::count_password_work(client)) {
        return Err(crate::workers::durable::not_recorded());
    }
    burst_allows("password", client, per_hour, Counted::Yes, what)
}

/// Refuses once a client's burst is spent: besides its hourly limit, a bucket allows
/// `auth_ext.rate_limit_burst` tries at once and refills at the hourly rate (GoTrue's
/// token bucket, kept as GCRA's one timestamp: auth.rate_burst_count). Counts nothing;
/// the durable-write workers count the tries.
pub fn check_burst(bucket: &str, client: &str, per_hour: i32, what: &str) -> AuthResult<()> {
    burst_allows(bucket, client, per_hour, Counted::No, what)
}

/// Whether the caller's own try is already among the hits it reads.
#[derive(Clone, Copy, PartialEq)]
enum Counted {
    No,
    Yes,
}

impl Counted {
    /// A limit allows one more hit when the caller's own is among those read.
    fn own_try(self) -> i32 {
        i32::from(self == Counted::Yes)
    }
}

fn burst_allows(bucket: &str, client: &str, per_hour: i32, counted: Counted, what: &str) -> AuthResult<()> {
    // A counted try has already moved the bucket on by one interval.
    let allowance = settings::RATE_LIMIT_BURST.get().saturating_add(counted.own_try());
    let retry_after: Option<i32> = db::json_row(
        "select to_jsonb(auth.rate_burst_wait($1, $2, $3, $4))",
        &[bucket.into(), crate::workers::durable::client_key(client).into(), per_hour.into(), allowance.into()],
    )?;
    match retry_after {
        Some(seconds) if seconds > 0 => Err(AuthError::new(ErrorCode::OverRequestRateLimit, format!("too many {what} at once"))
            .detail(format!("at most {} at once, refilled at {per_hour} per hour", settings::RATE_LIMIT_BURST.get()))
            .hint(format!("Try again in {seconds} seconds."))
            .retry_after(seconds.into())),
        _ => Ok(()),
    }
}

/// Hits of a bucket this hour, as committed (a statement of its own).
pub fn counted_hits(bucket: &str, key: &str) -> AuthResult<i32> {
    let hits: Option<i32> =
        db::read_row("select to_jsonb(auth.rate_limit_hits($1, $2))", &[bucket.into(), key.into()])?;
    Ok(hits.unwrap_or(0))
}

/// Refuses a client whose message budget for the hour is spent, counting nothing.
pub fn check_send_budget(client: &str, sms: bool) -> AuthResult<()> {
    let per_client = settings::RATE_LIMIT_EMAIL_PER_CLIENT.get();
    if counted_hits("email_client", client)? >= per_client {
        let code = if sms { ErrorCode::OverSmsSendRateLimit } else { ErrorCode::OverEmailSendRateLimit };
        return Err(over_limit(code, "messages requested from this address", per_client));
    }
    Ok(())
}

/// Counts an answer that tells whether an address is registered (an address change
/// refused as taken, a code refused for an unknown address) against the client's message
/// budget, as the message it would have sent: durably, since the call then fails.
pub fn count_address_probe(client: &str) -> AuthResult<()> {
    if !durable::commit_now(DurableWrite::count_address_probe(client)) {
        return Err(crate::workers::durable::not_recorded());
    }
    Ok(())
}

/// Counts a message to `recipient` against the per-recipient and per-client send
/// limits (and a global ceiling, when an operator set one), refusing once one is exceeded. Also what a request that sends nothing
/// counts, so that its answer and limits tell nothing about who has an account.
/// Returns the normalized recipient.
///
/// `kind` (the token type, whose user field, `recovery_sent_at`, ..., names the window;
/// None for invitations)
/// also takes Supabase Auth's one-a-window per kind (`auth_ext.mailer_max_frequency`,
/// `sms_max_frequency`), per recipient *and* client: keyed on the user alone, a stranger's
/// request would hold back the owner's own, and only registered addresses would answer
/// "after N seconds".
pub fn count_send(recipient: &str, sms: bool, kind: Option<&str>) -> AuthResult<String> {
    let recipient = users::normalize_address(recipient, sms)?;
    let (code, global_bucket, global_limit) = if sms {
        (ErrorCode::OverSmsSendRateLimit, "sms_sent", settings::RATE_LIMIT_SMS_SENT.get())
    } else {
        (ErrorCode::OverEmailSendRateLimit, "email_sent", settings::RATE_LIMIT_EMAIL_SENT.get())
    };
    let client = request::limit_key(&request::client());
    let window = if sms { settings::SMS_MAX_FREQUENCY.get() } else { settings::MAILER_MAX_FREQUENCY.get() };
    if let Some(kind) = kind.filter(|_| window > 0) {
        let wait: Option<i32> = db::read_value(
            "select auth.rate_window_take('frequency ' || auth.message_field($1), $2, $3)",
            &[kind.into(), format!("{recipient} {client}").into(), f64::from(window).into()],
        )?;
        if let Some(wait) = wait.filter(|w| *w > 0) {
            return Err(AuthError::new(code, format!("For security purposes, you can only request this after {wait} seconds."))
                .retry_after(wait.into()));
        }
    }
    // Per recipient *and* client: keyed on the address alone, anyone could spend a
    // victim's budget and keep the victim's own mail from arriving.
    rate_limit(
        "email_recipient",
        &format!("{recipient} {client}"),
        settings::RATE_LIMIT_EMAIL_PER_RECIPIENT.get(),
        code,
        "messages to this address",
    )?;
    rate_limit(
        "email_client",
        &client,
        settings::RATE_LIMIT_EMAIL_PER_CLIENT.get(),
        code,
        "messages requested from this address",
    )?;
    // Off by default: any global budget is one that a few clients can spend for everyone.
    if global_limit > 0 {
        rate_limit(global_bucket, "*", global_limit, code, "messages")?;
    }
    Ok(recipient)
}

/// How many times `auth_ext.otp_max_attempts` the clients that asked for no code may try a
/// user's codes together in an hour: 20 by default.
pub const STRANGER_BUDGET: i32 = 4;
