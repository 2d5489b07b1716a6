//! The claim functions RLS policies call: `auth.jwt()`, `auth.uid()`, `auth.role()`,
//! `auth.email()`, `auth.is_anonymous()`, `auth.session_id()`.
//!
//! A policy written bare (`user_id = auth.uid()`) calls them once per row, so the
//! claims are parsed once per distinct text of `request.jwt.claims` and kept in a
//! backend-local cache keyed on that exact text: a changed setting can never serve
//! stale claims, and an unchanged one costs a settings lookup and a byte compare. Where
//! the text is a setting of ours (verified claims, PostgREST's kept claims), whose
//! every change is counted, an unchanged count stands in for the compare.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::rc::Rc;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use serde_json::{Map, Value};

use crate::core::{roles, settings};
use crate::core::roles::SessionOf;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

/// Set by PostgREST (v9 and later) for each request: the JWT claims as JSON.
static CLAIMS_SETTING: settings::PlaceholderSetting = settings::placeholder_setting!(c"request.jwt.claims");

/// The claims of one request, parsed once.
#[derive(Debug)]
pub struct Claims {
    object: Map<String, Value>,
    /// The text the claims were parsed from, so jsonb keeps its numbers exactly as given.
    source_text: Option<Box<str>>,
    /// The jsonb varlena image of the claims, built on the first `auth.jwt()` call.
    jsonb: std::cell::OnceCell<Rc<[u8]>>,
    /// `sub` and `is_anonymous`, parsed on first use: policies call for them per row.
    sub: std::cell::OnceCell<AuthResult<Option<pgrx::Uuid>>>,
    anonymous: std::cell::OnceCell<AuthResult<Option<bool>>>,
}

impl Claims {
    /// Parses claims text; anything but a JSON object is refused.
    pub fn parse(text: &[u8], source: &str) -> AuthResult<Claims> {
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            AuthError::new(ErrorCode::BadJwt, format!("{source} is not valid JSON"))
                .detail(e.to_string())
                .hint("PostgREST sets it to the JWT's claims; set it to a JSON object or leave it unset.")
        })?;
        let Value::Object(object) = value else {
            return Err(AuthError::new(ErrorCode::BadJwt, format!("{source} must be a JSON object")));
        };
        if contains_nul(&object) {
            // jsonb cannot hold U+0000; refuse here rather than fail later in jsonb_in.
            return Err(AuthError::new(ErrorCode::BadJwt, format!("{source} contains a \\u0000 escape")));
        }
        let source_text = std::str::from_utf8(text).ok().map(Into::into);
        Ok(Claims {
            object,
            source_text,
            jsonb: std::cell::OnceCell::new(),
            sub: std::cell::OnceCell::new(),
            anonymous: std::cell::OnceCell::new(),
        })
    }

    pub fn object(&self) -> &Map<String, Value> {
        &self.object
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    pub fn uuid(&self, name: &str) -> AuthResult<Option<pgrx::Uuid>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => parse_uuid(s.as_bytes(), name).map(Some),
            Some(other) => Err(AuthError::new(
                ErrorCode::BadJwt,
                format!("the {name} claim must be a uuid string, not {}", json_kind(other)),
            )),
        }
    }

    pub fn boolean(&self, name: &str) -> AuthResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => parse_bool(s.as_bytes(), name).map(Some),
            Some(other) => Err(AuthError::new(
                ErrorCode::BadJwt,
                format!("the {name} claim must be a boolean, not {}", json_kind(other)),
            )),
        }
    }

    /// The jsonb image of the claims, built once.
    fn jsonb(&self) -> Rc<[u8]> {
        self.jsonb
            .get_or_init(|| match &self.source_text {
                Some(text) => jsonb_image(text),
                None => jsonb_image(&serde_json::to_string(&self.object).expect("a JSON map serializes")),
            })
            .clone()
    }
}

fn contains_nul(object: &Map<String, Value>) -> bool {
    fn value_has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(value_has_nul),
            Value::Object(o) => contains_nul(o),
            _ => false,
        }
    }
    object.iter().any(|(k, v)| k.contains('\0') || value_has_nul(v))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_uuid(text: &[u8], name: &str) -> AuthResult<pgrx::Uuid> {
    uuid::Uuid::try_parse_ascii(text)
        .map(|u| pgrx::Uuid::from_bytes(*u.as_bytes()))
        .map_err(|_| {
            AuthError::new(ErrorCode::BadJwt, format!("the {name} claim is not a uuid"))
                .detail(format!("{name} is {:?}", String::from_utf8_lossy(&text[..text.len().min(64)])))
        })
}

fn parse_bool(text: &[u8], name: &str) -> AuthResult<bool> {
    match text {
        b"true" => Ok(true),
        b"false" => Ok(false),
        _ => Err(AuthError::new(ErrorCode::BadJwt, format!("the {name} claim must be true or false"))),
    }
}

/// Builds a jsonb datum from JSON text with Postgres' own parser and keeps its bytes.
fn jsonb_image(text: &str) -> Rc<[u8]> {
    let cstring = CString::new(text).expect("claims were checked for NUL characters");
    unsafe {
        let datum = pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstring.as_ptr().into())])
            .expect("jsonb_in never returns NULL");
        let varlena = datum.cast_mut_ptr::<pg_sys::varlena>();
        let len = pgrx::varsize_any(varlena);
        let image: Rc<[u8]> = std::slice::from_raw_parts(varlena as *const u8, len).into();
        pg_sys::pfree(varlena.cast());
        image
    }
}

/// A jsonb value returned from a cached image: one palloc and a memcpy per call.
pub struct JsonbImage(Rc<[u8]>);

unsafe impl BoxRet for JsonbImage {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        let bytes = &self.0;
        let copy = pg_sys::palloc(bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy.cast::<u8>(), bytes.len());
        fcinfo.return_raw_datum(pg_sys::Datum::from(copy))
    }
}

unsafe impl SqlTranslatable for JsonbImage {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbImage);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Err(ArgumentError::NotValidAsArgument("JsonbImage"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

/// The last claims text this backend parsed from one source, and what it parsed to.
struct CachedClaims {
    text: CString,
    claims: Rc<Claims>,
    /// settings::tracked_changes when `text` was last known to be a tracked setting's value.
    changes: Option<u64>,
}

impl CachedClaims {
    fn new(text: SettingText, claims: Rc<Claims>) -> CachedClaims {
        // SAFETY: a setting's value, NUL-terminated.
        let copy = CString::from(unsafe { CStr::from_ptr(text.raw) });
        CachedClaims { text: copy, claims, changes: text.changes() }
    }

    /// Whether these claims were parsed from `text`: a tracked setting unchanged since it
    /// was found to hold them is not read again.
    fn holds(&mut self, text: SettingText) -> bool {
        if text.tracked && self.changes == Some(settings::tracked_changes()) {
            return true;
        }
        // SAFETY: both NUL-terminated.
        let same = unsafe { settings::unguarded::strcmp(text.raw, self.text.as_ptr()) == 0 };
        if same {
            self.changes = text.changes();
        }
        same
    }
}

/// A claims text as a setting holds it (NUL-terminated), measured only when it must be
/// parsed.
#[derive(Clone, Copy)]
struct SettingText {
    raw: *const std::ffi::c_char,
    /// A setting whose changes are counted (settings::tracked_changes).
    tracked: bool,
}

impl SettingText {
    /// What the count of changes is now, if this text's setting is counted.
    fn changes(self) -> Option<u64> {
        self.tracked.then(settings::tracked_changes)
    }

    fn bytes(self) -> &'static [u8] {
        // SAFETY: a setting's value, read before anything can change the setting.
        unsafe { CStr::from_ptr(self.raw).to_bytes() }
    }
}

type ClaimsCache = RefCell<Option<CachedClaims>>;

thread_local! {
    static REQUEST_CLAIMS: ClaimsCache = const { RefCell::new(None) };
    static VERIFIED_CLAIMS: ClaimsCache = const { RefCell::new(None) };
}

/// The claims `text` parses to, parsed at most once while the text stays the same.
fn cached(cache: &'static std::thread::LocalKey<ClaimsCache>, text: SettingText, source: &str) -> AuthResult<Rc<Claims>> {
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.as_mut().and_then(|c| c.holds(text).then_some(c)) {
            return Ok(hit.claims.clone());
        }
        let claims = Rc::new(Claims::parse(text.bytes(), source)?);
        *cache = Some(CachedClaims::new(text, claims.clone()));
        Ok(claims)
    })
}

/// Which text the claim functions answer from: the one rule for where claims come from,
/// shared by the parsing path and `uid_fast`'s cache peek.
enum ClaimText {
    /// A session verified by `auth.set_session` in this transaction.
    Verified(SettingText),
    /// `request.jwt.claims` as PostgREST set it; legacy per-claim settings apply too.
    Request(Option<SettingText>),
    /// No session was verified, and `request.jwt.claims` is not believed:
    /// `auth_ext.require_verified_session` is on, or the session is not PostgREST's.
    Nothing,
}

/// In PostgREST's sessions, the claims its pre-request kept before the request's code
/// ran (request::record_postgrest_request): code that rewrites `request.jwt.claims`
/// afterwards does not become someone else. A superuser's session reads the setting as it
/// is (an operator's, a test's); nobody else's is believed at all.
fn claim_text() -> ClaimText {
    if let Some(text) = verified_text() {
        ClaimText::Verified(text)
    } else if settings::REQUIRE_VERIFIED_SESSION.get() {
        ClaimText::Nothing
    } else {
        match roles::session_of_per_row() {
            SessionOf::Superuser => ClaimText::Request(CLAIMS_SETTING.raw().map(|raw| SettingText { raw, tracked: false })),
            SessionOf::Postgrest => match settings::text_raw(&settings::REQUEST_CLAIMS) {
                Some(raw) => ClaimText::Request(Some(SettingText { raw, tracked: true })),
                None => ClaimText::Nothing,
            },
            SessionOf::Other => ClaimText::Nothing,
        }
    }
}

/// Where the current claims come from, parsed.
enum ClaimSource {
    Verified(Rc<Claims>),
    Request(Option<Rc<Claims>>),
    Nothing,
}

fn claim_source() -> AuthResult<ClaimSource> {
    Ok(match claim_text() {
        ClaimText::Verified(text) => ClaimSource::Verified(cached(&VERIFIED_CLAIMS, text, "auth_ext.verified_claims")?),
        ClaimText::Request(Some(text)) => ClaimSource::Request(Some(cached(&REQUEST_CLAIMS, text, "request.jwt.claims")?)),
        ClaimText::Request(None) => ClaimSource::Request(None),
        ClaimText::Nothing => ClaimSource::Nothing,
    })
}

/// The claims every claim function answers from, ignoring legacy per-claim settings.
pub fn current_claims() -> AuthResult<Option<Rc<Claims>>> {
    Ok(match claim_source()? {
        ClaimSource::Verified(c) => Some(c),
        ClaimSource::Request(c) => c,
        ClaimSource::Nothing => None,
    })
}

/// Primes the verified-claims cache with the claims `auth.set_session` just verified and
/// set as `text`, when that is the setting's value.
pub fn remember_verified(text: &str, claims: Claims) {
    let Some(current) = verified_text().filter(|t| t.bytes() == text.as_bytes()) else { return };
    VERIFIED_CLAIMS.with(|cache| {
        *cache.borrow_mut() = Some(CachedClaims::new(current, Rc::new(claims)));
    });
}

/// The verified claims' setting, when set.
fn verified_text() -> Option<SettingText> {
    settings::text_raw(&settings::VERIFIED_CLAIMS).map(|raw| SettingText { raw, tracked: true })
}

/// One named claim. PostgREST before v9 set one setting per claim
/// (`request.jwt.claim.sub`, ...) instead of `request.jwt.claims`; those are read when
/// `request.jwt.claims` is unset, so SQL written for either keeps working. (Supabase's
/// SQL functions read them first; no PostgREST version sets both, and not looking them
/// up on every row keeps a bare `auth.uid()` in a policy cheap.)
fn claim<T>(
    legacy: &'static CStr,
    from_legacy: impl FnOnce(&[u8]) -> AuthResult<T>,
    from_claims: impl FnOnce(&Claims) -> AuthResult<Option<T>>,
) -> AuthResult<Option<T>> {
    match claim_source()? {
        ClaimSource::Verified(c) => from_claims(&c),
        ClaimSource::Request(Some(c)) => from_claims(&c),
        ClaimSource::Request(None) => match settings::placeholder_text(legacy) {
            Some(text) => from_legacy(text).map(Some),
            None => Ok(None),
        },
        ClaimSource::Nothing => Ok(None),
    }
}

fn text_claim(name: &'static str, legacy: &'static CStr) -> AuthResult<Option<String>> {
    claim(legacy, |t| Ok(String::from_utf8_lossy(t).into_owned()), |c| Ok(c.text(name).map(str::to_owned)))
}

fn uuid_claim(name: &'static str, legacy: &'static CStr) -> AuthResult<Option<pgrx::Uuid>> {
    claim(legacy, |t| parse_uuid(t, name), |c| match name {
        "sub" => c.sub.get_or_init(|| c.uuid("sub")).clone(),
        _ => c.uuid(name),
    })
}

fn bool_claim(name: &'static str, legacy: &'static CStr) -> AuthResult<Option<bool>> {
    claim(legacy, |t| parse_bool(t, name), |c| match name {
        "is_anonymous" => c.anonymous.get_or_init(|| c.boolean("is_anonymous")).clone(),
        _ => c.boolean(name),
    })
}

/// All claims of the current request as jsonb, or NULL when there are none.
#[pg_extern(stable, parallel_safe)]
fn jwt() -> Result<Option<JsonbImage>, ErrorReport> {
    Ok(current_claims()?.map(|c| JsonbImage(c.jsonb())))
}

/// The `sub` claim: the signed-in user's id. SQL calls `uid_fast`, which answers from
/// the cache and comes here only when it cannot.
#[pg_extern(
    stable,
    parallel_safe,
    sql = r#"CREATE FUNCTION "uid"() RETURNS uuid STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'uid_fast';"#
)]
fn uid() -> Result<Option<pgrx::Uuid>, ErrorReport> {
    Ok(uuid_claim("sub", c"request.jwt.claim.sub")?)
}

/// `sub` of the current claims when the cache already holds them parsed (Some(None):
/// there is no user); None when only `uid` can tell (first use of a text, legacy
/// settings, a malformed claim). Cannot fail or panic.
fn cached_sub() -> Option<Option<pgrx::Uuid>> {
    let (cache, text) = match claim_text() {
        ClaimText::Verified(text) => (&VERIFIED_CLAIMS, text),
        ClaimText::Request(text) => (&REQUEST_CLAIMS, text?),
        ClaimText::Nothing => return Some(None),
    };
    cache.with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let hit = cache.as_mut().and_then(|c| c.holds(text).then_some(c))?;
        hit.claims.sub.get()?.as_ref().ok().copied()
    })
}

/// The version-1 calling convention record Postgres looks up for `uid_fast`.
#[no_mangle]
pub extern "C" fn pg_finfo_uid_fast() -> &'static pgrx::pg_sys::Pg_finfo_record {
    const V1_API: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `auth.uid()` as a bare C function: a policy calls it once per row, and pgrx's call
/// wrapper (memory context, unwinding guard, result boxing) costs more than answering
/// from the cache. Anything but a cache hit goes through `uid` and its wrapper.
///
/// # Safety
/// Called by Postgres' function manager with a valid `fcinfo`.
#[no_mangle]
pub unsafe extern "C-unwind" fn uid_fast(fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
    match cached_sub() {
        Some(Some(sub)) => {
            let bytes: [u8; 16] = *sub.as_bytes();
            let copy = settings::unguarded::palloc(bytes.len()).cast::<u8>();
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
            pgrx::pg_sys::Datum::from(copy)
        }
        Some(None) => {
            (*fcinfo).isnull = true;
            pgrx::pg_sys::Datum::from(0usize)
        }
        None => uid_wrapper(fcinfo),
    }
}

/// The `role` claim: `anon`, `authenticated` or `service_role`.
#[pg_extern(stable, parallel_safe)]
fn role() -> Result<Option<String>, ErrorReport> {
    Ok(text_claim("role", c"request.jwt.claim.role")?)
}

/// The `email` claim.
#[pg_extern(stable, parallel_safe)]
fn email() -> Result<Option<String>, ErrorReport> {
    Ok(text_claim("email", c"request.jwt.claim.email")?)
}

/// The `is_anonymous` claim: true for users created by an anonymous sign-in.
#[pg_extern(stable, parallel_safe)]
fn is_anonymous() -> Result<Option<bool>, ErrorReport> {
    Ok(bool_claim("is_anonymous", c"request.jwt.claim.is_anonymous")?)
}

/// True for a signed-in user who is not anonymous: for hand-written policies.
#[pg_extern(stable, parallel_safe)]
fn is_permanent() -> Result<bool, ErrorReport> {
    let signed_in = uuid_claim("sub", c"request.jwt.claim.sub")?.is_some();
    let anonymous = bool_claim("is_anonymous", c"request.jwt.claim.is_anonymous")?;
    Ok(signed_in && anonymous != Some(true))
}

/// The `session_id` claim: the session the access token belongs to.
#[pg_extern(stable, parallel_safe)]
fn session_id() -> Result<Option<pgrx::Uuid>, ErrorReport> {
    Ok(uuid_claim("session_id", c"request.jwt.claim.session_id")?)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    const USER: &str = "6f1d3c1e-9a7b-4a52-8d4f-2f0e6c1b9a10";

    fn set_claims(text: &str) {
        Spi::run(&format!(
            "select set_config('request.jwt.claims', {}, true)",
            pgrx::spi::quote_literal(text)
        ))
        .unwrap();
    }

    fn query<T: pgrx::IntoDatum + pgrx::FromDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).unwrap()
    }

    #[pg_test]
    fn claim_functions_read_request_claims() {
        set_claims(&format!(
            r#"{{"sub": "{USER}", "role": "authenticated", "email": "a@example.com",
                "is_anonymous": true, "session_id": "{USER}", "aal": "aal1"}}"#
        ));
        // Table-driven: each function's answer as text.
        let cases = [
            ("auth.uid()::text", Some(USER)),
            ("auth.role()", Some("authenticated")),
            ("auth.email()", Some("a@example.com")),
            ("auth.is_anonymous()::text", Some("true")),
            ("auth.session_id()::text", Some(USER)),
            ("auth.jwt()->>'aal'", Some("aal1")),
            ("auth.jwt()->>'missing'", None),
        ];
        for (expr, expected) in cases {
            let got = query::<String>(&format!("select {expr}"));
            assert_eq!(got.as_deref(), expected, "{expr}");
        }
    }

    #[pg_test]
    fn unset_and_empty_claims_give_null() {
        for setup in [None, Some("")] {
            if let Some(text) = setup {
                set_claims(text);
            }
            for f in ["auth.uid()::text", "auth.role()", "auth.email()", "auth.jwt()::text",
                      "auth.is_anonymous()::text", "auth.session_id()::text"] {
                assert_eq!(query::<String>(&format!("select {f}")), None, "{f} with {setup:?}");
            }
        }
    }

    #[pg_test]
    fn changed_setting_is_never_served_stale() {
        let other = "0b7f8f62-5c1e-4d9e-9d63-3c2a4c7e0f11";
        set_claims(&format!(r#"{{"sub": "{USER}"}}"#));
        assert_eq!(query::<String>("select auth.uid()::text").as_deref(), Some(USER));
        set_claims(&format!(r#"{{"sub": "{other}"}}"#));
        assert_eq!(query::<String>("select auth.uid()::text").as_deref(), Some(other));
        set_claims("{}");
        assert_eq!(query::<String>("select auth.uid()::text"), None);
    }

    #[pg_test]
    fn legacy_claim_settings_answer_when_request_claims_are_unset() {
        Spi::run(&format!("select set_config('request.jwt.claim.sub', '{USER}', true)")).unwrap();
        Spi::run("select set_config('request.jwt.claim.role', 'authenticated', true)").unwrap();
        assert_eq!(query::<String>("select auth.uid()::text").as_deref(), Some(USER));
        assert_eq!(query::<String>("select auth.role()").as_deref(), Some("authenticated"));
        // PostgREST 9+ sets request.jwt.claims; it is then the one source.
        set_claims(r#"{"role": "anon"}"#);
        assert_eq!(query::<String>("select auth.uid()::text"), None);
        assert_eq!(query::<String>("select auth.role()").as_deref(), Some("anon"));
    }

    #[pg_test(error = "bad_jwt: request.jwt.claims is not valid JSON")]
    fn malformed_claims_are_a_clear_error() {
        set_claims("{not json");
        query::<String>("select auth.uid()::text");
    }

    #[pg_test(error = "bad_jwt: request.jwt.claims must be a JSON object")]
    fn non_object_claims_are_refused() {
        set_claims("[1, 2]");
        query::<String>("select auth.role()");
    }

    #[pg_test(error = "bad_jwt: the sub claim is not a uuid")]
    fn non_uuid_sub_is_refused_by_uid_only() {
        set_claims(r#"{"sub": "auth0|123", "role": "authenticated"}"#);
        assert_eq!(query::<String>("select auth.role()").as_deref(), Some("authenticated"));
        query::<String>("select auth.uid()::text");
    }

    #[pg_test]
    fn nul_escapes_are_refused_not_crashed_on() {
        let err = Claims::parse(br#"{"sub": "\u0000"}"#, "x").unwrap_err();
        assert_eq!(err.code, ErrorCode::BadJwt);
    }

    #[pg_test]
    fn jwt_returns_the_whole_object_each_call() {
        set_claims(r#"{"sub": "x", "app_metadata": {"provider": "email"}, "n": 1.5}"#);
        for _ in 0..3 {
            let got = query::<String>("select auth.jwt()::text").unwrap();
            assert_eq!(got, r#"{"n": 1.5, "sub": "x", "app_metadata": {"provider": "email"}}"#);
        }
    }
}
