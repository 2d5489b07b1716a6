//! Thin helpers over SPI. Each statement the extension runs returns at most one
//! jsonb value, which is deserialised straight into a Rust struct.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde::de::DeserializeOwned;

use crate::errors::{AuthError, AuthResult, ErrorCode};

fn spi_error(e: pgrx::spi::Error) -> AuthError {
    AuthError::new(ErrorCode::UnexpectedFailure, "internal query failed").detail(e.to_string())
}

/// Runs a statement whose single column is jsonb; None when it returns no row or NULL.
pub fn json_row<T: DeserializeOwned>(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<Option<T>> {
    let value = Spi::get_one_with_args::<pgrx::JsonB>(sql, args);
    match value {
        Ok(Some(pgrx::JsonB(v))) => serde_json::from_value(v).map(Some).map_err(|e| {
            AuthError::new(ErrorCode::UnexpectedFailure, "internal query returned an unexpected shape")
                .detail(e.to_string())
        }),
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        Err(e) => Err(spi_error(e)),
    }
}

/// Runs a statement for its effect.
pub fn run(sql: &str, args: &[DatumWithOid<'_>]) -> AuthResult<()> {
    Spi::run_with_args(sql, args).map_err(spi_error)
}

/// A jsonb argument.
pub fn jsonb_arg(value: &serde_json::Value) -> DatumWithOid<'static> {
    pgrx::JsonB(value.clone()).into()
}
