//! The cleanup of stale anonymous users that runs by itself.
//!
//! With `shared_preload_libraries = 'auth_ext'`, a launcher background worker wakes every
//! `auth_ext.anonymous_cleanup_interval` and, for each database in
//! `auth_ext.anonymous_cleanup_databases`, starts a worker connected to it that deletes
//! anonymous users idle longer than `auth_ext.anonymous_ttl`, batch by batch, each batch
//! its own transaction (`auth.cleanup_anonymous_batch`). A failing round is logged and
//! the next round tries again; SIGTERM stops both cleanly.

use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;
use serde::Deserialize;

use crate::core::settings;

const LAUNCHER_TYPE: &str = "auth_ext anonymous cleanup";
const DATABASE_WORKER_TYPE: &str = "auth_ext anonymous cleanup worker";
const BATCH_SIZE: i32 = 1000;
/// How often the launcher looks at its settings while cleanup is off.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// Registers the launcher; does nothing unless the library is being preloaded.
pub fn register_launcher() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new(LAUNCHER_TYPE)
        .set_type(LAUNCHER_TYPE)
        .set_library("auth_ext")
        .set_function("auth_ext_cleanup_launcher_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

fn databases() -> Vec<String> {
    settings::text_string(&settings::ANONYMOUS_CLEANUP_DATABASES)
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty() && d.len() < 120)
        .collect()
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn auth_ext_cleanup_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // Connected to no database (like Postgres' own launchers): it shows in pg_stat_activity.
    BackgroundWorker::connect_worker_to_spi(None, None);
    pgrx::log!("{LAUNCHER_TYPE}: started");
    let mut last_round: Option<Instant> = None;
    loop {
        let interval = settings::ANONYMOUS_CLEANUP_INTERVAL.get().max(0) as u64;
        let due_in = match (interval, last_round) {
            (0, _) => IDLE_CHECK,
            (_, None) => Duration::ZERO,
            (i, Some(t)) => Duration::from_secs(i).saturating_sub(t.elapsed()),
        };
        if !due_in.is_zero() && !BackgroundWorker::wait_latch(Some(due_in)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            continue;
        }
        let interval = settings::ANONYMOUS_CLEANUP_INTERVAL.get();
        if interval <= 0 || last_round.is_some_and(|t| t.elapsed() < Duration::from_secs(interval as u64)) {
            continue;
        }
        last_round = Some(Instant::now());
        for database in databases() {
            run_in(&database);
        }
    }
    pgrx::log!("{LAUNCHER_TYPE}: stopped");
}

/// Runs one round in `database` in a worker connected to it, and waits for it.
fn run_in(database: &str) {
    let started = BackgroundWorkerBuilder::new(&format!("{DATABASE_WORKER_TYPE} ({database})"))
        .set_type(DATABASE_WORKER_TYPE)
        .set_library("auth_ext")
        .set_function("auth_ext_cleanup_database_main")
        .enable_spi_access()
        .set_restart_time(None)
        .set_extra(database)
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic();
    match started {
        Ok(worker) => {
            if worker.wait_for_shutdown().is_err() {
                pgrx::log!("{LAUNCHER_TYPE}: lost track of the worker for database {database:?}");
            }
        }
        Err(_) => pgrx::log!("{LAUNCHER_TYPE}: could not start a worker for {database:?} (max_worker_processes); next round"),
    }
}

#[derive(Debug, Deserialize)]
struct Batch {
    deleted: i64,
    skipped: i64,
    scanned: i64,
    cursor_created_at: Option<String>,
    cursor_id: Option<String>,
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn auth_ext_cleanup_database_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let database = BackgroundWorker::get_extra().to_owned();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    let installed = BackgroundWorker::transaction(|| {
        Spi::get_one::<bool>("select exists (select from pg_extension where extname = 'auth_ext')")
            .ok()
            .flatten()
            .unwrap_or(false)
    });
    if !installed {
        pgrx::log!("{DATABASE_WORKER_TYPE}: auth_ext is not installed in {database:?}; skipped");
        return;
    }
    let ttl = f64::from(settings::ANONYMOUS_TTL.get());
    let (mut deleted, mut skipped) = (0i64, 0i64);
    let mut cursor: (Option<String>, Option<String>) = (None, None);
    loop {
        let args = cursor.clone();
        let batch = BackgroundWorker::transaction(move || {
            Spi::get_one_with_args::<pgrx::JsonB>(
                "select auth.cleanup_anonymous_batch(make_interval(secs => $1), $2, false,
                                                     coalesce($3::timestamptz, '-infinity'),
                                                     coalesce($4::uuid, '00000000-0000-0000-0000-000000000000'))",
                &[ttl.into(), BATCH_SIZE.into(), args.0.into(), args.1.into()],
            )
            .expect("a cleanup batch")
        });
        let Some(batch) = batch.and_then(|b| serde_json::from_value::<Batch>(b.0).ok()) else {
            break;
        };
        deleted += batch.deleted;
        skipped += batch.skipped;
        cursor = (batch.cursor_created_at, batch.cursor_id);
        if batch.scanned < i64::from(BATCH_SIZE) || BackgroundWorker::sigterm_received() {
            break;
        }
    }
    // Spent refresh tokens beyond the history reuse detection keeps, batch by batch.
    let mut purged = 0i64;
    loop {
        let batch = BackgroundWorker::transaction(|| {
            Spi::get_one::<i64>("select auth.purge_spent_refresh_tokens()").ok().flatten().unwrap_or(0)
        });
        purged += batch;
        if batch < 10000 || BackgroundWorker::sigterm_received() {
            break;
        }
    }
    let counters = BackgroundWorker::transaction(|| {
        Spi::get_one::<i64>("select auth.purge_past_rate_limits()").ok().flatten().unwrap_or(0)
    });
    pgrx::log!(
        "{DATABASE_WORKER_TYPE}: database {database:?}: {deleted} stale anonymous users deleted, {skipped} skipped, {purged} spent refresh tokens purged, {counters} past rate-limit counters purged"
    );
}
