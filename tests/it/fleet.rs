//! The operators' commands on moto and the real servers: `status` over a few hundred secrets, some stuck, some with
//! rotation off, some overdue; `attach` over good and broken secrets switching on exactly the good ones; `cancel` in
//! both situations a rotation can be left in, each followed by a rotation that succeeds.

use std::collections::BTreeSet;

use aws_sdk_secretsmanager::Client as SmClient;

use crate::common;

use common::*;
use rds_rotator::internal::Step;

/// How many secrets the status test makes, and how many of each kind of trouble.
const FLEET: usize = 240;
const STUCK: usize = 7;
const OFF: usize = 5;
const OVERDUE: usize = 9;

/// Switches rotation on with `function` and `days`, as moto can (`rotate_secret_without_function`); with `stuck`
/// false the staged label is removed again, as a finished rotation leaves it.
async fn rotation_on(sm: &SmClient, name: &str, function: &str, days: i64, stuck: bool) {
    let token = rotate_secret_without_function(sm, name, function, days).await;
    if !stuck {
        sm.update_secret_version_stage()
            .secret_id(name)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token.as_str())
            .send()
            .await
            .expect("remove AWSPENDING");
    }
}

fn status(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    let output = run_binary(&all, &[], None);
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test]
async fn status_pages_through_hundreds_of_secrets_and_names_each_problem() {
    let sm = sm().await;
    // A function of this test's own, so that secrets other tests make are not listed.
    let function = format!("arn:aws:lambda:us-east-1:123456789012:function:{}", unique("fleet"));
    let prefix = unique("fleet");
    let names: Vec<String> = (0..FLEET).map(|i| format!("{prefix}/app-{i:03}")).collect();
    let value = pg_secret("fleet_app", "not-a-real-Passw0rd");
    for (index, name) in names.iter().enumerate() {
        create_secret(&sm, name, &value).await;
        let days = if index < OVERDUE { 1 } else { 30 };
        let stuck = (OVERDUE..OVERDUE + STUCK).contains(&index);
        rotation_on(&sm, name, &function, days, stuck).await;
        if (OVERDUE + STUCK..OVERDUE + STUCK + OFF).contains(&index) {
            sm.cancel_rotate_secret().secret_id(name).send().await.expect("rotation off");
        }
    }
    // Two more: one rotated by another function (not listed), one whose value is not an RDS secret.
    let other = format!("{prefix}/other-function");
    create_secret(&sm, &other, &value).await;
    rotation_on(&sm, &other, "arn:aws:lambda:us-east-1:123456789012:function:someone-else", 30, false).await;
    let unreadable = format!("{prefix}/zz-not-rds");
    create_secret(&sm, &unreadable, &serde_json::json!({"apiKey": "k"})).await;
    rotation_on(&sm, &unreadable, &function, 30, false).await;

    // Now: the pending versions are seconds old (a rotation under way, not stuck) and nothing is due yet; only the
    // secrets with rotation off, and the unreadable one, need attention.
    let (code, out, err) = status(&["--function", &function]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let summary = format!("{} secrets: {} ok, {OFF} rotation-off, 1 unreadable", FLEET + 1, FLEET - OFF);
    assert!(out.contains(&summary), "{summary}\n{out}");
    assert!(!out.contains("other-function"), "{out}");
    let header = out.lines().next().unwrap();
    assert!(header.starts_with("SECRET") && header.contains("NEXT DUE") && header.ends_with("STATE"), "{header}");
    let row = out.lines().find(|line| line.contains("/app-100")).unwrap();
    assert!(row.contains("postgres") && row.contains("single-user") && row.contains("on, every 30 days"), "{row}");
    assert!(row.contains(&format!("{}:{}", pg_host(), pg_port())) && row.trim_end().ends_with("ok"), "{row}");
    let rotating = out.lines().filter(|line| line.trim_end().ends_with("rotating")).count();
    assert_eq!(rotating, STUCK, "{out}");
    assert!(out.contains(&format!("{prefix}/zz-not-rds: unreadable: AWSCURRENT is not an RDS secret")), "{out}");

    // Three days on, if nothing changes: the pending versions are stuck and the one-day schedules overdue.
    let (code, out, err) = status(&["--function", &function, "--at", "+3d"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let summary = format!(
        "{} secrets: {} ok, {STUCK} stuck, {OFF} rotation-off, {OVERDUE} overdue, 1 unreadable",
        FLEET + 1,
        FLEET - STUCK - OFF - OVERDUE
    );
    assert!(out.contains(&summary), "{summary}\n{out}");
    assert!(out.contains(&format!("{} of {} secrets need attention:", STUCK + OFF + OVERDUE + 1, FLEET + 1)), "{out}");
    // Each one is named with its problem.
    let named = |kind: &str| -> BTreeSet<String> {
        out.lines()
            .filter_map(|line| line.trim_start().split_once(&format!(": {kind}")).map(|(name, _)| name.to_owned()))
            .collect()
    };
    let expect = |range: std::ops::Range<usize>| -> BTreeSet<String> { names[range].iter().cloned().collect() };
    assert_eq!(named("stuck: version"), expect(OVERDUE..OVERDUE + STUCK), "{out}");
    assert_eq!(named("rotation is off"), expect(OVERDUE + STUCK..OVERDUE + STUCK + OFF), "{out}");
    assert_eq!(named("overdue"), expect(0..OVERDUE), "{out}");
    assert!(out.contains(&format!("rds-rotator cancel {}", names[OVERDUE])), "{out}");

    // The same as JSON, for automation.
    let (code, out, _) = status(&["--function", &function, "--at", "+3d", "--json"]);
    assert_eq!(code, Some(1));
    let document: serde_json::Value = serde_json::from_str(&out).expect("status --json prints JSON");
    let secrets = document["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), FLEET + 1);
    assert_eq!(document["ok"], false);
    let stuck = &secrets[OVERDUE];
    assert_eq!(stuck["name"], names[OVERDUE].as_str());
    assert_eq!(stuck["problems"][0]["kind"], "stuck");
    assert!(stuck["pending"]["version"].is_string() && stuck["pending"]["since"].is_string(), "{stuck}");
    assert_eq!(secrets[100]["secret"]["engine"], "postgres");
    assert_eq!(secrets[100]["rotation"]["enabled"], true);
    assert_eq!(secrets[100]["rotation"]["function"], function.as_str());
    assert!(secrets[100]["rotation"]["nextDue"].is_string(), "{}", secrets[100]);
    assert!(!out.contains("not-a-real-Passw0rd"), "status printed a password");

    // Named secrets, whatever their function: a healthy one passes.
    let (code, out, err) = status(&[&names[100], &other]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("2 secrets: 2 ok"), "{out}");
}

#[tokio::test]
async fn status_needs_a_function_or_secrets_and_names_a_missing_one() {
    let (code, _, err) = status(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--function"), "{err}");
    let (code, _, err) = status(&["--at", "tomorrow", "x"]);
    assert_eq!(code, Some(2), "{err}");
    let missing = unique("no-such-secret");
    let (code, _, err) = status(&[&missing]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&missing) && err.contains("ResourceNotFoundException"), "{err}");
}

#[tokio::test]
async fn status_verify_shows_a_password_changed_by_hand() {
    let sm = sm().await;
    let (fine, drifted) = (unique("verify_ok"), unique("verify_drift"));
    let mut ids = Vec::new();
    for user in [&fine, &drifted] {
        Engine::Mariadb.create_user(user, "initial-Passw0rd").await;
        let id = unique("verify-secret");
        create_secret(&sm, &id, &Engine::Mariadb.secret(user, "initial-Passw0rd")).await;
        ids.push(id);
    }
    Engine::Mariadb.set_password(&drifted, "changed-by-hand").await;
    let (code, out, err) = status(&["--verify", &ids[0], &ids[1]]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains(&format!("{}: a rotation would fail: database", ids[1])), "{out}");
    assert!(out.contains("[CredentialsRejected]") && out.contains("fix: the password drifted"), "{out}");
    assert!(!out.contains(&format!("{}: a rotation would fail", ids[0])), "{out}");
    assert!(Engine::Mariadb.logs_in(&fine, "initial-Passw0rd").await, "--verify changed a password");
}

#[tokio::test]
async fn attach_switches_rotation_on_for_exactly_the_secrets_that_pass_each_once() {
    let sm = sm().await;
    let function = env("TEST_ROTATION_FUNCTION_ARN");
    let mut good = Vec::new();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let user = unique("attach_ok");
        engine.create_user(&user, "initial-Passw0rd").await;
        let id = unique("attach-good");
        create_secret(&sm, &id, &engine.secret(&user, "initial-Passw0rd")).await;
        good.push(id);
    }
    // The first good one was rotated by another function (AWS's template, say): attach says it takes it over.
    let template = "arn:aws:lambda:us-east-1:123456789012:function:SecretsManagerRDSPostgreSQLRotationSingleUser";
    rotation_on(&sm, &good[0], template, 30, false).await;
    let drifted_user = unique("attach_drift");
    Engine::Postgres.create_user(&drifted_user, "changed-by-hand").await;
    let drifted = unique("attach-drifted");
    create_secret(&sm, &drifted, &Engine::Postgres.secret(&drifted_user, "initial-Passw0rd")).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = unique("attach-unreachable");
    let mut value = Engine::Postgres.secret("nobody", "initial-Passw0rd");
    value["port"] = closed.into();
    create_secret(&sm, &unreachable, &value).await;
    let malformed = unique("attach-malformed");
    create_secret(&sm, &malformed, &serde_json::json!({"engine": "postgres", "host": pg_host()})).await;
    let pending_user = unique("attach_pending");
    Engine::Postgres.create_user(&pending_user, "initial-Passw0rd").await;
    let in_progress = unique("attach-pending");
    create_secret(&sm, &in_progress, &Engine::Postgres.secret(&pending_user, "initial-Passw0rd")).await;
    stage_rotation(&sm, &in_progress).await;
    let broken = [&drifted, &unreachable, &malformed, &in_progress];
    let mut before = Vec::new();
    for id in broken {
        before.push((
            versions(&sm, id).await,
            sm.describe_secret().secret_id(id).send().await.unwrap().rotation_enabled(),
        ));
    }

    // The first good one is named a second time by its ARN, the second one twice by name: each is attached once.
    let good_arn = sm.describe_secret().secret_id(&good[0]).send().await.unwrap().arn().unwrap().to_owned();
    let mut args =
        vec!["attach", &good[0], &drifted, &unreachable, &good[1], &malformed, &good_arn, &in_progress, &good[1]];
    args.extend(["--function", &function, "--days", "30", "--window", "4h", "--no-rotate-now"]);
    let output = run_binary(&args, &[("DB_EXTRA_CA_BUNDLE", &env("TEST_TLS_CA"))], None);
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains(&format!("  attached  {} (it was rotated by {template} until now)", good[0])), "{out}");
    for id in &good {
        assert!(out.contains(&format!("  attached  {id}")), "{out}");
        let described = sm.describe_secret().secret_id(id).send().await.unwrap();
        assert_eq!(described.rotation_enabled(), Some(true), "{id}");
        assert_eq!(described.rotation_lambda_arn(), Some(function.as_str()), "{id}");
    }
    assert!(
        out.contains(&format!("  refused   {drifted}: database")) && out.contains("[CredentialsRejected]"),
        "{out}"
    );
    assert!(out.contains(&format!("  refused   {unreachable}: database")), "{out}");
    assert!(out.contains(&format!("  refused   {malformed}: secret")) && out.contains("[InvalidSecret]"), "{out}");
    assert!(out.contains(&format!("  refused   {in_progress}: a rotation is in progress")), "{out}");
    assert!(out.contains(&format!("rds-rotator cancel {in_progress}")), "{out}");
    assert!(out.matches("fix: ").count() >= 4, "every refusal says what to fix: {out}");
    assert_eq!(out.matches("  repeated  ").count(), 2, "{out}");
    assert!(out.contains(&format!("  repeated  {}: the same secret as another operand", good[1])), "{out}");
    assert!(out.contains("attached 2 of 6; 4 left as they were"), "{out}");
    // The refused secrets are as they were: no label moved, rotation not switched on.
    for (id, (versions_before, enabled_before)) in broken.iter().zip(before) {
        assert_eq!(versions(&sm, id).await, versions_before, "{id}");
        let enabled = sm.describe_secret().secret_id(*id).send().await.unwrap().rotation_enabled();
        assert_eq!(enabled, enabled_before, "{id}");
    }

    // Usage errors change nothing and exit 2.
    let output = run_binary(&["attach", &good[0], "--function", &function], &[], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--schedule"), "{}", text(&output.stderr));
}

/// A rotation left half-way, then `cancel`, then a new rotation: whichever way it was left, the database accepts
/// AWSCURRENT after the cancel and the next rotation succeeds.
#[tokio::test]
async fn cancel_completes_or_clears_a_rotation_left_in_progress() {
    let sm = sm().await;
    let rotator = rotator().await;
    for engine in [Engine::Postgres, Engine::Mariadb] {
        for database_took_it in [false, true] {
            let user = unique("cancel");
            engine.create_user(&user, "initial-Passw0rd").await;
            let id = unique("cancel-secret");
            create_secret(&sm, &id, &engine.secret(&user, "initial-Passw0rd")).await;
            let token = stage_rotation(&sm, &id).await;
            run_step(&rotator, &id, &token, Step::Create).await.unwrap();
            if database_took_it {
                run_step(&rotator, &id, &token, Step::Set).await.unwrap();
            }
            let pending = password_of(&secret_value(&sm, &id, "AWSPENDING").await.unwrap());

            // moto dates every version "now": a step could still be running, so cancel wants --force.
            let before = versions(&sm, &id).await;
            let output = run_binary(&["cancel", &id], &[], None);
            assert_eq!(output.status.code(), Some(1));
            assert!(
                text(&output.stderr).contains("--force") && text(&output.stderr).contains("[RotationMayBeRunning]")
            );
            assert_eq!(versions(&sm, &id).await, before);

            let output = run_binary(&["cancel", &id, "--force"], &[], None);
            let (out, err) = (text(&output.stdout), text(&output.stderr));
            assert_eq!(output.status.code(), Some(0), "{engine:?}: {out}\n{err}");
            let current = password_of(&secret_value(&sm, &id, "AWSCURRENT").await.unwrap());
            if database_took_it {
                assert!(out.contains("completed the rotation"), "{out}");
                assert_eq!(current, pending, "{engine:?}: the pending version must become AWSCURRENT");
            } else {
                assert!(out.contains("removed AWSPENDING") && out.contains("accepts AWSCURRENT"), "{out}");
                assert_eq!(current, "initial-Passw0rd");
            }
            assert!(engine.logs_in(&user, &current).await, "{engine:?}: AWSCURRENT must log in after cancel");
            let stuck = versions(&sm, &id)
                .await
                .values()
                .any(|l| l.contains(&"AWSPENDING".into()) && !l.contains(&"AWSCURRENT".into()));
            assert!(!stuck, "{engine:?}: {:?}", versions(&sm, &id).await);

            // Cancelled again: nothing in progress, nothing done.
            let output = run_binary(&["cancel", &id], &[], None);
            assert_eq!(output.status.code(), Some(0));
            assert!(text(&output.stdout).contains("no rotation in progress"), "{}", text(&output.stdout));

            // The next rotation starts clean and succeeds.
            let output = run_binary(&["rotate", &id], &[], None);
            assert_eq!(output.status.code(), Some(0), "{}\n{}", text(&output.stdout), text(&output.stderr));
            let rotated = password_of(&secret_value(&sm, &id, "AWSCURRENT").await.unwrap());
            assert_ne!(rotated, current);
            assert!(engine.logs_in(&user, &rotated).await);
            assert!(!engine.logs_in(&user, &current).await);
        }
    }
}

/// `--verify` reads the server certificate's and its CA's dates over a handshake of its own (the test CA: the server
/// certificates last a year, the CA ten), and flags them a month before either expires.
#[tokio::test]
async fn status_verify_shows_the_days_left_on_the_certificate_and_its_ca() {
    let sm = sm().await;
    let ca = env("TEST_TLS_CA");
    let mut ids = Vec::new();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let user = unique("certdays");
        engine.create_user(&user, "initial-Passw0rd").await;
        let mut secret = engine.secret(&user, "initial-Passw0rd");
        secret["host"] = tls_host().into();
        secret.as_object_mut().unwrap().remove("ssl");
        let id = unique("certdays-secret");
        create_secret(&sm, &id, &secret).await;
        ids.push(id);
    }
    let run = |extra: &[&str]| {
        let mut args = vec!["status", "--verify", &ids[0], &ids[1]];
        args.extend_from_slice(extra);
        let output = run_binary(&args, &[("DB_EXTRA_CA_BUNDLE", &ca)], None);
        (text(&output.stdout), text(&output.stderr))
    };
    let (out, err) = run(&[]);
    for id in &ids {
        let line =
            out.lines().find(|l| l.starts_with(&format!("  {id}: a rotation would pass"))).unwrap_or_else(|| {
                panic!("{id} not verified:\n{out}\n{err}");
            });
        assert!(line.contains("the server's certificate is valid until") && line.contains("its CA until"), "{line}");
        assert!(line.contains("(364 days)") || line.contains("(365 days)"), "{line}");
        assert!(line.contains("(3649 days)") || line.contains("(3650 days)"), "{line}");
    }
    assert!(!out.contains("cert-expiring"), "{out}");

    // Judged eleven months on, the server certificates expire within the month.
    let (out, _) = run(&["--at", "+340d", "--json"]);
    let document: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for secret in document["secrets"].as_array().unwrap() {
        let kinds: Vec<&str> =
            secret["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"cert-expiring"), "{secret}");
        let days = secret["verify"]["certificate"]["serverDaysLeft"].as_i64().unwrap();
        assert!((24..=25).contains(&days), "{secret}");
        assert!(secret["verify"]["certificate"]["caDaysLeft"].as_i64().unwrap() > 3000, "{secret}");
    }
}
