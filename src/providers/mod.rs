//! Third-party sign-in providers (OpenID Connect, OAuth 2, GitHub, Feishu, WeChat): their
//! config and sealed client secrets, kept in the database and managed by service_role.

pub mod config;
pub mod sealed;
