//! The real service's rules that moto does not keep, enforced by the strict layer every suite reaches moto through
//! (tests/strict-secrets-manager.py): one test per rule shows the layer refusing what the service refuses, and, where
//! moto itself is lenient, that it is (so the layer is what holds the tests to the rule).

use crate::common;

use aws_sdk_secretsmanager::Client as SmClient;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use common::*;
use rds_rotator::internal::{Outcome, Step, VersionId, handler};

/// A client on moto itself, behind no layer.
async fn moto_itself() -> SmClient {
    let config =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(env("TEST_MOTO_URL")).load().await;
    SmClient::new(&config)
}

/// The error code of a refused call, or "ok".
fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(err) => err.code().unwrap_or("no code").to_owned(),
    }
}

async fn put(sm: &SmClient, secret_id: &str, token: &VersionId, value: &str, rotation_token: Option<String>) -> String {
    let request = sm
        .put_secret_value()
        .secret_id(secret_id)
        .client_request_token(token.as_str())
        .secret_string(value)
        .version_stages("AWSPENDING")
        .set_rotation_token(rotation_token);
    code(request.send().await)
}

/// A secret with a rotation staged (RotateSecret: an empty AWSPENDING version); returns its name and the token.
async fn staged(sm: &SmClient) -> (String, VersionId) {
    let secret_id = unique("rules");
    create_secret(sm, &secret_id, &serde_json::json!({"password": "v0"})).await;
    let token = stage_rotation(sm, &secret_id).await;
    (secret_id, token)
}

/// Rule 1 (PutSecretValue, ClientRequestToken): the same value again is ignored; another value for the version is
/// refused with ResourceExistsException, and the first value stays. moto alone replaces it.
#[tokio::test]
async fn a_versions_value_never_changes() {
    let sm = sm().await;
    let (secret_id, token) = staged(&sm).await;
    let rotation_token = Some(rotation_token_of(&secret_id, &token));
    assert_eq!(put(&sm, &secret_id, &token, "first", rotation_token.clone()).await, "ok");
    assert_eq!(put(&sm, &secret_id, &token, "second", rotation_token.clone()).await, "ResourceExistsException");
    assert_eq!(put(&sm, &secret_id, &token, "first", rotation_token).await, "ok", "the same value is ignored");
    assert_eq!(secret_text(&sm, &secret_id, "AWSPENDING").await.as_deref(), Some("first"));
    let labels = versions(&sm, &secret_id).await;
    assert_eq!(labels.get(token.as_str()), Some(&vec!["AWSPENDING".to_owned()]), "{labels:?}");

    // The same value with no stages given: the service ignores the request; moto would move AWSCURRENT to it.
    let again = sm.put_secret_value().secret_id(&secret_id).client_request_token(token.as_str()).secret_string("first");
    let again = again.rotation_token(rotation_token_of(&secret_id, &token));
    assert_eq!(code(again.send().await), "ok");
    assert_eq!(versions(&sm, &secret_id).await, labels, "an ignored request moves no label");

    // moto on its own takes the second value: the layer is what holds the tests to the rule.
    let moto = moto_itself().await;
    let (secret_id, token) = staged(&moto).await;
    assert_eq!(put(&moto, &secret_id, &token, "first", None).await, "ok");
    assert_eq!(put(&moto, &secret_id, &token, "second", None).await, "ok");
    assert_eq!(secret_text(&moto, &secret_id, "AWSPENDING").await.as_deref(), Some("second"));
}

/// Rule 2 (PutSecretValue, RotationToken; the User Guide's rotation event): the events carry the secret's ARN and
/// the rotation's token, a PutSecretValue into the rotation's version must pass that token, and the function does.
#[tokio::test]
async fn the_rotations_version_takes_the_rotations_token() {
    let sm = sm().await;
    let (secret_id, token) = staged(&sm).await;
    let (other_id, other_token) = staged(&sm).await;

    let sent = service_event(&secret_id, token.as_str(), "createSecret");
    let arn = sent["SecretId"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:") && arn.contains(&secret_id), "{sent}");
    let rotation_token = sent["RotationToken"].as_str().unwrap().to_owned();
    assert!(rotation_token.len() >= 36, "the SDKs take 36 characters or more");
    assert_eq!(service_event(arn, token.as_str(), "setSecret")["RotationToken"], rotation_token.as_str());
    let others = rotation_token_of(&other_id, &other_token);
    assert_ne!(others, rotation_token, "each rotation has its own");

    assert_eq!(put(&sm, &secret_id, &token, "x", None).await, "AccessDeniedException");
    assert_eq!(put(&sm, &secret_id, &token, "x", Some(others)).await, "AccessDeniedException");
    // A write outside any rotation needs no token.
    let free = new_token();
    assert_eq!(put(&sm, &secret_id, &free, "x", None).await, "ok");
    assert_eq!(secret_text(&sm, &secret_id, "AWSPENDING").await.as_deref(), Some("x"));

    // The function passes the event's token: createSecret from the service's event writes the pending version;
    // the same event without its token is refused at PutSecretValue.
    let user = unique("rules");
    pg_create_role(&user, "Rules-Passw0rd").await;
    let app = unique("rules-app");
    create_secret(&sm, &app, &pg_secret(&user, "Rules-Passw0rd")).await;
    let token = stage_rotation(&sm, &app).await;
    let rotator = rotator().await;
    let mut without = event(&app, &token, Step::Create);
    without.rotation_token = None;
    let err = handler::handle(&rotator, &without).await.unwrap_err().to_string();
    assert!(err.contains("PutSecretValue") && err.contains("AccessDeniedException"), "{err}");
    assert_eq!(handler::handle(&rotator, &event(&app, &token, Step::Create)).await.unwrap(), Outcome::Created);
}

/// Rule 3 (GetSecretValue, VersionStage): a read naming a version and a stage that version does not carry fails.
#[tokio::test]
async fn a_read_by_version_and_stage_must_agree() {
    let sm = sm().await;
    let (secret_id, token) = staged(&sm).await;
    put(&sm, &secret_id, &token, "pending", Some(rotation_token_of(&secret_id, &token))).await;
    let read = |stage: &'static str| {
        sm.get_secret_value().secret_id(&secret_id).version_id(token.as_str()).version_stage(stage).send()
    };
    assert_eq!(code(read("AWSPENDING").await), "ok");
    assert_eq!(code(read("AWSCURRENT").await), "InvalidRequestException");
}

/// Rule 4 (UpdateSecretVersionStage): a label on another version moves only with that version named as where it
/// moves from; and a move is atomic: readers running beside a hundred moves always find exactly one AWSCURRENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stage_moves_are_atomic_and_name_where_the_label_is() {
    let sm = sm().await;
    let secret_id = unique("rules-moves");
    create_secret(&sm, &secret_id, &serde_json::json!({"password": "a"})).await;
    let first = versions(&sm, &secret_id).await.into_keys().next().unwrap();
    let second = new_token();
    sm.put_secret_value()
        .secret_id(&secret_id)
        .client_request_token(second.as_str())
        .secret_string("b")
        .version_stages("SPARE")
        .send()
        .await
        .unwrap();
    let moved = |to: &str, from: Option<&str>| {
        sm.update_secret_version_stage()
            .secret_id(&secret_id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
    };
    assert_eq!(code(moved(second.as_str(), None).await), "InvalidParameterException");
    assert_eq!(code(moved(second.as_str(), Some(second.as_str())).await), "InvalidParameterException");
    assert_eq!(versions(&sm, &secret_id).await.get(&first), Some(&vec!["AWSCURRENT".to_owned()]));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (sm, secret_id, stop) = (sm.clone(), secret_id.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let described = sm.describe_secret().secret_id(&secret_id).send().await.unwrap();
                let stages = described.version_ids_to_stages().cloned().unwrap_or_default();
                let current = stages.values().filter(|labels| labels.iter().any(|l| l == "AWSCURRENT")).count();
                assert_eq!(current, 1, "a read saw a label half moved: {stages:?}");
                assert!(secret_text(&sm, &secret_id, "AWSCURRENT").await.is_some());
                reads += 1;
            }
            reads
        }));
    }
    let (mut to, mut from) = (second.to_string(), first.clone());
    for _ in 0..100 {
        assert_eq!(code(moved(&to, Some(&from)).await), "ok");
        std::mem::swap(&mut to, &mut from);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.unwrap() > 0, "every reader read beside the moves");
    }
}
