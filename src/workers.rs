//! Background workers.
//!
//! The session revoker: when a spent refresh token is replayed, the session must stay
//! revoked even though the refresh call itself fails with an ERROR, which rolls back
//! everything the calling transaction wrote. A dynamic background worker does the
//! revocation in a transaction of its own; it queues behind the caller's lock on the
//! session row and runs once the caller's transaction has ended.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::errors::AuthResult;

const REVOKER_TYPE: &str = "auth_ext session revoker";

/// Starts a worker that revokes the session, and every refresh token of it, as soon as
/// the current transaction releases it. Not undone if the current transaction aborts.
pub fn revoke_session_after_commit(session_id: &uuid::Uuid, reason: &str) -> AuthResult<()> {
    let dboid = unsafe { pg_sys::MyDatabaseId };
    let started = BackgroundWorkerBuilder::new(REVOKER_TYPE)
        .set_type(REVOKER_TYPE)
        .set_library("auth_ext")
        .set_function("auth_ext_revoke_session_main")
        .enable_spi_access()
        .set_restart_time(None)
        .set_extra(&format!("{} {} {}", dboid.to_u32(), session_id, reason))
        .load_dynamic();
    if started.is_err() {
        // The refresh still fails; only the revocation is lost. Say so where operators look.
        pgrx::warning!(
            "auth_ext: could not start a worker to revoke session {session_id}; raise max_worker_processes"
        );
    }
    Ok(())
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn auth_ext_revoke_session_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let extra = BackgroundWorker::get_extra().to_owned();
    let mut parts = extra.split(' ');
    let (Some(dboid), Some(session_id), Some(reason)) = (
        parts.next().and_then(|s| s.parse::<u32>().ok()),
        parts.next().and_then(|s| uuid::Uuid::parse_str(s).ok()),
        parts.next().map(str::to_owned),
    ) else {
        pgrx::log!("auth_ext session revoker: malformed arguments {extra:?}");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(dboid)), None);
    BackgroundWorker::transaction(move || {
        Spi::run_with_args(
            "select auth.revoke_session($1, $2)",
            &[pgrx::Uuid::from_bytes(*session_id.as_bytes()).into(), reason.as_str().into()],
        )
        .expect("revoking the session");
    });
}
