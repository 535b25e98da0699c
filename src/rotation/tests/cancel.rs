//! `cancel` against the fakes: whichever way a rotation was left, it ends with a secret whose AWSCURRENT logs in and
//! whose next rotation succeeds; it completes the rotation only when the database took the pending password.

use super::*;
use crate::rotation::cancel::Cancelled;

/// After a cancel: AWSCURRENT's password is the database's, no AWSPENDING is left off AWSCURRENT, and a rotation
/// with a new token succeeds.
async fn assert_clean_and_rotatable(w: &World) {
    let current = w.password_of(AWSCURRENT).unwrap();
    assert_eq!(w.db_password("app"), current);
    let stuck = w.labels().into_iter().any(|(_, l)| l.contains(&AWSPENDING.into()) && !l.contains(&AWSCURRENT.into()));
    assert!(!stuck, "{:?}", w.labels());
    w.store.state.lock().unwrap().versions.insert("tok2".into(), (None, vec![AWSPENDING.into()]));
    for step in Step::ALL {
        let event = RotationEvent {
            step,
            secret_id: SECRET.into(),
            token: VersionId::new("tok2").unwrap(),
            rotation_token: None,
        };
        w.rotator.run(&event).await.unwrap();
    }
    assert_eq!(w.db_password("app"), w.password_of(AWSCURRENT).unwrap());
}

#[tokio::test]
async fn nothing_pending_changes_nothing() {
    let w = world();
    w.rotate().await.unwrap();
    let before = w.labels();
    assert_eq!(w.rotator.cancel(SECRET).await.unwrap(), Cancelled::NothingPending);
    assert_eq!(w.labels(), before);
}

#[tokio::test]
async fn a_pending_version_without_a_value_loses_its_label() {
    let w = world();
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(
        matches!(&outcome, Cancelled::Removed { version, why } if version == "tok" && why.contains("no value")),
        "{outcome:?}"
    );
    w.assert_untouched();
    assert_clean_and_rotatable(&w).await;
}

#[tokio::test]
async fn a_pending_password_the_database_never_took_loses_its_label() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(matches!(&outcome, Cancelled::Removed { why, .. } if why.contains("refuses")), "{outcome:?}");
    w.assert_untouched();
    assert_clean_and_rotatable(&w).await;
}

#[tokio::test]
async fn a_pending_password_the_database_took_completes_the_rotation() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    // Removing the label now would lose the only record of the password that works.
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert_eq!(outcome, Cancelled::Completed { version: "tok".into() });
    w.assert_rotated();
    assert_clean_and_rotatable(&w).await;
}

/// A value this binary cannot read may still be one an earlier version of the function rotated with: only the
/// database could tell, and it cannot be asked with it. Nothing changes.
#[tokio::test]
async fn a_pending_version_that_cannot_be_read_changes_nothing() {
    let w = world();
    w.set_value("tok", "{not json".into());
    let before = w.labels();
    let err = w.rotator.cancel(SECRET).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidSecret", "{err}");
    assert_eq!(w.labels(), before);
}

#[tokio::test]
async fn a_pending_version_set_secret_refuses_loses_its_label() {
    let w = world();
    w.set_value("tok", secret_json("other", "other-pw", "db"));
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(matches!(&outcome, Cancelled::Removed { why, .. } if why.contains("setSecret refuses")), "{outcome:?}");
    w.assert_untouched();
}

/// Neither password logs in (it was changed by hand): which version is right cannot be told. Nothing changes.
#[tokio::test]
async fn neither_password_logging_in_changes_nothing() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.db.state.lock().unwrap().passwords.insert("app".into(), "set-by-hand".into());
    let before = w.labels();
    let err = w.rotator.cancel(SECRET).await.unwrap_err();
    assert_eq!(err.error_type(), "CredentialsRejected", "{err}");
    assert!(err.to_string().contains("both the AWSPENDING and the AWSCURRENT password"), "{err}");
    assert_eq!(w.labels(), before);
}

#[tokio::test]
async fn a_database_that_cannot_answer_changes_nothing() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    w.db.state.lock().unwrap().reachable = false;
    let before = w.labels();
    let err = w.rotator.cancel(SECRET).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(w.labels(), before, "a cancel that cannot ask the database must leave the labels");
}

#[tokio::test]
async fn works_with_rotation_switched_off() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    w.store.state.lock().unwrap().rotation_enabled = Some(false);
    assert_eq!(w.rotator.cancel(SECRET).await.unwrap(), Cancelled::Completed { version: "tok".into() });
}

#[tokio::test]
async fn alternating_users_complete_when_the_other_user_took_the_password() {
    let w = alternating_world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    assert_eq!(w.rotator.cancel(SECRET).await.unwrap(), Cancelled::Completed { version: "tok".into() });
    assert_eq!(w.user_of(AWSCURRENT).as_deref(), Some("app_clone"));
    assert_eq!(w.db_password("app_clone"), w.password_of(AWSCURRENT).unwrap());
    assert_eq!(w.db_password("app"), "pw-0");
}

#[tokio::test]
async fn alternating_users_remove_a_pending_password_the_other_user_never_took() {
    let w = alternating_world();
    w.step(Step::Create).await.unwrap();
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(matches!(&outcome, Cancelled::Removed { why, .. } if why.contains("accepts AWSCURRENT")), "{outcome:?}");
    assert_eq!(w.user_of(AWSCURRENT).as_deref(), Some("app"));
    assert_eq!(w.db_password("app"), "pw-0");
}

#[tokio::test]
async fn a_pending_label_left_on_the_current_version_comes_off() {
    let w = world();
    w.rotate().await.unwrap();
    w.store.state.lock().unwrap().versions.get_mut("tok").unwrap().1.push(AWSPENDING.into());
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(
        matches!(&outcome, Cancelled::Removed { version, why } if version == "tok" && why.contains("cut short")),
        "{outcome:?}"
    );
    w.assert_rotated();
}

/// Alternating users: a pending version naming any user but the pair's other one (the master user, another
/// account) is one setSecret refuses before any login. cancel removes its label without logging in anywhere —
/// not as the user it names, not as the master.
#[tokio::test]
async fn alternating_users_remove_a_pending_version_naming_another_user_with_no_login() {
    for named in ["admin", "other", "app"] {
        let w = alternating_world();
        let mut pending: serde_json::Value = serde_json::from_str(&secret_json(named, "guess-pw", "db")).unwrap();
        pending["masterarn"] = MASTER.into();
        w.set_value("tok", pending.to_string());
        let outcome = w.rotator.cancel(SECRET).await.unwrap();
        assert!(
            matches!(&outcome, Cancelled::Removed { why, .. }
                if why.contains(&format!("names user \"{named}\", not \"app_clone\""))),
            "{named}: {outcome:?}"
        );
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{named}: no login at all");
        assert_eq!(w.user_of(AWSCURRENT).as_deref(), Some("app"));
        assert_eq!(w.db_password("app"), "pw-0");
    }
}

/// A forged history makes the master user the pair's other one: AWSCURRENT names `admin_clone`, AWSPREVIOUS `admin`
/// (the master user), and the pending version `admin` with a guessed password. setSecret refuses it before any login
/// ("it is the master user"); cancel removes its label without logging in as the master.
#[tokio::test]
async fn alternating_users_remove_a_pending_version_naming_the_master_through_a_forged_history() {
    let w = alternating_world();
    let with_user = |user: &str, password: &str| {
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json(user, password, "db")).unwrap();
        secret["masterarn"] = MASTER.into();
        secret.to_string()
    };
    w.db.state.lock().unwrap().passwords.insert("admin_clone".into(), "pw-c".into());
    w.set_value("v0", with_user("admin_clone", "pw-c"));
    w.store
        .state
        .lock()
        .unwrap()
        .versions
        .insert("v-1".into(), (Some(with_user("admin", "old")), vec![AWSPREVIOUS.into()]));
    w.set_value("tok", with_user("admin", "a-guess"));
    let outcome = w.rotator.cancel(SECRET).await.unwrap();
    assert!(matches!(&outcome, Cancelled::Removed { why, .. } if why.contains("the master user")), "{outcome:?}");
    assert!(w.db.state.lock().unwrap().attempts.is_empty(), "no login at all");
}
