//! Unreachable endpoints and refused passwords: each gets an error that names what is wrong, and nothing changes.
//! (Malformed secrets and events are in tests/it/corpus.rs.)

use crate::common;

use common::*;
use rds_rotator::internal::Step;

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A role, a secret for it and a staged rotation; returns (user, secret id, token).
async fn staged(
    secret_edit: impl FnOnce(&mut serde_json::Value),
) -> (String, String, rds_rotator::internal::VersionId) {
    let sm = sm().await;
    let user = unique("fault");
    pg_create_role(&user, "initial-pw").await;
    let mut secret = pg_secret(&user, "initial-pw");
    secret_edit(&mut secret);
    let secret_id = unique("fault-secret");
    create_secret(&sm, &secret_id, &secret).await;
    let token = stage_rotation(&sm, &secret_id).await;
    (user, secret_id, token)
}

async fn assert_unchanged(secret_id: &str, user: &str, original: &str) {
    let sm = sm().await;
    let current = secret_value(&sm, secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(password_of(&current), original);
    assert!(pg_logs_in(user, original).await, "the database still has the original password");
}

#[tokio::test]
async fn an_unreachable_database_is_named_and_nothing_changes() {
    let port = closed_port();
    let (user, secret_id, token) = staged(|s| s["port"] = port.into()).await;
    let rotator = rotator().await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.to_string().contains("Connection refused") || err.to_string().contains("connection refused"), "{err}");
    let err = run_step(&rotator, &secret_id, &token, Step::Test).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    // The real server, with the real password, is untouched.
    assert!(pg_logs_in(&user, "initial-pw").await);
}

#[tokio::test]
async fn an_unknown_host_is_named() {
    let (_, secret_id, token) = staged(|s| s["host"] = "no-such-host.invalid".into()).await;
    let rotator = rotator_with(&[("CONNECT_TIMEOUT_SECONDS", "2")]).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert!(matches!(err.error_type(), "DatabaseUnavailable"), "{err}");
    assert!(err.to_string().contains("no-such-host.invalid:"), "{err}");
}

#[tokio::test]
async fn a_wrong_pending_password_is_refused_not_unreachable() {
    let (user, secret_id, token) = staged(|_| {}).await;
    let rotator = rotator().await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    // testSecret before setSecret: the database does not know the pending password yet.
    let err = run_step(&rotator, &secret_id, &token, Step::Test).await.unwrap_err();
    assert_eq!(err.error_type(), "CredentialsRejected", "{err}");
    assert!(err.to_string().contains("AWSPENDING"), "{err}");
    assert_unchanged(&secret_id, &user, "initial-pw").await;
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_named() {
    let (_, secret_id, token) = staged(|_| {}).await;
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let rotator = rotator_with(&[("SECRETS_MANAGER_ENDPOINT", &endpoint), ("CONNECT_TIMEOUT_SECONDS", "1")]).await;
    let err = run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "SecretsManagerUnavailable", "{err}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert!(err.to_string().contains("DescribeSecret"), "{err}");
}

#[tokio::test]
async fn a_missing_secret_is_named() {
    let err = run_step(&rotator().await, "no-such-secret-xyz", &new_token(), Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "SecretsManagerError", "{err}");
    assert!(err.to_string().contains("no-such-secret-xyz") && err.to_string().contains("ResourceNotFound"), "{err}");
}
