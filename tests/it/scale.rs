//! Rotation at fleet scale: many secrets of every kind — single user and alternating users, on PostgreSQL and on
//! MariaDB — rotated at once against one server each, the way Lambda runs them: every step its own invocation, at
//! most `SCALE_CONCURRENCY` invocations at a time, and a failed invocation retried as the service retries it. Every
//! rotation must converge with the database and `AWSCURRENT` in agreement, some version of each secret must log in
//! after every step, and no secret may be lost. The figures (throughput, per-step p50/p99, the servers' peak
//! connections) are printed; `SCALE_SECRETS` and `SCALE_CONCURRENCY` size the run (this suite's defaults are small,
//! for `make test`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client as SmClient;

use crate::common;

use common::*;
use rds_rotator::internal::{Step, handler};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone)]
struct Rotated {
    engine: Engine,
    alternating: bool,
    id: String,
}

async fn fixture(engine: Engine, alternating: bool, master: Option<&str>) -> Rotated {
    let user = unique("scale");
    engine.create_user(&user, "initial-Passw0rd").await;
    let secret = match master {
        Some(master) => engine.alternating_secret(&user, "initial-Passw0rd", master),
        None => engine.secret(&user, "initial-Passw0rd"),
    };
    let id = unique("scale-secret");
    create_secret(&sm().await, &id, &secret).await;
    Rotated { engine, alternating, id }
}

async fn version_logs_in(sm: &SmClient, secret: &Rotated, stage: &str) -> bool {
    match secret_value(sm, &secret.id, stage).await {
        Some(value) => secret.engine.logs_in(value["username"].as_str().unwrap(), &password_of(&value)).await,
        None => false,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// The servers' open connections, sampled until `done`; the peak of each.
async fn peak_connections(done: Arc<AtomicBool>) -> (i64, i64) {
    use mysql_async::prelude::Queryable;
    let (pg, mut my) = (pg_admin().await, my_admin().await);
    let (mut pg_peak, mut my_peak) = (0i64, 0i64);
    while !done.load(Ordering::Relaxed) {
        if let Ok(row) =
            pg.query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'", &[]).await
        {
            pg_peak = pg_peak.max(row.get::<_, i64>(0));
        }
        let row: Option<(String, String)> = my.query_first("SHOW STATUS LIKE 'Threads_connected'").await.ok().flatten();
        if let Some(count) = row.and_then(|(_, value)| value.parse::<i64>().ok()) {
            my_peak = my_peak.max(count);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (pg_peak, my_peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rotates_at_once_and_every_rotation_converges() {
    let per_kind = setting("SCALE_SECRETS", 6);
    let concurrency = setting("SCALE_CONCURRENCY", 8);
    let sm = sm().await;

    let mut fleet = Vec::new();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let (admin, password) = match engine {
            Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
            Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
        };
        let master = engine.master_secret(&admin, &password).await;
        for _ in 0..per_kind {
            fleet.push(fixture(engine, false, None).await);
            fleet.push(fixture(engine, true, Some(&master)).await);
        }
    }
    let before: BTreeMap<String, String> = {
        let mut before = BTreeMap::new();
        for secret in &fleet {
            before.insert(secret.id.clone(), secret_text(&sm, &secret.id, "AWSCURRENT").await.unwrap());
        }
        before
    };

    let rotator = Arc::new(rotator().await);
    let invocations = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let retries = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(peak_connections(done.clone()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for secret in fleet.clone() {
        let (rotator, invocations, retries) = (rotator.clone(), invocations.clone(), retries.clone());
        tasks.spawn(async move {
            let sm = common::sm().await;
            let token = stage_rotation(&sm, &secret.id).await;
            let mut timings = Vec::new();
            for step in Step::ALL {
                let mut attempt = 0;
                loop {
                    let permit = invocations.acquire().await.expect("the semaphore stays open");
                    let began = Instant::now();
                    let result = handler::handle(&rotator, &event(&secret.id, &token, step)).await;
                    timings.push((step, began.elapsed()));
                    drop(permit);
                    match result {
                        Ok(_) => break,
                        Err(err) => {
                            capture(&format!("{err}\n{err:?}"));
                            attempt += 1;
                            retries.fetch_add(1, Ordering::Relaxed);
                            assert!(attempt < 10, "{}: {step} failed {attempt} times, last: {err}", secret.id);
                            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                        }
                    }
                }
                // After every step, some version of the secret logs in: nobody is locked out.
                let works = version_logs_in(&sm, &secret, "AWSCURRENT").await
                    || (!secret.alternating
                        && (version_logs_in(&sm, &secret, "AWSPENDING").await
                            || version_logs_in(&sm, &secret, "AWSPREVIOUS").await));
                assert!(works, "{}: after {step} no version of the secret logs in", secret.id);
            }
            timings
        });
    }
    let mut by_step: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        for (step, took) in joined.expect("a rotation task panicked") {
            by_step.entry(step.as_str()).or_default().push(took);
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let (pg_peak, my_peak) = watcher.await.unwrap();

    // Every rotation converged: AWSCURRENT is new and logs in, nothing is left pending, nothing was lost.
    for secret in &fleet {
        let labels = versions(&sm, &secret.id).await;
        let stuck = labels.values().any(|l| l.contains(&"AWSPENDING".into()) && !l.contains(&"AWSCURRENT".into()));
        assert!(!stuck, "{}: {labels:?}", secret.id);
        let current = secret_text(&sm, &secret.id, "AWSCURRENT").await.expect("AWSCURRENT has a value");
        assert_ne!(&current, &before[&secret.id], "{}: not rotated", secret.id);
        assert!(version_logs_in(&sm, secret, "AWSCURRENT").await, "{}: AWSCURRENT does not log in", secret.id);
        if secret.alternating {
            assert!(version_logs_in(&sm, secret, "AWSPREVIOUS").await, "{}: AWSPREVIOUS no longer logs in", secret.id);
        } else {
            assert!(!version_logs_in(&sm, secret, "AWSPREVIOUS").await, "{}: the old password still works", secret.id);
        }
    }

    let rotations = fleet.len();
    println!(
        "fleet run: {rotations} rotations ({per_kind} of each kind) at concurrency {concurrency} in {:.1} s: {:.2} \
         rotations/s; {} invocations retried; peak connections PostgreSQL {pg_peak}, MariaDB {my_peak}",
        elapsed.as_secs_f64(),
        rotations as f64 / elapsed.as_secs_f64(),
        retries.load(Ordering::Relaxed)
    );
    for (step, mut took) in by_step {
        took.sort();
        println!("  {step:<13} p50 {:.1} ms  p99 {:.1} ms", percentile(&took, 0.5), percentile(&took, 0.99));
    }
}
