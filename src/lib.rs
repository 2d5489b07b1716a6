//! auth_ext: Postgres as its own auth server.
//!
//! `CREATE EXTENSION auth_ext` installs schema `auth`: users and identities
//! (`sql/schema/`), the claim functions RLS policies call (`claims`), and the
//! grants and policies that keep application roles to their own rows (`sql/access.sql`).

use pgrx::prelude::*;

// The layers, each importing only those listed before it (scripts/layers.py checks):
mod core;
mod workers;
mod users;
mod limits;
mod tokens;
mod sessions;
mod verification;
mod account;
mod mfa;
mod providers;
mod flows;
mod admin;
mod gateway;

::pgrx::pg_module_magic!(name, version);

// The install script, in order: tables (sql/schema/), the SQL functions (sql/functions/,
// CREATE OR REPLACE only), the Rust functions, the SQL functions that call those, the
// triggers, and who may do what (sql/access.sql). Every upgrade script is built from
// the same function, trigger and access files (scripts/build-sql.py).
extension_sql_file!("../sql/schema/roles.sql", name = "schema_roles", bootstrap);
extension_sql_file!("../sql/schema/users.sql", name = "schema_users", requires = ["schema_roles"]);
extension_sql_file!("../sql/schema/keys.sql", name = "schema_keys", requires = ["schema_users"]);
extension_sql_file!("../sql/schema/sessions.sql", name = "schema_sessions", requires = ["schema_keys"]);
extension_sql_file!("../sql/schema/verification.sql", name = "schema_verification", requires = ["schema_sessions"]);
extension_sql_file!("../sql/schema/limits.sql", name = "schema_limits", requires = ["schema_verification"]);
extension_sql_file!("../sql/schema/outbox.sql", name = "schema_outbox", requires = ["schema_limits"]);
extension_sql_file!("../sql/schema/merge.sql", name = "schema_merge", requires = ["schema_outbox"]);
extension_sql_file!("../sql/schema/providers.sql", name = "schema_providers", requires = ["schema_merge"]);
extension_sql_file!("../sql/schema/mfa.sql", name = "schema_mfa", requires = ["schema_providers"]);
extension_sql_file!("../sql/schema/mail.sql", name = "schema_mail", requires = ["schema_mfa"]);
extension_sql_file!("../sql/functions/users.sql", name = "functions_users", requires = ["schema_mail"]);
extension_sql_file!("../sql/functions/identities.sql", name = "functions_identities", requires = ["functions_users"]);
extension_sql_file!("../sql/functions/addresses.sql", name = "functions_addresses", requires = ["functions_identities"]);
extension_sql_file!("../sql/functions/keys.sql", name = "functions_keys", requires = ["functions_addresses"]);
extension_sql_file!("../sql/functions/postgrest.sql", name = "functions_postgrest", requires = ["functions_keys"]);
extension_sql_file!("../sql/functions/sessions.sql", name = "functions_sessions", requires = ["functions_postgrest"]);
extension_sql_file!("../sql/functions/hooks.sql", name = "functions_hooks", requires = ["functions_sessions"]);
extension_sql_file!("../sql/functions/limits.sql", name = "functions_limits", requires = ["functions_hooks"]);
extension_sql_file!("../sql/functions/verification.sql", name = "functions_verification", requires = ["functions_limits"]);
extension_sql_file!("../sql/functions/outbox.sql", name = "functions_outbox", requires = ["functions_verification"]);
extension_sql_file!("../sql/functions/durable.sql", name = "functions_durable", requires = ["functions_outbox"]);
extension_sql_file!("../sql/functions/merge.sql", name = "functions_merge", requires = ["functions_durable"]);
extension_sql_file!("../sql/functions/cleanup.sql", name = "functions_cleanup", requires = ["functions_merge"]);
extension_sql_file!("../sql/functions/rls_helpers.sql", name = "functions_rls_helpers", requires = ["functions_cleanup"]);
extension_sql_file!("../sql/functions/providers.sql", name = "functions_providers", requires = ["functions_rls_helpers"]);
extension_sql_file!("../sql/functions/mfa.sql", name = "functions_mfa", requires = ["functions_providers"]);
extension_sql_file!(
    "../sql/functions/api.sql",
    name = "functions_api",
    requires = [
        "functions_mfa",
        flows::verify::verify_one_time_token,
        flows::otp::resend_message,
        admin::generate_link,
        gateway::gateway_request
    ]
);
extension_sql_file!("../sql/triggers.sql", name = "triggers", requires = ["functions_api"]);
extension_sql_file!("../sql/access.sql", name = "access", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    crate::core::settings::register();
    // Account changes must see whether a statement around them touches a table.
    crate::core::statements::install();
    // Nothing a request's code leaves on a pooled connection reaches the next request.
    crate::core::pooled::install();
    // Our errors reach PostgREST's clients with Supabase Auth's statuses.
    crate::core::errors::http::register();
    // Only when loaded by shared_preload_libraries: the cleanup that runs by itself.
    workers::cleanup::register_launcher();
    // Only when preloaded: reserved writers for writes that must outlive an ERROR.
    workers::durable::register_reserved();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The tests ask for several messages to one user within a minute.
        vec!["auth_ext.mailer_max_frequency = 0", "auth_ext.sms_max_frequency = 0"]
    }
}
