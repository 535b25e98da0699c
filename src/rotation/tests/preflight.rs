//! The preflight (`check`) against the fakes: it fails where a rotation fails, with the rotation's error, and it
//! changes nothing — no password set, no user made, no version stored or label moved — whatever it finds.

use super::*;
use crate::rotation::preflight::{Check, Report};

/// The store's versions and labels, and the database's password changes, twins and logins so far.
type Snapshot = (BTreeMap<String, (Option<String>, Vec<String>)>, usize, HashMap<String, String>);

fn snapshot<R: RdsApi>(w: &World<R>) -> Snapshot {
    let store = w.store.state.lock().unwrap().versions.clone();
    let db = w.db.state.lock().unwrap();
    (store, db.changes.len(), db.twins.clone())
}

async fn preflight<R: RdsApi>(w: &World<R>) -> Report {
    let before = snapshot(w);
    let report = w.rotator.preflight(SECRET).await;
    assert_eq!(snapshot(w), before, "the preflight changed something: {report:?}");
    report
}

fn failed(report: &Report) -> (&'static str, Check) {
    let failure = report.failure.as_ref().expect("the preflight fails");
    (failure.error.error_type(), failure.check)
}

#[tokio::test]
async fn a_rotatable_secret_passes_and_nothing_changes() {
    let w = world();
    let report = preflight(&w).await;
    assert!(report.passed(), "{report:?}");
    let checks: Vec<Check> = report.findings.iter().map(|f| f.check).collect();
    for check in [Check::SecretsManager, Check::Secret, Check::Passwords, Check::Database, Check::PasswordChange] {
        assert!(checks.contains(&check), "{check} missing: {report:?}");
    }
    // One login, with AWSCURRENT: no failed login for brute-force alarms to count.
    assert_eq!(w.db.state.lock().unwrap().logins, vec![("app".into(), true)]);
    // And the rotation it said would work does.
    w.rotate().await.unwrap();
    w.assert_rotated();
}

/// A drifted password: the preflight fails as setSecret would, after one failed login — it does not try AWSPREVIOUS,
/// a rotation's last resort, since every failed login counts toward lockouts.
#[tokio::test]
async fn a_drifted_password_fails_as_the_rotation_would_after_one_login() {
    let w = world();
    w.db.state.lock().unwrap().passwords.insert("app".into(), "changed-by-hand".into());
    let previous = secret_json("app", "pw-old", "db");
    w.store.state.lock().unwrap().versions.insert("v-1".into(), (Some(previous), vec![AWSPREVIOUS.into()]));
    let report = preflight(&w).await;
    assert_eq!(failed(&report), ("CredentialsRejected", Check::Database), "{report:?}");
    let message = report.failure.as_ref().unwrap().error.to_string();
    assert!(message.contains("check does not try AWSPREVIOUS"), "{message}");
    assert_eq!(w.db.state.lock().unwrap().logins, vec![("app".into(), false)]);
    w.step(Step::Create).await.unwrap();
    assert_eq!(w.step(Step::Set).await.unwrap_err().error_type(), "CredentialsRejected");
}

/// A rotation interrupted after setSecret: the database has the pending password. The preflight previews the
/// stored pending version, as the service's retry runs it, and passes; the retry completes.
#[tokio::test]
async fn a_rotation_interrupted_after_set_secret_passes_and_its_retry_completes() {
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    let report = preflight(&w).await;
    assert!(report.passed(), "{report:?}");
    assert!(report.findings.iter().any(|f| f.note && f.detail.contains("already has the AWSPENDING password")));
    for step in [Step::Set, Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    w.assert_rotated();
}

/// A pending version that no longer matches AWSCURRENT: the retry fails with PendingMismatch, and so does check.
#[tokio::test]
async fn a_pending_version_for_another_host_fails_as_its_retry_would() {
    let w = world();
    w.set_value("tok", secret_json("app", "pw-new", "elsewhere"));
    let report = preflight(&w).await;
    assert_eq!(failed(&report), ("PendingMismatch", Check::Secret), "{report:?}");
    assert_eq!(w.step(Step::Set).await.unwrap_err().error_type(), "PendingMismatch");
}

#[tokio::test]
async fn alternating_users_pass_and_nothing_is_made() {
    let w = alternating_world();
    let report = preflight(&w).await;
    assert!(report.passed(), "{report:?}");
    let alternate = report.findings.iter().find(|f| f.check == Check::Alternate).unwrap();
    assert!(alternate.detail.contains("creates \"app_clone\""), "{alternate:?}");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
}

/// An other user the secret does not hold: the preflight fails as setSecret would, changing nothing.
#[tokio::test]
async fn an_alternate_the_secret_does_not_hold_fails_as_the_rotation_would() {
    let w = alternating_world();
    w.db.state.lock().unwrap().passwords.insert("app_clone".into(), "someone-elses".into());
    let report = preflight(&w).await;
    assert_eq!(failed(&report), ("AlternateUserConflict", Check::Alternate), "{report:?}");
    assert_eq!(w.db_password("app_clone"), "someone-elses");
    w.step(Step::Create).await.unwrap();
    assert_eq!(w.step(Step::Set).await.unwrap_err().error_type(), "AlternateUserConflict");
}

/// An account administrator: refused by both, with the same error.
#[tokio::test]
async fn an_account_administrator_fails_as_the_rotation_would() {
    let w = alternating_world();
    w.db.state.lock().unwrap().admins.insert("app".into(), "holds CREATE USER".into());
    let report = preflight(&w).await;
    assert_eq!(failed(&report), ("AlternateUserRefused", Check::Alternate), "{report:?}");
    w.step(Step::Create).await.unwrap();
    assert_eq!(w.step(Step::Set).await.unwrap_err().error_type(), "AlternateUserRefused");
}

/// `check` warns when an entry of MASTER_SECRET_ARNS also names the checked secret itself (`*`, a prefix, its name):
/// another secret's writer could name it as a master. A note: the secret itself rotates as before.
#[tokio::test]
async fn a_master_secret_entry_naming_the_secret_itself_is_a_note() {
    for (entry, warned) in [("*", true), ("app-*", true), ("app-secret", true), ("master-secret", false)] {
        let w = world();
        let settings = Settings { master_secrets: vec![entry.to_owned()], ..settings() };
        let w = World { rotator: Rotator::new(w.store.clone(), w.db.clone(), settings), ..w };
        let report = w.rotator.preflight(SECRET).await;
        assert!(report.passed(), "{report:?}");
        let note = report.findings.iter().find(|f| f.check == Check::MasterSecret && f.note);
        assert_eq!(note.is_some(), warned, "{entry}: {report:?}");
        if let Some(note) = note {
            assert!(note.detail.contains("also names this secret"), "{}", note.detail);
        }
    }
}

/// `check` and a rotation take setSecret's one plan (`plan.rs`): for each state a secret can be in, the plan's change
/// is what `check` describes and what a rotation then does — described in one world, applied in a twin of it.
#[tokio::test]
async fn check_describes_the_plan_a_rotation_applies() {
    use crate::rotation::SetRequest;
    use crate::rotation::plan::{Change, Plan};

    /// The plan's change, by name.
    fn kind(plan: &Plan<'_, FakeSession>) -> &'static str {
        match plan.change {
            Change::AlreadySet => "AlreadySet",
            Change::Password { .. } => "Password",
            Change::LastResort => "LastResort",
            Change::Twin { .. } => "Twin",
        }
    }
    /// setSecret's plan in `w` after createSecret, with what describing it (`check`) or applying it shows.
    async fn plan_in(w: &World, apply: bool) -> (&'static str, String) {
        let current = w.rotator.require(SECRET, Version::Current).await.unwrap();
        let pending = w.rotator.require(SECRET, Version::Pending(&w.token)).await.unwrap();
        let deadline = w.rotator.topology().wait_deadline(None);
        let request = SetRequest {
            secret_id: SECRET,
            token: &w.token,
            current: &current,
            pending: &pending,
            deadline,
            pending_stored: true,
        };
        let plan = w.rotator.plan(request).await.unwrap();
        let change = kind(&plan);
        let shown = if apply {
            w.rotator.apply(plan).await.map(|outcome| outcome.to_string())
        } else {
            w.rotator.describe(plan).await.map(|f| f.iter().map(|f| f.detail.clone()).collect::<Vec<_>>().join("; "))
        };
        (change, shown.unwrap_or_else(|err| err.error_type().to_owned()))
    }

    // (state, its world, the plan's change, what check says, what the rotation did)
    type Case = (&'static str, fn() -> World, &'static str, &'static str, &'static str);
    let cases: [Case; 4] = [
        ("a rotation", world, "Password", "fake", "changed the password, logged in with AWSCURRENT"),
        ("after setSecret's change", world, "AlreadySet", "nothing to change", "nothing to do: the database already"),
        ("a drifted password", world, "LastResort", "CredentialsRejected", "CredentialsRejected"),
        (
            "alternating users",
            alternating_world,
            "Twin",
            "creates \"app_clone\"",
            "changed the password, logged in with the master secret",
        ),
    ];
    for (state, make, change, said, did) in cases {
        let (described, applied) = (make(), make());
        for w in [&described, &applied] {
            w.step(Step::Create).await.unwrap();
            let password = match state {
                "after setSecret's change" => Some(w.password_of(AWSPENDING).unwrap()),
                "a drifted password" => Some("set-by-hand".to_owned()),
                _ => None,
            };
            if let Some(password) = password {
                w.db.state.lock().unwrap().passwords.insert("app".into(), password);
            }
        }
        let before = snapshot(&described);
        let (planned, findings) = plan_in(&described, false).await;
        assert_eq!(snapshot(&described), before, "{state}: describing the plan changed nothing");
        let (replanned, outcome) = plan_in(&applied, true).await;
        assert_eq!((planned, replanned), (change, change), "{state}: the plan");
        assert!(findings.contains(said), "{state}: check said {findings}");
        assert!(outcome.starts_with(did), "{state}: the rotation {outcome}");
    }
}
