//! Postgres' table of settings, as each supported major keeps it: an array up to 15, a
//! hash table from 16 (whose `get_guc_variables` copies its entries, sorted, into memory
//! of the current context on every call).

use pgrx::pg_sys;

/// Calls `f` with every setting Postgres knows now. The list may not be kept: on 15 it
/// is Postgres' own array, which moves when a setting is added; on 17 a copy in the
/// current memory context.
pub fn with_all<R>(f: impl FnOnce(&[*mut pg_sys::config_generic]) -> R) -> R {
    f(current())
}

#[cfg(feature = "pg15")]
fn current<'a>() -> &'a [*mut pg_sys::config_generic] {
    // SAFETY: neither function can raise an error; the array is Postgres' own.
    unsafe {
        let vars = super::unguarded::get_guc_variables();
        let count = super::unguarded::GetNumConfigOptions();
        if vars.is_null() || count <= 0 {
            return &[];
        }
        std::slice::from_raw_parts(vars, count as usize)
    }
}

#[cfg(not(feature = "pg15"))]
fn current<'a>() -> &'a [*mut pg_sys::config_generic] {
    let mut count: std::ffi::c_int = 0;
    // SAFETY: a palloc'd copy of the entries' pointers, `count` long.
    unsafe {
        let vars = pg_sys::get_guc_variables(&mut count);
        if vars.is_null() || count <= 0 {
            return &[];
        }
        std::slice::from_raw_parts(vars, count as usize)
    }
}
