//! Background workers.
//!
//! Writes that must outlive an ERROR: when a refresh token is replayed the session must
//! stay revoked, and every one-time code tried must stay counted, even though the call
//! itself may fail and its transaction roll back. A short-lived dynamic background
//! worker does such a write in a transaction of its own: either after the caller's
//! transaction has released the rows it locked (`after_abort`), or at once, with the
//! caller waiting for it to commit (`commit_now`).

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

const WORKER_TYPE: &str = "auth_ext after-abort writer";

/// A write that must stand even though the current transaction is about to fail.
#[derive(Debug, Clone, Copy)]
pub enum DurableWrite {
    /// Revoke a session and every refresh token of it (a refresh token was replayed).
    RevokeSession(uuid::Uuid),
    /// Count a code tried against a one-time token.
    CountOtpAttempt(uuid::Uuid),
}

impl DurableWrite {
    fn encode(self) -> String {
        match self {
            DurableWrite::RevokeSession(id) => format!("revoke_session {id}"),
            DurableWrite::CountOtpAttempt(id) => format!("count_otp_attempt {id}"),
        }
    }

    fn decode(text: &str) -> Option<DurableWrite> {
        let (action, id) = text.split_once(' ')?;
        let id = uuid::Uuid::parse_str(id).ok()?;
        match action {
            "revoke_session" => Some(DurableWrite::RevokeSession(id)),
            "count_otp_attempt" => Some(DurableWrite::CountOtpAttempt(id)),
            _ => None,
        }
    }

    fn sql(self) -> (&'static str, uuid::Uuid) {
        match self {
            DurableWrite::RevokeSession(id) => ("select auth.revoke_session($1, 'token_reuse')", id),
            DurableWrite::CountOtpAttempt(id) => ("select auth.count_otp_attempt($1)", id),
        }
    }
}

fn worker(write: DurableWrite) -> BackgroundWorkerBuilder {
    let dboid = unsafe { pg_sys::MyDatabaseId };
    BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("auth_ext")
        .set_function("auth_ext_durable_write_main")
        .enable_spi_access()
        .set_restart_time(None)
        .set_extra(&format!("{} {}", dboid.to_u32(), write.encode()))
}

/// Starts a worker that performs `write` once the current transaction releases the
/// rows it locked. Not undone if the current transaction aborts.
pub fn after_abort(write: DurableWrite) {
    if worker(write).load_dynamic().is_err() {
        // The call still fails as it should; only this write is lost. Say so where operators look.
        pgrx::warning!("auth_ext: could not start a worker for {write:?}; raise max_worker_processes");
    }
}

/// Performs `write` in a transaction of its own and waits until it has ended. The
/// write must not need rows the current transaction has locked. False when no worker
/// could be started (all of max_worker_processes in use) or it failed: the caller
/// then refuses what it was about to allow.
pub fn commit_now(write: DurableWrite) -> bool {
    let started = worker(write).set_notify_pid(unsafe { pg_sys::MyProcPid }).load_dynamic();
    match started {
        Ok(handle) => handle.wait_for_shutdown().is_ok(),
        Err(_) => false,
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
