//! One-time tokens (codes and links, their kinds in one table), PKCE flow state, and
//! the outbox that carries them to a sender.

pub mod one_time;
pub mod outbox;
pub mod pkce;
