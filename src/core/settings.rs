//! The `auth_ext.*` settings. Policy settings are superuser-only (`SUSET`), so an
//! application role can neither lengthen its own tokens nor switch verification off.

use std::ffi::{CStr, CString};

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};


pub static JWT_EXP: GucSetting<i32> = GucSetting::<i32>::new(3600);
pub static JWT_AUD: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"authenticated"));
pub static JWT_ISSUER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"auth_ext"));
pub static REFRESH_TOKEN_REUSE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static SESSION_TIMEBOX: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static SESSION_INACTIVITY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static REQUIRE_VERIFIED_SESSION: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static CUSTOM_ACCESS_TOKEN_HOOK: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ANONYMOUS_SIGN_INS: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static RATE_LIMIT_ANONYMOUS: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static ANONYMOUS_BEFORE_CREATE_HOOK: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ANONYMOUS_AFTER_CREATE_HOOK: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static MAILER_AUTOCONFIRM: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static SMS_AUTOCONFIRM: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static PASSWORD_MIN_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(6);
pub static PASSWORD_REJECT_COMMON: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MANUAL_LINKING_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static DISABLE_SIGNUP: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MAILER_MAX_FREQUENCY: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static SMS_MAX_FREQUENCY: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static EXTERNAL_EMAIL_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static EXTERNAL_PHONE_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static OTP_EXP: GucSetting<i32> = GucSetting::<i32>::new(3600);
pub static OTP_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static RATE_LIMIT_EMAIL_SENT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static RATE_LIMIT_SMS_SENT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static RATE_LIMIT_EMAIL_PER_RECIPIENT: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static SECURE_EMAIL_CHANGE: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static SECURE_PASSWORD_CHANGE: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static ANONYMOUS_CLEANUP_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static ANONYMOUS_CLEANUP_DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ANONYMOUS_TTL: GucSetting<i32> = GucSetting::<i32>::new(30 * 24 * 3600);
pub static SITE_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"http://localhost:3000"));
pub static API_EXTERNAL_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ALLOWED_TOKEN_ROLES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static TRUSTED_PROXY_HEADER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static RATE_LIMIT_EMAIL_PER_CLIENT: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static RATE_LIMIT_FAILED_SIGN_INS: GucSetting<i32> = GucSetting::<i32>::new(360);
pub static RATE_LIMIT_FAILED_SIGN_INS_PER_USER: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static RATE_LIMIT_VERIFY: GucSetting<i32> = GucSetting::<i32>::new(360);
pub static RATE_LIMIT_BURST: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static DURABLE_WRITE_DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// Claims of the session verified by `auth.set_session`, set transaction-locally by it.
/// SUSET so that no application role can write it; GUCs reach parallel workers.
pub static VERIFIED_CLAIMS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub const VERIFIED_CLAIMS_NAME: &CStr = c"auth_ext.verified_claims";
/// Set (transaction-locally, around its insert) by admin_create_user only: the new
/// user's metadata comes from the application's server, which vouches for the
/// identity it names. SUSET, so no application role can set it.
pub static METADATA_VOUCHED: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub const METADATA_VOUCHED_NAME: &CStr = c"auth_ext.metadata_vouched";
/// The client an HTTP front (a member of auth_ext_gateway) reported for this request,
/// `{"ip": ..., "user_agent": ...}`, set transaction-locally by auth.gateway_begin.
/// SUSET, so no application role can claim to be another client.
pub static GATEWAY_CLIENT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub const GATEWAY_CLIENT_NAME: &CStr = c"auth_ext.gateway_client";
/// How long a PKCE auth code may wait for its exchange, as GoTrue's flow state.
pub static FLOW_STATE_EXP: GucSetting<i32> = GucSetting::<i32>::new(300);

/// How a setting is stored, with an integer's bounds.
enum Kind {
    Bool(&'static GucSetting<bool>),
    Int(&'static GucSetting<i32>, i32, i32),
    Text(&'static GucSetting<Option<CString>>),
}

/// Who may change a setting, and when.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Changed {
    /// A superuser, at any time (SUSET).
    BySuperuser,
    /// The configuration, with a reload (SIGHUP).
    OnReload,
    /// The configuration, with a restart (POSTMASTER).
    AtStart,
}

impl Changed {
    fn context(self) -> GucContext {
        match self {
            Changed::BySuperuser => GucContext::Suset,
            Changed::OnReload => GucContext::Sighup,
            Changed::AtStart => GucContext::Postmaster,
        }
    }
}

/// One setting as Postgres is told of it.
struct Definition {
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    kind: Kind,
    context: Changed,
    flags: GucFlags,
}

/// Every setting of the extension, as data.
static DEFINITIONS: &[Definition] = &[
    Definition {
        name: c"auth_ext.jwt_exp",
        short: c"Lifetime of access tokens.",
        long: c"The exp claim is iat plus this many seconds.",
        kind: Kind::Int(&JWT_EXP, 30, 7 * 24 * 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.jwt_aud",
        short: c"The aud claim of access tokens, and the audience verification requires.",
        long: c"",
        kind: Kind::Text(&JWT_AUD),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.jwt_issuer",
        short: c"The iss claim of access tokens.",
        long: c"",
        kind: Kind::Text(&JWT_ISSUER),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.refresh_token_reuse_interval",
        short: c"How long a spent refresh token may be presented again without counting as theft.",
        long: c"Lets several browser tabs refresh at once.",
        kind: Kind::Int(&REFRESH_TOKEN_REUSE_INTERVAL, 0, 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.session_timebox",
        short: c"Absolute lifetime of a session; 0 is unlimited.",
        long: c"",
        kind: Kind::Int(&SESSION_TIMEBOX, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.session_inactivity_timeout",
        short: c"A session not refreshed for this long ends; 0 is never.",
        long: c"",
        kind: Kind::Int(&SESSION_INACTIVITY_TIMEOUT, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.require_verified_session",
        short: c"Claim functions answer only from sessions verified by auth.set_session.",
        long: c"When on, request.jwt.claims is ignored, so a role that can run SQL cannot impersonate anyone by setting it.",
        kind: Kind::Bool(&REQUIRE_VERIFIED_SESSION),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.custom_access_token_hook",
        short: c"A function (event jsonb) returns jsonb that may change claims before an access token is signed.",
        long: c"",
        kind: Kind::Text(&CUSTOM_ACCESS_TOKEN_HOOK),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.anonymous_sign_ins",
        short: c"Allow auth.sign_in_anonymously().",
        long: c"",
        kind: Kind::Bool(&ANONYMOUS_SIGN_INS),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_anonymous",
        short: c"Anonymous sign-ins per client address per hour.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_ANONYMOUS, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.anonymous_before_create_hook",
        short: c"A function (event jsonb) called before an anonymous user is created; it may raise to refuse.",
        long: c"The event is {ip, attestation, data}: the place to check a CAPTCHA verdict or an app-attestation token.",
        kind: Kind::Text(&ANONYMOUS_BEFORE_CREATE_HOOK),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.anonymous_after_create_hook",
        short: c"A function (event jsonb) called after an anonymous user is created, with {user_id, ip, data}.",
        long: c"",
        kind: Kind::Text(&ANONYMOUS_AFTER_CREATE_HOOK),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.mailer_autoconfirm",
        short: c"Sign-ups are confirmed at once instead of by an emailed link or code.",
        long: c"",
        kind: Kind::Bool(&MAILER_AUTOCONFIRM),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.sms_autoconfirm",
        short: c"Phone sign-ups are confirmed at once instead of by a code sent by text message.",
        long: c"Apart from mailer_autoconfirm: whoever signs up a number without confirming it would own it.",
        kind: Kind::Bool(&SMS_AUTOCONFIRM),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.password_min_length",
        short: c"Shortest password accepted.",
        long: c"",
        kind: Kind::Int(&PASSWORD_MIN_LENGTH, 6, 72),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.mailer_max_frequency",
        short: c"Least time between two emails of one kind to one user (GoTrue's SMTP_MAX_FREQUENCY).",
        long: c"",
        kind: Kind::Int(&MAILER_MAX_FREQUENCY, 0, 24 * 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.sms_max_frequency",
        short: c"Least time between two text messages of one kind to one user (GoTrue's SMS_MAX_FREQUENCY).",
        long: c"",
        kind: Kind::Int(&SMS_MAX_FREQUENCY, 0, 24 * 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.disable_signup",
        short: c"Refuse every new user but the admin API's (GoTrue's DISABLE_SIGNUP).",
        long: c"",
        kind: Kind::Bool(&DISABLE_SIGNUP),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.external_email_enabled",
        short: c"Sign-up and sign-in with an email address (GoTrue's EXTERNAL_EMAIL_ENABLED).",
        long: c"",
        kind: Kind::Bool(&EXTERNAL_EMAIL_ENABLED),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.external_phone_enabled",
        short: c"Sign-up and sign-in with a phone number (GoTrue's EXTERNAL_PHONE_ENABLED).",
        long: c"",
        kind: Kind::Bool(&EXTERNAL_PHONE_ENABLED),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.manual_linking_enabled",
        short: c"Let users link and unlink identities themselves (GoTrue's SECURITY_MANUAL_LINKING_ENABLED).",
        long: c"Off by default, as in Supabase Auth: link_identity for the caller and unlink_identity answer manual_linking_disabled.",
        kind: Kind::Bool(&MANUAL_LINKING_ENABLED),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.password_reject_common",
        short: c"Refuse the most common passwords (weak_password, reason pwned).",
        long: c"Off by default, as in Supabase Auth, whose nearest is its leaked-password check.",
        kind: Kind::Bool(&PASSWORD_REJECT_COMMON),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.otp_exp",
        short: c"Lifetime of one-time links and codes.",
        long: c"",
        kind: Kind::Int(&OTP_EXP, 60, 7 * 24 * 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.otp_max_attempts",
        short: c"Wrong codes tried against one one-time code before it is dead.",
        long: c"",
        kind: Kind::Int(&OTP_MAX_ATTEMPTS, 1, 100),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_email_sent",
        short: c"Emails queued in the outbox per hour, in all; 0 (the default): no such ceiling.",
        long: c"A ceiling on cost that a few client addresses can reach, stopping everyone's mail: per-client and per-recipient limits bound abuse.",
        kind: Kind::Int(&RATE_LIMIT_EMAIL_SENT, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_sms_sent",
        short: c"Text messages queued in the outbox per hour, in all; 0 (the default): no such ceiling.",
        long: c"A ceiling on cost that a few client addresses can reach, stopping everyone's messages: per-client and per-recipient limits bound abuse.",
        kind: Kind::Int(&RATE_LIMIT_SMS_SENT, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_email_per_recipient",
        short: c"Messages (emails and text messages) queued in the outbox per recipient, from one client address, per hour.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_EMAIL_PER_RECIPIENT, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.secure_email_change",
        short: c"An email change must be confirmed from both the current and the new address.",
        long: c"Applies to users whose current email is confirmed.",
        kind: Kind::Bool(&SECURE_EMAIL_CHANGE),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.secure_password_change",
        short: c"A password change in a session signed in over 24 hours ago needs a nonce from auth.reauthenticate().",
        long: c"",
        kind: Kind::Bool(&SECURE_PASSWORD_CHANGE),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    // Read by the cleanup worker; changed with a reload (postgresql.conf or ALTER SYSTEM).
    Definition {
        name: c"auth_ext.anonymous_cleanup_interval",
        short: c"How often the background worker deletes stale anonymous users; 0 is never.",
        long: c"Needs shared_preload_libraries = 'auth_ext'.",
        kind: Kind::Int(&ANONYMOUS_CLEANUP_INTERVAL, 0, i32::MAX),
        context: Changed::OnReload,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.anonymous_cleanup_databases",
        short: c"Comma-separated databases the cleanup worker cleans.",
        long: c"",
        kind: Kind::Text(&ANONYMOUS_CLEANUP_DATABASES),
        context: Changed::OnReload,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.anonymous_ttl",
        short: c"Anonymous users idle longer than this are deleted by the cleanup worker.",
        long: c"",
        kind: Kind::Int(&ANONYMOUS_TTL, 60, i32::MAX),
        context: Changed::OnReload,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: c"auth_ext.site_url",
        short: c"Base URL of the application; links in messages point to its /auth/confirm route.",
        long: c"",
        kind: Kind::Text(&SITE_URL),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.api_external_url",
        short: c"The public URL of the auth API (GoTrue's API_EXTERNAL_URL, e.g. https://example.com/auth/v1).",
        long: c"When set, links in messages and generate_link's action_link are GoTrue's: {api_external_url}/verify?token=...&type=...&redirect_to=...; when unset, {site_url}/auth/confirm?token_hash=...&type=...",
        kind: Kind::Text(&API_EXTERNAL_URL),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.allowed_token_roles",
        short: c"Comma-separated roles besides authenticated that a user's role or the access token hook may put in a token.",
        long: c"Empty: every token says role authenticated. PostgREST switches to the token's role, so list only roles its authenticator may become and that you would give any such user.",
        kind: Kind::Text(&ALLOWED_TOKEN_ROLES),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.trusted_proxy_header",
        short: c"The request header (e.g. x-forwarded-for) that a trusted proxy in front of PostgREST sets to the client's address.",
        long: c"Unset: headers are ignored, and every client behind PostgREST shares its connection's address. For x-forwarded-for the last entry (the one the proxy added) counts.",
        kind: Kind::Text(&TRUSTED_PROXY_HEADER),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_email_per_client",
        short: c"Messages one client address may cause to be queued per hour.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_EMAIL_PER_CLIENT, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_failed_sign_ins",
        short: c"Failed password sign-ins per client address per hour; more are refused.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_FAILED_SIGN_INS, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_failed_sign_ins_per_user",
        short: c"Failed password sign-ins per user per hour; more are refused.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_FAILED_SIGN_INS_PER_USER, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_verify",
        short: c"One-time codes tried per client address per hour; more are refused.",
        long: c"",
        kind: Kind::Int(&RATE_LIMIT_VERIFY, 0, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.rate_limit_burst",
        short: c"Failed sign-ins and codes tried per client address at once; the bucket refills at the hourly limit's rate.",
        long: c"GoTrue's token bucket: 360 an hour, 30 at once. Counted by background workers, which see database-level settings.",
        kind: Kind::Int(&RATE_LIMIT_BURST, 1, i32::MAX),
        context: Changed::BySuperuser,
        flags: GucFlags::empty(),
    },
    Definition {
        name: c"auth_ext.durable_write_databases",
        short: c"Comma-separated databases whose durable writes (revocations, attempt counts) a reserved worker performs.",
        long: c"Needs shared_preload_libraries = 'auth_ext'. Elsewhere a short-lived worker is started per write.",
        kind: Kind::Text(&DURABLE_WRITE_DATABASES),
        context: Changed::AtStart,
        flags: GucFlags::empty(),
    },
    Definition {
        name: METADATA_VOUCHED_NAME,
        short: c"Set by auth.admin_create_user while it inserts a user (internal).",
        long: c"",
        kind: Kind::Text(&METADATA_VOUCHED),
        context: Changed::BySuperuser,
        flags: GucFlags::NO_SHOW_ALL.union(GucFlags::DISALLOW_IN_FILE),
    },
    Definition {
        name: GATEWAY_CLIENT_NAME,
        short: c"The client an HTTP front reported for this request (internal).",
        long: c"",
        kind: Kind::Text(&GATEWAY_CLIENT),
        context: Changed::BySuperuser,
        flags: GucFlags::NO_SHOW_ALL.union(GucFlags::DISALLOW_IN_FILE),
    },
    Definition {
        name: c"auth_ext.flow_state_exp",
        short: c"Lifetime of PKCE auth codes.",
        long: c"An auth code from a link must be exchanged (auth.exchange_code_for_session) within this time.",
        kind: Kind::Int(&FLOW_STATE_EXP, 10, 24 * 3600),
        context: Changed::BySuperuser,
        flags: GucFlags::UNIT_S,
    },
    Definition {
        name: VERIFIED_CLAIMS_NAME,
        short: c"Claims of the session verified by auth.set_session in this transaction (internal).",
        long: c"",
        kind: Kind::Text(&VERIFIED_CLAIMS),
        context: Changed::BySuperuser,
        flags: GucFlags::NO_SHOW_ALL.union(GucFlags::DISALLOW_IN_FILE),
    },
];

/// Tells Postgres of every setting; called once per process, from _PG_init. A postmaster
/// setting exists only where the library is preloaded (durable::register_reserved).
pub fn register() {
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    for d in DEFINITIONS {
        if d.context == Changed::AtStart && !preloading {
            continue;
        }
        match d.kind {
            Kind::Bool(setting) => GucRegistry::define_bool_guc(d.name, d.short, d.long, setting, d.context.context(), d.flags),
            Kind::Int(setting, min, max) => {
                GucRegistry::define_int_guc(d.name, d.short, d.long, setting, min, max, d.context.context(), d.flags)
            }
            Kind::Text(setting) => GucRegistry::define_string_guc(d.name, d.short, d.long, setting, d.context.context(), d.flags),
        }
    }
}

/// A setting this extension does not define but reads on every row of a policy
/// (`request.jwt.claims`). Looking a setting up by name costs a binary search with
/// case-insensitive compares; this finds Postgres' entry for it once and, on each read,
/// only checks that the entry is still the one in that slot of the settings array
/// (entries move when settings are added, and are freed if an extension defines or
/// reserves the name), falling back to the lookup when it is not.
pub struct PlaceholderSetting {
    name: &'static CStr,
    slot: std::thread::LocalKey<std::cell::Cell<Option<(usize, *mut pgrx::pg_sys::config_generic)>>>,
}

macro_rules! placeholder_setting {
    ($name:literal) => {{
        thread_local! {
            static SLOT: std::cell::Cell<Option<(usize, *mut pgrx::pg_sys::config_generic)>> =
                const { std::cell::Cell::new(None) };
        }
        $crate::core::settings::PlaceholderSetting::new($name, SLOT)
    }};
}
pub(crate) use placeholder_setting;

impl PlaceholderSetting {
    pub const fn new(
        name: &'static CStr,
        slot: std::thread::LocalKey<std::cell::Cell<Option<(usize, *mut pgrx::pg_sys::config_generic)>>>,
    ) -> Self {
        PlaceholderSetting { name, slot }
    }

    /// The setting's text, or None when it is unset or empty.
    pub fn text(&'static self) -> Option<&'static [u8]> {
        use pgrx::pg_sys;
        unsafe {
            let vars = unguarded::get_guc_variables();
            let count = unguarded::GetNumConfigOptions() as usize;
            let is_ours = |entry: *mut pg_sys::config_generic| {
                !entry.is_null()
                    && (*entry).vartype == pg_sys::config_type::PGC_STRING
                    && CStr::from_ptr((*entry).name).to_bytes().eq_ignore_ascii_case(self.name.to_bytes())
            };
            let cached = self.slot.with(|s| s.get());
            let entry = match cached {
                Some((i, entry)) if i < count && *vars.add(i) == entry && is_ours(entry) => entry,
                _ => {
                    // Not set at all (the common case outside PostgREST): the lookup says so.
                    placeholder_text(self.name)?;
                    let found = (0..count).map(|i| (i, *vars.add(i))).find(|&(_, e)| is_ours(e));
                    self.slot.with(|s| s.set(found));
                    found?.1
                }
            };
            let value = *(*entry.cast::<pg_sys::config_string>()).variable;
            if value.is_null() {
                return None;
            }
            let bytes = CStr::from_ptr(value).to_bytes();
            (!bytes.is_empty()).then_some(bytes)
        }
    }
}

/// Postgres functions that cannot raise an error (or only on running out of memory), called
/// without pgrx's per-call guard (a sigsetjmp): the claim functions call them once per row
/// of a policy. An out-of-memory error's longjmp crosses only frames without destructors.
pub mod unguarded {
    use pgrx::pg_sys;
    // PostgreSQL 16 added an argument to get_guc_variables: declared for 15 only.
    #[cfg(not(feature = "pg15"))]
    compile_error!("settings::unguarded declares PostgreSQL 15's signatures");
    #[allow(clashing_extern_declarations)]
    extern "C-unwind" {
        pub fn get_guc_variables() -> *mut *mut pg_sys::config_generic;
        pub fn GetNumConfigOptions() -> std::ffi::c_int;
        pub fn palloc(size: pg_sys::Size) -> *mut std::ffi::c_void;
    }
}

/// The text of a setting this extension does not define (`request.jwt.claims`,
/// `request.headers`, ...), or None when it is unset or empty.
///
/// The slice borrows Postgres' copy of the value; callers use it before anything in
/// this backend can change the setting again.
pub fn placeholder_text(name: &CStr) -> Option<&'static [u8]> {
    unsafe {
        let value = pgrx::pg_sys::GetConfigOption(name.as_ptr(), true, false);
        if value.is_null() {
            return None;
        }
        let bytes = CStr::from_ptr(value).to_bytes();
        (!bytes.is_empty()).then_some(bytes)
    }
}

/// A string setting's current text without copying it; None when unset or empty.
pub fn text(setting: &'static GucSetting<Option<CString>>) -> Option<&'static [u8]> {
    // SAFETY: the pointer is Postgres' own value of the setting, valid until it next changes,
    // and callers use it before anything in this backend can change it.
    unsafe {
        let raw = *setting.as_ptr();
        if raw.is_null() {
            return None;
        }
        let bytes = CStr::from_ptr(raw).to_bytes();
        (!bytes.is_empty()).then_some(bytes)
    }
}

pub fn text_string(setting: &'static GucSetting<Option<CString>>) -> Option<String> {
    text(setting).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Sets the verified claims for the rest of the current transaction only (like SET LOCAL).
pub fn set_verified_claims_local(claims_json: &str) {
    set_internal_local(VERIFIED_CLAIMS_NAME, claims_json);
}

/// Sets one of the extension's internal SUSET settings for the rest of the current
/// transaction (like SET LOCAL), whoever the caller is.
pub fn set_internal_local(name: &CStr, value: &str) {
    let value = CString::new(value).expect("setting values have no NUL");
    unsafe {
        pgrx::pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pgrx::pg_sys::GucContext::PGC_SUSET,
            pgrx::pg_sys::GucSource::PGC_S_SESSION,
            pgrx::pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
}
