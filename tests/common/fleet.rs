//! A fleet run: many secrets of every kind — single user and alternating users, on PostgreSQL and on MariaDB —
//! rotated at once against one server each, the way Lambda runs them: every step its own invocation, at most
//! `concurrency` invocations at a time, and a failed invocation retried as the service retries it. Every rotation
//! must converge with the database and `AWSCURRENT` in agreement, some version of each secret must log in after every
//! step, and no secret may be lost. Used by `tests/it/scale.rs` (small, in `make test`), `tests/limits.rs` (servers
//! at their connection limit, and restarted mid-run) and `make bench` (N = 200 at concurrency 32).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client as SmClient;
use rds_rotator::internal::{Step, handler};

use super::*;

/// What to rotate, and how.
#[derive(Clone, Debug)]
pub struct FleetRun {
    /// Secrets of each kind (strategy × engine).
    pub per_kind: usize,
    /// Invocations at a time.
    pub concurrency: usize,
    pub engines: Vec<Engine>,
    /// Invocations of one step before the run gives up on it.
    pub attempts: usize,
    /// Something to do to the servers while the rotations run (on a thread of its own), once this many
    /// invocations have finished.
    pub during: Option<(usize, fn())>,
}

/// What a run measured.
pub struct FleetReport {
    pub rotations: usize,
    pub elapsed: Duration,
    /// Failed invocations, retried.
    pub retries: usize,
    /// The distinct error messages of the failed invocations, with how often each came.
    pub errors: BTreeMap<String, usize>,
    pub pg_peak: i64,
    pub my_peak: i64,
    /// Every invocation's time, by step.
    pub by_step: BTreeMap<&'static str, Vec<Duration>>,
}

impl FleetReport {
    pub fn throughput(&self) -> f64 {
        self.rotations as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile (0 to 1) of `step`'s invocations, in milliseconds.
    pub fn percentile(&self, step: Step, p: f64) -> f64 {
        let mut sorted = self.by_step.get(step.as_str()).cloned().unwrap_or_default();
        sorted.sort();
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    }

    /// For a test's output (`--nocapture`).
    pub fn print(&self, run: &FleetRun) {
        println!(
            "fleet run: {} rotations ({} of each kind) at concurrency {} in {:.1} s: {:.2} rotations/s; {} \
             invocations retried; peak connections PostgreSQL {}, MariaDB {}",
            self.rotations,
            run.per_kind,
            run.concurrency,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.retries,
            self.pg_peak,
            self.my_peak
        );
        for step in Step::ALL {
            let (p50, p99) = (self.percentile(step, 0.5), self.percentile(step, 0.99));
            println!("  {:<13} p50 {p50:.1} ms  p99 {p99:.1} ms", step.as_str());
        }
        for (error, count) in &self.errors {
            println!("  {count} × {error}");
        }
    }
}

#[derive(Clone)]
struct Rotated {
    engine: Engine,
    alternating: bool,
    id: String,
}

async fn fixture(sm: &SmClient, engine: Engine, alternating: bool, master: Option<&str>) -> Rotated {
    let user = unique("fleet");
    engine.create_user(&user, "initial-Passw0rd").await;
    let secret = match master {
        Some(master) => engine.alternating_secret(&user, "initial-Passw0rd", master),
        None => engine.secret(&user, "initial-Passw0rd"),
    };
    let id = unique("fleet-secret");
    create_secret(sm, &id, &secret).await;
    Rotated { engine, alternating, id }
}

/// Whether `stage` of the secret logs in. A server that cannot take the session now (at its connection limit,
/// restarting) is asked again, for up to a minute: only a refused password is an answer.
async fn version_logs_in(sm: &SmClient, secret: &Rotated, stage: &str) -> bool {
    let Some(value) = secret_value(sm, &secret.id, stage).await else { return false };
    let (user, password) = (value["username"].as_str().unwrap(), password_of(&value));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match secret.engine.try_logs_in(user, &password).await {
            Ok(answer) => return answer,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(err) => panic!("{}: no answer from the server for a minute: {err}", secret.id),
        }
    }
}

/// The servers' open client sessions, sampled until `done`; the peak of each. A sample the server refuses (at its
/// limit, restarting) is skipped.
async fn peak_connections(done: Arc<AtomicBool>) -> (i64, i64) {
    use mysql_async::prelude::Queryable;
    let (mut pg_peak, mut my_peak) = (0i64, 0i64);
    let (mut pg, mut my) = (None, None);
    while !done.load(Ordering::Relaxed) {
        if pg.is_none() {
            pg = pg_connect(&env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await.ok();
        }
        if my.is_none() {
            my = my_connect(&env("TEST_MARIADB_ADMIN_USER"), &env("TEST_MARIADB_ADMIN_PASSWORD")).await.ok();
        }
        if let Some(client) = &pg {
            let sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'";
            match client.query_one(sql, &[]).await {
                Ok(row) => pg_peak = pg_peak.max(row.get::<_, i64>(0)),
                Err(_) => pg = None,
            }
        }
        if let Some(conn) = &mut my {
            match conn.query_first::<(String, String), _>("SHOW STATUS LIKE 'Threads_connected'").await {
                Ok(row) => {
                    let count = row.and_then(|(_, value)| value.parse::<i64>().ok()).unwrap_or(0);
                    my_peak = my_peak.max(count);
                }
                Err(_) => my = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (pg_peak, my_peak)
}

impl FleetRun {
    /// `SCALE_SECRETS` and `SCALE_CONCURRENCY` override the sizes.
    pub fn from_env(per_kind: usize, concurrency: usize) -> FleetRun {
        FleetRun {
            per_kind: setting("SCALE_SECRETS", per_kind),
            concurrency: setting("SCALE_CONCURRENCY", concurrency),
            engines: vec![Engine::Postgres, Engine::Mariadb],
            attempts: 10,
            during: None,
        }
    }

    /// Makes the secrets and users, rotates them all at once, and checks that every rotation converged.
    pub async fn run(&self) -> FleetReport {
        let sm = sm().await;
        let mut fleet = Vec::new();
        for &engine in &self.engines {
            let (admin, password) = match engine {
                Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
                Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
            };
            let master = engine.master_secret(&admin, &password).await;
            for _ in 0..self.per_kind {
                fleet.push(fixture(&sm, engine, false, None).await);
                fleet.push(fixture(&sm, engine, true, Some(&master)).await);
            }
        }
        let mut before = BTreeMap::new();
        for secret in &fleet {
            before.insert(secret.id.clone(), secret_text(&sm, &secret.id, "AWSCURRENT").await.unwrap());
        }

        let rotator = Arc::new(rotator().await);
        let invocations = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let errors: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let retries = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(peak_connections(done.clone()));
        let invoked = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let meanwhile = self.during.map(|(after, action)| {
            let (invoked, done) = (invoked.clone(), done.clone());
            std::thread::spawn(move || {
                while invoked.load(Ordering::Relaxed) < after && !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                action();
            })
        });
        let mut tasks = tokio::task::JoinSet::new();
        for secret in fleet.clone() {
            let (rotator, invocations) = (rotator.clone(), invocations.clone());
            let (retries, errors, attempts) = (retries.clone(), errors.clone(), self.attempts);
            let invoked = invoked.clone();
            tasks.spawn(async move {
                let sm = super::sm().await;
                let token = stage_rotation(&sm, &secret.id).await;
                // The service's events for this rotation (the harness asks the strict layer for them, off the
                // runtime's threads).
                let (id, staged) = (secret.id.clone(), token.clone());
                let events = tokio::task::spawn_blocking(move || Step::ALL.map(|step| event(&id, &staged, step)))
                    .await
                    .expect("the strict layer gives the events");
                let mut timings = Vec::new();
                for (step, event) in Step::ALL.into_iter().zip(events) {
                    let mut attempt = 0;
                    loop {
                        let permit = invocations.acquire().await.expect("the semaphore stays open");
                        let began = Instant::now();
                        let result = handler::handle(&rotator, &event).await;
                        timings.push((step, began.elapsed()));
                        drop(permit);
                        invoked.fetch_add(1, Ordering::Relaxed);
                        let Err(err) = result else { break };
                        capture(&format!("{err}\n{err:?}"));
                        attempt += 1;
                        retries.fetch_add(1, Ordering::Relaxed);
                        // The message without the secret's name, so that like failures count together.
                        let message = err.to_string().replace(&event.secret_id, "SECRET");
                        *errors.lock().unwrap().entry(format!("{}: {message}", err.error_type())).or_default() += 1;
                        assert!(err.is_transient(), "{}: {step} failed for good: {err}", secret.id);
                        assert!(attempt < attempts, "{}: {step} failed {attempt} times, last: {err}", secret.id);
                        // The service's retry comes later; a little later each time, capped.
                        tokio::time::sleep(Duration::from_millis(50 * attempt.min(20) as u64)).await;
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
            match joined {
                Ok(timings) => {
                    for (step, took) in timings {
                        by_step.entry(step.as_str()).or_default().push(took);
                    }
                }
                Err(err) if err.is_panic() => {
                    done.store(true, Ordering::Relaxed);
                    std::panic::resume_unwind(err.into_panic());
                }
                Err(err) => panic!("a rotation task ended: {err}"),
            }
        }
        let elapsed = started.elapsed();
        done.store(true, Ordering::Relaxed);
        if let Some(meanwhile) = meanwhile {
            meanwhile.join().expect("what the run did to the servers worked");
        }
        let (pg_peak, my_peak) = watcher.await.unwrap();

        // Every rotation converged: AWSCURRENT is new and logs in, nothing is left pending, nothing was lost.
        let mut seen = BTreeSet::new();
        for secret in &fleet {
            let labels = versions(&sm, &secret.id).await;
            let stuck = labels.values().any(|l| l.contains(&"AWSPENDING".into()) && !l.contains(&"AWSCURRENT".into()));
            assert!(!stuck, "{}: {labels:?}", secret.id);
            let current = secret_text(&sm, &secret.id, "AWSCURRENT").await.expect("AWSCURRENT has a value");
            assert_ne!(&current, &before[&secret.id], "{}: not rotated", secret.id);
            assert!(seen.insert(current), "{}: the same secret value twice in the fleet", secret.id);
            assert!(version_logs_in(&sm, secret, "AWSCURRENT").await, "{}: AWSCURRENT does not log in", secret.id);
            if secret.alternating {
                assert!(
                    version_logs_in(&sm, secret, "AWSPREVIOUS").await,
                    "{}: AWSPREVIOUS no longer logs in",
                    secret.id
                );
            } else {
                assert!(!version_logs_in(&sm, secret, "AWSPREVIOUS").await, "{}: the old password works", secret.id);
            }
        }
        let errors = errors.lock().unwrap().clone();
        FleetReport {
            rotations: fleet.len(),
            elapsed,
            retries: retries.load(Ordering::Relaxed),
            errors,
            pg_peak,
            my_peak,
            by_step,
        }
    }
}
