//! No secret leaks: a whole rotation through the Lambda entry, logged at TRACE in Lambda's JSON format, then
//! failures whose inputs hold secrets. No password, secret JSON or RotationToken may appear in any log line, error
//! message or Diagnostic, and the server's statement log (PostgreSQL's, MariaDB's general log) must not hold a
//! generated password.

use crate::common;

use common::*;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use rds_rotator::internal::logging::{self, LogSettings};
use rds_rotator::internal::{Metrics, handler::lambda_handler};

/// The event the service sends for `step` (the secret's ARN and the rotation's RotationToken, from the strict layer
/// in front of moto), its RotationToken kept in `tokens` for the scan.
fn payload(step: &str, secret_id: &str, token: &str, tokens: &mut Vec<String>) -> LambdaEvent<serde_json::Value> {
    let payload = service_event(secret_id, token, step);
    tokens.push(payload["RotationToken"].as_str().expect("a RotationToken").to_owned());
    LambdaEvent::new(payload, Context::default())
}

#[tokio::test]
async fn postgres_no_secret_reaches_logs_errors_or_the_statement_log() {
    no_secret_reaches_logs_errors_or_the_statement_log(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_no_secret_reaches_logs_errors_or_the_statement_log() {
    no_secret_reaches_logs_errors_or_the_statement_log(Engine::Mariadb).await;
}

async fn no_secret_reaches_logs_errors_or_the_statement_log(engine: Engine) {
    let logs = LogBuffer::default();
    let settings = LogSettings { json: true, directives: "trace".into(), timestamps: false };
    let _guard = tracing::subscriber::set_default(logging::subscriber(&settings, logs.clone()));

    let sm = sm().await;
    let user = unique("leak");
    let old = "Old-Passw0rd-leak-check";
    engine.create_user(&user, old).await;
    let secret_id = unique("leak-secret");
    let mut secret = engine.secret(&user, old);
    secret["apiKey"] = "users-own-secret-value".into();
    create_secret(&sm, &secret_id, &secret).await;
    let rotator = rotator().await;
    let metrics = Metrics::buffer("rds-rotator");
    let rotation_token = "rotation-token-must-not-leak-7f3a";
    let mut tokens = vec![rotation_token.to_owned()];

    // A whole rotation through the Lambda handler.
    let token = stage_rotation(&sm, &secret_id).await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        lambda_handler(&rotator, &metrics, payload(step, &secret_id, token.as_str(), &mut tokens)).await.unwrap();
    }
    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(engine.logs_in(&user, &new).await);

    // Failures whose inputs carry secrets: the database drifted away from every version...
    engine.set_password(&user, "Drifted-Passw0rd-leak-check").await;
    let token = stage_rotation(&sm, &secret_id).await;
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    lambda_handler(&rotator, &metrics, payload("createSecret", &secret_id, token.as_str(), &mut tokens)).await.unwrap();
    let pending = password_of(&secret_value(&sm, &secret_id, "AWSPENDING").await.unwrap());
    let failed =
        lambda_handler(&rotator, &metrics, payload("setSecret", &secret_id, token.as_str(), &mut tokens)).await;
    diagnostics.push(failed.unwrap_err());
    assert_eq!(diagnostics[0].error_type, "CredentialsRejected");
    // ...a pending version that is not JSON, and one that is JSON with a bad key, both holding a password...
    for (bad, expected) in [
        (r#"{"password": "In-Broken-Json-leak-1", "host": }"#, "not valid JSON"),
        (r#"{"engine":"postgres","host":"h","username":7,"password":"In-Bad-Key-leak-2"}"#, "\"username\""),
    ] {
        let token = stage_rotation(&sm, &secret_id).await;
        sm.put_secret_value()
            .secret_id(&secret_id)
            .client_request_token(token.as_str())
            .secret_string(bad)
            .version_stages("AWSPENDING")
            .rotation_token(rotation_token_of(&secret_id, &token))
            .send()
            .await
            .unwrap();
        let failed =
            lambda_handler(&rotator, &metrics, payload("testSecret", &secret_id, token.as_str(), &mut tokens)).await;
        let diagnostic = failed.unwrap_err();
        assert!(diagnostic.error_message.contains(expected), "{}", diagnostic.error_message);
        diagnostics.push(diagnostic);
    }
    // ...and an event that is not one.
    let bad_event = LambdaEvent::new(
        serde_json::json!({"Step": "dropSecret", "RotationToken": rotation_token}),
        Context::default(),
    );
    diagnostics.push(lambda_handler(&rotator, &metrics, bad_event).await.unwrap_err());
    assert_eq!(diagnostics[3].error_type, "InvalidEvent");

    let admin_password = env("TEST_PG_ADMIN_PASSWORD");
    let secrets = [
        old,
        new.as_str(),
        pending.as_str(),
        "Drifted-Passw0rd-leak-check",
        "In-Broken-Json-leak-1",
        "In-Bad-Key-leak-2",
        "users-own-secret-value",
        &admin_password,
    ]
    .into_iter()
    .chain(tokens.iter().map(String::as_str));
    // One metrics line per step that ran (not for the event that is none), naming its outcome.
    let metric_lines = metrics.lines();
    let outcomes: Vec<String> = metric_lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["Outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "ok", "ok", "CredentialsRejected", "InvalidSecret", "InvalidSecret"]);
    let text = format!("{}{}", logs.text(), metric_lines.join("\n"));
    assert!(text.lines().count() > 20, "the capture works: {text}");
    let shown: Vec<String> = diagnostics.iter().map(|d| format!("{d:?}")).collect();
    for secret in secrets {
        assert!(!text.contains(secret), "a log line holds {secret:?}");
        for diagnostic in &shown {
            assert!(!diagnostic.contains(secret), "a Diagnostic holds {secret:?}: {diagnostic}");
        }
    }

    // Every line the rotation logs is JSON and carries the secret id, the step and the token.
    let mut ours = 0;
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        let message = value["fields"]["message"].as_str().unwrap_or_default();
        if ["createSecret", "setSecret", "testSecret", "finishSecret"].iter().any(|s| message.starts_with(s)) {
            ours += 1;
            let span = &value["span"];
            let arn = span["secret_id"].as_str().unwrap_or_default();
            assert!(arn.starts_with("arn:aws:secretsmanager:") && arn.contains(&secret_id), "{line}");
            assert!(span["step"].is_string() && span["token"].is_string(), "{line}");
        }
    }
    assert!(ours >= 8, "{ours} step lines");

    // The server saw a verifier or hash, never the new password.
    let statements = engine.statement_log();
    let marker = match engine {
        Engine::Postgres => "ALTER ROLE SESSION_USER PASSWORD 'SCRAM-SHA-256$",
        Engine::Mariadb => "SET PASSWORD = '*",
    };
    assert!(statements.contains(marker), "statement logging is on");
    for generated in [new.as_str(), pending.as_str()] {
        assert!(!statements.contains(generated), "the statement log holds a generated password");
    }
}

#[tokio::test]
async fn postgres_alternating_users_leak_no_secret() {
    alternating_users_leak_no_secret(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_alternating_users_leak_no_secret() {
    alternating_users_leak_no_secret(Engine::Mariadb).await;
}

/// Alternating users: two rotations (the alternate created, then reused) and a refused master secret, at TRACE.
/// Neither the master's password nor a generated one reaches a log line, a Diagnostic or the server's log.
async fn alternating_users_leak_no_secret(engine: Engine) {
    let logs = LogBuffer::default();
    let settings = LogSettings { json: true, directives: "trace".into(), timestamps: false };
    let _guard = tracing::subscriber::set_default(logging::subscriber(&settings, logs.clone()));

    let sm = sm().await;
    let (admin_user, admin_password) = match engine {
        Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
        Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
    };
    let master = engine.master_secret(&admin_user, &admin_password).await;
    let user = unique("leak_alt");
    let old = "Old-Passw0rd-alt-leak";
    engine.create_user(&user, old).await;
    let secret_id = unique("leak-secret");
    let secret = engine.alternating_secret(&user, old, &master);
    create_secret(&sm, &secret_id, &secret).await;
    let rotator = rotator().await;
    let mut tokens = Vec::new();

    let mut generated = Vec::new();
    for _ in 0..2 {
        let token = stage_rotation(&sm, &secret_id).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            lambda_handler(&rotator, &Metrics::disabled(), payload(step, &secret_id, token.as_str(), &mut tokens))
                .await
                .unwrap();
        }
        generated.push(password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap()));
    }

    // The master secret's password goes stale: setSecret fails, naming the master secret and nothing secret.
    let wrong = "Stale-Master-Passw0rd-leak";
    let mut stale = secret_value(&sm, &master, "AWSCURRENT").await.unwrap();
    stale["password"] = wrong.into();
    let stale = stale.to_string();
    sm.put_secret_value().secret_id(&master).secret_string(stale).send().await.unwrap();
    let token = stage_rotation(&sm, &secret_id).await;
    lambda_handler(&rotator, &Metrics::disabled(), payload("createSecret", &secret_id, token.as_str(), &mut tokens))
        .await
        .unwrap();
    generated.push(password_of(&secret_value(&sm, &secret_id, "AWSPENDING").await.unwrap()));
    let failed =
        lambda_handler(&rotator, &Metrics::disabled(), payload("setSecret", &secret_id, token.as_str(), &mut tokens))
            .await;
    let diagnostic = failed.unwrap_err();
    assert_eq!(diagnostic.error_type, "MasterSecretError");
    assert!(diagnostic.error_message.contains(&master), "{}", diagnostic.error_message);

    let text = logs.text();
    assert!(text.lines().count() > 20, "the capture works: {text}");
    let shown = format!("{diagnostic:?}");
    let statements = engine.statement_log();
    let secrets = [old, &admin_password, wrong].into_iter().chain(tokens.iter().map(String::as_str));
    for secret in secrets.chain(generated.iter().map(String::as_str)) {
        assert!(!text.contains(secret), "a log line holds {secret:?}");
        assert!(!shown.contains(secret), "the Diagnostic holds {secret:?}: {shown}");
    }
    for secret in &generated {
        assert!(!statements.contains(secret.as_str()), "the statement log holds a generated password");
    }
}
