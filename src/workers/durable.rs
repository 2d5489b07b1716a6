//! Background workers for writes that must outlive an ERROR.
//!
//! When a refresh token is replayed the session must stay revoked, and every one-time
//! code or password tried must stay counted, even though the call itself fails and its
//! transaction rolls back. Such a write runs in a transaction of its own, in a
//! background worker: either after the caller's transaction has released the rows it
//! locked (`after_abort`), or at once, with the caller waiting for it to commit
//! (`commit_now`).
//!
//! Capacity that any role can exhaust (dynamic worker slots, which parallel queries
//! also take) must not decide whether these writes happen. With the library preloaded,
//! each database in `auth_ext.durable_write_databases` gets a long-lived writer,
//! registered at server start, fed through a queue in shared memory. A revocation in
//! that queue is visible to every backend before it commits: the session cannot be
//! refreshed meanwhile (fail closed). Without a reserved writer (not preloaded, or the
//! database not listed) a short-lived dynamic worker does the write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::shmem::PGRXSharedMemory;

use crate::core::settings;
use crate::core::errors::{AuthError, ErrorCode};

const WORKER_TYPE: &str = "auth_ext after-abort writer";

/// A write that must stand even though the current transaction is about to fail: a
/// kind that `auth.durable_write` performs (its `case` is the one list of what each kind
/// does), the row or account it is about, and the client address it counts against.
/// Its text form, `kind target client`, is what a worker is handed.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableWrite {
    kind: String,
    target: String,
    client: String,
}

/// Client keys are addresses (or "unknown"): short, without spaces. Anything else is
/// cut so that the request fits the worker's 128-byte argument. What the counts are
/// stored under, so readers of a count look it up by this too.
pub fn client_key(client: &str) -> String {
    let key: String = client.chars().filter(|c| !c.is_whitespace()).take(45).collect();
    if key.is_empty() { "unknown".into() } else { key }
}

/// The current request's client, as counts and requesters are stored (`client_key`).
pub fn current_client_key() -> String {
    client_key(&crate::core::request::limit_key(&crate::core::request::client()))
}

const REVOKE_SESSION: &str = "revoke_session";

impl DurableWrite {
    fn new(kind: &str, target: impl ToString, client: &str) -> DurableWrite {
        DurableWrite { kind: kind.to_owned(), target: target.to_string(), client: client_key(client) }
    }

    /// Revoke a session and every refresh token of it (a refresh token was replayed).
    pub fn revoke_session(session: &uuid::Uuid) -> DurableWrite {
        DurableWrite::new(REVOKE_SESSION, session, "-")
    }

    /// Count a code tried against a one-time token, and against the client's address.
    pub fn count_otp_attempt(token: &uuid::Uuid, client: &str) -> DurableWrite {
        DurableWrite::new("count_otp_attempt", token, client)
    }

    /// Count a code tried against an MFA factor from the client's address.
    pub fn count_mfa_attempt(factor: &uuid::Uuid, client: &str) -> DurableWrite {
        DurableWrite::new("count_mfa_attempt", factor, client)
    }

    /// End every session of a user (the MFA verification attempt hook rejected an attempt).
    pub fn end_user_sessions(user: &uuid::Uuid) -> DurableWrite {
        DurableWrite::new("end_user_sessions", user, "-")
    }

    /// Count a failed password sign-in against the client's address, and against the
    /// account (the address signed in with, as a hash: `account_key`) from that client.
    pub fn count_failed_sign_in(account_key: &str, client: &str) -> DurableWrite {
        DurableWrite::new("count_failed_sign_in", account_key, client)
    }

    /// Count a look at whether an address is taken (an address change refused as
    /// taken) against the client's message budget, as the message it would have sent.
    pub fn count_address_probe(client: &str) -> DurableWrite {
        DurableWrite::new("count_address_probe", "-", client)
    }

    /// Count password work (an argon2 check or hash) against the client's burst.
    pub fn count_password_work(client: &str) -> DurableWrite {
        DurableWrite::new("count_password_work", "-", client)
    }

    fn encode(&self) -> String {
        format!("{} {} {}", self.kind, self.target, self.client)
    }

    /// The text form back; the kind is checked by `auth.durable_write`, which knows them.
    fn decode(text: &str) -> Option<DurableWrite> {
        let mut parts = text.split(' ');
        let (kind, target, client) = (parts.next()?, parts.next()?, parts.next()?);
        Some(DurableWrite { kind: kind.to_owned(), target: target.to_owned(), client: client.to_owned() })
    }

    /// A revocation is queued by a caller that still holds the session's row until its
    /// failing call has rolled back: it waits for that. A count is waited for by its
    /// caller and waits for no lock (lock_timeout): the reserved writer answers busy as a
    /// failure (the caller refuses); a short-lived worker, whose caller cannot hear that,
    /// retries it a while (auth_ext_durable_write_main).
    fn waits_for_caller(&self) -> bool {
        self.kind == REVOKE_SESSION
    }

    /// Performs the write in the current transaction: "done", "busy" (a row it needs is
    /// locked: try again) or "failed: ...". Never raises.
    fn perform(&self) -> String {
        Spi::get_one_with_args::<String>(
            "select auth.durable_write($1, $2, $3)",
            &[self.kind.as_str().into(), self.target.as_str().into(), self.client.as_str().into()],
        )
        .map(|r| r.unwrap_or_else(|| "failed: no result".into()))
        .unwrap_or_else(|e| format!("failed: {e}"))
    }
}

fn worker(write: &DurableWrite) -> BackgroundWorkerBuilder {
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
/// rows it locked. Not undone if the current transaction aborts. False when nothing
/// will perform it (no reserved writer where one is expected, or no worker could be
/// started): the caller must not claim it was done.
pub fn after_abort(write: DurableWrite) -> bool {
    if reserved::enqueue(&write, false).is_some() {
        return true;
    }
    if reserved::expected() || worker(&write).load_dynamic().is_err() {
        // The call still fails as it should; only this write is lost. Say so where operators look.
        pgrx::warning!("auth_ext: no worker could take {write:?}: {}", writer_missing_hint());
        return false;
    }
    true
}

/// Where a reserved writer is expected (preloaded, and this database listed in
/// auth_ext.durable_write_databases), whether it is serving now: when it is not (not
/// started yet, killed and not yet restarted, or never registered because
/// max_worker_processes had no room), refreshes and code checks are refused rather
/// than served without their durable writes (fail closed).
pub fn check_writer() -> Result<(), AuthError> {
    if reserved::expected() && !reserved::serving() {
        return Err(AuthError::new(ErrorCode::DurableWriterUnavailable, "the durable writer is not running")
            .detail(writer_missing_hint())
            .hint("Try again shortly."));
    }
    Ok(())
}

fn writer_missing_hint() -> String {
    if reserved::expected() {
        "this database's reserved writer is not serving (it restarts by itself; if it never starts, raise max_worker_processes)".into()
    } else {
        "preload auth_ext and list this database in auth_ext.durable_write_databases".into()
    }
}

/// Performs `write` in a transaction of its own and waits until it has ended. The
/// write must not need rows the current transaction has locked. False when it could
/// not be done (no reserved writer and no free worker slot, or it failed): the caller
/// then refuses what it was about to allow.
pub fn commit_now(write: DurableWrite) -> bool {
    if let Some(slot) = reserved::enqueue(&write, true) {
        return reserved::wait(slot);
    }
    if reserved::expected() {
        // Its writer is not serving: no fallback to slots that anyone can fill.
        return false;
    }
    // Without a reserved writer, wait a while for a worker slot: concurrent callers
    // (50 code checks at once) each hold one only for a few milliseconds.
    let deadline = Instant::now() + SLOT_WAIT;
    loop {
        match worker(&write).set_notify_pid(unsafe { pg_sys::MyProcPid }).load_dynamic() {
            Ok(handle) => return handle.wait_for_shutdown().is_ok(),
            Err(_) if Instant::now() < deadline => {
                wait_on_latch(10);
                pg_sys::check_for_interrupts!();
            }
            Err(_) => return false,
        }
    }
}

/// The refusal when a count that must precede a try could not be committed.
pub fn not_recorded() -> AuthError {
    if let Err(e) = check_writer() {
        return e;
    }
    AuthError::new(ErrorCode::UnexpectedFailure, "the attempt could not be recorded")
        .detail("a background worker must count it first (max_worker_processes; a token issued in this same transaction cannot be checked by code)")
        .hint("Try again shortly.")
}

/// Sleeps until this backend's latch is set or `ms` pass (a backend, not a bgworker).
fn wait_on_latch(ms: i64) {
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            ms,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
}

/// How long a caller waits for a free dynamic worker slot before refusing.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// Whether a revocation of `session` is queued and not yet committed: such a session
/// is treated as revoked.
pub fn revocation_pending(session: &uuid::Uuid) -> bool {
    reserved::pending(&DurableWrite::revoke_session(session).encode())
}

/// How long a revocation waits for the caller's transaction to let go of the session.
const BUSY_RETRY: Duration = Duration::from_millis(50);
const BUSY_GIVE_UP: Duration = Duration::from_secs(60);
/// How long a short-lived worker retries a count whose row other counts hold.
const COUNT_BUSY_GIVE_UP: Duration = Duration::from_secs(3);

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
    let started = Instant::now();
    // A count never needs a row its caller holds (commit_now), so a busy one waits only
    // for other workers' counts of the same key: retried a while, since its caller cannot
    // tell from this worker's ending that it failed.
    let give_up = if write.waits_for_caller() { BUSY_GIVE_UP } else { COUNT_BUSY_GIVE_UP };
    loop {
        let result = BackgroundWorker::transaction(|| write.perform());
        let retry = result == "busy" && started.elapsed() < give_up;
        if !retry || !BackgroundWorker::wait_latch(Some(BUSY_RETRY)) {
            if result != "done" {
                pgrx::log!("auth_ext after-abort writer: {write:?}: {result}");
            }
            return;
        }
    }
}

/// Registers, while the library is being preloaded, the shared queue and one reserved
/// writer per database in `auth_ext.durable_write_databases`.
pub fn register_reserved() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    reserved::init();
    let databases = settings::text_string(&settings::DURABLE_WRITE_DATABASES).unwrap_or_default();
    for database in databases.split(',').map(str::trim).filter(|d| !d.is_empty() && d.len() < 64) {
        BackgroundWorkerBuilder::new(&format!("{WRITER_TYPE} ({database})"))
            .set_type(WRITER_TYPE)
            .set_library("auth_ext")
            .set_function("auth_ext_reserved_writer_main")
            .enable_spi_access()
            .set_start_time(BgWorkerStartTime::RecoveryFinished)
            // Restarted after it exits, whatever ended it (a terminate, a database dropped
            // and made again): until then, refreshes and code checks are refused.
            .set_restart_time(Some(WRITER_RESTART))
            .set_extra(database)
            .load();
    }
}

const WRITER_TYPE: &str = "auth_ext durable writer";
const WRITER_RESTART: Duration = Duration::from_secs(2);
/// Writes one transaction of the writer performs at most, and how long it goes on
/// taking the next one (`serve`).
const WRITER_BATCH: usize = 64;
const WRITER_BATCH_TIME: Duration = Duration::from_millis(250);

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn auth_ext_reserved_writer_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let database = BackgroundWorker::get_extra().to_owned();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // Serving at once: requests come only from the extension's functions, so there are
    // none before it is installed, and none may find the database without its writer.
    reserved::register_writer();
    pgrx::log!("{WRITER_TYPE}: serving database {database:?}");
    let mut retry_soon = false;
    loop {
        let timeout = if retry_soon { BUSY_RETRY } else { Duration::from_secs(5) };
        if !BackgroundWorker::wait_latch(Some(timeout)) {
            break;
        }
        retry_soon = false;
        // Everything queued now. Counts go in batches that share one transaction and so
        // one commit (50 code checks at once wait for one or two commits, not fifty);
        // a revocation commits alone (see `serve`).
        loop {
            let mut batch = Vec::new();
            while batch.len() < WRITER_BATCH {
                let Some((slot, text)) = reserved::take() else { break };
                match DurableWrite::decode(&text) {
                    Some(write) if write.waits_for_caller() => retry_soon |= serve(vec![(slot, write)]),
                    Some(write) => batch.push((slot, write)),
                    None => reserved::finish(slot, false),
                }
            }
            if batch.is_empty() {
                break;
            }
            retry_soon |= serve(batch);
        }
    }
    reserved::unregister_writer();
    exit_to_be_restarted();
}

/// Performs `writes` in one transaction, in order, while the batch is younger than
/// WRITER_BATCH_TIME and none has found a row busy: every caller waits for its batch's
/// commit, so a write that waited for a lock (auth.durable_write's lock_timeout) ends
/// the batch, and the writes not reached go back in the queue, first in line. Each write is a
/// subtransaction of its own (auth.durable_write catches its errors), so one failing
/// leaves the others. Revocations are served one per call: nobody waits to hear that
/// one failed, so none may be lost with a batch that fails as a whole. A busy
/// revocation goes back in the queue (others are served past it) until it has waited
/// BUSY_GIVE_UP. Returns whether a busy one was put back for later.
fn serve(writes: Vec<(usize, DurableWrite)>) -> bool {
    let started = Instant::now();
    let results: Vec<Option<String>> = BackgroundWorker::transaction(|| {
        let mut waited = false;
        let mut results = Vec::with_capacity(writes.len());
        for (_, write) in &writes {
            if waited || started.elapsed() >= WRITER_BATCH_TIME {
                results.push(None);
                continue;
            }
            let result = write.perform();
            waited = result == "busy";
            results.push(Some(result));
        }
        results
    });
    let mut retry_later = false;
    for ((slot, write), result) in writes.into_iter().zip(results) {
        let Some(result) = result else {
            reserved::put_back(slot);
            continue;
        };
        if result == "busy" && write.waits_for_caller() && reserved::requeue(slot) {
            retry_later = true;
            continue;
        }
        if result != "done" {
            pgrx::log!("{WRITER_TYPE}: {write:?}: {result}");
        }
        reserved::finish(slot, result == "done");
    }
    retry_later
}

/// A background worker that exits with status 0 is unregistered for good: the writer
/// exits with 1, so that the postmaster starts it again after WRITER_RESTART (but for a
/// shutdown, when nothing is restarted).
fn exit_to_be_restarted() -> ! {
    unsafe { pg_sys::proc_exit(1) }
}

/// The queue in shared memory between backends and the reserved writers.
mod reserved {
    use super::*;

    const QUEUE_LEN: usize = 256;
    const MAX_WRITERS: usize = 32;
    const TEXT_LEN: usize = 120;
    /// How long a caller waits for its write before refusing.
    const WAIT_LIMIT: Duration = Duration::from_secs(10);

    #[derive(Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    enum State {
        Free,
        Queued,
        Taken,
        Done,
        Failed,
    }

    #[derive(Clone, Copy)]
    struct Request {
        state: State,
        dboid: u32,
        /// Milliseconds since the epoch: not before (a busy retry), and when it was queued.
        retry_at: u64,
        queued_at: u64,
        /// The waiting backend's latch (shared memory, same address everywhere); 0: nobody waits.
        waiter: usize,
        len: usize,
        text: [u8; TEXT_LEN],
    }

    #[derive(Clone, Copy)]
    struct Writer {
        dboid: u32,
        pid: i32,
        latch: usize,
    }

    #[derive(Clone, Copy)]
    pub struct Queue {
        requests: [Request; QUEUE_LEN],
        writers: [Writer; MAX_WRITERS],
    }

    impl Default for Queue {
        fn default() -> Self {
            Queue {
                requests: [Request { state: State::Free, dboid: 0, retry_at: 0, queued_at: 0, waiter: 0, len: 0, text: [0; TEXT_LEN] };
                    QUEUE_LEN],
                writers: [Writer { dboid: 0, pid: 0, latch: 0 }; MAX_WRITERS],
            }
        }
    }

    unsafe impl PGRXSharedMemory for Queue {}

    static QUEUE: PgLwLock<Queue> = unsafe { PgLwLock::new(c"auth_ext_durable_writes") };
    /// Set in the postmaster while preloading, so every backend forked from it knows the queue exists.
    static READY: AtomicBool = AtomicBool::new(false);

    pub fn init() {
        pgrx::pg_shmem_init!(QUEUE);
        READY.store(true, Ordering::Relaxed);
    }

    /// Whether this database should have a reserved writer: preloaded, and listed.
    pub fn expected() -> bool {
        if !READY.load(Ordering::Relaxed) {
            return false;
        }
        let listed = crate::core::settings::text_string(&crate::core::settings::DURABLE_WRITE_DATABASES).unwrap_or_default();
        let name = unsafe { pg_sys::get_database_name(pg_sys::MyDatabaseId) };
        if name.is_null() {
            return false;
        }
        let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned();
        listed.split(',').map(str::trim).any(|d| d == name)
    }

    /// Whether a writer is registered for this database and its process is alive.
    pub fn serving() -> bool {
        let dboid = my_db();
        let q = QUEUE.share();
        q.writers.iter().any(|w| w.dboid == dboid && w.pid != 0 && unsafe { libc_kill(w.pid) })
    }

    /// Whether a process exists (signal 0), as the postmaster's children are ours to ask.
    unsafe fn libc_kill(pid: i32) -> bool {
        extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        kill(pid, 0) == 0
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn my_db() -> u32 {
        unsafe { pg_sys::MyDatabaseId }.to_u32()
    }

    fn set_latch(latch: usize) {
        if latch != 0 {
            unsafe { pg_sys::SetLatch(latch as *mut pg_sys::Latch) }
        }
    }

    pub fn register_writer() {
        let mut q = QUEUE.exclusive();
        let me = Writer { dboid: my_db(), pid: unsafe { pg_sys::MyProcPid }, latch: (unsafe { pg_sys::MyLatch }) as usize };
        if let Some(w) = q.writers.iter_mut().find(|w| w.dboid == me.dboid || w.pid == 0) {
            *w = me;
        }
        // A request held by a writer that died may be what killed it: it fails (its
        // caller refuses, or for a revocation the warning below is all that is left).
        let mut latches = Vec::new();
        for r in q.requests.iter_mut().filter(|r| r.dboid == me.dboid && r.state == State::Taken) {
            pgrx::log!("auth_ext durable writer: dropped a request its predecessor died on");
            r.state = if r.waiter == 0 { State::Free } else { State::Failed };
            latches.push(r.waiter);
        }
        drop(q);
        latches.into_iter().for_each(set_latch);
    }

    pub fn unregister_writer() {
        let mut q = QUEUE.exclusive();
        let pid = unsafe { pg_sys::MyProcPid };
        for w in q.writers.iter_mut().filter(|w| w.pid == pid) {
            *w = Writer { dboid: 0, pid: 0, latch: 0 };
        }
    }

    /// Queues a write for this database's reserved writer; None when there is none (or
    /// the queue is full) and the caller must fall back.
    pub fn enqueue(write: &DurableWrite, wait: bool) -> Option<usize> {
        if !READY.load(Ordering::Relaxed) {
            return None;
        }
        let text = write.encode();
        if text.len() > TEXT_LEN {
            return None;
        }
        let dboid = my_db();
        let latch = {
            let mut q = QUEUE.exclusive();
            let writer = q.writers.iter().find(|w| w.dboid == dboid && w.pid != 0)?.latch;
            let slot = q.requests.iter().position(|r| r.state == State::Free)?;
            let r = &mut q.requests[slot];
            r.state = State::Queued;
            r.dboid = dboid;
            r.retry_at = 0;
            r.queued_at = now_ms();
            r.waiter = if wait { (unsafe { pg_sys::MyLatch }) as usize } else { 0 };
            r.len = text.len();
            r.text[..text.len()].copy_from_slice(text.as_bytes());
            (slot, writer)
        };
        set_latch(latch.1);
        Some(latch.0)
    }

    /// Waits until the writer has committed (true) or failed (false) the request.
    pub fn wait(slot: usize) -> bool {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            {
                let mut q = QUEUE.exclusive();
                let r = &mut q.requests[slot];
                match r.state {
                    State::Done | State::Failed => {
                        let done = r.state == State::Done;
                        r.state = State::Free;
                        return done;
                    }
                    State::Queued if Instant::now() >= deadline => {
                        r.state = State::Free;
                        return false;
                    }
                    // Taken: the writer frees it when it finishes, since nobody waits any more.
                    State::Taken if Instant::now() >= deadline => {
                        r.waiter = 0;
                        return false;
                    }
                    _ => {}
                }
            }
            wait_on_latch(100);
        }
    }

    /// Whether a request with this text is queued or being written for this database.
    pub fn pending(text: &str) -> bool {
        if !READY.load(Ordering::Relaxed) {
            return false;
        }
        let dboid = my_db();
        let q = QUEUE.share();
        q.requests.iter().any(|r| {
            matches!(r.state, State::Queued | State::Taken) && r.dboid == dboid && &r.text[..r.len] == text.as_bytes()
        })
    }

    /// The writer takes the first queued request of its database that is due.
    pub fn take() -> Option<(usize, String)> {
        let dboid = my_db();
        let now = now_ms();
        let mut q = QUEUE.exclusive();
        let slot = q.requests.iter().position(|r| r.state == State::Queued && r.dboid == dboid && r.retry_at <= now)?;
        let r = &mut q.requests[slot];
        r.state = State::Taken;
        Some((slot, String::from_utf8_lossy(&r.text[..r.len]).into_owned()))
    }

    /// Puts a busy request back for a retry a little later; false once it has waited
    /// long enough (the caller then fails it).
    pub fn requeue(slot: usize) -> bool {
        let now = now_ms();
        let mut q = QUEUE.exclusive();
        let r = &mut q.requests[slot];
        if now.saturating_sub(r.queued_at) > BUSY_GIVE_UP.as_millis() as u64 {
            return false;
        }
        r.retry_at = now + BUSY_RETRY.as_millis() as u64;
        r.state = State::Queued;
        true
    }

    /// Puts a request not reached in its batch back, to be taken again at once.
    pub fn put_back(slot: usize) {
        let mut q = QUEUE.exclusive();
        let r = &mut q.requests[slot];
        r.retry_at = 0;
        r.state = State::Queued;
    }

    pub fn finish(slot: usize, done: bool) {
        let waiter = {
            let mut q = QUEUE.exclusive();
            let r = &mut q.requests[slot];
            let waiter = r.waiter;
            r.state = if waiter == 0 { State::Free } else if done { State::Done } else { State::Failed };
            waiter
        };
        set_latch(waiter);
    }
}
