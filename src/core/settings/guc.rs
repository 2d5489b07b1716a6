//! Postgres' table of settings, as each supported major keeps it: an array up to 15, a
//! hash table from 16 (whose `get_guc_variables` copies its entries, sorted, into memory
//! of the current context on every call).

use pgrx::pg_sys;

/// Every setting Postgres knows now. The slice lasts until a setting is added (15) or
/// until the current memory context is reset (17): use it at once.
#[cfg(feature = "pg15")]
pub fn all() -> &'static [*mut pg_sys::config_generic] {
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
pub fn all() -> &'static [*mut pg_sys::config_generic] {
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
