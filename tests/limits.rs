//! Servers at their limits, under a fleet run (tests/common/fleet.rs): with `max_connections` on both servers below
//! the run's concurrency, invocations fail with a transient error that says the server is at its connection limit,
//! and the service's retries converge; with both servers restarted in the middle of a run, likewise. This binary
//! changes server-wide settings and restarts the servers, so it is one of its own: cargo runs test binaries one
//! after another, and its two tests share a lock.

mod common;

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

/// Runs `change` and then `run` (on a task of its own, so that a failure in either still comes back here), keeping
/// what `change` gave until the run ends, then `restore`s whatever they did, then reports (or fails as they did).
async fn run_then<Kept: Send + 'static>(
    change: impl Future<Output = Kept> + Send + 'static,
    run: FleetRun,
    restore: impl AsyncFnOnce(),
) -> common::fleet::FleetReport {
    let ran = tokio::spawn({
        let run = run.clone();
        async move {
            let kept = change.await;
            let report = run.run().await;
            drop(kept);
            report
        }
    })
    .await;
    restore().await;
    let report = ran.unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
    report.print(&run);
    report
}

/// Sessions of an ordinary user that hold all but `free` of the ordinary sessions each server allows, so that the
/// fleet's logins meet the limit whatever the timing.
struct Hogs {
    _postgres: Vec<tokio_postgres::Client>,
    _mariadb: Vec<mysql_async::Conn>,
}

async fn hogs(pg_sessions: usize, my_sessions: usize) -> Hogs {
    let user = unique("hog");
    let password = "Hog-Passw0rd-limits";
    let (mut postgres, mut mariadb) = (Vec::new(), Vec::new());
    Engine::Postgres.create_user(&user, password).await;
    Engine::Mariadb.create_user(&user, password).await;
    for _ in 0..pg_sessions {
        postgres.push(pg_connect(&user, password).await.expect("a PostgreSQL session under the limit"));
    }
    for _ in 0..my_sessions {
        mariadb.push(my_connect(&user, password).await.expect("a MariaDB session under the limit"));
    }
    Hogs { _postgres: postgres, _mariadb: mariadb }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_invocations_fail_transiently_and_the_retries_converge() {
    let _servers = SERVERS.lock().await;
    let mariadb_limit = my_global("max_connections").await;
    let change = async {
        // MariaDB's limit changes at once, to its least (10); an administrator (root, the master) keeps one more.
        my_exec("SET GLOBAL max_connections = 10").await;
        // PostgreSQL's takes a restart. 3 of its 6 sessions stay reserved for superusers (the master, the test).
        pg_admin().await.batch_execute("ALTER SYSTEM SET max_connections = 6").await.unwrap();
        server("restart", Engine::Postgres);
        // Two ordinary sessions left on each server for 32 invocations at a time (MariaDB's count includes the
        // test's own administrator session).
        hogs(1, 7).await
    };
    let engines = vec![Engine::Postgres, Engine::Mariadb];
    let run = FleetRun { per_kind: 8, concurrency: 32, engines, attempts: 60, during: None };
    let report = run_then(change, run, async || {
        my_exec(&format!("SET GLOBAL max_connections = {mariadb_limit}")).await;
        pg_admin().await.batch_execute("ALTER SYSTEM RESET max_connections").await.unwrap();
        server("restart", Engine::Postgres);
    })
    .await;

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
        // Once a sixth of the steps have run: rotations are under way on both servers.
        during: Some((16, restart_both)),
    };
    let report = run_then(async {}, run, async || {}).await;
    assert!(report.retries > 0, "no invocation met the restarts");
    for error in report.errors.keys() {
        assert!(error.starts_with("DatabaseUnavailable"), "a failure other than the outage: {error}");
    }
}
