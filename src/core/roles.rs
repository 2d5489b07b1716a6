//! Who is acting, and whose rights code runs with.
//!
//! Every `SECURITY DEFINER` function of the extension is owned by `auth_ext_admin`, a
//! NOLOGIN, non-superuser, non-BYPASSRLS role (sql/schema/roles.sql). Code that someone else
//! wrote never runs as that role. Hooks and merge handlers run as their function's
//! owner, and a merge's row moves (with the table's triggers) as the table's owner, as
//! Postgres runs foreign-key actions: nobody gets more than their own rights. Code owned
//! by a superuser runs as `auth_ext_app` instead, which has no rights in `auth` and only
//! what the application grants it. Reads that must see an application table whole (is a
//! user still referenced?) run as that table's owner.
//!
//! Settings that such code changes, even with a plain `SET`, end with it (`contained`):
//! otherwise it could choose the search_path of the extension's statements that follow.

use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::core::db;
use crate::core::errors::{AuthError, AuthResult, ErrorCode};

/// Owns every object of the extension; its SECURITY DEFINER functions run as it.
const OWNER: &CStr = c"auth_ext_admin";
/// The rights application code (hooks, merge handlers, merges' row moves) runs with.
pub const APP: &CStr = c"auth_ext_app";
/// Members may tell the extension the client's address (the HTTP front's login role).
pub const GATEWAY: &CStr = c"auth_ext_gateway";
/// Members are PostgREST's login roles: what they set for a request (`request.jwt.claims`
/// from the token PostgREST verified, `request.headers`) is believed.
const POSTGREST: &CStr = c"auth_ext_postgrest";

thread_local! {
    static POSTGREST_OID: std::cell::Cell<pg_sys::Oid> = const { std::cell::Cell::new(pg_sys::InvalidOid) };
}

/// Whether the session's login role (not whatever SET ROLE chose) is a superuser.
pub fn session_is_superuser() -> bool {
    unsafe { pg_sys::superuser_arg(pg_sys::GetSessionUserId()) }
}

/// Whose session this is, by its login role: what decides whether `request.jwt.claims`
/// and `request.headers` are believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOf {
    /// An operator's or a test's: the settings are believed as they are.
    Superuser,
    /// PostgREST's (a member of auth_ext_postgrest): believed as its pre-request kept them,
    /// before any of the request's code ran.
    Postgrest,
    /// Anyone else's, who can set them to anything (claims are no secret: every trigger in
    /// a request sees them, session_id included): never believed; such a session verifies
    /// a token with auth.set_session.
    Other,
}

/// Whose session this is, asked of Postgres with pgrx's guard (an error it raises unwinds
/// the Rust frames in between).
pub fn session_of() -> SessionOf {
    session_of_asking(Ask::Guarded)
}

/// session_of for auth.uid() on every row: Postgres caches both the superuser flag and
/// memberships, and is asked without the guard's sigsetjmp. An error (a catalog read
/// after a role changed, cancelled) longjmps past the caller's frames: for callers that
/// hold nothing to drop.
pub fn session_of_per_row() -> SessionOf {
    session_of_asking(Ask::Unguarded)
}

#[derive(Clone, Copy)]
enum Ask {
    Guarded,
    Unguarded,
}

impl Ask {
    fn session_user(self) -> pg_sys::Oid {
        use crate::core::settings::unguarded;
        unsafe {
            match self {
                Ask::Guarded => pg_sys::GetSessionUserId(),
                Ask::Unguarded => unguarded::GetSessionUserId(),
            }
        }
    }

    fn is_superuser(self, role: pg_sys::Oid) -> bool {
        use crate::core::settings::unguarded;
        unsafe {
            match self {
                Ask::Guarded => pg_sys::superuser_arg(role),
                Ask::Unguarded => unguarded::superuser_arg(role),
            }
        }
    }

    fn is_member(self, member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
        use crate::core::settings::unguarded;
        unsafe {
            match self {
                Ask::Guarded => pg_sys::is_member_of_role(member, role),
                Ask::Unguarded => unguarded::is_member_of_role(member, role),
            }
        }
    }
}

fn session_of_asking(ask: Ask) -> SessionOf {
    let session_user = ask.session_user();
    if ask.is_superuser(session_user) {
        return SessionOf::Superuser;
    }
    let mut role = POSTGREST_OID.with(|r| r.get());
    if role == pg_sys::InvalidOid {
        let Some(found) = role_oid(POSTGREST) else { return SessionOf::Other };
        POSTGREST_OID.with(|r| r.set(found));
        role = found;
    }
    if ask.is_member(session_user, role) { SessionOf::Postgrest } else { SessionOf::Other }
}

fn role_oid(name: &CStr) -> Option<pg_sys::Oid> {
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    (oid != pg_sys::InvalidOid).then_some(oid)
}

fn missing_role(name: &CStr) -> AuthError {
    AuthError::new(ErrorCode::UnexpectedFailure, "a role auth_ext needs is missing")
        .detail(format!("role {} does not exist", name.to_string_lossy()))
        .hint("Reinstall the extension: DROP EXTENSION auth_ext; CREATE EXTENSION auth_ext;")
}

/// The role the session acts as (its login role, or what SET ROLE chose, as PostgREST
/// does per request), whatever SECURITY DEFINER function is running now.
pub fn acting_role() -> pg_sys::Oid {
    unsafe { pg_sys::GetOuterUserId() }
}

/// Whether the acting role has the privileges of `role` (superusers have all).
pub fn acting_role_has(role: &CStr) -> bool {
    role_oid(role).is_some_and(|r| unsafe { pg_sys::has_privs_of_role(acting_role(), r) })
}

/// Whether the acting role is a member of `role`, with or without inheriting its
/// privileges (an HTTP front's login role is NOINHERIT, as PostgREST's authenticator).
pub fn acting_role_is_member(role: &CStr) -> bool {
    role_oid(role).is_some_and(|r| unsafe { pg_sys::is_member_of_role(acting_role(), r) })
}

/// Whether requests act as `role`: anon, authenticated, service_role, or a member of one
/// (PostgREST's and the gateway's login roles, roles that tokens name).
pub fn acts_for_requests(role: pg_sys::Oid) -> bool {
    role != pg_sys::InvalidOid
        && [c"anon", c"authenticated", c"service_role"]
            .iter()
            .any(|r| role_oid(r).is_some_and(|r| unsafe { pg_sys::is_member_of_role(role, r) }))
}

/// A trusted caller: the application's server (`service_role`) or the HTTP front
/// (`auth_ext_gateway`). Only they may say who the client is.
pub fn acting_role_is_trusted() -> bool {
    acting_role_has(c"service_role") || acting_role_has(GATEWAY)
}

/// Restores the user and security context when dropped, also while unwinding from an
/// ERROR (transaction abort would restore it too; this keeps a caught error from
/// leaving it switched).
struct Restore {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for Restore {
    fn drop(&mut self) {
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
    }
}

/// Runs `f` so that every setting it changes, `SET` or `SET LOCAL`, is undone when it
/// returns (as Postgres does around the user code an index build runs). On an ERROR the
/// (sub)transaction's abort undoes them.
pub fn contained<T>(f: impl FnOnce() -> T) -> T {
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(false, level) };
    result
}

fn run_as<T>(user: pg_sys::Oid, extra: u32, f: impl FnOnce() -> T) -> T {
    let mut saved = Restore { user: pg_sys::InvalidOid, context: 0 };
    unsafe { pg_sys::GetUserIdAndSecContext(&mut saved.user, &mut saved.context) };
    let context = saved.context
        | (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION | extra) as i32;
    unsafe { pg_sys::SetUserIdAndSecContext(user, context) };
    let _restore = saved;
    contained(f)
}

/// Runs the body of a function that changes the caller's own account (update_user,
/// sign_out, unlink_identity, merge_anonymous_user, reauthenticate, link_identity for
/// the caller) with the extension's rights, but only for the request itself: `fcinfo`
/// must be the call of an expression the client wrote in the statement it sent, made by
/// that statement's own executor, a statement that writes and reads no table
/// (statements.rs), in no cursor, trigger,
/// restricted operation, or code running with another role's rights. Anything else would
/// let someone whose code Postgres runs in the client's statement (the owner of a table,
/// a type, a function) act as the client. These functions are not SECURITY DEFINER, so
/// that this can see who called them.
pub fn for_request<T, E: From<AuthError>>(
    fcinfo: pg_sys::FunctionCallInfo,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let switched = context as u32 & (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) != 0
        || user != acting_role();
    let (call, function) = if fcinfo.is_null() || unsafe { (*fcinfo).flinfo.is_null() } {
        (std::ptr::null_mut(), pg_sys::InvalidOid)
    } else {
        unsafe { ((*(*fcinfo).flinfo).fn_expr, (*(*fcinfo).flinfo).fn_oid) }
    };
    // Before any statement of ours runs: they would count themselves.
    let running = crate::core::statements::running_statements();
    let in_table_statement = crate::core::statements::inside_table_statement();
    let in_cursor = crate::core::statements::outside_client_statement();
    let written_by_client = crate::core::statements::written_in_client_statement(call, function);
    let in_trigger = db::read_value::<i32>("select pg_catalog.pg_trigger_depth()", &[])?.unwrap_or(0) > 0;
    let why = if running == 0 {
        "the extension's library was loaded during this very statement, so what runs around the call cannot be told: \
         retry it (preload auth_ext, or call auth.set_session first, and this never happens)"
    } else if in_cursor {
        "called from a cursor, not from a statement the client sent"
    } else if in_trigger {
        "called from a trigger"
    } else if switched {
        "called from code that runs with another role's rights"
    } else if in_table_statement {
        "called inside a statement that writes or reads a table (a default, a check, a policy, a view, ...)"
    } else if running > 1 {
        "called inside a statement that code runs within the client's (a function's query, a cursor)"
    } else if !written_by_client {
        "not called by the statement the client sent, but by code it runs (a function's body, a cast, a domain's check, ...)"
    } else {
        return as_extension(f);
    };
    Err(AuthError::new(ErrorCode::IndirectCall, "only the request itself may change its account").detail(why).into())
}

/// Runs `f` with the extension's rights, as a SECURITY DEFINER function of its would:
/// as `auth_ext_admin`, with SET ROLE refused inside.
pub fn as_extension<T, E: From<AuthError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let owner = role_oid(OWNER).ok_or_else(|| missing_role(OWNER))?;
    let mut saved = Restore { user: pg_sys::InvalidOid, context: 0 };
    unsafe { pg_sys::GetUserIdAndSecContext(&mut saved.user, &mut saved.context) };
    unsafe { pg_sys::SetUserIdAndSecContext(owner, saved.context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32) };
    let _restore = saved;
    f()
}

/// Runs application code with the rights of `auth_ext_app` only, in a restricted
/// context (no SET ROLE, no temporary objects).
pub fn as_app<T>(f: impl FnOnce() -> AuthResult<T>) -> AuthResult<T> {
    let app = role_oid(APP).ok_or_else(|| missing_role(APP))?;
    run_as(app, 0, f)
}

/// Runs code that `owner` wrote (a hook or handler function, a table's triggers) with
/// `owner`'s rights, never more: a superuser's code runs as `auth_ext_app`.
pub fn as_code_owner<T>(owner: pg_sys::Oid, f: impl FnOnce() -> AuthResult<T>) -> AuthResult<T> {
    if owner == pg_sys::InvalidOid || unsafe { pg_sys::superuser_arg(owner) } {
        return as_app(f);
    }
    run_as(owner, 0, f)
}

/// Runs a read of an application table as its owner, with row-level security not
/// forced, so that it sees every row. Only for statements the extension writes itself.
fn as_table_owner<T>(table: pg_sys::Oid, f: impl FnOnce() -> T) -> AuthResult<T> {
    let owner: Option<pg_sys::Oid> =
        db::read_value("select relowner from pg_catalog.pg_class where oid = $1", &[table.into()])?;
    let owner = owner.ok_or_else(|| AuthError::new(ErrorCode::ValidationFailed, "no such table"))?;
    Ok(run_as(owner, pg_sys::SECURITY_NOFORCE_RLS, f))
}

/// The ids among `ids` that rows of `tbl`.`col` still reference, read as the table's
/// owner. Only for columns that hold user ids: a foreign key to auth.users(id) or a
/// registered merge column. For the extension's own functions (no grant).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn referencing_user_ids(tbl: pg_sys::Oid, col: &str, ids: Vec<pgrx::Uuid>) -> Result<Vec<pgrx::Uuid>, pgrx::pg_sys::panic::ErrorReport> {
    let holds_user_ids: Option<String> = db::read_value(
        "select format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute a
         where a.attrelid = $1 and a.attname = $2 and a.attnum > 0 and not a.attisdropped
           and (exists (select from pg_catalog.pg_constraint c
                        where c.contype = 'f' and c.conrelid = $1 and c.confrelid = 'auth.users'::regclass
                          and c.conkey = array[a.attnum])
                or exists (select from auth.merge_columns m where m.tbl = $1 and m.col = $2))",
        &[tbl.into(), col.into()],
    )?;
    let Some(col_type) = holds_user_ids else {
        return Err(AuthError::new(ErrorCode::ValidationFailed, "the column holds no user ids").into());
    };
    let sql = format!(
        "select coalesce(array_agg(distinct x.{col}::uuid), '{{}}') from {tbl} x where x.{col} = any($1::{col_type}[])",
        col = pgrx::spi::quote_identifier(col),
        tbl = qualified_name(tbl)?,
    );
    let texts: Vec<String> = ids.iter().map(|u| uuid::Uuid::from_bytes(*u.as_bytes()).to_string()).collect();
    let found = as_table_owner(tbl, || db::read_value::<Vec<pgrx::Uuid>>(&sql, &[texts.into()]))??;
    Ok(found.unwrap_or_default())
}

fn qualified_name(tbl: pg_sys::Oid) -> AuthResult<String> {
    db::read_value::<String>("select $1::regclass::text", &[tbl.into()])?
        .ok_or_else(|| AuthError::new(ErrorCode::ValidationFailed, "no such table"))
}

/// The role acting now, for SQL parts of the extension that run SECURITY DEFINER and
/// must know who called them (registration checks ownership with it).
#[pg_extern(stable)]
fn acting_role_oid() -> pg_sys::Oid {
    acting_role()
}
