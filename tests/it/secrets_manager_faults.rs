//! Secrets Manager on a bad day, through a loopback proxy in front of moto: throttling and server errors that the
//! SDK's retries absorb, ones that outlast them, and an endpoint that does not answer. A step that fails says which
//! call failed, at which endpoint and why, is marked transient (the service's retry may succeed), and leaves a state
//! the retry completes.

use crate::common;

use common::aws_proxy::{Answer, AwsProxy};
use common::*;
use rds_rotator::internal::Step;

const FOREVER: usize = usize::MAX;

struct Setup {
    proxy: AwsProxy,
    rotator: rds_rotator::internal::AwsRotator,
    user: String,
    secret_id: String,
}

async fn setup() -> Setup {
    let proxy = AwsProxy::start(&env("AWS_ENDPOINT_URL"));
    let rotator = rotator_with(&[("SECRETS_MANAGER_ENDPOINT", &proxy.url), ("CONNECT_TIMEOUT_SECONDS", "1")]).await;
    let user = unique("smf");
    Engine::Postgres.create_user(&user, "initial-Passw0rd").await;
    let secret_id = unique("smf-secret");
    create_secret(&sm().await, &secret_id, &Engine::Postgres.secret(&user, "initial-Passw0rd")).await;
    Setup { proxy, rotator, user, secret_id }
}

impl Setup {
    async fn assert_rotated(&self) {
        let sm = sm().await;
        let current = password_of(&secret_value(&sm, &self.secret_id, "AWSCURRENT").await.unwrap());
        assert!(pg_logs_in(&self.user, &current).await, "AWSCURRENT logs in");
        assert!(!pg_logs_in(&self.user, "initial-Passw0rd").await, "the old password is refused");
        let labelled = versions(&sm, &self.secret_id).await;
        assert_eq!(labelled.len(), 2, "AWSCURRENT and AWSPREVIOUS only: {labelled:?}");
    }

    fn answered(&self, operation: &str, answer: Answer) -> usize {
        self.proxy.seen().iter().filter(|seen| seen.operation == operation && seen.answer == answer).count()
    }
}

#[tokio::test]
async fn throttling_and_server_errors_the_sdk_retries_do_not_fail_the_rotation() {
    let s = setup().await;
    s.proxy.answer(Some("PutSecretValue"), Answer::Throttle, 1);
    s.proxy.answer(Some("GetSecretValue"), Answer::ServerError, 1);
    s.proxy.answer(Some("UpdateSecretVersionStage"), Answer::Throttle, 2);
    let token = stage_rotation(&sm().await, &s.secret_id).await;
    run_rotation(&s.rotator, &s.secret_id, &token).await.unwrap();
    s.assert_rotated().await;
    assert_eq!(s.answered("PutSecretValue", Answer::Throttle), 1);
    assert_eq!(s.answered("GetSecretValue", Answer::ServerError), 1);
    assert_eq!(s.answered("UpdateSecretVersionStage", Answer::Throttle), 2);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_fails_the_step_clearly_and_the_retry_converges() {
    let s = setup().await;
    let token = stage_rotation(&sm().await, &s.secret_id).await;
    for step in [Step::Create, Step::Set, Step::Test] {
        run_step(&s.rotator, &s.secret_id, &token, step).await.unwrap();
    }
    s.proxy.answer(Some("UpdateSecretVersionStage"), Answer::Throttle, FOREVER);
    let err = run_step(&s.rotator, &s.secret_id, &token, Step::Finish).await.unwrap_err();
    assert_eq!(err.error_type(), "SecretsManagerUnavailable", "{err}");
    assert!(err.is_transient());
    let message = err.to_string();
    assert!(message.contains("UpdateSecretVersionStage") && message.contains("ThrottlingException"), "{message}");
    // The database has the pending password; the secret still offers it as AWSPENDING.
    let pending = password_of(&secret_value(&sm().await, &s.secret_id, "AWSPENDING").await.unwrap());
    assert!(pg_logs_in(&s.user, &pending).await);
    assert!(s.answered("UpdateSecretVersionStage", Answer::Throttle) >= 2, "the SDK retried before giving up");

    s.proxy.clear();
    run_step(&s.rotator, &s.secret_id, &token, Step::Finish).await.unwrap();
    s.assert_rotated().await;
}

#[tokio::test]
async fn server_errors_on_every_put_fail_create_secret_and_change_nothing() {
    let s = setup().await;
    let sm = sm().await;
    let before = versions(&sm, &s.secret_id).await;
    let token = stage_rotation(&sm, &s.secret_id).await;
    s.proxy.answer(Some("PutSecretValue"), Answer::ServerError, FOREVER);
    let err = run_step(&s.rotator, &s.secret_id, &token, Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "SecretsManagerUnavailable", "{err}");
    assert!(err.to_string().contains("PutSecretValue") && err.to_string().contains("InternalServiceError"), "{err}");
    assert!(secret_text(&sm, &s.secret_id, "AWSPENDING").await.is_none(), "no pending value was stored");
    assert!(pg_logs_in(&s.user, "initial-Passw0rd").await);
    let mut staged = before.clone();
    staged.insert(token.as_str().to_owned(), vec!["AWSPENDING".to_owned()]);
    assert_eq!(versions(&sm, &s.secret_id).await, staged);

    s.proxy.clear();
    run_rotation(&s.rotator, &s.secret_id, &token).await.unwrap();
    s.assert_rotated().await;
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_times_out_with_a_clear_error() {
    let s = setup().await;
    let token = stage_rotation(&sm().await, &s.secret_id).await;
    s.proxy.answer(Some("DescribeSecret"), Answer::Silence, FOREVER);
    let err = run_step(&s.rotator, &s.secret_id, &token, Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "SecretsManagerUnavailable", "{err}");
    assert!(err.to_string().contains(&s.proxy.url) && err.to_string().contains("timeout"), "{err}");
    assert!(secret_text(&sm().await, &s.secret_id, "AWSPENDING").await.is_none());

    s.proxy.clear();
    run_rotation(&s.rotator, &s.secret_id, &token).await.unwrap();
    s.assert_rotated().await;
}
