//! Single-user rotation on a real PostgreSQL cluster with password authentication, through the emulated Secrets
//! Manager: what users depend on, proved by logging in.

mod common;

use common::*;
use rds_rotator::event::Step;
use rds_rotator::rotation::Outcome;

/// A login role with a known password and a secret for it, ready for `stage_rotation`.
struct Fixture {
    user: String,
    secret_id: String,
    password: String,
}

async fn fixture(user: &str, extra: serde_json::Value) -> Fixture {
    let password = "initial-Passw0rd!".to_owned();
    pg_create_role(user, &password).await;
    let mut secret = pg_secret(user, &password);
    if let serde_json::Value::Object(extra) = extra {
        secret.as_object_mut().unwrap().extend(extra);
    }
    let secret_id = unique("pg-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    Fixture { user: user.to_owned(), secret_id, password }
}

#[tokio::test]
async fn a_rotation_changes_the_password_and_keeps_everything_else() {
    let sm = sm().await;
    let extra =
        serde_json::json!({"team": "payments", "nested": {"keep": [1, "two", null]}, "dbInstanceIdentifier": "db-1"});
    let f = fixture(&unique("app"), extra).await;
    let before = secret_text(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
    let token = stage_rotation(&sm, &f.secret_id).await;

    run_rotation(&rotator().await, &f.secret_id, &token).await.unwrap();

    let current = secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
    let new_password = password_of(&current);
    assert!(pg_logs_in(&f.user, &new_password).await, "the new password logs in");
    assert!(!pg_logs_in(&f.user, &f.password).await, "the old password is refused");
    assert_eq!(secret_text(&sm, &f.secret_id, "AWSPREVIOUS").await.as_deref(), Some(before.as_str()));
    let versions = versions(&sm, &f.secret_id).await;
    assert_eq!(versions.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]), "{versions:?}");
    assert!(versions.values().all(|labels| !labels.contains(&"AWSPENDING".to_owned())), "{versions:?}");
    assert_eq!(versions.len(), 2, "{versions:?}");
    // Every key but the password is as it was, values and types included.
    let mut expected: serde_json::Value = serde_json::from_str(&before).unwrap();
    expected["password"] = new_password.clone().into();
    assert_eq!(current, expected);
    // The server stores a SCRAM verifier: what was sent was the verifier, not the password.
    let stored = pg_stored_password(&f.user).await.unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert_eq!(new_password.len(), 32);
}

#[tokio::test]
async fn five_rotations_in_a_row() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let mut old = f.password.clone();
    let mut seen = vec![old.clone()];
    for round in 0..5 {
        let before = secret_text(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
        let token = stage_rotation(&sm, &f.secret_id).await;
        run_rotation(&rotator, &f.secret_id, &token).await.unwrap_or_else(|err| panic!("rotation {round}: {err}"));
        let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
        assert!(pg_logs_in(&f.user, &new).await, "rotation {round}: new password");
        assert!(!pg_logs_in(&f.user, &old).await, "rotation {round}: old password");
        assert_eq!(secret_text(&sm, &f.secret_id, "AWSPREVIOUS").await, Some(before));
        assert!(!seen.contains(&new), "passwords repeat");
        seen.push(new.clone());
        old = new;
    }
}

#[tokio::test]
async fn every_step_can_run_twice() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    let mut outcomes = Vec::new();
    for step in Step::ALL {
        outcomes.push(run_step(&rotator, &f.secret_id, &token, step).await.unwrap());
        outcomes.push(run_step(&rotator, &f.secret_id, &token, step).await.unwrap());
    }
    assert_eq!(
        outcomes,
        vec![
            Outcome::Created,
            Outcome::AlreadyCreated,
            Outcome::PasswordSet { with: "AWSCURRENT" },
            Outcome::AlreadySet,
            Outcome::Tested,
            Outcome::Tested,
            outcomes[6].clone(),
            Outcome::AlreadyCurrent,
        ]
    );
    assert!(matches!(outcomes[6], Outcome::Finished { previous: Some(_) }));
    let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&f.user, &new).await);
    assert!(!pg_logs_in(&f.user, &f.password).await);
}

#[tokio::test]
async fn set_secret_when_the_database_already_has_the_pending_password() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_step(&rotator, &f.secret_id, &token, Step::Create).await.unwrap();
    // A setSecret that changed the password, then died before it could answer.
    let pending = password_of(&secret_value(&sm, &f.secret_id, "AWSPENDING").await.unwrap());
    pg_set_password(&f.user, &pending).await;
    let stored = pg_stored_password(&f.user).await;

    assert_eq!(run_step(&rotator, &f.secret_id, &token, Step::Set).await.unwrap(), Outcome::AlreadySet);
    assert_eq!(pg_stored_password(&f.user).await, stored, "nothing was changed again");
    run_step(&rotator, &f.secret_id, &token, Step::Test).await.unwrap();
    run_step(&rotator, &f.secret_id, &token, Step::Finish).await.unwrap();
    assert!(pg_logs_in(&f.user, &pending).await);
}

#[tokio::test]
async fn set_secret_when_the_database_is_on_the_previous_password() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let first = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator, &f.secret_id, &first).await.unwrap();
    // The database went back to the password AWSPREVIOUS holds (a restored snapshot, say).
    pg_set_password(&f.user, &f.password).await;

    let second = stage_rotation(&sm, &f.secret_id).await;
    run_step(&rotator, &f.secret_id, &second, Step::Create).await.unwrap();
    let set = run_step(&rotator, &f.secret_id, &second, Step::Set).await.unwrap();
    assert_eq!(set, Outcome::PasswordSet { with: "AWSPREVIOUS" });
    run_step(&rotator, &f.secret_id, &second, Step::Test).await.unwrap();
    run_step(&rotator, &f.secret_id, &second, Step::Finish).await.unwrap();
    let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&f.user, &new).await);
    assert!(!pg_logs_in(&f.user, &f.password).await);
}

#[tokio::test]
async fn stage_guards_hold_on_the_real_service_calls() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;

    // A token that is no version of the secret.
    let stranger = new_token();
    let err = run_step(&rotator, &f.secret_id, &stranger, Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "StageError");
    assert!(err.to_string().contains("is not a version of this secret"), "{err}");

    // A token that is already AWSCURRENT: every step succeeds and does nothing.
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator, &f.secret_id, &token).await.unwrap();
    let current = secret_text(&sm, &f.secret_id, "AWSCURRENT").await;
    for step in Step::ALL {
        assert_eq!(run_step(&rotator, &f.secret_id, &token, step).await.unwrap(), Outcome::AlreadyCurrent);
    }
    assert_eq!(secret_text(&sm, &f.secret_id, "AWSCURRENT").await, current);

    // Rotation switched off.
    let token = stage_rotation(&sm, &f.secret_id).await;
    sm.cancel_rotate_secret().secret_id(&f.secret_id).send().await.unwrap();
    for step in Step::ALL {
        let err = run_step(&rotator, &f.secret_id, &token, step).await.unwrap_err();
        assert_eq!(err.error_type(), "RotationDisabled", "{step}: {err}");
    }
    assert_eq!(secret_text(&sm, &f.secret_id, "AWSCURRENT").await, current);
    assert_eq!(secret_text(&sm, &f.secret_id, "AWSPENDING").await, None);
}

#[tokio::test]
async fn a_pending_version_for_another_user_or_host_is_refused_and_changes_nothing() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let bystander = unique("bystander");
    pg_create_role(&bystander, "bystander-pw").await;
    let rotator = rotator().await;
    let bystander_stored = pg_stored_password(&bystander).await;
    let app_stored = pg_stored_password(&f.user).await;

    let mut other_user = pg_secret(&bystander, "new-password-1");
    other_user["username"] = bystander.clone().into();
    let mut other_host = pg_secret(&f.user, "new-password-2");
    other_host["host"] = "db.elsewhere.example".into();
    for (pending, key) in [(other_user, "username"), (other_host, "host")] {
        let token = stage_rotation(&sm, &f.secret_id).await;
        put_pending(&sm, &f.secret_id, &token, &pending).await;
        let err = run_step(&rotator, &f.secret_id, &token, Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "PendingMismatch", "{err}");
        assert!(err.to_string().contains(&format!("\"{key}\"")), "{err}");
    }
    assert_eq!(pg_stored_password(&bystander).await, bystander_stored);
    assert_eq!(pg_stored_password(&f.user).await, app_stored);
    assert!(pg_logs_in(&f.user, &f.password).await);
}

/// Regression guard for the class of bug where a user name is pasted into SQL: each hostile name is rotated, and
/// the roles a pasted name would reach keep their passwords.
#[tokio::test]
async fn hostile_usernames_rotate_and_touch_nothing_else() {
    let sm = sm().await;
    let rotator = rotator().await;
    // Short names: the injection below must fit PostgreSQL's 63 bytes, or the server would truncate it.
    let prefix = unique("h")[..10].to_owned();
    let decoy = format!("{prefix}d");
    pg_create_role(&decoy, "decoy-pw").await;
    let names = [
        format!("{prefix}\"; ALTER ROLE \"{decoy}\" PASSWORD 'x'; --"),
        format!("{prefix}_it's"),
        format!("{prefix}_back\\slash"),
        format!("{prefix}_semi;colon"),
        format!("{prefix}_with space"),
        format!("{prefix}_MixedCase"),
        format!("{prefix}_{}", "x".repeat(63 - prefix.len() - 1)),
    ];
    assert_eq!(names[6].len(), 63);
    assert!(names[0].len() <= 63, "{}", names[0]);
    for name in &names {
        let f = fixture(name, serde_json::json!({})).await;
        let roles_before = pg_roles(&prefix).await;
        let token = stage_rotation(&sm, &f.secret_id).await;
        run_rotation(&rotator, &f.secret_id, &token).await.unwrap_or_else(|err| panic!("{name:?}: {err}"));
        let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
        assert!(pg_logs_in(name, &new).await, "{name:?}: new password");
        assert!(!pg_logs_in(name, &f.password).await, "{name:?}: old password");
        let mut roles_after = pg_roles(&prefix).await;
        assert_ne!(roles_after.get(name.as_str()), roles_before.get(name.as_str()), "{name:?} changed");
        roles_after.insert(name.clone(), roles_before[name.as_str()].clone());
        assert_eq!(roles_after, roles_before, "{name:?}: no other role changed, none created or dropped");
    }
    assert!(pg_logs_in(&decoy, "decoy-pw").await);
}

/// Where the server still stores md5 (password_encryption = md5, for drivers that only speak md5), the new
/// password is sent as an md5 hash and stored as one.
#[tokio::test]
async fn md5_password_encryption_is_honoured() {
    let sm = sm().await;
    let user = unique("md5app");
    let f = fixture(&user, serde_json::json!({})).await;
    let sql =
        format!("ALTER ROLE {} SET password_encryption = 'md5'", postgres_protocol::escape::escape_identifier(&user));
    pg_admin().await.batch_execute(&sql).await.unwrap();
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator().await, &f.secret_id, &token).await.unwrap();
    let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
    let stored = pg_stored_password(&user).await.unwrap();
    assert!(stored.starts_with("md5") && stored.len() == 35, "{stored}");
    assert!(pg_logs_in(&user, &new).await);
    assert!(!pg_logs_in(&user, &f.password).await);
}

#[tokio::test]
async fn the_password_policy_comes_from_the_template_variables() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let rotator = rotator_with(&[("PASSWORD_LENGTH", "20"), ("EXCLUDE_PUNCTUATION", "true")]).await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator, &f.secret_id, &token).await.unwrap();
    let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
    assert_eq!(new.len(), 20);
    assert!(new.chars().all(|c| c.is_ascii_alphanumeric()), "{new}");
    assert!(pg_logs_in(&f.user, &new).await);
}

#[tokio::test]
async fn a_secret_without_engine_needs_default_engine() {
    let sm = sm().await;
    let user = unique("noengine");
    pg_create_role(&user, "initial-pw").await;
    let mut secret = pg_secret(&user, "initial-pw");
    secret.as_object_mut().unwrap().remove("engine");
    let secret_id = unique("pg-secret");
    create_secret(&sm, &secret_id, &secret).await;

    let token = stage_rotation(&sm, &secret_id).await;
    let err = run_step(&rotator().await, &secret_id, &token, Step::Create).await.unwrap_err();
    assert!(err.to_string().contains("DEFAULT_ENGINE"), "{err}");
    assert_eq!(secret_text(&sm, &secret_id, "AWSPENDING").await, None);

    let rotator = rotator_with(&[("DEFAULT_ENGINE", "postgres")]).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    let current = secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap();
    assert!(current.get("engine").is_none(), "the secret is not rewritten beyond its password");
    assert!(pg_logs_in(&user, &password_of(&current)).await);
}

#[tokio::test]
async fn the_secret_arn_works_as_well_as_its_name() {
    let sm = sm().await;
    let f = fixture(&unique("app"), serde_json::json!({})).await;
    let arn = sm.describe_secret().secret_id(&f.secret_id).send().await.unwrap().arn().unwrap().to_owned();
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator().await, &arn, &token).await.unwrap();
    let new = password_of(&secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&f.user, &new).await);
}
