//! Thin helpers over SPI. Each statement the extension runs returns at most one
//! jsonb value, which is deserialised straight into a Rust struct.
//!
//! Every statement is prepared once per backend and kept
//! (`SPI_keepplan`): sign-ins and `set_session` run the same few statements on every
//! call, and parsing and planning them each time cost more than running them. Postgres'
//! plan cache replans a kept statement when a table, function or `search_path` it
//! depends on changes, and checks privileges on every execution.
//!
//! Reads go through `read_row`: a read-only SPI statement, so that a call that only
//! reads (set_session, get_user, verification) never assigns a transaction id, and
//! works on a hot standby. Statements that may write go through `json_row` / `run`,
//! which refuse on a standby with a coded, retryable error instead of Postgres' own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use serde::de::DeserializeOwned;

use crate::core::errors::{AuthError, AuthResult, ErrorCode};

fn spi_error(e: pgrx::spi::Error) -> AuthError {
    AuthError::new(ErrorCode::UnexpectedFailure, "internal query failed").detail(e.to_string())
}

/// The first column of the first row, converted while SPI is still connected, in its
/// memory context. (pgrx's `get_one` converts into the SPI context's parent, which in
/// a function call is the transaction's context: every call would keep its result's
/// memory until commit.)
fn first_value<T: pgrx::datum::FromDatum>(table: pgrx::spi::SpiTupleTable<'_>) -> Result<Option<T>, pgrx::spi::Error> {
    match table.first().get_datum_by_ordinal(1) {
        // SAFETY: each caller names the type its statement returns.
        Ok(Some(datum)) => Ok(unsafe { T::from_datum(datum, false) }),
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        Err(e) => Err(e),
    }
}

fn from_json<T: DeserializeOwned>(value: Result<Option<pgrx::JsonB>, pgrx::spi::Error>) -> AuthResult<Option<T>> {
    match value {
        Ok(Some(pgrx::JsonB(v))) => serde_json::from_value(v).map(Some).map_err(|e| {
            AuthError::new(ErrorCode::UnexpectedFailure, "internal query returned an unexpected shape")
                .detail(e.to_string())
        }),
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        Err(e) => Err(spi_error(e)),
    }
}

/// A kept plan and the argument types it was prepared for.
struct Plan {
    types: Vec<pg_sys::Oid>,
    statement: OwnedPreparedStatement,
}

/// Statements are texts of this crate, a few with a table or column name pasted in,
/// so there are a few hundred at most; past this the cache starts over rather than grow.
const MAX_KEPT_PLANS: usize = 512;

thread_local! {
    /// Kept plans by statement text, one map for statements that may write and one for
    /// reads (which SPI runs read-only). Never dropped: at process exit, freeing plans
    /// (SPI_freeplan) after Postgres has shut down would only risk a crash.
    ///
    /// Postgres replans a kept plan when the user, `row_security` or `search_path`
    /// changes, but not when row-level security is merely unforced for a table's owner
    /// (roles::as_table_owner): a statement run that way must have a text of its own.
    static PLANS: std::mem::ManuallyDrop<RefCell<[HashMap<String, Rc<Plan>>; 2]>> =
        std::mem::ManuallyDrop::new(RefCell::new([HashMap::new(), HashMap::new()]));
}

/// Runs `sql` through its kept plan, preparing it on first use. A call whose argument
/// types differ from the kept plan's (a caller binding NULL as another type) is
/// prepared again rather than given datums the plan would misread.
fn execute<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
    mutating: bool,
    limit: Option<i64>,
) -> Result<SpiTupleTable<'conn>, pgrx::spi::Error> {
    let types: Vec<pg_sys::Oid> = args.iter().map(DatumWithOid::oid).collect();
    let kept = PLANS.with(|p| p.borrow()[mutating as usize].get(sql).filter(|plan| plan.types == types).cloned());
    let plan = match kept {
        Some(plan) => plan,
        None => {
            let oids: Vec<pg_sys::PgOid> = types.iter().map(|&t| pg_sys::PgOid::from(t)).collect();
            let prepared = if mutating { client.prepare_mut(sql, &oids)? } else { client.prepare(sql, &oids)? };
            let plan = Rc::new(Plan { types, statement: prepared.keep() });
            PLANS.with(|p| {
                let plans = &mut p.borrow_mut()[mutating as usize];
                if plans.len() >= MAX_KEPT_PLANS {
                    plans.clear();
                }
                plans.insert(sql.to_owned(), plan.clone());
            });
            plan
        }
    };
    // The map is not borrowed while the statement runs: it may run triggers and hooks
    // that come back here. `update` marks the transaction as written, after which reads
    // take a fresh snapshot (and see, say, what a durable-write worker committed).
    let limit = limit.map(|l| l as _);
    if mutating {
        client.update(&plan.statement, limit, args)
    } else {
        client.select(&plan.statement, limit, args)
    }
}

/// Refuses a write on a hot standby, before anything asks for a transaction id.
pub fn check_writable() -> AuthResult<()> {
    if unsafe { pgrx::pg_sys::RecoveryInProgress() } {
        return Err(AuthError::new(ErrorCode::ReadOnlyReplica, "this server is a read-only replica")
            .hint("Send calls that write (sign-ins, refreshes, changes) to the primary."));
    }
    Ok(())
}

/// Runs a statement that may write, whose single column is jsonb; None when it returns
/// no row or NULL.
pub fn json_row<T: DeserializeOwned>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    check_writable()?;
    from_json(Spi::connect_mut(|client| first_value(execute(client, sql, args, true, Some(1))?)))
}

/// Runs a read-only statement whose single column is jsonb; None when it returns no
/// row or NULL. Assigns no transaction id.
pub fn read_row<T: DeserializeOwned>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    from_json(Spi::connect_mut(|client| first_value(execute(client, sql, args, false, Some(1))?)))
}

/// Runs a statement for its effect.
pub fn run(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<()> {
    check_writable()?;
    Spi::connect_mut(|client| execute(client, sql, args, true, None).map(drop)).map_err(spi_error)
}

/// A jsonb argument.
pub fn jsonb_arg(value: &serde_json::Value) -> DatumWithOid<'static> {
    pgrx::JsonB(value.clone()).into()
}

/// Serialises this transaction with others that lock the same key, until it ends: a row
/// lock in auth.serial_locks, which no application role may touch, so that nobody can
/// hold one to stall others (advisory locks show in pg_locks, and anyone may take one).
/// The key is hashed with a server secret.
pub fn lock(key: &str) -> AuthResult<()> {
    run(
        "insert into auth.serial_locks (key)
         values (hashtextextended($1, ('x' || encode(substring(auth.secret('advisory_locks') from 1 for 8), 'hex'))::bit(64)::bigint))
         on conflict (key) do update set key = excluded.key",
        &[key.into()],
    )
}

/// A read-only statement's single value of any type (see `first_value`).
pub fn read_value<T: pgrx::datum::FromDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    Spi::connect_mut(|client| first_value(execute(client, sql, args, false, Some(1))?)).map_err(spi_error)
}

/// Bytes the database holds, as statements hand them over: base64 text (Postgres'
/// `encode(..., 'base64')` breaks its lines every 76 characters).
pub fn base64_bytes(b64: &str) -> AuthResult<Vec<u8>> {
    use base64::Engine;
    let text: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "stored bytes are not base64"))
}
