//! `rds-rotator check`: the preflight prints what a rotation would need and find, changing nothing, and names what
//! to fix — and, being a dry run of the rotation's own code, it agrees with a rotation over good and broken secrets.

use crate::common;

use common::*;
use rds_rotator::internal::Step;

type CheckCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// `check SECRET_ID` with extra settings: (exit status, stdout).
fn check(secret_id: &str, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = run_binary(&["check", secret_id], envs, None);
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
        (&drifted, vec![], "with the AWSCURRENT password", "the password drifted"),
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

/// What a command concluded: `Ok` or the error type it reported.
type Verdict = Result<(), String>;

/// `check`'s verdict: `passed`, or the error type on its FAIL line.
fn check_verdict(secret_id: &str, envs: &[(&str, &str)]) -> (Verdict, String) {
    let (code, out) = check(secret_id, envs);
    let verdict = match code {
        Some(0) if out.contains("passed: the secret can be rotated") => Ok(()),
        Some(1) => {
            let fail = out.lines().find(|line| line.trim_start().starts_with("FAIL")).unwrap_or_default();
            Err(bracketed(fail).unwrap_or_else(|| format!("no error type in {fail:?}")))
        }
        other => Err(format!("exit status {other:?}")),
    };
    (verdict, out)
}

/// `rotate`'s verdict: success, or the error type on its last line of stderr.
fn rotate_verdict(secret_id: &str, envs: &[(&str, &str)]) -> (Verdict, String) {
    let output = run_binary(&["rotate", secret_id], envs, None);
    let stderr = text(&output.stderr);
    let verdict = match output.status.code() {
        Some(0) => Ok(()),
        Some(1) => {
            let last = stderr.lines().rev().find(|line| line.starts_with("rds-rotator: ")).unwrap_or_default();
            Err(bracketed(last).unwrap_or_else(|| format!("no error type in {last:?}")))
        }
        other => Err(format!("exit status {other:?}")),
    };
    (verdict, stderr)
}

/// The `[ErrorType]` that ends a line.
fn bracketed(line: &str) -> Option<String> {
    let inner = line.trim_end().strip_suffix(']')?;
    Some(inner[inner.rfind('[')? + 1..].to_owned())
}

/// A fresh user on `engine` and its alternating-users secret naming `master`: (user, secret id).
async fn alternating_fixture(engine: Engine, master: &str) -> (String, String) {
    let user = unique("chk");
    engine.create_user(&user, "initial-Passw0rd").await;
    let secret_id = unique("check-secret");
    create_secret(&sm().await, &secret_id, &engine.alternating_secret(&user, "initial-Passw0rd", master)).await;
    (user, secret_id)
}

/// `check` and a rotation agree: over the same good and broken secrets, `check` passes exactly where the rotation
/// succeeds, and where the rotation fails, `check` fails with the same error type — and the failed rotation left
/// the database password alone. Both run the binary, as an operator would.
#[tokio::test]
async fn check_and_a_rotation_agree_over_good_and_broken_secrets() {
    const INITIAL: &str = "initial-Passw0rd";
    let ca = env("TEST_TLS_CA");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pg_master = Engine::Postgres.master_secret(&env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await;
    let my_master =
        Engine::Mariadb.master_secret(&env("TEST_MARIADB_ADMIN_USER"), &env("TEST_MARIADB_ADMIN_PASSWORD")).await;
    let listed = format!("{pg_master},{my_master}");
    let settings = [("DB_EXTRA_CA_BUNDLE", ca.as_str()), ("MASTER_SECRET_ARNS", listed.as_str())];
    let verified = |s: &mut serde_json::Value| {
        s["host"] = tls_host().into();
        s.as_object_mut().unwrap().remove("ssl");
    };

    // (what, engine, user, secret id, the error type a rotation fails with; None: it succeeds)
    let mut cases: Vec<(&str, Engine, String, String, Option<&str>)> = Vec::new();
    for (engine, master) in [(Engine::Postgres, &pg_master), (Engine::Mariadb, &my_master)] {
        let (user, id) = checked_secret(engine, verified).await;
        cases.push(("single user over verified TLS", engine, user, id, None));
        let (user, id) = alternating_fixture(engine, master).await;
        cases.push(("alternating users", engine, user, id, None));
    }
    let (user, id) = checked_secret(Engine::Mariadb, |_| {}).await;
    Engine::Mariadb.set_password(&user, "changed-by-hand").await;
    cases.push(("a drifted password", Engine::Mariadb, user, id, Some("CredentialsRejected")));
    let (user, id) = checked_secret(Engine::Postgres, |s| s["port"] = closed.into()).await;
    cases.push(("a closed port", Engine::Postgres, user, id, Some("DatabaseUnavailable")));
    let (user, id) = checked_secret(Engine::Postgres, |s| s["port"] = "fifty".into()).await;
    cases.push(("a malformed port", Engine::Postgres, user, id, Some("InvalidSecret")));
    let (user, id) = checked_secret(Engine::Postgres, |s| {
        verified(s);
        s["host"] = "127.0.0.1".into();
    })
    .await;
    cases.push(("a certificate naming another host", Engine::Postgres, user, id, Some("DatabaseError")));
    let (user, id) = alternating_fixture(Engine::Mariadb, &my_master).await;
    Engine::Mariadb.create_user(&format!("{user}_clone"), "someone-elses").await;
    cases.push((
        "an alternate user the secret does not hold",
        Engine::Mariadb,
        user,
        id,
        Some("AlternateUserConflict"),
    ));
    let (user, id) = alternating_fixture(Engine::Mariadb, &my_master).await;
    my_exec(&format!("GRANT CREATE USER ON *.* TO {}@'%'", my_quote(&user))).await;
    cases.push(("an account administrator", Engine::Mariadb, user, id, Some("AlternateUserRefused")));
    let unlisted = Engine::Postgres.master_secret(&env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await;
    let (user, id) = alternating_fixture(Engine::Postgres, &unlisted).await;
    cases.push(("a master secret not in MASTER_SECRET_ARNS", Engine::Postgres, user, id, Some("MasterSecretError")));
    let long = format!("{}_{}", unique("chk"), "x".repeat(40));
    Engine::Postgres.create_user(&long, INITIAL).await;
    let id = unique("check-secret");
    create_secret(&sm().await, &id, &Engine::Postgres.alternating_secret(&long, INITIAL, &pg_master)).await;
    cases.push(("an alternate name over PostgreSQL's limit", Engine::Postgres, long, id, Some("AlternateUserName")));

    // A rotation interrupted after setSecret: the database has the pending password. check previews the stored
    // pending version, as the service's retry (here `rotate`, which resumes it) runs it.
    let (user, id) = checked_secret(Engine::Postgres, verified).await;
    let token = stage_rotation(&sm().await, &id).await;
    let rotator = rotator().await;
    for step in [Step::Create, Step::Set] {
        run_step(&rotator, &id, &token, step).await.unwrap();
    }
    cases.push(("a rotation interrupted after setSecret", Engine::Postgres, user, id, None));

    for (what, engine, user, secret_id, expected) in &cases {
        let (checked, check_out) = check_verdict(secret_id, &settings);
        let (rotated, rotate_err) = rotate_verdict(secret_id, &settings);
        let expected = expected.map_or(Ok(()), |error_type| Err(error_type.to_owned()));
        assert_eq!(rotated, expected, "{what}: the rotation\n{rotate_err}");
        assert_eq!(checked, rotated, "{what}: check disagrees with the rotation\n{check_out}\n{rotate_err}");
        let unchanged = if *what == "a drifted password" { "changed-by-hand" } else { INITIAL };
        if *what == "a rotation interrupted after setSecret" {
            assert!(check_out.contains("already has the AWSPENDING password"), "{check_out}");
        }
        match rotated {
            // After the rotation, check passes again: the secret is as rotatable as before.
            Ok(()) => assert_eq!(check_verdict(secret_id, &settings).0, Ok(()), "{what}: after the rotation"),
            Err(_) => {
                assert!(engine.logs_in(user, unchanged).await, "{what}: the failed rotation changed the password")
            }
        }
    }
}
