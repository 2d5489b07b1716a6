//! Which statements are running, for `roles::for_request`: an account change is the
//! request's own only when no statement around it writes or reads a table.
//!
//! The owner of an application table can make code run inside whatever statement
//! touches the table (a trigger, a column default, a CHECK constraint, an index
//! expression, a rule, a policy, a view), with the claims of whoever sent that statement.
//! An account change made from there would be the owner's, in the victim's name. A
//! request that changes its account is a SELECT of functions (PostgREST's RPC, the
//! gateway's call, `select auth.update_user(...)`): no table in its range table but the
//! extension's own (schema auth, where only a superuser can put code), no data-modifying
//! CTE. The executor hooks below count the statements now running that
//! are not of that shape, at every level (PL/pgSQL and SQL functions run theirs through
//! the executor too); the top-level statement is checked as well, for COPY, which runs
//! no executor. During the statement in which the library was first loaded, the hooks
//! missed what already ran: no account change is made in it. Planning and executor start count too.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;

thread_local! {
    /// Statements now running (ExecutorRun or ExecutorFinish) that write or read a table,
    /// and plans being made or executors being started, whatever their statement.
    static TOUCHING_TABLES: Cell<u32> = const { Cell::new(0) };
}

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;
static mut PREV_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_FINISH: pg_sys::ExecutorFinish_hook_type = None;

/// The start of the client's statement during which the library was loaded (and the
/// hooks installed): they missed whatever of it already ran.
static mut LOADED_DURING: pg_sys::TimestampTz = 0;

/// Installs the planner and executor hooks; called once per process, from _PG_init.
pub fn install() {
    unsafe {
        LOADED_DURING = if pg_sys::IsTransactionState() { pg_sys::GetCurrentStatementStartTimestamp() } else { 0 };
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(planner);
        PREV_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_RUN = pg_sys::ExecutorRun_hook;
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREV_FINISH = pg_sys::ExecutorFinish_hook;
        pg_sys::ExecutorFinish_hook = Some(executor_finish);
    }
}

/// Whether the current code runs inside a statement that writes or reads a table, or
/// one that is not a plain SELECT (COPY, EXPLAIN, ...).
pub fn inside_table_statement() -> bool {
    TOUCHING_TABLES.with(Cell::get) > 0 || unsafe { top_level_touches_tables() }
}

/// Whether the code runs outside a statement the client sent: in a cursor (one that code
/// declared, or a WITH HOLD cursor whose query runs at COMMIT, after the statement that
/// declared it), or with no portal at all. The client's statement runs in the unnamed
/// portal (simple or extended protocol), or in a named one of the protocol whose text is
/// the statement the client sent; a cursor has a name of its own (SPI's included) and
/// the text it was declared with.
pub fn outside_client_statement() -> bool {
    unsafe {
        let portal = pg_sys::ActivePortal;
        if portal.is_null() || (*portal).cursorOptions & pg_sys::CURSOR_OPT_HOLD as i32 != 0 {
            return true;
        }
        if (*portal).name.is_null() || *(*portal).name == 0 {
            return false;
        }
        let (source, client) = ((*portal).sourceText, pg_sys::debug_query_string);
        source.is_null() || client.is_null() || std::ffi::CStr::from_ptr(source) != std::ffi::CStr::from_ptr(client)
    }
}

/// Whether the library was loaded during the client's current statement: the hooks then
/// missed whatever of it began before, so nothing in it can be judged (a policy's function
/// may run inside an application's function, with no trace here). PostgREST's pre-request
/// and the gateway's first statement load the library before any request's own statement.
pub fn loaded_during_this_statement() -> bool {
    unsafe { LOADED_DURING != 0 && pg_sys::GetCurrentStatementStartTimestamp() == LOADED_DURING }
}

/// Counts a running statement for as long as it runs, also when it ends in an ERROR:
/// the count is put back while the error unwinds through the hook.
struct Running(bool);

impl Running {
    fn enter(query: *mut pg_sys::QueryDesc) -> Running {
        Running::count(unsafe { !query.is_null() && touches_tables((*query).plannedstmt) })
    }

    fn count(touching: bool) -> Running {
        if touching {
            TOUCHING_TABLES.with(|c| c.set(c.get() + 1));
        }
        Running(touching)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0 {
            TOUCHING_TABLES.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
}

/// Planning, and starting an executor, run no request's own account change: the planner
/// runs immutable and stable functions to fold constants and estimate costs (a policy's or
/// a default's, in the victim's statement), and executor start prunes partitions with
/// them. The account-changing functions are volatile, which neither ever runs.
#[pg_guard]
unsafe extern "C-unwind" fn planner(
    parse: *mut pg_sys::Query,
    query_string: *const core::ffi::c_char,
    cursor_options: core::ffi::c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    let _planning = Running::count(true);
    match PREV_PLANNER {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(parse, query_string, cursor_options, bound_params)),
        None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: core::ffi::c_int) {
    let _starting = Running::count(true);
    match PREV_START {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query, eflags)),
        None => pg_sys::standard_ExecutorStart(query, eflags),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_run(
    query: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    let _running = Running::enter(query);
    // Through pgrx's boundary (pg_sys's functions have it already; another extension's
    // hook gets it here): an ERROR comes back as a panic, which unwinds through
    // `_running` (restoring the count) before pgrx raises it again.
    match PREV_RUN {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query, direction, count, execute_once)),
        None => pg_sys::standard_ExecutorRun(query, direction, count, execute_once),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_finish(query: *mut pg_sys::QueryDesc) {
    // AFTER triggers fire here, after the statement's run.
    let _running = Running::enter(query);
    match PREV_FINISH {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query)),
        None => pg_sys::standard_ExecutorFinish(query),
    }
}

/// Whether a planned statement writes or reads a table, or is a utility statement other
/// than those that only run code (DO, CALL, EXECUTE of a prepared statement, whose own
/// statements go through the executor and are counted there).
unsafe fn touches_tables(stmt: *mut pg_sys::PlannedStmt) -> bool {
    if stmt.is_null() {
        return false;
    }
    match (*stmt).commandType {
        pg_sys::CmdType::CMD_SELECT => (*stmt).hasModifyingCTE || has_relation((*stmt).rtable),
        pg_sys::CmdType::CMD_UTILITY => {
            let utility = (*stmt).utilityStmt;
            !utility.is_null()
                && !matches!(
                    (*utility).type_,
                    pg_sys::NodeTag::T_DoStmt | pg_sys::NodeTag::T_CallStmt | pg_sys::NodeTag::T_ExecuteStmt
                )
        }
        _ => true,
    }
}

/// Whether a range table names a table or view outside schema auth. The extension's own
/// tables are safe to read: only a superuser can put code on them (a trigger, a policy).
unsafe fn has_relation(rtable: *mut pg_sys::List) -> bool {
    let mut auth = None;
    pointers(rtable).any(|rte| {
        // Any entry that names a relation: a table, or a view (PostgreSQL 16 and later plan
        // views as subqueries that keep the view's relid).
        let rte = rte as *mut pg_sys::RangeTblEntry;
        if rte.is_null() || (*rte).relid == pg_sys::InvalidOid {
            return false;
        }
        let auth = *auth.get_or_insert_with(|| pg_sys::get_namespace_oid(c"auth".as_ptr(), true));
        auth == pg_sys::InvalidOid || pg_sys::get_rel_namespace((*rte).relid) != auth
    })
}

/// The pointers a Postgres List holds (none for NIL).
unsafe fn pointers(list: *mut pg_sys::List) -> impl Iterator<Item = *mut core::ffi::c_void> {
    let length = if list.is_null() { 0 } else { (*list).length.max(0) as usize };
    (0..length).map(move |i| (*(*list).elements.add(i)).ptr_value)
}

/// The statement the client sent (the active portal's).
unsafe fn top_level_touches_tables() -> bool {
    let portal = pg_sys::ActivePortal;
    if portal.is_null() {
        return false;
    }
    pointers((*portal).stmts).any(|node| {
        let node = node as *mut pg_sys::Node;
        !node.is_null() && (*node).type_ == pg_sys::NodeTag::T_PlannedStmt && touches_tables(node as *mut pg_sys::PlannedStmt)
    })
}
