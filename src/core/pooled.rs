//! What code running inside a statement may not change on a connection, because a pooled
//! connection (PostgREST's, the gateway's) serves one user after another, and what code
//! leaves on it runs in the next user's requests, with the next user's credentials:
//! - its prepared statements: PostgREST prepares its per-request statement, which sets
//!   `request.headers` (credentials included), by name; code could put its own under
//!   that name (`DEALLOCATE`, then `PREPARE`);
//! - its temporary schema, which Postgres searches first for type and relation names:
//!   a temporary `jsonb` or `text` domain would run its CHECK on the next user's
//!   arguments (PostgREST's, and any function without a pinned search_path). Temporary
//!   tables that go at commit (`ON COMMIT DROP`), the usual use in functions, stay free;
//! - its role: the pooler's login role may become every role it serves
//!   (`service_role` included), and so may code running inside a request (`SET ROLE`,
//!   `set_config('role', ...)`), unless it is refused. A superuser's session is left
//!   alone (it may become anyone anyway; no pooler may log in as one).
//!
//! Each is refused as `indirect_call` unless the client's own top-level statement does
//! it. The guards live in the library, which preloading, PostgREST's pre-request and
//! `auth.set_session` load in every connection that serves requests.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::core::errors::{AuthError, ErrorCode};
use crate::core::{roles, settings, statements};

static mut PREV_UTILITY: pg_sys::ProcessUtility_hook_type = None;
static mut PREV_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_ANALYZE: pg_sys::post_parse_analyze_hook_type = None;
static mut ORIGINAL_CHECK_ROLE: pg_sys::GucStringCheckHook = None;
static mut ORIGINAL_CHECK_SESSION_AUTHORIZATION: pg_sys::GucStringCheckHook = None;

thread_local! {
    /// The one role change the extension itself makes next (the gateway's, to the role
    /// `auth.gateway_request` verified), allowed from inside its function.
    static ALLOWED_ROLE_CHANGE: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
    /// The settings the client's own statements set for the rest of the session in this
    /// transaction (`SET`, or `set_config(..., false)` in its statement), or all of them.
    static CLIENT_SESSION_SETTINGS: RefCell<ClientSettings> = RefCell::new(ClientSettings::default());
    /// What each client statement text this backend analysed sets for the session with
    /// its own set_config calls (before views, policies, defaults and rules are put in,
    /// and before SQL functions are inlined): a prepared statement is analysed once and
    /// started many times.
    static CLIENT_TEXT_SETTINGS: RefCell<std::collections::HashMap<String, ClientSettings>> =
        RefCell::new(std::collections::HashMap::new());
}

#[derive(Default, Clone)]
struct ClientSettings {
    names: Vec<String>,
    all: bool,
}

impl ClientSettings {
    fn record(name: Option<&str>) {
        CLIENT_SESSION_SETTINGS.with(|c| {
            let mut c = c.borrow_mut();
            match name {
                Some(name) => c.names.push(name.to_ascii_lowercase()),
                None => c.all = true,
            }
        });
    }
}

/// Installs the utility hook and the guard on the `role` setting; called once per
/// process, from _PG_init.
pub fn install() {
    unsafe {
        PREV_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
        PREV_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_ANALYZE = pg_sys::post_parse_analyze_hook;
        pg_sys::post_parse_analyze_hook = Some(post_parse_analyze);
        pg_sys::RegisterXactCallback(Some(at_transaction_end), std::ptr::null_mut());
        guard_role_setting();
        // Loaded in the middle of a transaction (not preloaded): what it set for the session
        // before now was the client's (PostgREST's pre-request loads the library before any
        // code of the request runs).
        if pg_sys::IsTransactionState() {
            for name in session_settings_set_now() {
                ClientSettings::record(Some(&name));
            }
        }
    }
}

/// Lets the extension's own next change of role to `role` through (`auth.gateway_begin`).
pub fn allow_role_change(role: pg_sys::Oid) {
    ALLOWED_ROLE_CHANGE.with(|a| a.set(Some(role)));
}

fn refusal(message: &str) -> AuthError {
    AuthError::new(ErrorCode::IndirectCall, message)
        .detail("code that runs inside a statement (a trigger, a function, a policy) may not change what a pooled connection keeps for the next request")
}

#[pg_guard]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const core::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let top_level = context == pg_sys::ProcessUtilityContext::PROCESS_UTILITY_TOPLEVEL;
    if !pstmt.is_null() && !roles::session_is_superuser() {
        if sets_a_request_roles_settings((*pstmt).utilityStmt) {
            AuthError::new(ErrorCode::NotAdmin, "only a superuser may change the settings of a role that requests act as")
                .detail("ALTER ROLE ... SET on anon, authenticated, service_role or a role that is a member of one reaches every later request of every client")
                .raise();
        }
        if !top_level {
            if let Some(what) = kept_for_the_next_request((*pstmt).utilityStmt) {
                refusal(what).raise();
            }
        }
    }
    if top_level && !pstmt.is_null() {
        record_client_set((*pstmt).utilityStmt);
    }
    match PREV_UTILITY {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| {
            prev(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc)
        }),
        None => pg_sys::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
    }
}

/// What a utility statement would leave on the connection for later requests, if
/// anything: a prepared statement, or a temporary object other than a table that goes
/// at commit.
unsafe fn kept_for_the_next_request(statement: *mut pg_sys::Node) -> Option<&'static str> {
    use pg_sys::NodeTag::*;
    if statement.is_null() {
        return None;
    }
    let temporary_relation = |rel: *mut pg_sys::RangeVar| !rel.is_null() && is_temp(pg_sys::RangeVarGetCreationNamespace(rel));
    let temporary_name = |names: *mut pg_sys::List| {
        let mut object: *mut core::ffi::c_char = std::ptr::null_mut();
        !names.is_null() && is_temp(pg_sys::QualifiedNameGetCreationNamespace(names, &mut object))
    };
    let drops_at_commit = |on_commit: pg_sys::OnCommitAction::Type| on_commit == pg_sys::OnCommitAction::ONCOMMIT_DROP;
    match (*statement).type_ {
        T_PrepareStmt | T_DeallocateStmt => Some("PREPARE and DEALLOCATE run only as the client's own statements"),
        // RESET ROLE and SET or RESET SESSION AUTHORIZATION (DEFAULT: the pooler's login
        // role): a reset skips the settings' check hooks, which guard set_config's way.
        T_VariableSetStmt => {
            let name = (*(statement as *mut pg_sys::VariableSetStmt)).name;
            // RESET ALL leaves both alone (GUC_NO_RESET_ALL).
            let name = if name.is_null() { None } else { Some(CStr::from_ptr(name).to_bytes()) };
            matches!(name, Some(b"role" | b"session_authorization"))
                .then_some("a change of role or session authorization is made only by the client's own statements")
        }
        // Kept in the catalog for every later session of the role or database.
        T_AlterRoleSetStmt | T_AlterDatabaseSetStmt => Some("role and database settings are changed only by the client's own statements"),
        // EXPLAIN ANALYZE runs the statement it explains (CREATE TABLE AS among them).
        T_ExplainStmt => {
            let query = (*(statement as *mut pg_sys::ExplainStmt)).query as *mut pg_sys::Query;
            if query.is_null() || (*query).type_ != T_Query || (*query).commandType != pg_sys::CmdType::CMD_UTILITY {
                return None;
            }
            kept_for_the_next_request((*query).utilityStmt)
        }
        T_DeclareCursorStmt => {
            let options = (*(statement as *mut pg_sys::DeclareCursorStmt)).options;
            (options & pg_sys::CURSOR_OPT_HOLD as i32 != 0).then_some("a cursor WITH HOLD is declared only by the client's own statements")
        }
        T_CreateConversionStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateConversionStmt)).conversion_name).then_some(TEMPORARY)
        }
        T_CreateOpClassStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateOpClassStmt)).opclassname).then_some(TEMPORARY)
        }
        T_CreateOpFamilyStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateOpFamilyStmt)).opfamilyname).then_some(TEMPORARY)
        }
        T_CreateStmt => {
            let s = statement as *mut pg_sys::CreateStmt;
            (temporary_relation((*s).relation) && !drops_at_commit((*s).oncommit))
                .then_some(TEMPORARY)
        }
        T_CreateTableAsStmt => {
            let into = (*(statement as *mut pg_sys::CreateTableAsStmt)).into;
            (!into.is_null() && temporary_relation((*into).rel) && !drops_at_commit((*into).onCommit))
                .then_some(TEMPORARY)
        }
        T_ViewStmt => temporary_relation((*(statement as *mut pg_sys::ViewStmt)).view).then_some(TEMPORARY),
        T_CreateSeqStmt => {
            temporary_relation((*(statement as *mut pg_sys::CreateSeqStmt)).sequence).then_some(TEMPORARY)
        }
        T_CompositeTypeStmt => {
            temporary_relation((*(statement as *mut pg_sys::CompositeTypeStmt)).typevar).then_some(TEMPORARY)
        }
        T_CreateDomainStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateDomainStmt)).domainname).then_some(TEMPORARY)
        }
        T_CreateEnumStmt => temporary_name((*(statement as *mut pg_sys::CreateEnumStmt)).typeName).then_some(TEMPORARY),
        T_CreateRangeStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateRangeStmt)).typeName).then_some(TEMPORARY)
        }
        T_DefineStmt => temporary_name((*(statement as *mut pg_sys::DefineStmt)).defnames).then_some(TEMPORARY),
        T_CreateFunctionStmt => {
            temporary_name((*(statement as *mut pg_sys::CreateFunctionStmt)).funcname).then_some(TEMPORARY)
        }
        _ => None,
    }
}

const TEMPORARY: &str =
    "temporary objects that outlive the transaction are made only by the client's own statements (a temporary table may use ON COMMIT DROP)";

/// A client's own `SET` (not `SET LOCAL`): the setting is the client's to keep.
unsafe fn record_client_set(statement: *mut pg_sys::Node) {
    if statement.is_null() || (*statement).type_ != pg_sys::NodeTag::T_VariableSetStmt {
        return;
    }
    let set = statement as *mut pg_sys::VariableSetStmt;
    if (*set).is_local {
        return;
    }
    let name = (!(*set).name.is_null()).then(|| CStr::from_ptr((*set).name).to_string_lossy().into_owned());
    ClientSettings::record(name.as_deref());
}

/// `ALTER ROLE ... SET` or `RESET` of a role that requests act as: any role may set
/// its own, and anon's, set inside anon's request, would be every later anonymous
/// request's (PostgREST applies a role's settings when it becomes it).
unsafe fn sets_a_request_roles_settings(statement: *mut pg_sys::Node) -> bool {
    if statement.is_null() || (*statement).type_ != pg_sys::NodeTag::T_AlterRoleSetStmt {
        return false;
    }
    let role = (*(statement as *mut pg_sys::AlterRoleSetStmt)).role;
    // ALTER ROLE ALL: Postgres asks for a superuser itself.
    !role.is_null() && roles::acts_for_requests(pg_sys::get_rolespec_oid(role, true))
}

unsafe fn is_temp(namespace: pg_sys::Oid) -> bool {
    namespace != pg_sys::InvalidOid && pg_sys::isTempNamespace(namespace)
}

/// Puts `check_role_change` in front of the `role` setting's own check, which every
/// way of changing it goes through (`SET ROLE`, `RESET ROLE`, `set_config('role', ...)`,
/// a function's `SET role` clause), and `check_session_authorization_change` in front of
/// `session_authorization`'s (`SET SESSION AUTHORIZATION DEFAULT`, which any session
/// may make, becomes the pooler's login role).
unsafe fn guard_role_setting() {
    settings::guc::with_all(|all| {
        for &setting in all {
            if setting.is_null() || (*setting).vartype != pg_sys::config_type::PGC_STRING {
                continue;
            }
            let name = CStr::from_ptr((*setting).name);
            if name == c"role" {
                let role = setting as *mut pg_sys::config_string;
                ORIGINAL_CHECK_ROLE = (*role).check_hook;
                (*role).check_hook = Some(check_role_change);
            } else if name == c"session_authorization" {
                let authorization = setting as *mut pg_sys::config_string;
                ORIGINAL_CHECK_SESSION_AUTHORIZATION = (*authorization).check_hook;
                (*authorization).check_hook = Some(check_session_authorization_change);
            }
        }
    })
}

/// Whether code other than the client's own statement is running: a function's body or
/// a trigger (each pushes an error context; the protocol's own, for a statement's
/// parameters, is the client's), a statement inside another, or code inside a statement
/// that reads or writes a table (its triggers, defaults and policies). A client's own
/// `SET ROLE` runs no statement at all.
fn inside_others_code() -> bool {
    let running = statements::running_statements();
    in_function() || running > 1 || (running == 1 && statements::inside_table_statement())
}

/// `inside_others_code`, or a client statement whose plan calls anything but built-in
/// functions: the planner inlines SQL functions, and one inlined into the client's
/// statement runs from its executor, like the client's own `set_config`.
fn changes_role_from_others_code() -> bool {
    inside_others_code() || (statements::running_statements() == 1 && !statements::client_plan_calls_only_builtins())
}

// Postgres' own callback for a statement's parameters (the address, not pgrx's wrapper).
extern "C-unwind" {
    #[link_name = "ParamsErrorCallback"]
    fn params_error_callback(arg: *mut core::ffi::c_void);
}

fn in_function() -> bool {
    let params: unsafe extern "C-unwind" fn(*mut core::ffi::c_void) = params_error_callback;
    let mut context = unsafe { pg_sys::error_context_stack };
    while !context.is_null() {
        let callback = unsafe { (*context).callback };
        if callback.map(|f| f as usize) != Some(params as usize) {
            return true;
        }
        context = unsafe { (*context).previous };
    }
    false
}

/// Whether the change of a who-is-acting setting comes from a request's own code: never
/// at connection start or from the configuration (ALTER ROLE ... SET), never in a
/// superuser's session (it may become anyone anyway: no pooler for users is one), never
/// a parallel worker taking on its leader's settings (the leader's change was checked).
fn from_others_code(source: pg_sys::GucSource::Type) -> bool {
    if source < pg_sys::GucSource::PGC_S_INTERACTIVE || restoring_parallel_worker() || roles::session_is_superuser() {
        return false;
    }
    // A parallel worker runs no statement of the client's (no portal, no statement
    // counted): only a function's SET clause can change a setting there.
    let parallel_worker = unsafe { pg_sys::ParallelWorkerNumber >= 0 };
    parallel_worker || changes_role_from_others_code()
}

/// A parallel worker taking on its leader's settings (in a transaction of its own,
/// committed before its part of the query starts). Only then: once it runs the query, a
/// function's `SET role` clause in it is checked as anywhere else.
fn restoring_parallel_worker() -> bool {
    unsafe { pg_sys::InitializingParallelWorker }
}

unsafe fn original(
    hook: pg_sys::GucStringCheckHook,
    new_value: *mut *mut core::ffi::c_char,
    extra: *mut *mut core::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    hook.is_none_or(|check| check(new_value, extra, source))
}

#[pg_guard]
unsafe extern "C-unwind" fn check_role_change(
    new_value: *mut *mut core::ffi::c_char,
    extra: *mut *mut core::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    if !from_others_code(source) {
        return original(ORIGINAL_CHECK_ROLE, new_value, extra, source);
    }
    let target = if new_value.is_null() || (*new_value).is_null() {
        None
    } else {
        let name = CStr::from_ptr(*new_value);
        if name.to_bytes() == b"none" {
            None
        } else {
            Some(pg_sys::get_role_oid(name.as_ptr(), true))
        }
    };
    let allowed = ALLOWED_ROLE_CHANGE.with(|a| {
        let allowed = a.get().is_some() && a.get() == target;
        a.set(None);
        allowed
    });
    if allowed {
        return original(ORIGINAL_CHECK_ROLE, new_value, extra, source);
    }
    refuse_in_check("a change of role is made only by the client's own statements")
}

#[pg_guard]
unsafe extern "C-unwind" fn check_session_authorization_change(
    new_value: *mut *mut core::ffi::c_char,
    extra: *mut *mut core::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    if !from_others_code(source) {
        return original(ORIGINAL_CHECK_SESSION_AUTHORIZATION, new_value, extra, source);
    }
    refuse_in_check("a change of session authorization is made only by the client's own statements")
}

/// Fails a setting's check hook with `message` as the refusal of others' code.
unsafe fn refuse_in_check(message: &str) -> bool {
    pg_sys::GUC_check_errcode(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as i32);
    let message = CString::new(refusal(message).text()).unwrap_or_default();
    pg_sys::GUC_check_errmsg_string = pg_sys::pstrdup(message.as_ptr());
    false
}

/// Puts back every setting that a statement set for the rest of the session
/// (`set_config(..., false)`, `SET` without `LOCAL`) and that this transaction has not
/// set yet: called first in each pooled request (PostgREST's pre-request, the gateway's
/// first statement), so that what one request's code left (a `response.headers` that
/// sets cookies, a `statement_timeout` of 1 ms) never reaches the next. Settings from the
/// configuration, the database and the role stay.
pub fn reset_session_settings() {
    unsafe {
        let mut names = Vec::new();
        settings::guc::with_all(|all| {
            for &setting in all {
                if setting.is_null() || (*setting).source != pg_sys::GucSource::PGC_S_SESSION || !(*setting).stack.is_null() {
                    continue;
                }
                let name = CStr::from_ptr((*setting).name);
                // Who the session is is the pooler's, never a request's (check_role_change).
                if name != c"role" && name != c"session_authorization" {
                    // Put back on the client's behalf: its to keep at commit.
                    ClientSettings::record(Some(&name.to_string_lossy()));
                    names.push(name.to_owned());
                }
            }
        });
        for name in names {
            pg_sys::set_config_option(
                name.as_ptr(),
                std::ptr::null(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SET,
                true,
                pg_sys::WARNING as i32,
                false,
            );
        }
    }
}

/// PostgREST's pre-request calls this first (sql/functions/postgrest.sql): it loads the
/// library, and ends what the previous request's code left on the connection.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn begin_pooled_request() {
    reset_session_settings();
    crate::core::request::record_postgrest_request();
}

/// Statements texts remembered at most (a client has a handful of prepared statements).
const TEXTS_KEPT: usize = 256;

/// A client statement (analysed outside any other) that calls `set_config` for the rest
/// of the session: remembered under its text. Its own calls only: the analysed query has
/// no view bodies, policies, defaults, rules or inlined functions in it yet.
#[pg_guard]
unsafe extern "C-unwind" fn post_parse_analyze(
    pstate: *mut pg_sys::ParseState,
    query: *mut pg_sys::Query,
    jstate: *mut pg_sys::JumbleState,
) {
    if let Some(prev) = PREV_ANALYZE {
        pg_sys::ffi::pg_guard_ffi_boundary(|| prev(pstate, query, jstate));
    }
    if pstate.is_null() || query.is_null() || statements::running_statements() != 0 || in_function() {
        return;
    }
    let text = (*pstate).p_sourcetext;
    if !names_set_config(text) {
        return;
    }
    FOUND.with(|f| *f.borrow_mut() = ClientSettings::default());
    find_session_set_config(query as *mut pg_sys::Node, std::ptr::null_mut());
    let found = FOUND.with(|f| std::mem::take(&mut *f.borrow_mut()));
    let text = CStr::from_ptr(text).to_string_lossy().into_owned();
    CLIENT_TEXT_SETTINGS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= TEXTS_KEPT {
            c.clear();
        }
        c.insert(text, found);
    });
}

thread_local! {
    /// What one analysis found, before it is remembered under its text.
    static FOUND: RefCell<ClientSettings> = RefCell::new(ClientSettings::default());
}

/// A client statement starting (outside any other): what its text's own set_config calls
/// set for the session is the client's to keep in this transaction.
#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: core::ffi::c_int) {
    if !query.is_null() && statements::running_statements() == 0 && !in_function() && names_set_config((*query).sourceText) {
        let text = CStr::from_ptr((*query).sourceText).to_string_lossy();
        if let Some(found) = CLIENT_TEXT_SETTINGS.with(|c| c.borrow().get(text.as_ref()).cloned()) {
            CLIENT_SESSION_SETTINGS.with(|c| {
                let mut c = c.borrow_mut();
                c.all |= found.all;
                c.names.extend(found.names);
            });
        }
    }
    match PREV_START {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query, eflags)),
        None => pg_sys::standard_ExecutorStart(query, eflags),
    }
}

unsafe fn names_set_config(query_string: *const core::ffi::c_char) -> bool {
    !query_string.is_null() && CStr::from_ptr(query_string).to_string_lossy().to_ascii_lowercase().contains("set_config")
}

#[pg_guard]
unsafe extern "C-unwind" fn find_session_set_config(node: *mut pg_sys::Node, context: *mut core::ffi::c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if (*node).type_ == pg_sys::NodeTag::T_Query {
        return pg_sys::query_tree_walker(node as *mut pg_sys::Query, Some(find_session_set_config), context, 0);
    }
    if (*node).type_ == pg_sys::NodeTag::T_FuncExpr {
        let call = node as *mut pg_sys::FuncExpr;
        if (*call).funcid == pg_sys::Oid::from(pg_sys::F_SET_CONFIG) {
            let args: Vec<*mut pg_sys::Node> = list_nodes((*call).args);
            let constant = |n: *mut pg_sys::Node| (!n.is_null() && (*n).type_ == pg_sys::NodeTag::T_Const).then(|| n as *mut pg_sys::Const);
            let local = args.get(2).and_then(|&n| constant(n)).is_some_and(|c| !(*c).constisnull && bool::from_datum((*c).constvalue, false).unwrap_or(false));
            if !local {
                let name = args.first().and_then(|&n| constant(n)).filter(|c| !(**c).constisnull).and_then(|c| {
                    String::from_datum((*c).constvalue, false)
                });
                FOUND.with(|f| {
                    let mut f = f.borrow_mut();
                    match name {
                        Some(name) => f.names.push(name.to_ascii_lowercase()),
                        None => f.all = true,
                    }
                });
            }
        }
    }
    pg_sys::expression_tree_walker(node, Some(find_session_set_config), context)
}

unsafe fn list_nodes(list: *mut pg_sys::List) -> Vec<*mut pg_sys::Node> {
    if list.is_null() {
        return Vec::new();
    }
    (0..(*list).length).map(|i| (*(*list).elements.add(i as usize)).ptr_value as *mut pg_sys::Node).collect()
}

/// At commit, refuses settings for the rest of the session that code inside a statement
/// set (`set_config(..., false)` from a trigger or a function): a `search_path` left on a
/// pooled connection would decide which function the pooler's next statement calls. The
/// whole transaction rolls back, the setting with it.
#[pg_guard]
unsafe extern "C-unwind" fn at_transaction_end(event: pg_sys::XactEvent::Type, _arg: *mut core::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT => {
            let client = CLIENT_SESSION_SETTINGS.with(|c| std::mem::take(&mut *c.borrow_mut()));
            if client.all || restoring_parallel_worker() || roles::session_is_superuser() {
                return;
            }
            let left: Vec<String> =
                session_settings_set_now().into_iter().filter(|name| !client.names.contains(name)).collect();
            if !left.is_empty() {
                refusal("a setting for the rest of the session is made only by the client's own statements")
                    .detail(format!("set by code inside a statement: {}", left.join(", ")))
                    .hint("Use set_config(name, value, true), or SET LOCAL: it ends with the transaction.")
                    .raise();
            }
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_ABORT => {
            CLIENT_SESSION_SETTINGS.with(|c| *c.borrow_mut() = ClientSettings::default());
        }
        _ => {}
    }
}

/// The settings this transaction set for the rest of the session (and lower-cased names).
unsafe fn session_settings_set_now() -> Vec<String> {
    let mut names = Vec::new();
    settings::guc::with_all(|all| {
        for &setting in all {
            if setting.is_null() {
                continue;
            }
            let mut stack = (*setting).stack;
            while !stack.is_null() {
                if matches!((*stack).state, pg_sys::GucStackState::GUC_SET | pg_sys::GucStackState::GUC_SET_LOCAL) {
                    names.push(CStr::from_ptr((*setting).name).to_string_lossy().to_ascii_lowercase());
                    break;
                }
                stack = (*stack).prev;
            }
        }
    });
    names
}
