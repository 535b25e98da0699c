//! The binary outside Lambda: the sample events in events/ run their steps, an event on stdin works, `rotate`
//! plays Secrets Manager, and failures give a non-zero exit status with the reason on stderr.

use crate::common;

use std::process::Output;

use common::*;
use rds_rotator::internal::{RotationEvent, Step};

fn run(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    run_binary(args, envs, stdin)
}

/// A role and its secret in the local servers; returns (user, secret id, initial password).
async fn fixture() -> (String, String, String) {
    let user = unique("cli");
    let password = "initial-Passw0rd".to_owned();
    pg_create_role(&user, &password).await;
    let secret_id = unique("cli-secret");
    create_secret(&sm().await, &secret_id, &pg_secret(&user, &password)).await;
    (user, secret_id, password)
}

#[test]
fn every_sample_event_parses_as_its_step() {
    for step in Step::ALL {
        let path = format!("{}/events/{}.json", env!("CARGO_MANIFEST_DIR"), step.as_str());
        let text = std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        let event = RotationEvent::from_json(&text).unwrap_or_else(|err| panic!("{path}: {err}"));
        assert_eq!(event.step, step, "{path}");
        assert!(event.rotation_token.is_some(), "{path}: the service sends a RotationToken");
    }
}

#[tokio::test]
async fn the_sample_events_run_their_steps_through_the_binary() {
    let sm = sm().await;
    let (user, secret_id, initial) = fixture().await;
    let token = stage_rotation(&sm, &secret_id).await;
    let dir = std::env::temp_dir().join(unique("events"));
    std::fs::create_dir_all(&dir).unwrap();
    for step in Step::ALL {
        // The sample's shape, pointed at this test's secret and staged token.
        let sample = format!("{}/events/{}.json", env!("CARGO_MANIFEST_DIR"), step.as_str());
        let mut event: serde_json::Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
        let service = service_event(&secret_id, token.as_str(), step.as_str());
        for field in ["SecretId", "ClientRequestToken", "RotationToken"] {
            event[field] = service[field].clone();
        }
        let path = dir.join(format!("{}.json", step.as_str()));
        std::fs::write(&path, event.to_string()).unwrap();

        let output = run(&[path.to_str().unwrap()], &[], None);
        assert!(output.status.success(), "{step}: {}", text(&output.stderr));
        assert!(text(&output.stdout).starts_with(&format!("{step}: ")), "{}", text(&output.stdout));
        assert!(text(&output.stderr).contains(&format!("step={step}")), "logs go to stderr");
    }
    std::fs::remove_dir_all(dir).unwrap();
    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&user, &new).await);
    assert!(!pg_logs_in(&user, &initial).await);
}

#[tokio::test]
async fn an_event_on_stdin_runs_its_step() {
    let sm = sm().await;
    let (_, secret_id, _) = fixture().await;
    let token = stage_rotation(&sm, &secret_id).await;
    let event = service_event(&secret_id, token.as_str(), "createSecret");
    let output = run(&["-"], &[], Some(&event.to_string()));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(secret_text(&sm, &secret_id, "AWSPENDING").await.is_some());
}

#[tokio::test]
async fn rotate_plays_secrets_manager() {
    let sm = sm().await;
    let (user, secret_id, initial) = fixture().await;
    for round in 0..2 {
        let output = run(&["rotate", &secret_id], &[], None);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "round {round}: {}", text(&output.stderr));
        assert!(stdout.contains(&format!("user \"{user}\"")), "{stdout}");
        for step in Step::ALL {
            assert!(stdout.contains(step.as_str()), "{stdout}");
        }
        assert!(stdout.contains("versions after:") && stdout.contains("AWSPREVIOUS"), "{stdout}");
        let current = secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap();
        assert!(!stdout.contains(&password_of(&current)), "rotate prints no password");
        assert!(pg_logs_in(&user, &password_of(&current)).await);
    }
    assert!(!pg_logs_in(&user, &initial).await);
    assert!(versions(&sm, &secret_id).await.values().all(|labels| !labels.contains(&"AWSPENDING".to_owned())));
}

/// A rotation whose createSecret ran in Lambda and whose setSecret failed: `rotate` finishes it with its password.
#[tokio::test]
async fn rotate_resumes_a_rotation_left_pending() {
    let sm = sm().await;
    let (user, secret_id, _) = fixture().await;
    let token = stage_rotation(&sm, &secret_id).await;
    run_step(&rotator().await, &secret_id, &token, Step::Create).await.unwrap();
    let pending = password_of(&secret_value(&sm, &secret_id, "AWSPENDING").await.unwrap());
    let output = run(&["rotate", &secret_id], &[], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("resuming the rotation of pending version {token}")));
    assert_eq!(versions(&sm, &secret_id).await.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]));
    let current = secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(password_of(&current), pending, "the pending password, not a new one");
    assert!(pg_logs_in(&user, &pending).await);
}

/// A version the service staged and no createSecret filled: writing it takes the rotation's RotationToken, which
/// only the function has. `rotate` says so and changes nothing; after `cancel`, it rotates.
#[tokio::test]
async fn rotate_leaves_an_unfilled_service_rotation_to_cancel() {
    let sm = sm().await;
    let (user, secret_id, initial) = fixture().await;
    let token = stage_rotation(&sm, &secret_id).await;
    let before = versions(&sm, &secret_id).await;
    let output = run(&["rotate", &secret_id], &[], None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("version {token}")) && stderr.contains("rds-rotator cancel"), "{stderr}");
    assert_eq!(versions(&sm, &secret_id).await, before);
    assert!(pg_logs_in(&user, &initial).await);

    let cancelled = run(&["cancel", &secret_id, "--force"], &[], None);
    assert!(cancelled.status.success(), "{}", text(&cancelled.stderr));
    let output = run(&["rotate", &secret_id], &[], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let current = secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap();
    assert!(pg_logs_in(&user, &password_of(&current)).await);
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_reason() {
    let (_, secret_id, _) = fixture().await;

    let output = run(&["-"], &[], Some(r#"{"Step":"dropSecret","SecretId":"x","ClientRequestToken":"t"}"#));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("unknown Step \"dropSecret\""), "{}", text(&output.stderr));

    let output = run(&["/no/such/event.json"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read /no/such/event.json"), "{}", text(&output.stderr));

    let output = run(&["rotate", &secret_id], &[("PASSWORD_LENGTH", "0")], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("PASSWORD_LENGTH"), "{}", text(&output.stderr));

    let output = run(&["--bogus"], &[], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("Usage:"));

    let output = run(&["--help"], &[], None);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("rotate SECRET_ID"));
}
