//! The binary in Lambda mode, through lambda_runtime, against a fake Lambda Runtime API on loopback: the four steps
//! of a rotation arrive as invocations, a bad event comes back as an error with its errorType, and every log line is
//! JSON on stdout with no secret in it.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::runtime_api::{Seen, fake_runtime_api};
use common::*;

#[tokio::test]
async fn a_rotation_through_the_lambda_runtime() {
    let sm = sm().await;
    let user = unique("lambda");
    let initial = "Initial-Passw0rd-lambda";
    pg_create_role(&user, initial).await;
    let secret_id = unique("lambda-secret");
    create_secret(&sm, &secret_id, &pg_secret(&user, initial)).await;
    let token = stage_rotation(&sm, &secret_id).await;
    // The events as the service sends them: the secret's ARN, and the rotation's RotationToken.
    let mut events: Vec<serde_json::Value> = ["createSecret", "setSecret", "testSecret", "finishSecret"]
        .iter()
        .map(|step| service_event(&secret_id, token.as_str(), step))
        .collect();
    let rotation_token = events[0]["RotationToken"].as_str().unwrap().to_owned();
    events.push(serde_json::json!({"Step": "rotateSecret", "SecretId": secret_id, "ClientRequestToken": "x"}));
    let expected = events.len();
    let (address, replies) = fake_runtime_api(events);

    // Logs go to a file: at DEBUG they outgrow a pipe's buffer, and the function would block writing them.
    let log_path = std::env::temp_dir().join(unique("lambda-stdout"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rds-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .stdout(log_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    while got.len() < expected {
        match replies.recv_timeout(Duration::from_secs(30)) {
            Ok(Seen::Reply(reply)) => got.push(reply),
            Ok(Seen::Next { .. }) => {}
            Err(_) => break,
        }
    }
    let mut child = child;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = std::fs::read_to_string(&log_path).unwrap();
    capture(&stdout);
    std::fs::remove_file(&log_path).unwrap();
    assert_eq!(
        got.len(),
        expected,
        "replies {got:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for (n, reply) in got.iter().take(4).enumerate() {
        assert_eq!(
            (reply.request_id.as_str(), reply.kind.as_str()),
            (format!("req-{n}").as_str(), "response"),
            "{reply:?}"
        );
    }
    let error = &got[4];
    assert_eq!(error.kind, "error", "{error:?}");
    assert_eq!(error.body["errorType"], "InvalidEvent", "{error:?}");
    assert!(error.body["errorMessage"].as_str().unwrap().contains("unknown Step \"rotateSecret\""), "{error:?}");

    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&user, &new).await);
    assert!(!pg_logs_in(&user, initial).await);
    // Lambda's JSON log format on stdout, at DEBUG, with no secret in it.
    assert!(stdout.lines().count() >= 8, "{stdout}");
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    for secret in [initial, new.as_str(), rotation_token.as_str()] {
        assert!(!stdout.contains(secret), "stdout holds {secret:?}");
    }
    // One embedded-metric-format line per step, with the default namespace, beside the log lines.
    let metrics: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    let steps: Vec<(&str, &str)> =
        metrics.iter().map(|m| (m["Step"].as_str().unwrap(), m["Outcome"].as_str().unwrap())).collect();
    assert_eq!(steps, [("createSecret", "ok"), ("setSecret", "ok"), ("testSecret", "ok"), ("finishSecret", "ok")]);
    assert!(metrics.iter().all(|m| m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "rds-rotator"));
    assert_eq!(
        (metrics[0]["Engine"].as_str(), metrics[0]["Strategy"].as_str()),
        (Some("postgres"), Some("single-user"))
    );
}

#[test]
fn lambda_mode_without_the_function_variables_fails_cleanly() {
    let output = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("AWS_LAMBDA_FUNCTION_NAME is not set"), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}
