//! Crash anywhere, retry, converge — on the real servers. Every external call of a rotation (each Secrets Manager
//! request to moto, each login and each session call to PostgreSQL or MariaDB) is failed in turn, before it is made
//! and after it took effect, for both engines and both strategies. After each fault the invariants users depend on
//! are checked, then the failed step is retried and the rotation re-run as the service would, until it completes:
//!
//! - some version of the secret logs in at every point; with alternating users, AWSCURRENT does;
//! - once complete, AWSCURRENT is the token and logs in, AWSPREVIOUS is the old current, no AWSPENDING is left, and
//!   the database agrees (single user: the old password is refused; alternating: the previous user still works).

use crate::common;

use std::sync::Arc;

use common::faults::{FaultyEngine, FaultyStore, Injector, When, faulty_store};
use common::*;
use rds_rotator::internal::{Config, Parts, Rotator, Step, VersionId, handler};

type FaultyRotator = Rotator<FaultyStore, FaultyEngine>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Strategy {
    Single,
    Alternating,
}

async fn faulty_rotator() -> (FaultyRotator, Arc<Injector>) {
    // The local servers' CA, as `rotator()` trusts it: the master logs in over verified TLS.
    let config = Config::from_lookup(|name| match name {
        "DB_EXTRA_CA_BUNDLE" => Some(env("TEST_TLS_CA")),
        "MASTER_SECRET_ARNS" => Some("*".to_owned()),
        _ => None,
    })
    .unwrap();
    let injector = Arc::new(Injector::default());
    let parts = Parts::new(&config).await.unwrap();
    let store = faulty_store(parts.store, injector.clone());
    let engine = FaultyEngine { inner: parts.engine, injector: injector.clone() };
    (Rotator::new(store, engine, parts.settings), injector)
}

/// A fresh user and its secret; for alternating users, with the server's administrator as the master.
async fn fixture(engine: Engine, strategy: Strategy) -> String {
    let user = unique("fm");
    engine.create_user(&user, "initial-Passw0rd").await;
    let mut secret = engine.secret(&user, "initial-Passw0rd");
    if strategy == Strategy::Alternating {
        let (admin, password) = match engine {
            Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
            Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
        };
        let master = engine.master_secret(&admin, &password).await;
        secret = engine.alternating_secret(&user, "initial-Passw0rd", &master);
    }
    let secret_id = unique("fm-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    secret_id
}

async fn stage_logs_in(engine: Engine, secret_id: &str, stage: &str) -> bool {
    match secret_value(&sm().await, secret_id, stage).await {
        Some(secret) => engine.logs_in(secret["username"].as_str().unwrap(), &password_of(&secret)).await,
        None => false,
    }
}

/// What must hold at any point of a rotation.
async fn assert_some_version_works(engine: Engine, strategy: Strategy, secret_id: &str, context: &str) {
    let current = stage_logs_in(engine, secret_id, "AWSCURRENT").await;
    if strategy == Strategy::Alternating {
        assert!(current, "{context}: AWSCURRENT does not log in");
        return;
    }
    let any = current
        || stage_logs_in(engine, secret_id, "AWSPENDING").await
        || stage_logs_in(engine, secret_id, "AWSPREVIOUS").await;
    assert!(any, "{context}: no version of the secret logs in");
}

/// What must hold once the rotation completed.
async fn assert_rotated(engine: Engine, strategy: Strategy, secret_id: &str, token: &VersionId, before: &str) {
    let sm = sm().await;
    let labelled = versions(&sm, secret_id).await;
    assert_eq!(labelled.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]), "{labelled:?}");
    assert_eq!(labelled.len(), 2, "only AWSCURRENT and AWSPREVIOUS are left: {labelled:?}");
    assert_eq!(
        secret_text(&sm, secret_id, "AWSPREVIOUS").await.as_deref(),
        Some(before),
        "AWSPREVIOUS is the old current"
    );
    assert!(stage_logs_in(engine, secret_id, "AWSCURRENT").await, "AWSCURRENT logs in");
    let previous_works = stage_logs_in(engine, secret_id, "AWSPREVIOUS").await;
    match strategy {
        Strategy::Single => {
            assert!(!previous_works, "the database agrees with AWSCURRENT: the old password is refused")
        }
        Strategy::Alternating => assert!(previous_works, "the previous user keeps working"),
    }
}

async fn matrix(engine: Engine, strategy: Strategy) {
    let sm = sm().await;
    let (rotator, injector) = faulty_rotator().await;
    let calls = {
        let secret_id = fixture(engine, strategy).await;
        let token = stage_rotation(&sm, &secret_id).await;
        injector.reset();
        run_rotation_with(&rotator, &secret_id, &token).await.unwrap();
        injector.calls()
    };
    // The same external calls as the protocol core makes against fakes (src/rotation/tests.rs).
    let expected = match strategy {
        Strategy::Single => 15,
        Strategy::Alternating => 27,
    };
    assert_eq!(calls, expected, "a rotation makes {calls} external calls");

    let mut injected = 0;
    for n in 1..=calls {
        for when in [When::Before, When::After] {
            let context = format!("{engine:?} {strategy:?}, fault at call {n} ({when:?})");
            let secret_id = fixture(engine, strategy).await;
            let before = secret_text(&sm, &secret_id, "AWSCURRENT").await.unwrap();
            let token = stage_rotation(&sm, &secret_id).await;
            injector.arm(n, when);
            let mut failed_step = None;
            for step in Step::ALL {
                if let Err(err) = handler::handle(&rotator, &event(&secret_id, &token, step)).await {
                    failed_step = Some((step, err));
                    break;
                }
                assert_some_version_works(engine, strategy, &secret_id, &context).await;
            }
            injector.disarm();
            let (step, err) = failed_step.unwrap_or_else(|| panic!("{context}: no step failed"));
            capture(&format!("{err}\n{err:?}"));
            assert!(err.is_transient(), "{context}: {step} failed with a non-transient error: {err}");
            injected += 1;
            assert_some_version_works(engine, strategy, &secret_id, &context).await;

            // Lambda retries the step; then the service re-runs the rotation, step by step, with the same token.
            let _ = handler::handle(&rotator, &event(&secret_id, &token, step)).await;
            assert_some_version_works(engine, strategy, &secret_id, &context).await;
            for step in Step::ALL {
                handler::handle(&rotator, &event(&secret_id, &token, step))
                    .await
                    .unwrap_or_else(|err| panic!("{context}: the retry's {step} failed: {err}"));
                assert_some_version_works(engine, strategy, &secret_id, &context).await;
            }
            assert_rotated(engine, strategy, &secret_id, &token, &before).await;
        }
    }
    assert_eq!(injected, 2 * expected);
    assert_eq!(injector.struck().len(), injected);
}

async fn run_rotation_with(
    rotator: &FaultyRotator,
    secret_id: &str,
    token: &VersionId,
) -> Result<(), rds_rotator::internal::Error> {
    for step in Step::ALL {
        handler::handle(rotator, &event(secret_id, token, step)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn postgres_single_user() {
    matrix(Engine::Postgres, Strategy::Single).await;
}

#[tokio::test]
async fn postgres_alternating_users() {
    matrix(Engine::Postgres, Strategy::Alternating).await;
}

#[tokio::test]
async fn mariadb_single_user() {
    matrix(Engine::Mariadb, Strategy::Single).await;
}

#[tokio::test]
async fn mariadb_alternating_users() {
    matrix(Engine::Mariadb, Strategy::Alternating).await;
}
