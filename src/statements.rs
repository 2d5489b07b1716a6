//! Which statements are running, for `roles::for_request`: an account change is the
//! request's own only when the client wrote it in the statement it sent, and that
//! statement writes and reads no table.
//!
//! Postgres runs code that others wrote inside the client's statement in many places: a
//! table owner's trigger, column default, CHECK constraint, index expression, rule,
//! policy or view; a type owner's cast, domain CHECK or operator, run for a value; any
//! function's body. An account change made from there would be that owner's, in the
//! client's name. So the call must be an expression of the client's own plan (the active
//! portal's, `written_in_client_statement`): the body of any function, and whatever
//! Postgres runs for a type, have plans of their own or none. Two ways remain for others'
//! code to enter the client's plan, and both are closed here:
//! - the rewriter adds views, rules, policies and defaults, which all come with a table:
//!   the statement must have no table in its range table but the extension's own (schema
//!   auth, where only the extension's owner can put code), no data-modifying CTE, and
//!   must not be a utility statement; the executor hooks also count the statements now
//!   running that are not of that shape, at every level;
//! - the planner inlines SQL functions: while planning a statement without tables, it
//!   may not inline a function that neither the extension nor a superuser owns
//!   (`needs_fmgr_hook` tells it so). Statements with tables, where no account change is
//!   made anyway, keep inlining (policies and PostgREST's computed columns need it).

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;

thread_local! {
    /// Statements now running (ExecutorRun or ExecutorFinish) that write or read a table,
    /// and plans being made or executors being started, whatever their statement.
    static TOUCHING_TABLES: Cell<u32> = const { Cell::new(0) };
    /// Whether the plan being made now is for a statement without tables, in which the
    /// planner may not inline a function of someone else's.
    static PLANNING_WITHOUT_TABLES: Cell<bool> = const { Cell::new(false) };
}

/// pg_language's oid for `sql`, the only language the planner inlines.
const SQL_LANGUAGE: pg_sys::Oid = pg_sys::Oid::from_u32(14);

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;
static mut PREV_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_FINISH: pg_sys::ExecutorFinish_hook_type = None;
static mut PREV_NEEDS_FMGR_HOOK: pg_sys::needs_fmgr_hook_type = None;

/// Installs the planner, executor and function-manager hooks; called once per process,
/// from _PG_init.
pub fn install() {
    unsafe {
        PREV_NEEDS_FMGR_HOOK = pg_sys::needs_fmgr_hook;
        pg_sys::needs_fmgr_hook = Some(needs_fmgr_hook);
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

/// Whether `call` (the expression a function was called for: `flinfo->fn_expr`) is a
/// call of `function` written as such in the text of the client's own statement: a
/// function call (not an operator or a cast that Postgres chose) parsed from text (the
/// catalog's expressions, as a function's argument defaults, have no location), and part
/// of the active portal's plan (not a function's body, a type's cast or domain CHECK, or
/// anything else Postgres plans apart from it). Plan nodes whose expressions are not
/// looked at here answer no.
pub fn written_in_client_statement(call: *mut pg_sys::Node, function: pg_sys::Oid) -> bool {
    unsafe {
        let portal = pg_sys::ActivePortal;
        if call.is_null() || portal.is_null() || (*call).type_ != pg_sys::NodeTag::T_FuncExpr {
            return false;
        }
        let expr = call as *mut pg_sys::FuncExpr;
        if (*expr).funcid != function
            || (*expr).funcformat != pg_sys::CoercionForm::COERCE_EXPLICIT_CALL
            || (*expr).location < 0
        {
            return false;
        }
        pointers((*portal).stmts).any(|node| {
            let node = node as *mut pg_sys::Node;
            if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_PlannedStmt {
                return false;
            }
            let stmt = node as *mut pg_sys::PlannedStmt;
            plan_holds((*stmt).planTree, call)
                || pointers((*stmt).subplans).any(|plan| plan_holds(plan as *mut pg_sys::Plan, call))
        })
    }
}

/// Whether a plan tree (not its subplans, which the PlannedStmt lists) holds `call`
/// among the expressions of the nodes a statement without tables can have.
unsafe fn plan_holds(plan: *mut pg_sys::Plan, call: *mut pg_sys::Node) -> bool {
    use pg_sys::NodeTag::*;
    if plan.is_null() {
        return false;
    }
    let holds = |expr: *mut pg_sys::Node| expression_holds(expr, call);
    let list = |list: *mut pg_sys::List| holds(list as *mut pg_sys::Node);
    if list((*plan).targetlist) || list((*plan).qual) {
        return true;
    }
    let own = match (*plan).type_ {
        T_Result => holds((*(plan as *mut pg_sys::Result)).resconstantqual),
        T_FunctionScan => list((*(plan as *mut pg_sys::FunctionScan)).functions),
        T_ValuesScan => list((*(plan as *mut pg_sys::ValuesScan)).values_lists),
        T_SubqueryScan => plan_holds((*(plan as *mut pg_sys::SubqueryScan)).subplan, call),
        T_Append => pointers((*(plan as *mut pg_sys::Append)).appendplans).any(|p| plan_holds(p as _, call)),
        T_MergeAppend => pointers((*(plan as *mut pg_sys::MergeAppend)).mergeplans).any(|p| plan_holds(p as _, call)),
        T_NestLoop | T_MergeJoin | T_HashJoin => list((*(plan as *mut pg_sys::Join)).joinqual),
        T_Limit => {
            let limit = plan as *mut pg_sys::Limit;
            holds((*limit).limitOffset) || holds((*limit).limitCount)
        }
        _ => false,
    };
    own || plan_holds((*plan).lefttree, call) || plan_holds((*plan).righttree, call)
}

unsafe fn expression_holds(expr: *mut pg_sys::Node, call: *mut pg_sys::Node) -> bool {
    !expr.is_null() && find_node(expr, call as *mut core::ffi::c_void)
}

/// An expression tree walker that looks for one node (the context), by address.
#[pg_guard]
unsafe extern "C-unwind" fn find_node(node: *mut pg_sys::Node, wanted: *mut core::ffi::c_void) -> bool {
    !node.is_null()
        && (node as *mut core::ffi::c_void == wanted || pg_sys::expression_tree_walker(node, Some(find_node), wanted))
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
    let _inlining = Inlining::for_query(parse);
    match PREV_PLANNER {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(parse, query_string, cursor_options, bound_params)),
        None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
    }
}

/// Sets, for as long as a plan is being made, whether its statement is without tables
/// (and so may not inline others' functions); puts back the outer plan's when dropped,
/// also while an ERROR unwinds.
struct Inlining(bool);

impl Inlining {
    unsafe fn for_query(parse: *mut pg_sys::Query) -> Inlining {
        let without_tables = !parse.is_null() && !finds_table(parse as *mut pg_sys::Node, std::ptr::null_mut());
        Inlining(PLANNING_WITHOUT_TABLES.with(|p| p.replace(without_tables)))
    }
}

impl Drop for Inlining {
    fn drop(&mut self) {
        PLANNING_WITHOUT_TABLES.with(|p| p.set(self.0));
    }
}

/// Whether a query (with its subqueries, CTEs and sublinks) is other than a SELECT, or
/// names a table or view outside schema auth. A query tree walker.
#[pg_guard]
unsafe extern "C-unwind" fn finds_table(node: *mut pg_sys::Node, context: *mut core::ffi::c_void) -> bool {
    if node.is_null() {
        return false;
    }
    match (*node).type_ {
        pg_sys::NodeTag::T_Query => {
            let query = node as *mut pg_sys::Query;
            (*query).commandType != pg_sys::CmdType::CMD_SELECT
                || !(*query).utilityStmt.is_null()
                || (*query).hasModifyingCTE
                || pg_sys::query_tree_walker(
                    query,
                    Some(finds_table),
                    context,
                    pg_sys::QTW_EXAMINE_RTES_BEFORE as core::ffi::c_int,
                )
        }
        pg_sys::NodeTag::T_RangeTblEntry => {
            let rte = node as *mut pg_sys::RangeTblEntry;
            (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && outside_auth((*rte).relid)
        }
        _ => pg_sys::expression_tree_walker(node, Some(finds_table), context),
    }
}

/// Tells the function manager which functions need its entry hook, and the planner which
/// it may not inline. While a statement without tables is planned: a function in SQL
/// that neither the extension (schemas auth and auth_api, where only its owner creates)
/// nor a superuser owns. Inlined, such a function's body would become part of the
/// client's own plan, and an account change in it would pass for the client's. (The
/// function manager then runs it through its security-definer path, with no hook of
/// ours to call: only a little slower.)
#[pg_guard]
unsafe extern "C-unwind" fn needs_fmgr_hook(function: pg_sys::Oid) -> bool {
    if let Some(prev) = PREV_NEEDS_FMGR_HOOK {
        if prev(function) {
            return true;
        }
    }
    PLANNING_WITHOUT_TABLES.with(Cell::get) && untrusted_sql_function(function)
}

unsafe fn untrusted_sql_function(function: pg_sys::Oid) -> bool {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::PROCOID as core::ffi::c_int, function.into());
    if tuple.is_null() {
        return false;
    }
    let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_proc>(tuple);
    let (language, namespace, owner) = ((*form).prolang, (*form).pronamespace, (*form).proowner);
    pg_sys::ReleaseSysCache(tuple);
    language == SQL_LANGUAGE && !extension_schema(namespace) && !pg_sys::superuser_arg(owner)
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
/// tables are safe to read: only its owner can put code on them (a trigger, a policy).
unsafe fn has_relation(rtable: *mut pg_sys::List) -> bool {
    pointers(rtable).any(|rte| {
        // Any entry that names a relation: a table, or a view (PostgreSQL 16 and later plan
        // views as subqueries that keep the view's relid).
        let rte = rte as *mut pg_sys::RangeTblEntry;
        !rte.is_null() && (*rte).relid != pg_sys::InvalidOid && outside_auth((*rte).relid)
    })
}

unsafe fn outside_auth(relation: pg_sys::Oid) -> bool {
    let auth = pg_sys::get_namespace_oid(c"auth".as_ptr(), true);
    auth == pg_sys::InvalidOid || pg_sys::get_rel_namespace(relation) != auth
}

/// Whether a schema is one of the extension's, where only its owner creates objects.
unsafe fn extension_schema(namespace: pg_sys::Oid) -> bool {
    [c"auth", c"auth_api"]
        .iter()
        .any(|name| namespace == pg_sys::get_namespace_oid(name.as_ptr(), true))
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
