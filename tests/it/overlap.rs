//! Overlapping invocations: every step of a rotation run twice at once, as when a slow invocation and its retry
//! overlap — from two function instances (two rotators), on both engines and both strategies. One of the pair may
//! fail (the database or the service refuses the second writer); a retry of the step then succeeds, some version
//! of the secret logs in throughout, and the rotation ends as a single one would.

use crate::common;

use common::*;
use rds_rotator::internal::{Step, handler};

async fn fixture(engine: Engine, alternating: bool) -> String {
    let user = unique("ovl");
    engine.create_user(&user, "initial-Passw0rd").await;
    let mut secret = engine.secret(&user, "initial-Passw0rd");
    if alternating {
        let (admin, password) = match engine {
            Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
            Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
        };
        let master = engine.master_secret(&admin, &password).await;
        secret = engine.alternating_secret(&user, "initial-Passw0rd", &master);
    }
    let secret_id = unique("ovl-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    secret_id
}

async fn logs_in(engine: Engine, secret_id: &str, stage: &str) -> bool {
    match secret_value(&sm().await, secret_id, stage).await {
        Some(secret) => engine.logs_in(secret["username"].as_str().unwrap(), &password_of(&secret)).await,
        None => false,
    }
}

async fn overlapping(engine: Engine, alternating: bool) {
    let sm = sm().await;
    let secret_id = fixture(engine, alternating).await;
    let before = secret_text(&sm, &secret_id, "AWSCURRENT").await.unwrap();
    let token = stage_rotation(&sm, &secret_id).await;
    let (first, second) = (rotator().await, rotator().await);
    for step in Step::ALL {
        let ev = event(&secret_id, &token, step);
        let (a, b) = tokio::join!(handler::handle(&first, &ev), handler::handle(&second, &ev));
        for err in [&a, &b].into_iter().filter_map(|r| r.as_ref().err()) {
            capture(&format!("{err}\n{err:?}"));
        }
        if step == Step::Finish {
            // An invocation that lost the race to move AWSCURRENT finds the work done, not an error.
            assert!(a.is_ok() && b.is_ok(), "finishSecret: {a:?} / {b:?}");
        }
        if a.is_err() || b.is_err() {
            // The service retries a failed invocation.
            handler::handle(&first, &ev).await.unwrap_or_else(|err| panic!("{step}: the retry failed: {err}"));
        }
        let works = logs_in(engine, &secret_id, "AWSCURRENT").await
            || (!alternating
                && (logs_in(engine, &secret_id, "AWSPENDING").await
                    || logs_in(engine, &secret_id, "AWSPREVIOUS").await));
        assert!(works, "{step}: no version of the secret logs in");
    }
    let labelled = versions(&sm, &secret_id).await;
    assert_eq!(labelled.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]), "{labelled:?}");
    assert_eq!(labelled.len(), 2, "{labelled:?}");
    assert_eq!(secret_text(&sm, &secret_id, "AWSPREVIOUS").await, Some(before));
    assert!(logs_in(engine, &secret_id, "AWSCURRENT").await);
    assert_eq!(logs_in(engine, &secret_id, "AWSPREVIOUS").await, alternating);
}

#[tokio::test]
async fn postgres_single_user() {
    overlapping(Engine::Postgres, false).await;
}

#[tokio::test]
async fn postgres_alternating_users() {
    overlapping(Engine::Postgres, true).await;
}

#[tokio::test]
async fn mariadb_single_user() {
    overlapping(Engine::Mariadb, false).await;
}

#[tokio::test]
async fn mariadb_alternating_users() {
    overlapping(Engine::Mariadb, true).await;
}
