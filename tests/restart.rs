//! A database that restarts between steps, and one that is down for a while: while it is down, the step fails with
//! `DatabaseUnavailable` (transient, naming host and port) and changes nothing; once it is back, the retry
//! completes the rotation. The servers are stopped and started with `scripts/local-servers.sh db`, so this binary
//! has only these two tests, one per server.

mod common;

use common::*;
use rds_rotator::internal::Step;

async fn outages(engine: Engine) {
    let sm = sm().await;
    let user = unique("rst");
    engine.create_user(&user, "initial-Passw0rd").await;
    let secret_id = unique("rst-secret");
    create_secret(&sm, &secret_id, &engine.secret(&user, "initial-Passw0rd")).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();

    // Down before setSecret: a clear, transient error, and nothing changed.
    server("stop", engine);
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    server("start", engine);
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    assert!(err.is_transient());
    let port = engine.secret(&user, "").get("port").unwrap().to_string();
    assert!(err.to_string().contains(&format!(":{port}")), "the error names the endpoint: {err}");
    assert!(engine.logs_in(&user, "initial-Passw0rd").await, "nothing changed while the server was down");

    // Back: the retry sets the password. A restart before testSecret is invisible to it.
    run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap();
    server("restart", engine);
    run_step(&rotator, &secret_id, &token, Step::Test).await.unwrap();

    // Down again before finishSecret, which needs no database: the rotation completes.
    server("stop", engine);
    let finished = run_step(&rotator, &secret_id, &token, Step::Finish).await;
    server("start", engine);
    finished.unwrap();
    let current = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(engine.logs_in(&user, &current).await);
    assert!(!engine.logs_in(&user, "initial-Passw0rd").await);
}

#[tokio::test]
async fn postgres_outages_and_restarts() {
    outages(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_outages_and_restarts() {
    outages(Engine::Mariadb).await;
}
