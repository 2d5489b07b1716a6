//! Background work: the reserved writers for writes that must outlive an ERROR
//! (durable), and the cleanup of stale anonymous users that runs by itself.

pub mod cleanup;
pub mod durable;
