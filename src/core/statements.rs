//! Which statements are running, for `roles::for_request`: an account change is the
//! request's own only when the client wrote it in the statement it sent, and that
//! statement writes and reads no table.
//!
//! Postgres runs code that others wrote inside the client's statement in many places: a
//! table owner's trigger, column default, CHECK constraint, index expression, rule,
//! policy or view; a type owner's cast, domain CHECK or operator, run for a value; any
//! function's body. An account change made from there would be that owner's, in the
//! client's name. So the call must be an expression of the client's own plan (the active
//! portal's, `written_in_client_statement`), evaluated by that plan's executor (no other
//! statement running inside it): the body of any function, and whatever Postgres runs for
//! a type, have plans of their own or none. Others' code can still enter the client's
//! plan in three ways, and each is closed here:
//! - the rewriter adds views, rules, policies and defaults, which all come with a table:
//!   the statement must have no table in its range table but the extension's own (schema
//!   auth, where only its owner can put code), no data-modifying CTE, and must not be a
//!   utility statement; the executor hooks also count the statements now running that
//!   are not of that shape, at every level;
//! - the planner inlines SQL functions: every function the plan depends on (its
//!   invalidation items) must be one it calls, or one of the extension's (PostgREST's
//!   auth_api wrappers are inlined);
//! - code may replace a prepared statement the client's driver made (DEALLOCATE, then
//!   PREPARE under its name): the portal's statement must not come from SQL.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;



thread_local! {
    /// Statements now running (ExecutorRun or ExecutorFinish) that write or read a table,
    /// and plans being made or executors being started, whatever their statement.
    static TOUCHING_TABLES: Cell<u32> = const { Cell::new(0) };
    /// Statements now running (ExecutorRun or ExecutorFinish), one inside another.
    static RUNNING: Cell<u32> = const { Cell::new(0) };
}

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;
static mut PREV_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_FINISH: pg_sys::ExecutorFinish_hook_type = None;

/// Installs the planner and executor hooks; called once per process, from _PG_init.
pub fn install() {
    unsafe {
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

/// How many statements are running now, one inside another: 1 while the client's own
/// statement evaluates its expressions; more inside a statement that code runs (a
/// function's, a cursor's); 0 when the one running began before the library was loaded.
pub fn running_statements() -> u32 {
    RUNNING.with(Cell::get)
}

/// Whether `call` (the expression a function was called for: `flinfo->fn_expr`) is a
/// call of `function` written as such in the text of the client's own statement: a
/// function call (not an operator or a cast that Postgres chose) parsed from text (the
/// catalog's expressions, as a function's argument defaults, have no location), part of
/// the active portal's plan (not a function's body, a type's cast or domain CHECK, or
/// anything else Postgres plans apart from it), in a plan into which no function of
/// someone else's was inlined, of a statement the client's driver prepared (not one that
/// SQL put under its name). Plan nodes whose expressions are not looked at here answer no.
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
            || prepared_by_sql(portal)
        {
            return false;
        }
        let mut search = PlanSearch { wanted: call, found: false, called: Vec::new() };
        let stmts: Vec<*mut pg_sys::PlannedStmt> = pointers((*portal).stmts)
            .map(|node| node as *mut pg_sys::PlannedStmt)
            .filter(|&stmt| !stmt.is_null() && (*stmt).type_ == pg_sys::NodeTag::T_PlannedStmt)
            .collect();
        for &stmt in &stmts {
            search.plan((*stmt).planTree);
            pointers((*stmt).subplans).for_each(|plan| search.plan(plan as *mut pg_sys::Plan));
        }
        search.found && stmts.iter().all(|&stmt| nothing_inlined_but_ours(stmt, &search.called))
    }
}

/// Whether the client's statement calls only built-in functions: its plan depends on no
/// function that anyone created (invalidation items name every such function the plan
/// calls, inlined ones included).
pub fn client_plan_calls_only_builtins() -> bool {
    unsafe {
        let portal = pg_sys::ActivePortal;
        if portal.is_null() {
            return true;
        }
        let procedure = pg_sys::SysCacheIdentifier::PROCOID as core::ffi::c_int;
        pointers((*portal).stmts)
            .map(|node| node as *mut pg_sys::PlannedStmt)
            .filter(|&stmt| !stmt.is_null() && (*stmt).type_ == pg_sys::NodeTag::T_PlannedStmt)
            .all(|stmt| {
                pointers((*stmt).invalItems)
                    .map(|item| item as *mut pg_sys::PlanInvalItem)
                    .all(|item| item.is_null() || (*item).cacheId != procedure)
            })
    }
}

/// Whether the portal runs a prepared statement that SQL made (PREPARE): code in the
/// client's session can DEALLOCATE a statement the client's driver prepared and PREPARE
/// its own under that name, which the driver then runs.
unsafe fn prepared_by_sql(portal: pg_sys::Portal) -> bool {
    let name = (*portal).prepStmtName;
    if name.is_null() || *name == 0 {
        return false;
    }
    let prepared = pg_sys::FetchPreparedStatement(name, false);
    prepared.is_null() || (*prepared).from_sql
}

/// Whether every function a plan depends on (its invalidation items: the functions it
/// calls, and those the planner inlined) is called in it, or is the extension's own; and
/// none is a SQL function of anyone else's. Items name functions only by a 32-bit hash of
/// their oid, so a function inlined under a hash that a called or an extension's function
/// shares still counts as someone else's.
unsafe fn nothing_inlined_but_ours(stmt: *mut pg_sys::PlannedStmt, called: &[pg_sys::Oid]) -> bool {
    let procedure = pg_sys::SysCacheIdentifier::PROCOID as core::ffi::c_int;
    let hash = |oid: pg_sys::Oid| pg_sys::GetSysCacheHashValue(procedure, oid.into(), 0.into(), 0.into(), 0.into());
    let items: Vec<u32> = pointers((*stmt).invalItems)
        .map(|item| item as *mut pg_sys::PlanInvalItem)
        .filter(|&item| !item.is_null() && (*item).cacheId == procedure)
        .map(|item| (*item).hashValue)
        .collect();
    if items.is_empty() {
        return true;
    }
    let functions = SqlFunctions::read();
    let called: Vec<u32> = called.iter().map(|&oid| hash(oid)).collect();
    let ours: Vec<u32> = functions.ours.into_iter().map(hash).collect();
    let others: Vec<u32> = functions.others.into_iter().map(hash).collect();
    items.iter().all(|item| (called.contains(item) || ours.contains(item)) && !others.contains(item))
}

/// The functions in the extension's schemas (auth, auth_api), where only its owner
/// creates, and the SQL functions elsewhere (the ones a planner can inline). Read for
/// each account change, which is now and then.
struct SqlFunctions {
    ours: Vec<pg_sys::Oid>,
    others: Vec<pg_sys::Oid>,
}

impl SqlFunctions {
    fn read() -> SqlFunctions {
        let read = |sql: &str| crate::core::db::read_value::<Vec<pg_sys::Oid>>(sql, &[]).ok().flatten();
        let ours = read(
            "select coalesce(array_agg(oid), '{}') from pg_catalog.pg_proc
             where pronamespace in ('auth'::regnamespace, 'auth_api'::regnamespace)",
        );
        let others = read(
            "select coalesce(array_agg(oid), '{}') from pg_catalog.pg_proc
             where prolang = (select oid from pg_catalog.pg_language where lanname = 'sql')
               and pronamespace not in ('auth'::regnamespace, 'auth_api'::regnamespace)
               and oid >= 16384",
        );
        match (ours, others) {
            (Some(ours), Some(others)) => SqlFunctions { ours, others },
            // Unreadable: nothing counts as ours.
            _ => SqlFunctions { ours: Vec::new(), others: Vec::new() },
        }
    }
}

/// A search of a plan's expressions: for one node (the call), and for every function the
/// plan calls.
struct PlanSearch {
    wanted: *mut pg_sys::Node,
    found: bool,
    called: Vec<pg_sys::Oid>,
}

impl PlanSearch {
    /// Searches a plan tree (not its subplans, which the PlannedStmt lists), through the
    /// expressions of the nodes a statement without tables can have.
    unsafe fn plan(&mut self, plan: *mut pg_sys::Plan) {
        use pg_sys::NodeTag::*;
        if plan.is_null() {
            return;
        }
        self.list((*plan).targetlist);
        self.list((*plan).qual);
        match (*plan).type_ {
            T_Result => self.expression((*(plan as *mut pg_sys::Result)).resconstantqual),
            T_FunctionScan => self.list((*(plan as *mut pg_sys::FunctionScan)).functions),
            T_ValuesScan => self.list((*(plan as *mut pg_sys::ValuesScan)).values_lists),
            T_SubqueryScan => self.plan((*(plan as *mut pg_sys::SubqueryScan)).subplan),
            T_Append => pointers((*(plan as *mut pg_sys::Append)).appendplans).for_each(|p| self.plan(p as _)),
            T_MergeAppend => pointers((*(plan as *mut pg_sys::MergeAppend)).mergeplans).for_each(|p| self.plan(p as _)),
            T_NestLoop | T_MergeJoin | T_HashJoin => self.list((*(plan as *mut pg_sys::Join)).joinqual),
            T_Limit => {
                let limit = plan as *mut pg_sys::Limit;
                self.expression((*limit).limitOffset);
                self.expression((*limit).limitCount);
            }
            _ => {}
        }
        self.plan((*plan).lefttree);
        self.plan((*plan).righttree);
    }

    unsafe fn list(&mut self, list: *mut pg_sys::List) {
        self.expression(list as *mut pg_sys::Node);
    }

    unsafe fn expression(&mut self, expr: *mut pg_sys::Node) {
        if !expr.is_null() {
            search_expression(expr, self as *mut PlanSearch as *mut core::ffi::c_void);
        }
    }
}

/// An expression tree walker for a PlanSearch (the context): notes the node wanted, and
/// the function of every call.
#[pg_guard]
unsafe extern "C-unwind" fn search_expression(node: *mut pg_sys::Node, context: *mut core::ffi::c_void) -> bool {
    use pg_sys::NodeTag::*;
    if node.is_null() {
        return false;
    }
    let search = &mut *(context as *mut PlanSearch);
    if node == search.wanted {
        search.found = true;
    }
    let function = match (*node).type_ {
        T_FuncExpr => Some((*(node as *mut pg_sys::FuncExpr)).funcid),
        T_OpExpr | T_DistinctExpr | T_NullIfExpr => Some((*(node as *mut pg_sys::OpExpr)).opfuncid),
        T_ScalarArrayOpExpr => Some((*(node as *mut pg_sys::ScalarArrayOpExpr)).opfuncid),
        T_Aggref => Some((*(node as *mut pg_sys::Aggref)).aggfnoid),
        T_WindowFunc => Some((*(node as *mut pg_sys::WindowFunc)).winfnoid),
        _ => None,
    };
    search.called.extend(function);
    pg_sys::expression_tree_walker(node, Some(search_expression), context)
}

/// Counts a running statement (and whether it touches tables) for as long as it runs,
/// also when it ends in an ERROR: the counts are put back while the error unwinds through
/// the hook.
struct Running(bool);

impl Running {
    fn enter(query: *mut pg_sys::QueryDesc) -> Running {
        RUNNING.with(|c| c.set(c.get() + 1));
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

/// Puts back the count of running statements when dropped.
struct Nested;

impl Drop for Nested {
    fn drop(&mut self) {
        RUNNING.with(|c| c.set(c.get().saturating_sub(1)));
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
    let (_running, _nested) = (Running::enter(query), Nested);
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
    let (_running, _nested) = (Running::enter(query), Nested);
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
