//! Servers at their limits, under a fleet run (tests/common/fleet.rs): with `max_connections` on both servers below
//! the run's concurrency, invocations fail with a transient error that says the server is at its connection limit,
//! and the service's retries converge; with both servers restarted in the middle of a run, likewise. This binary
//! changes server-wide settings and restarts the servers, so it is one of its own: cargo runs test binaries one
//! after another, and its two tests share a lock.

mod common;

use std::time::Duration;

use common::fleet::FleetRun;
use common::*;

/// The two tests change the same servers: one at a time.
static SERVERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn my_global(name: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let mut admin = my_admin().await;
    let value: Option<u64> = admin.query_first(format!("SELECT @@global.{name}")).await.unwrap();
    admin.disconnect().await.unwrap();
    value.unwrap()
}

/// Runs `run`, then `restore` whatever the run did, then reports (or fails as the run did).
async fn run_then(run: FleetRun, restore: impl AsyncFnOnce()) -> common::fleet::FleetReport {
    let ran = tokio::spawn({
        let run = run.clone();
        async move { run.run().await }
    })
    .await;
    restore().await;
    let report = ran.unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
    report.print(&run);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_invocations_fail_transiently_and_the_retries_converge() {
    let _servers = SERVERS.lock().await;
    // MariaDB's limit changes at once, to its least (10); an administrator (root) keeps one session more.
    let mariadb_limit = my_global("max_connections").await;
    my_exec("SET GLOBAL max_connections = 10").await;
    // PostgreSQL's takes a restart. 3 of its 6 sessions stay reserved for superusers (the master, the test).
    pg_admin().await.batch_execute("ALTER SYSTEM SET max_connections = 6").await.unwrap();
    server("restart", Engine::Postgres);

    let engines = vec![Engine::Postgres, Engine::Mariadb];
    let run = FleetRun { per_kind: 8, concurrency: 32, engines, attempts: 60, during: None };
    let report = run_then(run, async || {
        my_exec(&format!("SET GLOBAL max_connections = {mariadb_limit}")).await;
        pg_admin().await.batch_execute("ALTER SYSTEM RESET max_connections").await.unwrap();
        server("restart", Engine::Postgres);
    })
    .await;

    assert!(report.retries > 0, "the limits were never reached: {:?}", report.errors);
    for error in report.errors.keys() {
        assert!(error.contains("connection limit"), "a failure that does not say the server is full: {error}");
    }
    let said = |text: &str| report.errors.keys().any(|error| error.contains(text));
    assert!(said("SQLSTATE 53300") && said("MySQL error 1040"), "both servers refused: {:?}", report.errors);
}

fn restart_both() {
    server("restart", Engine::Postgres);
    server("restart", Engine::Mariadb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_restarted_mid_run_fail_invocations_transiently_and_the_retries_converge() {
    let _servers = SERVERS.lock().await;
    let run = FleetRun {
        per_kind: 6,
        concurrency: 8,
        engines: vec![Engine::Postgres, Engine::Mariadb],
        attempts: 60,
        during: Some((Duration::from_millis(700), restart_both)),
    };
    let report = run_then(run, async || {}).await;
    assert!(report.retries > 0, "no invocation met the restarts");
    for error in report.errors.keys() {
        assert!(error.starts_with("DatabaseUnavailable"), "a failure other than the outage: {error}");
    }
}
