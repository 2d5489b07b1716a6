//! Signed tokens: keys, JWT claims, signing and verification, API keys, the claim
//! functions RLS calls, and every hook call.

pub mod api_keys;
pub mod claims;
pub mod hooks;
pub mod jwt;
pub mod keys;
