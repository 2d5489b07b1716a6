//! Background workers.
//!
//! Writes that must outlive an ERROR: when a refresh token is replayed the session must
//! stay revoked, and when a wrong one-time code is tried the attempt must stay counted,
//! even though the call itself fails and its transaction rolls back. A short-lived
//! dynamic background worker does such a write in a transaction of its own; it queues
//! behind the caller's row lock and runs once the caller's transaction has ended.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

const WORKER_TYPE: &str = "auth_ext after-abort writer";

/// A write that must stand even though the current transaction is about to fail.
#[derive(Debug, Clone, Copy)]
pub enum DurableWrite {
    /// Revoke a session and every refresh token of it (a refresh token was replayed).
    RevokeSession(uuid::Uuid),
    /// Count a wrong code against a one-time token.
    CountFailedOtp(uuid::Uuid),
}

impl DurableWrite {
    fn encode(self) -> String {
        match self {
            DurableWrite::RevokeSession(id) => format!("revoke_session {id}"),
            DurableWrite::CountFailedOtp(id) => format!("count_failed_otp {id}"),
        }
    }

    fn decode(text: &str) -> Option<DurableWrite> {
        let (action, id) = text.split_once(' ')?;
        let id = uuid::Uuid::parse_str(id).ok()?;
        match action {
            "revoke_session" => Some(DurableWrite::RevokeSession(id)),
            "count_failed_otp" => Some(DurableWrite::CountFailedOtp(id)),
            _ => None,
        }
    }

    fn sql(self) -> (&'static str, uuid::Uuid) {
        match self {
            DurableWrite::RevokeSession(id) => ("select auth.revoke_session($1, 'token_reuse')", id),
            DurableWrite::CountFailedOtp(id) => ("select auth.count_failed_otp($1)", id),
        }
    }
}

/// Starts a worker that performs `write` once the current transaction releases the
/// rows it locked. Not undone if the current transaction aborts.
pub fn after_abort(write: DurableWrite) {
    let dboid = unsafe { pg_sys::MyDatabaseId };
    let started = BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("auth_ext")
        .set_function("auth_ext_durable_write_main")
        .enable_spi_access()
        .set_restart_time(None)
        .set_extra(&format!("{} {}", dboid.to_u32(), write.encode()))
        .load_dynamic();
    if started.is_err() {
        // The call still fails as it should; only this write is lost. Say so where operators look.
        pgrx::warning!("auth_ext: could not start a worker for {write:?}; raise max_worker_processes");
    }
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn auth_ext_durable_write_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let extra = BackgroundWorker::get_extra().to_owned();
    let parsed = extra
        .split_once(' ')
        .and_then(|(db, rest)| Some((db.parse::<u32>().ok()?, DurableWrite::decode(rest)?)));
    let Some((dboid, write)) = parsed else {
        pgrx::log!("auth_ext after-abort writer: malformed arguments {extra:?}");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(dboid)), None);
    BackgroundWorker::transaction(move || {
        let (sql, id) = write.sql();
        Spi::run_with_args(sql, &[pgrx::Uuid::from_bytes(*id.as_bytes()).into()]).expect("the durable write");
    });
}
