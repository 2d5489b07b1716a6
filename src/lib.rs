//! auth_ext: Postgres as its own auth server.
//!
//! `CREATE EXTENSION auth_ext` installs schema `auth`: users and identities
//! (`sql/schema.sql`), the claim functions RLS policies call (`claims`), and the
//! grants and policies that keep application roles to their own rows (`sql/access.sql`).

use pgrx::prelude::*;

mod account;
mod admin;
mod claims;
mod cleanup;
mod db;
mod errors;
mod flows;
mod keys;
mod otp;
mod gateway;
mod passwords;
mod pkce;
mod request;
mod roles;
mod sessions;
mod settings;
mod statements;
mod tokens;
mod users;
mod workers;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/sessions.sql", name = "sessions", requires = ["schema"]);
extension_sql_file!("../sql/flows.sql", name = "flows", requires = ["sessions"]);
extension_sql_file!("../sql/merge.sql", name = "merge", requires = ["flows"]);
extension_sql_file!("../sql/cleanup.sql", name = "cleanup", requires = ["merge"]);
extension_sql_file!("../sql/access.sql", name = "access", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    // Account changes must see whether a statement around them touches a table.
    statements::install();
    // Our errors reach PostgREST's clients with Supabase Auth's statuses.
    errors::http::register();
    // Only when loaded by shared_preload_libraries: the cleanup that runs by itself.
    cleanup::register_launcher();
    // Only when preloaded: reserved writers for writes that must outlive an ERROR.
    workers::register_reserved();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
