//! A signed-in user's own account: updating it, changing its address, its identities,
//! and merging an anonymous user into it. Acts only for the request itself.

pub mod address_change;
pub mod identities;
pub mod merge;
pub mod update;
