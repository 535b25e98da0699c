//! Alternating users against the fakes: the pair, the switch, an alternate that is not ours, a crash at any call.

use super::*;

/// Alternating users: the pending version names the other user, and every other key must still be AWSCURRENT's.
#[tokio::test]
async fn alternating_a_pending_version_for_another_database_is_refused() {
    for (key, value) in [("dbInstanceIdentifier", serde_json::json!("other-db")), ("ssl", serde_json::json!(true))] {
        let w = alternating_world();
        let mut pending: serde_json::Value = serde_json::from_str(&secret_json("app_clone", "x", "db")).unwrap();
        pending["masterarn"] = MASTER.into();
        pending[key] = value;
        w.set_value("tok", pending.to_string());
        let err = w.step(Step::Set).await.unwrap_err();
        assert!(
            matches!(err.kind(), crate::rotation::ErrorKind::PendingMismatch { key: k, .. } if *k == key),
            "{key}: {err}"
        );
        assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
    }
}

#[tokio::test]
async fn alternating_users_switch_users_and_keep_the_previous_one_working() {
    let mut w = alternating_world();
    assert_eq!(w.step(Step::Create).await.unwrap(), Outcome::Created);
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: "the master secret" });
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: "the master secret" });
    w.step(Step::Test).await.unwrap();
    w.step(Step::Finish).await.unwrap();
    w.assert_alternated("app_clone", "app");
    assert_eq!(w.db_password("app"), "pw-0");
    for (n, (current, previous)) in
        [("app", "app_clone"), ("app_clone", "app"), ("app", "app_clone")].iter().enumerate()
    {
        w.next_token(&format!("tok{n}"));
        w.rotate().await.unwrap();
        w.assert_alternated(current, previous);
    }
}

#[tokio::test]
async fn an_existing_unrelated_alternate_is_refused_and_untouched() {
    let w = alternating_world();
    w.db.state.lock().unwrap().passwords.insert("app_clone".into(), "someone-elses".into());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict");
    assert!(err.to_string().contains(r#"user "app_clone" exists but was not created by rds-rotator"#), "{err}");
    assert_eq!(w.db_password("app_clone"), "someone-elses");
    assert!(w.db.state.lock().unwrap().twins.is_empty());
    w.assert_untouched();
}

#[tokio::test]
async fn a_user_named_like_a_clone_is_an_original() {
    let w = alternating_world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("reporting_clone", "pw-0", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    {
        let mut state = w.db.state.lock().unwrap();
        state.passwords.insert("reporting_clone".into(), "pw-0".into());
        state.passwords.insert("reporting".into(), "reporting-pw".into());
    }
    w.rotate().await.unwrap();
    assert_eq!(w.user_of(AWSCURRENT).as_deref(), Some("reporting_clone_clone"));
    assert_eq!(w.db_password("reporting"), "reporting-pw");
    assert_eq!(w.db_password("reporting_clone"), "pw-0");
}

#[tokio::test]
async fn a_missing_or_refused_master_secret_is_named() {
    let w = alternating_world();
    w.store.state.lock().unwrap().others.clear();
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError");
    assert!(err.to_string().contains(MASTER) && err.to_string().contains("does not exist"), "{err}");

    let w = alternating_world();
    w.db.state.lock().unwrap().passwords.insert("admin".into(), "changed".into());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError");
    assert!(err.to_string().contains(MASTER) && err.to_string().contains("does not log in"), "{err}");
    assert!(!err.to_string().contains("admin-pw") && !err.to_string().contains("changed"), "{err}");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
}

#[tokio::test]
async fn a_master_secret_that_is_the_rotated_one_is_refused() {
    let w = alternating_world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    secret["masterarn"] = SECRET.into();
    w.set_value("v0", secret.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert!(err.to_string().contains("is the rotated secret itself"), "{err}");
}

#[tokio::test]
async fn test_secret_refuses_an_alternate_without_the_current_users_privileges() {
    let w = alternating_world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    w.db.state.lock().unwrap().twins.clear();
    let err = w.step(Step::Test).await.unwrap_err();
    assert!(err.to_string().contains("privileges differ"), "{err}");
}

/// As `a_crash_at_any_call_then_a_retry_converges`, for alternating users.
#[tokio::test]
async fn alternating_a_crash_at_any_call_then_a_retry_converges() {
    let calls = {
        let w = alternating_world();
        w.rotate().await.unwrap();
        w.faults.lock().unwrap().calls
    };
    // 16 Secrets Manager calls (Describe 4, Get 9 — AWSPREVIOUS for the pair in createSecret and setSecret, the
    // master secret in setSecret and testSecret — Put 1, UpdateStage 2) and 10 database calls (4 logins: AWSCURRENT's
    // proof of possession and the master in setSecret, the pending user and the master in testSecret; the account
    // power check, the current user's accounts AWSCURRENT proves, the user lookup, the master's authority over the
    // pair, the sync, the test query, the verification): the figures the docs give.
    assert_eq!(calls, 27, "a rotation makes {calls} external calls");
    for n in 1..=calls {
        for after in [false, true] {
            let w = alternating_world();
            w.faults.lock().unwrap().fail = Some((n, after));
            assert!(w.rotate().await.is_err(), "call {n} was not failed");
            w.faults.lock().unwrap().fail = None;
            let mut attempts = 0;
            while let Err(err) = w.rotate().await {
                attempts += 1;
                assert!(attempts < 3, "fault at call {n} (after: {after}): retries do not converge: {err}");
            }
            w.assert_alternated("app_clone", "app");
        }
    }
}

/// Two finishSecret invocations at once (a slow one and its retry): both see the token AWSPENDING, one moves
/// AWSCURRENT, the other's move is refused — and it reports the rotation finished instead of failing it.
#[tokio::test]
async fn overlapping_finish_secrets_both_succeed() {
    let w = world();
    for step in [Step::Create, Step::Set, Step::Test] {
        w.step(step).await.unwrap();
    }
    // The second invocation described the secret before the first finished.
    let stale = w.store.describe(SECRET).await.unwrap();
    assert!(matches!(w.step(Step::Finish).await, Ok(Outcome::Finished { .. })));
    let late = w.rotator.finish(&w.event(Step::Finish), &stale).await;
    assert!(matches!(late, Ok(Outcome::Finished { .. })), "{late:?}");
    w.assert_rotated();
}
