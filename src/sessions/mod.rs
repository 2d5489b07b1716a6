//! Sessions: opening one, the request's current session, refresh-token rotation, and
//! whether a session still stands (verify, the one reader of `auth.session_state`).

pub mod current;
pub mod open;
pub mod refresh;
pub mod verify;
