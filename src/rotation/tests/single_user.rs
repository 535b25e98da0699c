//! The four steps of a single-user rotation against the fakes: the labels, the password, every step run twice,
//! a crash at any call then a retry, the refusals that change nothing, and the deadline.

use super::*;

#[tokio::test]
async fn a_rotation_changes_the_password_and_moves_the_labels() {
    let w = world();
    assert_eq!(w.step(Step::Create).await.unwrap(), Outcome::Created);
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: AWSCURRENT });
    assert_eq!(w.step(Step::Test).await.unwrap(), Outcome::Tested);
    assert_eq!(w.step(Step::Finish).await.unwrap(), Outcome::Finished { previous: Some("v0".into()) });
    w.assert_rotated();
    // One login per step that needs one: no failed login in a normal rotation.
    assert_eq!(w.db.state.lock().unwrap().logins, vec![("app".into(), true), ("app".into(), true)]);
}

#[tokio::test]
async fn create_keeps_every_other_key_and_passes_the_rotation_token() {
    let w = world();
    let mut event = w.event(Step::Create);
    event.rotation_token = Some(RotationToken::new("rt-123".into()));
    w.rotator.run(&event).await.unwrap();
    let pending = w.store.state.lock().unwrap().versions["tok"].0.clone().unwrap();
    let mut pending: serde_json::Value = serde_json::from_str(&pending).unwrap();
    let mut current: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    assert_ne!(pending["password"], current["password"]);
    pending["password"] = "x".into();
    current["password"] = "x".into();
    assert_eq!(pending, current);
    assert_eq!(w.store.state.lock().unwrap().rotation_tokens, vec!["rt-123".to_owned()]);
}

/// Without a RotationToken (`rotate`, an emulator's event), createSecret reads the pending version before it writes,
/// as an emulator may replace a version's value where the service refuses; with one, the refusal is the answer.
#[tokio::test]
async fn create_without_a_rotation_token_looks_before_it_writes() {
    let w = world();
    let mut event = w.event(Step::Create);
    event.rotation_token = None;
    let calls = |w: &World| w.faults.lock().unwrap().calls;
    assert_eq!(w.rotator.run(&event).await.unwrap(), Outcome::Created);
    let first = w.password_of(AWSPENDING);
    assert_eq!(calls(&w), 4, "Describe, AWSCURRENT, the token's version, Put");
    assert_eq!(w.rotator.run(&event).await.unwrap(), Outcome::AlreadyCreated);
    assert_eq!(calls(&w), 7, "no Put once the version has a value");
    assert_eq!(w.step(Step::Create).await.unwrap(), Outcome::AlreadyCreated);
    assert_eq!(calls(&w), 10, "with a RotationToken: Describe, AWSCURRENT, the refused Put");
    assert_eq!(w.password_of(AWSPENDING), first, "the pending password is never replaced");
}

#[tokio::test]
async fn every_step_can_run_twice() {
    let w = world();
    assert_eq!(w.step(Step::Create).await.unwrap(), Outcome::Created);
    assert_eq!(w.step(Step::Create).await.unwrap(), Outcome::AlreadyCreated);
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: AWSCURRENT });
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::AlreadySet);
    assert_eq!(w.step(Step::Test).await.unwrap(), Outcome::Tested);
    assert_eq!(w.step(Step::Test).await.unwrap(), Outcome::Tested);
    assert!(matches!(w.step(Step::Finish).await.unwrap(), Outcome::Finished { .. }));
    assert_eq!(w.step(Step::Finish).await.unwrap(), Outcome::AlreadyCurrent);
    w.assert_rotated();
    // Once finished, every step is a no-op for this token.
    for step in Step::ALL {
        assert_eq!(w.step(step).await.unwrap(), Outcome::AlreadyCurrent);
    }
    w.assert_rotated();
}

#[tokio::test]
async fn set_logs_in_with_the_previous_version_when_current_and_pending_fail() {
    let w = world();
    // The database is still on AWSPREVIOUS's password: a rotation failed after finishSecret's label move
    // went through but the database change was lost (or someone restored a backup).
    {
        let mut state = w.store.state.lock().unwrap();
        state.versions.get_mut("v0").unwrap().1 = vec![AWSPREVIOUS.into()];
        state.versions.insert("v1".into(), (Some(secret_json("app", "pw-1", "db")), vec![AWSCURRENT.into()]));
    }
    w.step(Step::Create).await.unwrap();
    assert_eq!(w.step(Step::Set).await.unwrap(), Outcome::PasswordSet { with: AWSPREVIOUS });
    w.step(Step::Test).await.unwrap();
    assert_eq!(w.step(Step::Finish).await.unwrap(), Outcome::Finished { previous: Some("v1".into()) });
    assert_eq!(w.db_password("app"), w.password_of(AWSCURRENT).unwrap());
}

#[tokio::test]
async fn set_fails_clearly_when_no_version_logs_in() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.db.state.lock().unwrap().passwords.insert("app".into(), "changed-by-hand".into());
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "CredentialsRejected");
    assert!(err.to_string().contains("AWSCURRENT, AWSPENDING or AWSPREVIOUS"), "{err}");
    assert_eq!(w.db_password("app"), "changed-by-hand");
}

#[tokio::test]
async fn a_pending_version_for_another_host_or_user_is_refused() {
    // A pending version that lowers TLS (AWSCURRENT says "ssl": false here, so the pending one raises it: any
    // difference is one createSecret never makes).
    let mut other_tls: serde_json::Value = serde_json::from_str(&secret_json("app", "x", "db")).unwrap();
    other_tls["ssl"] = true.into();
    for (pending, key) in [
        (secret_json("other", "x", "db"), "username"),
        (secret_json("app", "x", "db2"), "host"),
        (other_tls.to_string(), "ssl"),
    ] {
        let w = world();
        w.set_value("tok", pending);
        let err = w.step(Step::Set).await.unwrap_err();
        assert!(matches!(err.kind(), crate::rotation::ErrorKind::PendingMismatch { key: k, .. } if *k == key), "{err}");
        w.assert_untouched();
        assert!(w.db.state.lock().unwrap().logins.is_empty(), "no login may be attempted");
    }
}

#[tokio::test]
async fn stage_checks_refuse_before_anything_changes() {
    let w = world();
    w.store.state.lock().unwrap().rotation_enabled = Some(false);
    for step in Step::ALL {
        assert_eq!(w.step(step).await.unwrap_err().error_type(), "RotationDisabled");
    }
    w.store.state.lock().unwrap().rotation_enabled = None;
    let mut event = w.event(Step::Create);
    event.token = VersionId::new("not-a-version").unwrap();
    assert_eq!(w.rotator.run(&event).await.unwrap_err().error_type(), "StageError");
    w.store.state.lock().unwrap().versions.get_mut("tok").unwrap().1.clear();
    let err = w.step(Step::Create).await.unwrap_err();
    assert!(err.to_string().contains("not staged AWSPENDING"), "{err}");
    w.assert_untouched();
}

#[tokio::test]
async fn steps_that_need_the_pending_value_say_so() {
    let w = world();
    for step in [Step::Set, Step::Test] {
        let err = w.step(step).await.unwrap_err();
        assert_eq!(err.error_type(), "MissingVersion");
        assert!(err.to_string().contains("createSecret must run first"), "{err}");
    }
    w.assert_untouched();
}

#[tokio::test]
async fn malformed_secrets_are_refused_by_name() {
    let w = world();
    w.set_value("v0", r#"{"engine":"postgres","host":"db","password":"pw-0"}"#.into());
    let err = w.step(Step::Create).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidSecret");
    assert!(err.to_string().contains("AWSCURRENT version") && err.to_string().contains("\"username\""), "{err}");
    assert!(!err.to_string().contains("pw-0"), "{err}");
    assert!(w.store.state.lock().unwrap().versions["tok"].0.is_none());
}

#[tokio::test]
async fn an_unreachable_database_is_not_a_wrong_password() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.db.state.lock().unwrap().reachable = false;
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable");
    assert!(err.is_transient());
    assert!(err.to_string().contains("db:5432"), "{err}");
    w.db.state.lock().unwrap().reachable = true;
    w.assert_untouched();
    // Once the database is back, the service's retry completes the rotation.
    w.rotate().await.unwrap();
    w.assert_rotated();
}

#[tokio::test]
async fn finish_removes_a_pending_label_left_on_the_current_version() {
    let w = world();
    w.rotate().await.unwrap();
    w.store.state.lock().unwrap().versions.get_mut("tok").unwrap().1.push(AWSPENDING.into());
    assert_eq!(w.step(Step::Finish).await.unwrap(), Outcome::PendingCleared);
    w.assert_rotated();
}

/// Two finishSecret invocations overlap: this one saw the version already AWSCURRENT with AWSPENDING still on it,
/// and the other removed AWSPENDING before this one could. The work is done; that is not an error.
#[tokio::test]
async fn finish_after_an_overlapping_finish_removed_the_pending_label_succeeds() {
    let w = world();
    w.rotate().await.unwrap();
    let mut stale = w.store.describe(SECRET).await.unwrap();
    stale.versions.get_mut("tok").unwrap().push(AWSPENDING.into());
    w.store.state.lock().unwrap().stale_describes.push(stale);
    assert_eq!(w.step(Step::Finish).await.unwrap(), Outcome::PendingCleared);
    w.assert_rotated();
}

/// A fault at every external call of a rotation, failing before or after the call takes effect; then the service
/// retries the whole rotation with the same token until it succeeds. Whatever failed, the rotation converges.
#[tokio::test]
async fn a_crash_at_any_call_then_a_retry_converges() {
    let calls = {
        let w = world();
        w.rotate().await.unwrap();
        w.faults.lock().unwrap().calls
    };
    // 11 Secrets Manager calls (Describe 4, Get 4, Put 1, UpdateStage 2) and 4 database calls (2 logins,
    // the password change, the test query): the figures docs/design.md gives.
    assert_eq!(calls, 15, "a rotation makes {calls} external calls");
    for n in 1..=calls {
        for after in [false, true] {
            let w = world();
            w.faults.lock().unwrap().fail = Some((n, after));
            assert!(w.rotate().await.is_err(), "call {n} was not failed");
            // Until the rotation completes, some labelled version of the secret logs in.
            let db = w.db_password("app");
            let logs_in = [AWSCURRENT, AWSPENDING, AWSPREVIOUS].iter().any(|l| w.password_of(l) == Some(db.clone()));
            assert!(logs_in, "fault at call {n} (after: {after}) left no working version");
            w.faults.lock().unwrap().fail = None;
            let mut attempts = 0;
            while let Err(err) = w.rotate().await {
                attempts += 1;
                assert!(attempts < 3, "fault at call {n} (after: {after}): retries do not converge: {err}");
            }
            w.assert_rotated();
        }
    }
}

/// A step that would outlive the invocation stops before Lambda's deadline with a transient error; the retry
/// completes the rotation.
#[tokio::test(start_paused = true)]
async fn a_step_stops_before_the_lambda_deadline_and_the_retry_completes() {
    use tokio::time::Instant;
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.db.state.lock().unwrap().delay = Some(std::time::Duration::from_secs(30));
    let deadline = Instant::now() + super::super::DEADLINE_MARGIN + std::time::Duration::from_millis(300);
    let started = Instant::now();
    let mut facts = super::super::StepFacts::default();
    let err = w.rotator.run_until(&w.event(Step::Set), &mut facts, Some(deadline)).await.unwrap_err();
    assert!(Instant::now() < deadline, "stopped before the deadline ({:?})", started.elapsed());
    assert_eq!(err.error_type(), "DeadlineReached", "{err}");
    assert!(err.is_transient());
    w.db.state.lock().unwrap().delay = None;
    for step in [Step::Set, Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    w.assert_rotated();
}
