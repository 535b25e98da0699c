//! The binary outside Lambda: the sample events in events/ run their steps, an event on stdin works, `rotate`
//! plays Secrets Manager, and failures give a non-zero exit status with the reason on stderr.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use rds_rotator::event::{RotationEvent, Step};

const BIN: &str = env!("CARGO_BIN_EXE_rds-rotator");

fn run(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).envs(envs.iter().copied()).env_remove("AWS_LAMBDA_RUNTIME_API");
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    capture(&String::from_utf8_lossy(&output.stdout));
    capture(&String::from_utf8_lossy(&output.stderr));
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
        event["SecretId"] = secret_id.clone().into();
        event["ClientRequestToken"] = token.as_str().into();
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
    let event =
        serde_json::json!({"Step": "createSecret", "SecretId": secret_id, "ClientRequestToken": token.as_str()});
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

#[tokio::test]
async fn rotate_resumes_a_rotation_left_pending() {
    let sm = sm().await;
    let (user, secret_id, _) = fixture().await;
    let token = stage_rotation(&sm, &secret_id).await;
    let output = run(&["rotate", &secret_id], &[], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("resuming the rotation of pending version {token}")));
    assert_eq!(versions(&sm, &secret_id).await.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]));
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

type CheckCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// `check SECRET_ID` with extra settings: (exit status, stdout).
fn check(secret_id: &str, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = run(&["check", secret_id], envs, None);
    (output.status.code(), text(&output.stdout))
}

/// A secret in the emulator for a fresh MariaDB or PostgreSQL user, edited by `edit`; returns its id.
async fn checked_secret(engine: Engine, edit: impl FnOnce(&mut serde_json::Value)) -> (String, String) {
    let user = unique("chk");
    engine.create_user(&user, "initial-Passw0rd").await;
    let mut secret = engine.secret(&user, "initial-Passw0rd");
    edit(&mut secret);
    let secret_id = unique("check-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    (user, secret_id)
}

#[tokio::test]
async fn check_passes_over_verified_tls_and_changes_nothing() {
    let sm = sm().await;
    let ca = env("TEST_TLS_CA");
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let (user, secret_id) = checked_secret(engine, |s| {
            s["host"] = env("TEST_TLS_HOST").into();
            s.as_object_mut().unwrap().remove("ssl");
        })
        .await;
        let before = versions(&sm, &secret_id).await;
        let (code, out) = check(&secret_id, &[("DB_EXTRA_CA_BUNDLE", &ca)]);
        assert_eq!(code, Some(0), "{out}");
        for line in
            ["ok    Secrets Manager", "ok    secret", "ok    passwords", "ok    database", "ok    password change"]
        {
            assert!(out.contains(line), "{line}: {out}");
        }
        assert!(out.contains("TLS mode verify-full") && out.contains("passed"), "{out}");
        assert_eq!(versions(&sm, &secret_id).await, before, "check changed the secret");
        assert!(engine.logs_in(&user, "initial-Passw0rd").await, "check changed the password");
    }
}

#[tokio::test]
async fn check_names_each_failure_and_what_to_fix() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let ca = env("TEST_TLS_CA");

    let (_, fine) = checked_secret(Engine::Postgres, |_| {}).await;
    let (_, bad_port) = checked_secret(Engine::Postgres, |s| s["port"] = "fifty".into()).await;
    let (_, unreachable) =
        checked_secret(Engine::Postgres, |s| s["port"] = closed.parse::<u16>().unwrap().into()).await;
    let (_, untrusted) = checked_secret(Engine::Postgres, |s| {
        s["host"] = env("TEST_TLS_HOST").into();
        s.as_object_mut().unwrap().remove("ssl");
    })
    .await;
    let (_, no_tls) = checked_secret(Engine::Postgres, |s| {
        s["host"] = env("TEST_TLS_HOST").into();
        s["port"] = env("TEST_PG_PLAIN_PORT").parse::<u16>().unwrap().into();
        s.as_object_mut().unwrap().remove("ssl");
    })
    .await;
    let (drifted_user, drifted) = checked_secret(Engine::Mariadb, |_| {}).await;
    Engine::Mariadb.set_password(&drifted_user, "changed-by-hand").await;
    let (multi_user, multi) = checked_secret(Engine::Mariadb, |_| {}).await;
    my_exec(&format!(
        "ALTER USER {}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('initial-Passw0rd') OR ed25519 USING PASSWORD('x')",
        my_quote(&multi_user)
    ))
    .await;

    // (secret, extra settings, the failure reported, the fix suggested)
    let cases: Vec<CheckCase> = vec![
        (
            &fine,
            vec![("SECRETS_MANAGER_ENDPOINT", &endpoint), ("CONNECT_TIMEOUT_SECONDS", "1")],
            "FAIL  Secrets Manager",
            "network path",
        ),
        ("no-such-secret-for-check", vec![], "FAIL  Secrets Manager", "name or ARN"),
        (&bad_port, vec![], "FAIL  secret", "\"port\""),
        (&unreachable, vec![], "FAIL  database", "security group"),
        (&untrusted, vec![], "untrusted certificate chain", "DB_EXTRA_CA_BUNDLE"),
        (&no_tls, vec![("DB_EXTRA_CA_BUNDLE", &ca)], "offers no TLS", "turn TLS on"),
        (&drifted, vec![], "refused AWSCURRENT's password", "the password drifted"),
        (&multi, vec![], "FAIL  password change", "several plugins"),
    ];
    for (secret_id, envs, failure, fix) in cases {
        let (code, out) = check(secret_id, &envs);
        assert_eq!(code, Some(1), "{secret_id}: {out}");
        assert!(out.contains(failure) && out.contains(fix), "{secret_id}: expected {failure:?} and {fix:?} in:\n{out}");
        assert!(out.contains("failed: fix the above"), "{out}");
    }
}

/// Alternating users: the master secret reads and logs in, and the next user is free — or `check` says which part
/// would stop the rotation.
#[tokio::test]
async fn check_an_alternating_users_secret() {
    let engine = Engine::Mariadb;
    let master = engine.master_secret(&env("TEST_MARIADB_ADMIN_USER"), &env("TEST_MARIADB_ADMIN_PASSWORD")).await;
    let bare = unique("check-bare-master");
    let root = serde_json::json!({
        "username": env("TEST_MARIADB_ADMIN_USER"), "password": env("TEST_MARIADB_ADMIN_PASSWORD"),
    });
    create_secret(&sm().await, &bare, &root).await;
    let alternating = |masterarn: &str| {
        let masterarn = masterarn.to_owned();
        move |s: &mut serde_json::Value| {
            s["host"] = tls_host().into();
            s["masterarn"] = masterarn.into();
        }
    };
    let (_, ready) = checked_secret(engine, alternating(&master)).await;
    let (taken_user, taken) = checked_secret(engine, alternating(&master)).await;
    engine.create_user(&format!("{taken_user}_clone"), "someone-elses").await;
    let (_, orphan) = checked_secret(engine, alternating("no-such-master-secret")).await;
    let (_, hostless) = checked_secret(engine, alternating(&bare)).await;
    let (_, elsewhere) = checked_secret(engine, |s| s["masterarn"] = master.clone().into()).await;
    let ca = env("TEST_TLS_CA");
    let envs = [("DB_EXTRA_CA_BUNDLE", ca.as_str()), ("MASTER_SECRET_ARNS", "*")];

    let (code, out) = check(&ready, &envs);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok    master secret") && out.contains("creates") && out.contains("_clone\""), "{out}");
    assert!(out.contains("(TLS mode verify-full)"), "the master logs in over verified TLS: {out}");
    for (secret_id, failure, fix) in [
        (&taken, "FAIL  alternate", "drop or rename that user"),
        (&orphan, "FAIL  master secret", "masterarn"),
        (&hostless, "FAIL  master secret", "holds no host"),
        (&elsewhere, "FAIL  master secret", "only where its own secret says"),
    ] {
        let (code, out) = check(secret_id, &envs);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains(failure) && out.contains(fix), "expected {failure:?} and {fix:?} in:\n{out}");
    }
}
