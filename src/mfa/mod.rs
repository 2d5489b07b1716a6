//! Multi-factor authentication, as Supabase Auth has it: TOTP and phone factors
//! (`factors`), challenges and their verification, which raise the same session to aal2
//! (`challenges`), and the codes themselves (`totp`). Tables in sql/schema/mfa.sql; what
//! needs aal2 is one SQL rule, `auth.requires_aal2`.

pub mod challenges;
pub mod factors;
pub mod totp;
