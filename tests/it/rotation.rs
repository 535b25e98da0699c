//! Single-user rotation on real servers with password authentication (PostgreSQL and MariaDB), through the
//! emulated Secrets Manager: what users depend on, proved by logging in. Every scenario runs on both engines.

use crate::common;

use common::*;
use rds_rotator::internal::{Outcome, Step};

on_both_engines!(
    a_rotation_changes_the_password_and_keeps_everything_else,
    five_rotations_in_a_row,
    every_step_can_run_twice,
    set_secret_when_the_database_already_has_the_pending_password,
    set_secret_when_the_database_is_on_the_previous_password,
    stage_guards_hold_on_the_real_service_calls,
    a_pending_version_for_another_user_or_host_is_refused_and_changes_nothing,
    hostile_usernames_rotate_and_touch_nothing_else,
    the_password_policy_comes_from_the_template_variables,
    a_secret_without_engine_needs_default_engine,
    the_secret_arn_works_as_well_as_its_name,
);

const INITIAL: &str = "initial-Passw0rd!";

/// A login user with a known password and a secret for it, ready for `stage_rotation`.
struct Fixture {
    engine: Engine,
    user: String,
    secret_id: String,
}

async fn fixture(engine: Engine, user: &str, extra: serde_json::Value) -> Fixture {
    engine.create_user(user, INITIAL).await;
    let mut secret = engine.secret(user, INITIAL);
    if let serde_json::Value::Object(extra) = extra {
        secret.as_object_mut().unwrap().extend(extra);
    }
    let secret_id = unique("secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    Fixture { engine, user: user.to_owned(), secret_id }
}

impl Fixture {
    async fn current_password(&self) -> String {
        password_of(&secret_value(&sm().await, &self.secret_id, "AWSCURRENT").await.unwrap())
    }

    async fn logs_in(&self, password: &str) -> bool {
        self.engine.logs_in(&self.user, password).await
    }
}

async fn a_rotation_changes_the_password_and_keeps_everything_else(engine: Engine) {
    let sm = sm().await;
    let extra =
        serde_json::json!({"team": "payments", "nested": {"keep": [1, "two", null]}, "dbInstanceIdentifier": "db-1"});
    let f = fixture(engine, &unique("app"), extra).await;
    let before = secret_text(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
    let token = stage_rotation(&sm, &f.secret_id).await;

    run_rotation(&rotator().await, &f.secret_id, &token).await.unwrap();

    let current = secret_value(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
    let new_password = password_of(&current);
    assert!(f.logs_in(&new_password).await, "the new password logs in");
    assert!(!f.logs_in(INITIAL).await, "the old password is refused");
    assert_eq!(secret_text(&sm, &f.secret_id, "AWSPREVIOUS").await.as_deref(), Some(before.as_str()));
    let versions = versions(&sm, &f.secret_id).await;
    assert_eq!(versions.get(token.as_str()), Some(&vec!["AWSCURRENT".to_owned()]), "{versions:?}");
    assert!(versions.values().all(|labels| !labels.contains(&"AWSPENDING".to_owned())), "{versions:?}");
    assert_eq!(versions.len(), 2, "{versions:?}");
    // Every key but the password is as it was, values and types included.
    let mut expected: serde_json::Value = serde_json::from_str(&before).unwrap();
    expected["password"] = new_password.clone().into();
    assert_eq!(current, expected);
    assert_eq!(new_password.len(), 32);
}

async fn five_rotations_in_a_row(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let mut seen = vec![INITIAL.to_owned()];
    for round in 0..5 {
        let before = secret_text(&sm, &f.secret_id, "AWSCURRENT").await.unwrap();
        let token = stage_rotation(&sm, &f.secret_id).await;
        run_rotation(&rotator, &f.secret_id, &token).await.unwrap_or_else(|err| panic!("rotation {round}: {err}"));
        let new = f.current_password().await;
        assert!(f.logs_in(&new).await, "rotation {round}: new password");
        assert!(!f.logs_in(seen.last().unwrap()).await, "rotation {round}: old password");
        assert_eq!(secret_text(&sm, &f.secret_id, "AWSPREVIOUS").await, Some(before));
        assert!(!seen.contains(&new), "passwords repeat");
        seen.push(new);
    }
}

async fn every_step_can_run_twice(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    let mut outcomes = Vec::new();
    for step in Step::ALL {
        outcomes.push(run_step(&rotator, &f.secret_id, &token, step).await.unwrap());
        outcomes.push(run_step(&rotator, &f.secret_id, &token, step).await.unwrap());
    }
    assert!(matches!(outcomes[6], Outcome::Finished { previous: Some(_) }), "{outcomes:?}");
    let expected = vec![
        Outcome::Created,
        Outcome::AlreadyCreated,
        Outcome::PasswordSet { with: "AWSCURRENT" },
        Outcome::AlreadySet,
        Outcome::Tested,
        Outcome::Tested,
        outcomes[6].clone(),
        Outcome::AlreadyCurrent,
    ];
    assert_eq!(outcomes, expected);
    assert!(f.logs_in(&f.current_password().await).await);
    assert!(!f.logs_in(INITIAL).await);
}

async fn set_secret_when_the_database_already_has_the_pending_password(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_step(&rotator, &f.secret_id, &token, Step::Create).await.unwrap();
    // A setSecret that changed the password, then died before it could answer.
    let pending = password_of(&secret_value(&sm, &f.secret_id, "AWSPENDING").await.unwrap());
    engine.set_password(&f.user, &pending).await;
    let stored = engine.users(&f.user).await;

    assert_eq!(run_step(&rotator, &f.secret_id, &token, Step::Set).await.unwrap(), Outcome::AlreadySet);
    assert_eq!(engine.users(&f.user).await, stored, "nothing was changed again");
    run_step(&rotator, &f.secret_id, &token, Step::Test).await.unwrap();
    run_step(&rotator, &f.secret_id, &token, Step::Finish).await.unwrap();
    assert!(f.logs_in(&pending).await);
}

async fn set_secret_when_the_database_is_on_the_previous_password(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;
    let first = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator, &f.secret_id, &first).await.unwrap();
    // The database went back to the password AWSPREVIOUS holds (a restored snapshot, say).
    engine.set_password(&f.user, INITIAL).await;

    let second = stage_rotation(&sm, &f.secret_id).await;
    run_step(&rotator, &f.secret_id, &second, Step::Create).await.unwrap();
    let set = run_step(&rotator, &f.secret_id, &second, Step::Set).await.unwrap();
    assert_eq!(set, Outcome::PasswordSet { with: "AWSPREVIOUS" });
    run_step(&rotator, &f.secret_id, &second, Step::Test).await.unwrap();
    run_step(&rotator, &f.secret_id, &second, Step::Finish).await.unwrap();
    assert!(f.logs_in(&f.current_password().await).await);
    assert!(!f.logs_in(INITIAL).await);
}

async fn stage_guards_hold_on_the_real_service_calls(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator().await;

    // A token that is no version of the secret.
    let err = run_step(&rotator, &f.secret_id, &new_token(), Step::Create).await.unwrap_err();
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

async fn a_pending_version_for_another_user_or_host_is_refused_and_changes_nothing(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let bystander = unique("bystander");
    engine.create_user(&bystander, "bystander-pw").await;
    let rotator = rotator().await;
    let before = (engine.users(&bystander).await, engine.users(&f.user).await);

    let other_user = engine.secret(&bystander, "new-password-1");
    let mut other_host = engine.secret(&f.user, "new-password-2");
    other_host["host"] = "db.elsewhere.example".into();
    for (pending, key) in [(other_user, "username"), (other_host, "host")] {
        let token = stage_rotation(&sm, &f.secret_id).await;
        put_pending(&sm, &f.secret_id, &token, &pending).await;
        let err = run_step(&rotator, &f.secret_id, &token, Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "PendingMismatch", "{err}");
        assert!(err.to_string().contains(&format!("\"{key}\"")), "{err}");
    }
    assert_eq!((engine.users(&bystander).await, engine.users(&f.user).await), before);
    assert!(f.logs_in(INITIAL).await);
}

/// Regression guard for the class of bug where a user name is pasted into SQL: each hostile name is rotated, and
/// the users a pasted name would reach keep their passwords.
async fn hostile_usernames_rotate_and_touch_nothing_else(engine: Engine) {
    let sm = sm().await;
    let rotator = rotator().await;
    // Short names: the injections below must fit the engine's limit, or the server would truncate them.
    let prefix = unique("h")[..10].to_owned();
    let decoy = format!("{prefix}d");
    engine.create_user(&decoy, "decoy-pw").await;
    let longest = format!("{prefix}_{}", "x".repeat(engine.max_name_len() - prefix.len() - 1));
    let names = [
        format!("{prefix}\"; ALTER ROLE \"{decoy}\" PASSWORD 'x'; --"),
        format!("{prefix}';SET PASSWORD FOR '{decoy}'@'%'=PASSWORD('x')#"),
        format!("{prefix}_it's"),
        format!("{prefix}_back\\slash"),
        format!("{prefix}_semi;colon"),
        format!("{prefix}_with space"),
        format!("{prefix}_MixedCase"),
        format!("{prefix}_at@sign"),
        longest,
    ];
    for name in &names {
        assert!(name.len() <= engine.max_name_len(), "{name}");
        let f = fixture(engine, name, serde_json::json!({})).await;
        let before = engine.users(&prefix).await;
        let token = stage_rotation(&sm, &f.secret_id).await;
        run_rotation(&rotator, &f.secret_id, &token).await.unwrap_or_else(|err| panic!("{name:?}: {err}"));
        let new = f.current_password().await;
        assert!(f.logs_in(&new).await, "{name:?}: new password");
        assert!(!f.logs_in(INITIAL).await, "{name:?}: old password");
        let key = engine.user_key(name);
        let mut after = engine.users(&prefix).await;
        assert_ne!(after.get(&key), before.get(&key), "{name:?} changed");
        after.insert(key.clone(), before[&key].clone());
        assert_eq!(after, before, "{name:?}: no other user changed, none created or dropped");
    }
    assert!(engine.logs_in(&decoy, "decoy-pw").await);
}

async fn the_password_policy_comes_from_the_template_variables(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let rotator = rotator_with(&[("PASSWORD_LENGTH", "20"), ("EXCLUDE_PUNCTUATION", "true")]).await;
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator, &f.secret_id, &token).await.unwrap();
    let new = f.current_password().await;
    assert_eq!(new.len(), 20);
    assert!(new.chars().all(|c| c.is_ascii_alphanumeric()), "{new}");
    assert!(f.logs_in(&new).await);
}

async fn a_secret_without_engine_needs_default_engine(engine: Engine) {
    let sm = sm().await;
    let user = unique("noengine");
    engine.create_user(&user, INITIAL).await;
    let mut secret = engine.secret(&user, INITIAL);
    let kind = secret.as_object_mut().unwrap().remove("engine").unwrap();
    let secret_id = unique("secret");
    create_secret(&sm, &secret_id, &secret).await;

    let token = stage_rotation(&sm, &secret_id).await;
    let err = run_step(&rotator().await, &secret_id, &token, Step::Create).await.unwrap_err();
    assert!(err.to_string().contains("DEFAULT_ENGINE"), "{err}");
    assert_eq!(secret_text(&sm, &secret_id, "AWSPENDING").await, None);

    let rotator = rotator_with(&[("DEFAULT_ENGINE", kind.as_str().unwrap())]).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    let current = secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap();
    assert!(current.get("engine").is_none(), "the secret is not rewritten beyond its password");
    assert!(engine.logs_in(&user, &password_of(&current)).await);
}

async fn the_secret_arn_works_as_well_as_its_name(engine: Engine) {
    let sm = sm().await;
    let f = fixture(engine, &unique("app"), serde_json::json!({})).await;
    let arn = sm.describe_secret().secret_id(&f.secret_id).send().await.unwrap().arn().unwrap().to_owned();
    let token = stage_rotation(&sm, &f.secret_id).await;
    run_rotation(&rotator().await, &arn, &token).await.unwrap();
    assert!(f.logs_in(&f.current_password().await).await);
}
