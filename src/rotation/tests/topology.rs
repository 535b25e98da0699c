//! Topology in the core, against a fake RDS API and a fake database whose readers lag the writer: where a secret
//! without a host, or with a reader endpoint, is changed, and how setSecret waits until the new password works where
//! applications connect. The waits run on tokio's paused clock, so a 100-second replication lag costs no time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::rds::{DbCluster, DbInstance, Endpoint, RdsError, RdsErrorKind};
use crate::rotation::preflight::Check;

const READER: &str = "orders.cluster-ro-abc123xyz.us-east-1.rds.amazonaws.com";

/// The RDS API of one account: its clusters and instances, and every call made to it.
#[derive(Clone, Default)]
struct FakeRds {
    clusters: Vec<DbCluster>,
    instances: Vec<DbInstance>,
    calls: Arc<Mutex<Vec<String>>>,
    /// Master-password resets take effect on this database at once.
    db: Option<FakeDb>,
}

impl FakeRds {
    /// Cluster `orders`, whose writer is the fake database's host and whose reader endpoint is `READER`.
    fn orders() -> FakeRds {
        let cluster = DbCluster {
            id: "orders".into(),
            writer: Some(Endpoint { host: "db".into(), port: 5432 }),
            reader_host: Some(READER.into()),
            engine: "aurora-postgresql".into(),
            master_username: Some("admin".into()),
            manages_master_password: false,
        };
        FakeRds { clusters: vec![cluster], ..FakeRds::default() }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl RdsApi for FakeRds {
    async fn instance(&self, id: &str) -> Result<Option<DbInstance>, RdsError> {
        self.calls.lock().unwrap().push(format!("DescribeDBInstances {id}"));
        Ok(self.instances.iter().find(|instance| instance.id == id).cloned())
    }

    async fn cluster(&self, id: &str) -> Result<Option<DbCluster>, RdsError> {
        self.calls.lock().unwrap().push(format!("DescribeDBClusters {id}"));
        Ok(self.clusters.iter().find(|cluster| cluster.id == id).cloned())
    }

    async fn reset_instance_master_password(&self, id: &str, _: &Password) -> Result<(), RdsError> {
        let message = "not in these tests".to_owned();
        Err(RdsError { operation: "ModifyDBInstance", id: id.into(), kind: RdsErrorKind::Refused, message })
    }

    async fn reset_cluster_master_password(&self, id: &str, password: &Password) -> Result<(), RdsError> {
        self.calls.lock().unwrap().push(format!("ModifyDBCluster {id}"));
        let cluster = self.clusters.iter().find(|cluster| cluster.id == id);
        let (Some(db), Some(user)) = (&self.db, cluster.and_then(|c| c.master_username.clone())) else {
            let message = "no such cluster".to_owned();
            return Err(RdsError { operation: "ModifyDBCluster", id: id.into(), kind: RdsErrorKind::Refused, message });
        };
        db.state.lock().unwrap().change(&user, password.expose_secret());
        Ok(())
    }
}

/// `world()` with the secret edited by `edit`, the RDS API `rds`, and `PROPAGATION_TIMEOUT_SECONDS` `timeout`.
fn world_with_rds(edit: impl FnOnce(&mut serde_json::Value), rds: FakeRds, timeout: u64) -> World<FakeRds> {
    world_with_settings(edit, rds, Settings { propagation_timeout: Duration::from_secs(timeout), ..settings() })
}

/// `world()` with the secret edited by `edit`, the RDS API `rds`, and `settings`.
fn world_with_settings(edit: impl FnOnce(&mut serde_json::Value), rds: FakeRds, settings: Settings) -> World<FakeRds> {
    let w = world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    edit(&mut secret);
    w.set_value("v0", secret.to_string());
    let rds = FakeRds { db: Some(w.db.clone()), ..rds };
    let rotator = Rotator::new(w.store.clone(), w.db.clone(), settings).with_rds(rds);
    World { store: w.store, db: w.db, faults: w.faults, token: w.token, rotator }
}

/// The reader endpoint replicates the writer `lag` behind.
fn reader_lags(w: &World<FakeRds>, lag: Duration) {
    w.db.state.lock().unwrap().readers.insert(READER.into(), lag);
}

/// Login attempts at `host` so far.
fn attempts_at(w: &World<FakeRds>, host: &str) -> usize {
    w.db.state.lock().unwrap().attempts.iter().filter(|(_, at)| at == host).count()
}

#[tokio::test]
async fn a_secret_without_a_host_is_rotated_at_its_clusters_writer() {
    let rds = FakeRds::orders();
    let w = world_with_rds(
        |s| {
            s.as_object_mut().unwrap().remove("host");
            s["dbClusterIdentifier"] = "orders".into();
        },
        rds.clone(),
        30,
    );
    w.rotate().await.unwrap();
    w.assert_rotated();
    // setSecret and testSecret each resolve the writer; nothing else asks the RDS API.
    assert_eq!(rds.calls(), vec!["DescribeDBClusters orders"; 2]);
}

#[tokio::test]
async fn a_cluster_the_rds_api_does_not_know_is_refused_and_nothing_changes() {
    let w = world_with_rds(
        |s| {
            s.as_object_mut().unwrap().remove("host");
            s["dbClusterIdentifier"] = "elsewhere".into();
        },
        FakeRds::orders(),
        30,
    );
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert!(err.to_string().contains("DB cluster elsewhere does not exist"), "{err}");
    assert_eq!(w.db_password("app"), "pw-0");
}

#[tokio::test]
async fn a_host_with_the_shape_of_a_reader_endpoint_the_api_does_not_report_is_refused() {
    let look_alike = "orders.cluster-ro-zzzzzzzzzzzz.us-east-1.rds.amazonaws.com";
    let w = world_with_rds(|s| s["host"] = look_alike.into(), FakeRds::orders(), 30);
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert_eq!(w.db_password("app"), "pw-0");
}

/// A reader endpoint: the change goes to the writer, and setSecret waits, with backoff on tokio's clock, until the
/// new password logs in at the reader — here 3 s of replication lag, paid in virtual time.
#[tokio::test(start_paused = true)]
async fn set_secret_waits_until_the_new_password_works_at_the_reader() {
    let w = world_with_rds(|s| s["host"] = READER.into(), FakeRds::orders(), 30);
    reader_lags(&w, Duration::from_secs(3));
    w.step(Step::Create).await.unwrap();
    let started = Instant::now();
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: AWSCURRENT });
    let waited = started.elapsed();
    // Backoff 0.25, 0.5, 1, 2 s: the fifth login, at 3.75 s, is the first after the lag.
    assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(attempts_at(&w, READER), 5);
    assert_eq!(w.db_password("app"), w.password_of(AWSPENDING).unwrap(), "the writer took the change");
    for step in [Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    w.assert_rotated();
}

/// A reader that lags past `PROPAGATION_TIMEOUT_SECONDS`: setSecret fails transiently when the budget is spent
/// (the password is changed at the writer), and the service's retry, once the reader caught up, completes the
/// rotation without changing the password again.
#[tokio::test(start_paused = true)]
async fn a_reader_lagging_past_the_budget_fails_transiently_and_the_retry_completes() {
    let w = world_with_rds(|s| s["host"] = READER.into(), FakeRds::orders(), 10);
    reader_lags(&w, Duration::from_secs(100));
    w.step(Step::Create).await.unwrap();
    let started = Instant::now();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "PasswordNotPropagated", "{err}");
    assert!(err.is_transient());
    assert!(started.elapsed() <= Duration::from_secs(10), "the budget bounds the wait: {:?}", started.elapsed());
    let pending = w.password_of(AWSPENDING).unwrap();
    assert_eq!(w.db_password("app"), pending);

    tokio::time::advance(Duration::from_secs(100)).await;
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::AlreadySet);
    let changes = w.db.state.lock().unwrap().changes.len();
    assert_eq!(changes, 1, "the retry changed nothing");
    for step in [Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    w.assert_rotated();
}

/// The invocation's own deadline (what `handler.rs` passes, Lambda's) less the margin ends the wait before the
/// propagation budget does.
#[tokio::test(start_paused = true)]
async fn the_invocations_deadline_ends_the_wait_first() {
    let w = world_with_rds(|s| s["host"] = READER.into(), FakeRds::orders(), 300);
    reader_lags(&w, Duration::from_secs(100));
    w.step(Step::Create).await.unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(20);
    let mut facts = super::super::StepFacts::default();
    let deadline = until + super::super::DEADLINE_MARGIN;
    let err = w.rotator.run_until(&w.event(Step::Set), &mut facts, Some(deadline)).await.unwrap_err();
    assert_eq!(err.error_type(), "PasswordNotPropagated", "{err}");
    // Backoff 0.25 s doubling to 4 s: the last login before the deadline is at 19.75 s.
    assert!(Instant::now() <= until, "the wait ended by the deadline");
    assert!(started.elapsed() >= Duration::from_secs(15), "it waited until near the deadline: {:?}", started.elapsed());
}

/// Break-glass: the drifted master user's password is reset through the RDS API — and the preflight, which finds
/// the same, says so in a note and makes no RDS call that changes anything.
#[tokio::test(start_paused = true)]
async fn break_glass_resets_a_drifted_master_password_and_check_says_it_would() {
    let mut rds = FakeRds::orders();
    rds.clusters[0].master_username = Some("app".into());
    let break_glass = super::super::topology::RdsResourceName::parse_list("orders").unwrap();
    let settings = Settings { break_glass, ..settings() };
    let w = world_with_settings(
        |s| {
            s.as_object_mut().unwrap().remove("host");
            s["dbClusterIdentifier"] = "orders".into();
        },
        rds,
        settings,
    );
    w.db.state.lock().unwrap().passwords.insert("app".into(), "changed-by-hand".into());
    let calls = || w.rotator.rds.calls();

    let report = w.rotator.preflight(SECRET).await;
    assert!(report.passed(), "{report:?}");
    let note =
        report.findings.iter().find(|f| f.note && f.check == Check::PasswordChange).expect("a note on break-glass");
    assert!(note.detail.contains("break-glass would reset") && note.detail.contains("rds:ModifyDBCluster"), "{note:?}");
    assert!(calls().iter().all(|call| call.starts_with("Describe")), "{:?}", calls());
    assert_eq!(w.db_password("app"), "changed-by-hand");

    w.step(Step::Create).await.unwrap();
    assert!(matches!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { .. }));
    assert!(calls().contains(&"ModifyDBCluster orders".to_owned()), "{:?}", calls());
    for step in [Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    assert_eq!(w.db_password("app"), w.password_of(AWSCURRENT).unwrap());
}

/// A reader endpoint: the preflight logs in there too (where setSecret will wait), and says where changes go.
#[tokio::test]
async fn check_logs_in_at_the_reader_where_set_secret_will_wait() {
    let w = world_with_rds(|s| s["host"] = READER.into(), FakeRds::orders(), 30);
    reader_lags(&w, Duration::ZERO);
    let report = w.rotator.preflight(SECRET).await;
    assert!(report.passed(), "{report:?}");
    let endpoints: Vec<&str> =
        report.findings.iter().filter(|f| f.check == Check::Endpoint).map(|f| f.detail.as_str()).collect();
    assert!(endpoints[0].contains("password changes go to db:5432") && endpoints[0].contains(READER), "{endpoints:?}");
    assert!(endpoints.iter().any(|e| e.contains("logs in at") && e.contains(READER)), "{endpoints:?}");
    assert_eq!(attempts_at(&w, READER), 1);

    // Unreachable: the error the rotation would meet after changing the password, before changing it.
    w.db.state.lock().unwrap().readers.clear();
    let report = w.rotator.preflight(SECRET).await;
    assert!(!report.passed(), "{report:?}");
    assert_eq!(w.db.state.lock().unwrap().changes.len(), 0);
}
