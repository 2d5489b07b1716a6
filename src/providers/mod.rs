//! Third-party sign-in providers (OpenID Connect, OAuth 2, GitHub, Feishu, WeChat): their
//! config and sealed client secrets, kept in the database and managed by service_role, and
//! what their users' profiles and ID tokens say; the sign-in through them is flows::social.

pub mod config;
pub mod id_token;
pub mod profile;
pub mod provider;
pub mod sealed;
