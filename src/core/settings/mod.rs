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
pub static PROVIDER_SECRET_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static PROVIDER_ALLOW_HTTP: GucSetting<bool> = GucSetting::<bool>::new(false);
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
/// Where messages' links lead: `verify` (GoTrue's /verify, under api_external_url) or
/// `confirm` ({site_url}/auth/confirm?token_hash=…, the @supabase/ssr pattern); unset,
/// `verify` when api_external_url is set, else `confirm`.
pub static MAILER_LINKS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
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
pub static REQUEST_CLIENT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub const REQUEST_CLIENT_NAME: &CStr = c"auth_ext.request_client";
pub static REQUEST_CLAIMS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub const REQUEST_CLAIMS_NAME: &CStr = c"auth_ext.request_claims";
/// How long a PKCE auth code may wait for its exchange, as GoTrue's flow state.
pub static FLOW_STATE_EXP: GucSetting<i32> = GucSetting::<i32>::new(300);

/// Multi-factor authentication, as GoTrue's MFA_* settings: TOTP on, phone off by default.
pub static MFA_TOTP_ENROLL_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static MFA_TOTP_VERIFY_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static MFA_PHONE_ENROLL_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MFA_PHONE_VERIFY_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MFA_MAX_ENROLLED_FACTORS: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static MFA_CHALLENGE_EXPIRY: GucSetting<i32> = GucSetting::<i32>::new(300);
/// Wrong codes one client address may try on one factor in an hour.
pub static MFA_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static MFA_VERIFICATION_ATTEMPT_HOOK: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Sign-ups, sign-ins, codes and recovery only through the HTTP front (which checks
/// CAPTCHA tokens) or the application's server: not through PostgREST's auth_api.
pub static CAPTCHA_REQUIRED: GucSetting<bool> = GucSetting::<bool>::new(false);
/// Tries of a message before it fails for good (auth.outbox_retry).
pub static OUTBOX_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
/// The first retry's delay; each next one doubles it, up to an hour.
pub static OUTBOX_RETRY_DELAY: GucSetting<i32> = GucSetting::<i32>::new(30);

/// How a setting is stored, with an integer's bounds.
enum Kind {
    Bool(&'static GucSetting<bool>),
    Int(&'static GucSetting<i32>, i32, i32),
    Text(&'static GucSetting<Option<CString>>),
    /// Text whose every change is counted (`tracked_changes`).
    TrackedText(&'static GucSetting<Option<CString>>),
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

mod definitions;
pub mod guc;
use definitions::DEFINITIONS;


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
            // pgrx defines no hooks: as its define_string_guc, with an assign hook.
            Kind::TrackedText(setting) => unsafe {
                pgrx::pg_sys::DefineCustomStringVariable(
                    d.name.as_ptr(),
                    d.short.as_ptr(),
                    d.long.as_ptr(),
                    setting.as_ptr(),
                    *setting.as_ptr(),
                    d.context.context() as isize as _,
                    d.flags.bits(),
                    None,
                    Some(count_tracked_change),
                    None,
                )
            },
        }
    }
}

/// Changes to the tracked settings in this backend so far.
static TRACKED_CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Postgres calls a setting's assign hook on every change of its value (SET, RESET, a
/// transaction or subtransaction ending and restoring the one before), before the new
/// value is stored.
unsafe extern "C-unwind" fn count_tracked_change(_new: *const std::ffi::c_char, _extra: *mut std::ffi::c_void) {
    TRACKED_CHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many times the tracked settings (the verified and the kept request claims) have
/// changed in this backend: while it stays the same, so do their values, and a cache of
/// what they parse to needs no compare of the text.
pub fn tracked_changes() -> u64 {
    TRACKED_CHANGES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A setting this extension does not define but reads on every row of a policy
/// (`request.jwt.claims`). On 15, looking a setting up by name costs a binary search with
/// case-insensitive compares; this finds Postgres' entry for it once and, on each read,
/// only checks that the entry is still the one in that slot of the settings array
/// (entries move when settings are added, and are freed if an extension defines or
/// reserves the name), falling back to the lookup when it is not. From 16 the lookup
/// is one hash probe, made on each read.
pub struct PlaceholderSetting {
    name: &'static CStr,
    // Where the entry was found (15's array; 17 has nothing to cache).
    #[cfg_attr(not(feature = "pg15"), allow(dead_code))]
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

    /// The setting's text, NUL-terminated, or None when it is unset or empty.
    pub fn raw(&'static self) -> Option<*const std::ffi::c_char> {
        let entry = self.entry()?;
        // SAFETY: a PGC_STRING entry of Postgres' settings table; its value is Postgres' own
        // copy, valid until the setting next changes, and callers use it before then.
        unsafe { non_empty(*(*entry.cast::<pgrx::pg_sys::config_string>()).variable) }
    }

    #[cfg(feature = "pg15")]
    fn entry(&'static self) -> Option<*mut pgrx::pg_sys::config_generic> {
        guc::with_all(|vars| {
            let cached = self.slot.with(|s| s.get());
            match cached {
                Some((i, entry)) if vars.get(i) == Some(&entry) && self.is_ours(entry) => Some(entry),
                _ => {
                    // Not set at all (the common case outside PostgREST): the lookup says so.
                    placeholder_text(self.name)?;
                    let found = vars.iter().copied().enumerate().find(|&(_, e)| self.is_ours(e));
                    self.slot.with(|s| s.set(found));
                    Some(found?.1)
                }
            }
        })
    }

    /// PostgreSQL 16 keeps settings in a hash table: one lookup, nothing to cache.
    #[cfg(not(feature = "pg15"))]
    fn entry(&'static self) -> Option<*mut pgrx::pg_sys::config_generic> {
        // SAFETY: find_option only reads the hash table (skip_errors: it raises nothing).
        let entry = unsafe { unguarded::find_option(self.name.as_ptr(), false, true, pgrx::pg_sys::WARNING as i32) };
        (!entry.is_null() && self.is_ours(entry)).then_some(entry)
    }

    fn is_ours(&self, entry: *mut pgrx::pg_sys::config_generic) -> bool {
        // SAFETY: entries of Postgres' settings table, each with a name.
        unsafe {
            !entry.is_null()
                && (*entry).vartype == pgrx::pg_sys::config_type::PGC_STRING
                && CStr::from_ptr((*entry).name).to_bytes().eq_ignore_ascii_case(self.name.to_bytes())
        }
    }
}

/// Postgres functions that cannot raise an error (or only on running out of memory), called
/// without pgrx's per-call guard (a sigsetjmp): the claim functions call them once per row
/// of a policy. An out-of-memory error's longjmp crosses only frames without destructors.
pub mod unguarded {
    use pgrx::pg_sys;
    #[allow(clashing_extern_declarations)]
    extern "C-unwind" {
        // Their signatures changed in PostgreSQL 16 (checked against 15's and 17's guc.h).
        #[cfg(feature = "pg15")]
        pub fn get_guc_variables() -> *mut *mut pg_sys::config_generic;
        #[cfg(feature = "pg15")]
        pub fn GetNumConfigOptions() -> std::ffi::c_int;
        #[cfg(not(feature = "pg15"))]
        pub fn find_option(
            name: *const std::ffi::c_char,
            create_placeholders: bool,
            skip_errors: bool,
            elevel: std::ffi::c_int,
        ) -> *mut pg_sys::config_generic;
        pub fn palloc(size: pg_sys::Size) -> *mut std::ffi::c_void;
        // Whose session this is (roles::session_of, on every row): the flag and the
        // memberships are cached by Postgres; a lookup when they change can fail only as
        // the catalog itself does.
        pub fn GetSessionUserId() -> pg_sys::Oid;
        pub fn superuser_arg(roleid: pg_sys::Oid) -> bool;
        pub fn is_member_of_role(member: pg_sys::Oid, role: pg_sys::Oid) -> bool;
    }
    extern "C" {
        // The C library's, as Postgres uses it: one pass, stopping at the first difference.
        pub fn strcmp(a: *const std::ffi::c_char, b: *const std::ffi::c_char) -> std::ffi::c_int;
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
    // SAFETY: a NUL-terminated value (text_raw), read before the setting can change again.
    text_raw(setting).map(|raw| unsafe { CStr::from_ptr(raw).to_bytes() })
}

/// A string setting's current text, NUL-terminated, not measured or copied; None when
/// unset or empty.
pub fn text_raw(setting: &'static GucSetting<Option<CString>>) -> Option<*const std::ffi::c_char> {
    // SAFETY: the pointer is Postgres' own value of the setting, valid until it next changes,
    // and callers use it before anything in this backend can change it.
    unsafe { non_empty(*setting.as_ptr()) }
}

/// A setting's value unless it is NULL or "".
///
/// # Safety
/// `value` is NULL or a NUL-terminated string.
unsafe fn non_empty(value: *const std::ffi::c_char) -> Option<*const std::ffi::c_char> {
    (!value.is_null() && *value != 0).then_some(value)
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
