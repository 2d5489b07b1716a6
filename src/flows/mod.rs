//! Sign-in flows. Each is one SQL function call that does all of its work in the
//! caller's transaction and returns a session (or, for a sign-up awaiting
//! confirmation, the user), or raises a clear error.

pub mod anonymous;
pub mod gates;
pub mod id_token;
pub mod idp;
pub mod otp;
pub mod password;
pub mod signup;
pub mod social;
pub mod verify;
