//! The ground every layer stands on: the SPI helpers, the one error table, settings,
//! roles and who is calling, the request's client address, passwords and crypto helpers.
//! Imports nothing above it.

pub mod crypto;
pub mod db;
pub mod errors;
pub mod passwords;
pub mod pooled;
pub mod request;
pub mod roles;
pub mod settings;
pub mod statements;
