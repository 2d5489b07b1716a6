//! Thin helpers over SPI. Each statement the extension runs returns at most one
//! jsonb value, which is deserialised straight into a Rust struct.
//!
//! Reads go through `read_row`: a read-only SPI statement, so that a call that only
//! reads (set_session, get_user, verification) never assigns a transaction id, and
//! works on a hot standby. Statements that may write go through `json_row` / `run`,
//! which refuse on a standby with a coded, retryable error instead of Postgres' own.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde::de::DeserializeOwned;

use crate::errors::{AuthError, AuthResult, ErrorCode};

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
    from_json(Spi::connect_mut(|client| first_value(client.update(sql, Some(1), args)?)))
}

/// Runs a read-only statement whose single column is jsonb; None when it returns no
/// row or NULL. Assigns no transaction id.
pub fn read_row<T: DeserializeOwned>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    from_json(Spi::connect(|client| first_value(client.select(sql, Some(1), args)?)))
}

/// Runs a statement for its effect.
pub fn run(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<()> {
    check_writable()?;
    Spi::run_with_args(sql, args).map_err(spi_error)
}

/// A jsonb argument.
pub fn jsonb_arg(value: &serde_json::Value) -> DatumWithOid<'static> {
    pgrx::JsonB(value.clone()).into()
}

/// Serialises this transaction with others that lock the same key, until it ends. The
/// key is hashed with a server secret, so no role can compute it and hold it to stall
/// others (anyone may take advisory locks).
pub fn lock(key: &str) -> AuthResult<()> {
    run(
        "select pg_advisory_xact_lock(hashtextextended($1,
             ('x' || encode(substring(auth.secret('advisory_locks') from 1 for 8), 'hex'))::bit(64)::bigint))",
        &[key.into()],
    )
}

/// A read-only statement's single value of any type (see `first_value`).
pub fn read_value<T: pgrx::datum::FromDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    Spi::connect(|client| first_value(client.select(sql, Some(1), args)?)).map_err(spi_error)
}

/// Bytes the database holds, as statements hand them over: base64 text.
pub fn base64_bytes(b64: &str) -> AuthResult<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| AuthError::new(ErrorCode::UnexpectedFailure, "a stored hash is not base64"))
}
