//! The protocol core against fakes: a secret store that behaves like Secrets Manager (labels, AWSPREVIOUS on
//! moving AWSCURRENT, PutSecretValue idempotency per token) and a database that knows one password per user.
//! Both count their external calls, so a fault can be injected at any one of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use super::{Outcome, Rotator};
use crate::config::Config;
use crate::domain::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Login, Password, RotationToken, Step, Target, TlsChoice, UserName, VersionId,
};
use crate::engines::{
    AccountAdmin, Alternate, DbEngine, DbSession, EngineError, EngineErrorKind, LoginOutcome, Preflight,
    RotationSession,
};
use crate::event::RotationEvent;
use crate::rds::{NoRds, RdsApi};
use crate::rotation::Error;
use crate::secret::{DbSecret, SecretDefaults};
use crate::store::{Fetched, SecretMeta, SecretStore, StoreError, StoreErrorKind, Version};

mod cancel;
mod preflight;
mod topology;

const SECRET: &str = "app-secret";

/// Fails one external call, counted across the store and the database.
#[derive(Default)]
struct Faults {
    calls: usize,
    /// The call (1-based) to fail, and whether it takes effect before failing (a timeout after the commit).
    fail: Option<(usize, bool)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    Before,
    After,
}

impl Faults {
    fn next(&mut self) -> Fault {
        self.calls += 1;
        match self.fail {
            Some((n, after)) if n == self.calls => {
                if after {
                    Fault::After
                } else {
                    Fault::Before
                }
            }
            _ => Fault::None,
        }
    }
}

#[derive(Default)]
struct StoreState {
    rotation_enabled: Option<bool>,
    /// Version id -> (value, labels).
    versions: BTreeMap<String, (Option<String>, Vec<String>)>,
    rotation_tokens: Vec<String>,
    /// AWSCURRENT of other secrets (the master secret of alternating users), by id.
    others: HashMap<String, String>,
    /// What the next DescribeSecret calls answer instead of the state: what an invocation saw just before an
    /// overlapping one changed the labels.
    stale_describes: Vec<SecretMeta>,
}

#[derive(Clone)]
struct FakeStore {
    state: Arc<Mutex<StoreState>>,
    faults: Arc<Mutex<Faults>>,
}

struct DbState {
    host: String,
    reachable: bool,
    passwords: HashMap<String, String>,
    logins: Vec<(String, bool)>,
    /// Every login attempt, reachable or not: (user, host).
    attempts: Vec<(String, String)>,
    /// Every login attempt's host and the `tlsServerName` it carried: (user, host, name).
    names: Vec<(String, String, Option<String>)>,
    /// How long each login takes (a server that hangs).
    delay: Option<std::time::Duration>,
    /// Alternating users: the user each alternate was last made the twin of.
    twins: HashMap<String, String>,
    /// Users that could administer accounts, and why.
    admins: HashMap<String, String>,
    /// Accounts of a user that hold another password than the secret's (the MySQL family's other host parts).
    foreign: HashMap<String, Vec<String>>,
    /// Hosts that replicate the writer (`host`) with a lag: a reader endpoint, a read replica.
    readers: HashMap<String, std::time::Duration>,
    /// Every password change at the writer, on tokio's clock: (when, user, the password before).
    changes: Vec<(tokio::time::Instant, String, Option<String>)>,
}

impl DbState {
    /// `user`'s password as a host sees it: the writer's now, a reader's as the writer's was `lag` ago.
    fn password_at(&self, host: &str, user: &str) -> Option<String> {
        if host == self.host {
            return self.passwords.get(user).cloned();
        }
        let lag = self.readers.get(host)?;
        let seen = tokio::time::Instant::now().checked_sub(*lag)?;
        // The oldest change the reader has not seen yet holds what it still has.
        let unseen = self.changes.iter().find(|(when, who, _)| who == user && *when > seen);
        match unseen {
            Some((_, _, before)) => before.clone(),
            None => self.passwords.get(user).cloned(),
        }
    }

    fn change(&mut self, user: &str, password: &str) {
        let before = self.passwords.insert(user.to_owned(), password.to_owned());
        self.changes.push((tokio::time::Instant::now(), user.to_owned(), before));
    }
}

#[derive(Clone)]
struct FakeDb {
    state: Arc<Mutex<DbState>>,
    faults: Arc<Mutex<Faults>>,
}

struct FakeSession {
    db: FakeDb,
    target: Target,
}

fn unavailable(operation: &'static str) -> StoreError {
    let message = "injected fault".to_owned();
    StoreError { operation, secret_id: SECRET.into(), kind: StoreErrorKind::Unavailable, message }
}

fn refused(operation: &'static str, message: &str) -> StoreError {
    StoreError { operation, secret_id: SECRET.into(), kind: StoreErrorKind::Refused, message: message.into() }
}

impl StoreState {
    fn labelled(&self, label: &str) -> Option<&String> {
        self.versions.iter().find(|(_, (_, labels))| labels.iter().any(|l| l == label)).map(|(id, _)| id)
    }

    fn value(&self, label: &str) -> Option<String> {
        let id = self.labelled(label)?;
        self.versions[id].0.clone()
    }

    fn has(&self, id: &str, label: &str) -> bool {
        self.versions.get(id).is_some_and(|(_, labels)| labels.iter().any(|l| l == label))
    }

    fn detach(&mut self, label: &str) {
        for (_, labels) in self.versions.values_mut() {
            labels.retain(|l| l != label);
        }
    }
}

impl SecretStore for FakeStore {
    async fn describe(&self, _: &str) -> Result<SecretMeta, StoreError> {
        if self.faults.lock().unwrap().next() != Fault::None {
            return Err(unavailable("DescribeSecret"));
        }
        let mut state = self.state.lock().unwrap();
        if !state.stale_describes.is_empty() {
            return Ok(state.stale_describes.remove(0));
        }
        let versions = state.versions.iter().map(|(id, (_, labels))| (id.clone(), labels.clone())).collect();
        Ok(SecretMeta { rotation_enabled: state.rotation_enabled, versions, tags: Default::default() })
    }

    async fn get(&self, id: &str, version: Version<'_>) -> Result<Fetched, StoreError> {
        if self.faults.lock().unwrap().next() != Fault::None {
            return Err(unavailable("GetSecretValue"));
        }
        let state = self.state.lock().unwrap();
        if id != SECRET {
            // As the adapter reports ResourceNotFoundException.
            return Ok(state
                .others
                .get(id)
                .map_or(Fetched::Missing, |v| Fetched::Text(SecretString::from(v.clone()), None)));
        }
        let value = match version {
            Version::Current => state.value(AWSCURRENT),
            Version::Previous => state.value(AWSPREVIOUS),
            Version::Pending(token) => match state.versions.get(token.as_str()) {
                None => None,
                Some(_) if !state.has(token.as_str(), AWSPENDING) => {
                    return Err(refused("GetSecretValue", "version is not AWSPENDING"));
                }
                Some((value, _)) => value.clone(),
            },
        };
        Ok(value.map_or(Fetched::Missing, |v| Fetched::Text(SecretString::from(v), None)))
    }

    async fn put_pending(
        &self,
        _: &str,
        token: &VersionId,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        let fault = self.faults.lock().unwrap().next();
        if fault == Fault::Before {
            return Err(unavailable("PutSecretValue"));
        }
        let mut state = self.state.lock().unwrap();
        let value = value.expose_secret().to_owned();
        if let Some((Some(existing), _)) = state.versions.get(token.as_str())
            && *existing != value
        {
            let message = "ResourceExistsException".into();
            return Err(StoreError {
                operation: "PutSecretValue",
                secret_id: SECRET.into(),
                kind: StoreErrorKind::VersionExists,
                message,
            });
        }
        state.detach(AWSPENDING);
        let entry = state.versions.entry(token.to_string()).or_default();
        entry.0 = Some(value);
        entry.1.push(AWSPENDING.into());
        state.rotation_tokens.extend(rotation_token.map(|t| t.expose().to_owned()));
        if fault == Fault::After { Err(unavailable("PutSecretValue")) } else { Ok(()) }
    }

    async fn move_stage(
        &self,
        _: &str,
        stage: &str,
        to: Option<&VersionId>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        let fault = self.faults.lock().unwrap().next();
        if fault == Fault::Before {
            return Err(unavailable("UpdateSecretVersionStage"));
        }
        let mut state = self.state.lock().unwrap();
        if let Some(from) = from {
            if !state.has(from, stage) {
                return Err(refused("UpdateSecretVersionStage", "stage not on RemoveFromVersionId"));
            }
            state.versions.get_mut(from).unwrap().1.retain(|l| l != stage);
        } else if state.labelled(stage).is_some() && to.is_some() {
            return Err(refused("UpdateSecretVersionStage", "RemoveFromVersionId missing"));
        }
        if let Some(to) = to {
            let Some((_, labels)) = state.versions.get_mut(to.as_str()) else {
                return Err(refused("UpdateSecretVersionStage", "no such version"));
            };
            labels.push(stage.to_owned());
            if stage == AWSCURRENT
                && let Some(from) = from
            {
                state.detach(AWSPREVIOUS);
                state.versions.get_mut(from).unwrap().1.push(AWSPREVIOUS.into());
            }
        }
        if fault == Fault::After { Err(unavailable("UpdateSecretVersionStage")) } else { Ok(()) }
    }
}

impl FakeDb {
    fn error(&self, at: &Target) -> EngineError {
        EngineError::new(EngineErrorKind::Unreachable, at, "injected fault")
    }
}

impl DbEngine for FakeDb {
    type Session = FakeSession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<FakeSession>, EngineError> {
        if self.faults.lock().unwrap().next() != Fault::None {
            return Err(self.error(at));
        }
        let delay = {
            let mut state = self.state.lock().unwrap();
            state.attempts.push((login.user.as_str().to_owned(), at.host.clone()));
            state.names.push((login.user.as_str().to_owned(), at.host.clone(), at.tls_server_name.clone()));
            state.delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.state.lock().unwrap();
        if !state.reachable || (state.host != at.host && !state.readers.contains_key(&at.host)) {
            return Err(EngineError::new(EngineErrorKind::Unreachable, at, "connection refused"));
        }
        let user = login.user.as_str();
        let accepted = state.password_at(&at.host, user).is_some_and(|pw| pw == login.password.expose_secret());
        state.logins.push((user.to_owned(), accepted));
        Ok(if accepted {
            LoginOutcome::Accepted(FakeSession { db: self.clone(), target: at.clone() })
        } else {
            LoginOutcome::Rejected
        })
    }

    /// As the drivers under the default settings: `"ssl": true` and master logins verify, nothing else does.
    fn verifies_certificate(&self, at: &Target) -> bool {
        !matches!(at.tls, TlsChoice::Secret(None | Some(false)))
    }
}

impl DbSession for FakeSession {
    async fn close(self) {}
}

impl RotationSession for FakeSession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        let fault = self.db.faults.lock().unwrap().next();
        if fault == Fault::Before {
            return Err(self.db.error(&self.target));
        }
        let mut state = self.db.state.lock().unwrap();
        state.change(user.as_str(), new.expose_secret());
        if fault == Fault::After { Err(self.db.error(&self.target)) } else { Ok(()) }
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        Ok(())
    }
}

impl AccountAdmin for FakeSession {
    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        Ok(self.db.state.lock().unwrap().passwords.contains_key(user.as_str()))
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        Ok(self.db.state.lock().unwrap().admins.get(user.as_str()).cloned())
    }

    async fn unproven_accounts(&mut self, user: &UserName, _password: &Password) -> Result<Vec<String>, EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        Ok(self.db.state.lock().unwrap().foreign.get(user.as_str()).cloned().unwrap_or_default())
    }

    async fn master_authority(&mut self, _pair: Alternate<'_>) -> Result<(), EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        Ok(())
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        let fault = self.db.faults.lock().unwrap().next();
        if fault == Fault::Before {
            return Err(self.db.error(&self.target));
        }
        let mut state = self.db.state.lock().unwrap();
        state.change(pair.next.as_str(), password.expose_secret());
        state.twins.insert(pair.next.as_str().to_owned(), pair.current.as_str().to_owned());
        if fault == Fault::After { Err(self.db.error(&self.target)) } else { Ok(()) }
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        if self.db.faults.lock().unwrap().next() != Fault::None {
            return Err(self.db.error(&self.target));
        }
        let state = self.db.state.lock().unwrap();
        if state.twins.get(pair.next.as_str()).map(String::as_str) == Some(pair.current.as_str()) {
            Ok(())
        } else {
            Err(EngineError::new(EngineErrorKind::Statement, &self.target, "privileges differ"))
        }
    }
}

impl Preflight for FakeSession {
    async fn describe_password_change(&mut self, _: &UserName) -> Result<String, EngineError> {
        Ok("fake".to_owned())
    }
}

/// A secret with one AWSCURRENT version, a database on its password, and a token staged as RotateSecret does; the
/// RDS API where a test gives one (`topology.rs`).
struct World<R = NoRds> {
    store: FakeStore,
    db: FakeDb,
    faults: Arc<Mutex<Faults>>,
    token: VersionId,
    rotator: Rotator<FakeStore, FakeDb, R>,
}

fn secret_json(user: &str, password: &str, host: &str) -> String {
    serde_json::json!({
        "engine": "postgres", "host": host, "port": 5432, "username": user, "password": password,
        "dbname": "app", "ssl": false, "team": "payments",
    })
    .to_string()
}

fn world() -> World {
    let faults = Arc::new(Mutex::new(Faults::default()));
    let mut store_state = StoreState { rotation_enabled: Some(true), ..StoreState::default() };
    store_state.versions.insert("v0".into(), (Some(secret_json("app", "pw-0", "db")), vec![AWSCURRENT.into()]));
    store_state.versions.insert("tok".into(), (None, vec![AWSPENDING.into()]));
    let store = FakeStore { state: Arc::new(Mutex::new(store_state)), faults: faults.clone() };
    let db_state = DbState {
        host: "db".into(),
        reachable: true,
        passwords: HashMap::from([("app".into(), "pw-0".into()), ("other".into(), "other-pw".into())]),
        logins: Vec::new(),
        attempts: Vec::new(),
        names: Vec::new(),
        delay: None,
        twins: HashMap::new(),
        admins: HashMap::new(),
        foreign: HashMap::new(),
        readers: HashMap::new(),
        changes: Vec::new(),
    };
    let db = FakeDb { state: Arc::new(Mutex::new(db_state)), faults: faults.clone() };
    let config = Config::from_lookup(|name| (name == "MASTER_SECRET_ARNS").then(|| MASTER.to_owned())).unwrap();
    let rotator = Rotator::new(store.clone(), db.clone(), config.rotation);
    World { store, db, faults, token: VersionId::new("tok").unwrap(), rotator }
}

impl<R: RdsApi> World<R> {
    /// The event as the service sends it, with the rotation's RotationToken.
    fn event(&self, step: Step) -> RotationEvent {
        let rotation_token = Some(RotationToken::new("rt".into()));
        RotationEvent { step, secret_id: SECRET.into(), token: self.token.clone(), rotation_token }
    }

    async fn step(&self, step: Step) -> Result<Outcome, Error> {
        self.rotator.run(&self.event(step)).await
    }

    async fn rotate(&self) -> Result<(), Error> {
        for step in Step::ALL {
            self.step(step).await?;
        }
        Ok(())
    }

    fn db_password(&self, user: &str) -> String {
        self.db.state.lock().unwrap().passwords[user].clone()
    }

    fn password_of(&self, label: &str) -> Option<String> {
        let value = self.store.state.lock().unwrap().value(label)?;
        Some(DbSecret::parse(&value, &SecretDefaults::default()).unwrap().password().expose_secret().to_owned())
    }

    fn labels(&self) -> Vec<(String, Vec<String>)> {
        let state = self.store.state.lock().unwrap();
        state.versions.iter().map(|(id, (_, labels))| (id.clone(), labels.clone())).collect()
    }

    fn set_value(&self, id: &str, value: String) {
        self.store.state.lock().unwrap().versions.get_mut(id).unwrap().0 = Some(value);
    }

    /// The end state of a completed rotation: the token is AWSCURRENT and the database has its password, the old
    /// version is AWSPREVIOUS, no AWSPENDING is left, and nothing else in the database changed.
    fn assert_rotated(&self) {
        let new = self.password_of(AWSCURRENT).unwrap();
        assert_ne!(new, "pw-0");
        assert_eq!(self.db_password("app"), new);
        assert_eq!(self.password_of(AWSPREVIOUS).as_deref(), Some("pw-0"));
        assert_eq!(
            self.labels(),
            vec![("tok".to_owned(), vec![AWSCURRENT.to_owned()]), ("v0".to_owned(), vec![AWSPREVIOUS.to_owned()])]
        );
        assert_eq!(self.db_password("other"), "other-pw");
    }

    /// Nothing changed: the database and the labels are as `world()` made them.
    fn assert_untouched(&self) {
        assert_eq!(self.db_password("app"), "pw-0");
        assert_eq!(self.db_password("other"), "other-pw");
        assert_eq!(self.password_of(AWSCURRENT).as_deref(), Some("pw-0"));
        let labels = self.labels();
        assert!(labels.contains(&("v0".to_owned(), vec![AWSCURRENT.to_owned()])), "{labels:?}");
    }
}

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
        assert!(matches!(err, Error::PendingMismatch { key: k, .. } if k == key), "{err}");
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

const MASTER: &str = "arn:aws:secretsmanager:us-east-1:1:secret:master";

/// `world()` with alternating users: the secret names a master secret, and the master's user exists.
fn alternating_world() -> World {
    let w = world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    let master = serde_json::json!({"engine": "postgres", "host": "db", "username": "admin", "password": "admin-pw"});
    w.store.state.lock().unwrap().others.insert(MASTER.into(), master.to_string());
    w.db.state.lock().unwrap().passwords.insert("admin".into(), "admin-pw".into());
    w
}

impl World {
    fn user_of(&self, label: &str) -> Option<String> {
        let value = self.store.state.lock().unwrap().value(label)?;
        Some(DbSecret::parse(&value, &SecretDefaults::default()).unwrap().username().as_str().to_owned())
    }

    /// Starts the next rotation: a new token staged as RotateSecret does.
    fn next_token(&mut self, token: &str) {
        self.store.state.lock().unwrap().versions.insert(token.into(), (None, vec![AWSPENDING.into()]));
        self.token = VersionId::new(token).unwrap();
    }

    /// Alternating users' end state: AWSCURRENT's user has AWSCURRENT's password and is the twin of the previous
    /// user, who keeps AWSPREVIOUS's password; the master and the unrelated user are untouched.
    fn assert_alternated(&self, current: &str, previous: &str) {
        assert_eq!(self.user_of(AWSCURRENT).as_deref(), Some(current));
        assert_eq!(self.user_of(AWSPREVIOUS).as_deref(), Some(previous));
        assert_eq!(self.db_password(current), self.password_of(AWSCURRENT).unwrap());
        assert_eq!(self.db_password(previous), self.password_of(AWSPREVIOUS).unwrap());
        assert_eq!(self.db.state.lock().unwrap().twins[current], previous);
        assert_eq!(self.db_password("admin"), "admin-pw");
        assert_eq!(self.db_password("other"), "other-pw");
        assert!(self.store.state.lock().unwrap().labelled(AWSPENDING).is_none());
    }
}

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
        assert!(matches!(err, Error::PendingMismatch { key: k, .. } if k == key), "{key}: {err}");
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

// ------------------------------------------------------------------ trust boundaries (alternating users)

/// The master logs in nowhere but where its own secret says: a master secret without a host (and no RDS tags)
/// fails closed, naming what is missing; the master's password is never tried at the rotated secret's host.
#[tokio::test]
async fn a_master_secret_without_a_host_fails_closed() {
    let w = alternating_world();
    let bare = serde_json::json!({"username": "admin", "password": "admin-pw"});
    w.store.state.lock().unwrap().others.insert(MASTER.into(), bare.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(err.to_string().contains("holds no host") && err.to_string().contains("add \"host\""), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
    w.assert_untouched();
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
}

/// A login proves one account; where the current user's name has accounts that hold another password (the MySQL
/// family's other host parts), the rotation refuses before the master changes anything, naming them — and the
/// preflight says the same.
#[tokio::test]
async fn an_account_of_the_current_user_it_cannot_prove_stops_the_rotation() {
    let w = alternating_world();
    w.db.state.lock().unwrap().foreign.insert("app".into(), vec!["\"app\"@\"%\" (mysql_native_password)".into()]);
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(
        err.to_string().contains("\"app\"@\"%\" (mysql_native_password) does not hold AWSCURRENT's password"),
        "{err}"
    );
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"), "no alternate was made");
    let report = w.rotator.preflight(SECRET).await;
    let failure = report.failure.expect("the preflight fails as the rotation does");
    assert_eq!(failure.error.error_type(), "AlternateUserRefused");
}

/// The master's protocol and port come from the master's side only: a master secret with a host but no engine
/// takes none from the rotated secret (whose writer would pick which protocol the master's password goes out in),
/// but the operator's DEFAULT_ENGINE; one of the other family is refused. Neither refusal logs in anywhere.
#[tokio::test]
async fn the_masters_engine_comes_from_the_masters_side_only() {
    let hostless_engine = serde_json::json!({"host": "db", "username": "admin", "password": "admin-pw"});
    let other_family =
        serde_json::json!({"engine": "mariadb", "host": "db", "username": "admin", "password": "admin-pw"});
    for (master, why) in [
        (&hostless_engine, "holds a \"host\" but no \"engine\""),
        (&other_family, "is for engine mariadb (its own \"engine\"), and the rotated secret for postgres"),
    ] {
        let w = alternating_world();
        w.store.state.lock().unwrap().others.insert(MASTER.into(), master.to_string());
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{master}: no login at all");
        w.assert_untouched();
    }
    // The operator says which engine a secret without one is: the master's protocol is then the operator's word.
    let w = alternating_world();
    w.store.state.lock().unwrap().others.insert(MASTER.into(), hostless_engine.to_string());
    let config = Config::from_lookup(|name| match name {
        "MASTER_SECRET_ARNS" => Some(MASTER.to_owned()),
        "DEFAULT_ENGINE" => Some("postgres".to_owned()),
        _ => None,
    })
    .unwrap();
    let w = World { rotator: Rotator::new(w.store.clone(), w.db.clone(), config.rotation), ..w };
    w.rotate().await.unwrap();
    w.assert_alternated("app_clone", "app");
}

/// A rotated secret that points elsewhere than the master's host cannot send the master there: refused before any
/// login, whatever the rotated secret's host, port or `ssl`.
#[tokio::test]
async fn a_rotated_secret_cannot_point_the_master_at_another_host() {
    for (host, port) in [("attacker.example", 5432), ("db", 6543)] {
        let w = alternating_world();
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", host)).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["port"] = port.into();
        w.set_value("v0", secret.to_string());
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains("the master logs in only where its own secret says"), "{err}");
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{host}:{port}: no login at all");
        assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
    }
}

/// An alternating-users secret whose host is an alias of the master's endpoint, naming that endpoint in
/// `tlsServerName`: over verified TLS it rotates, applications' logins (testSecret, setSecret's wait) go to the alias
/// and verify that name there, and the master's own logins never carry it. Over TLS that is not verified the name
/// proves nothing: refused before any login, naming what to do.
#[tokio::test]
async fn an_alias_stands_for_the_masters_endpoint_only_over_verified_tls() {
    let aliased = |ssl: Option<bool>, name: &str| {
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "alias.corp")).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["tlsServerName"] = name.into();
        match ssl {
            Some(ssl) => secret["ssl"] = ssl.into(),
            None => drop(secret.as_object_mut().unwrap().remove("ssl")),
        }
        secret.to_string()
    };
    let w = alternating_world();
    w.set_value("v0", aliased(Some(true), "DB"));
    w.db.state.lock().unwrap().readers.insert("alias.corp".into(), std::time::Duration::ZERO);
    w.rotate().await.unwrap();
    w.assert_alternated("app_clone", "app");
    let names = w.db.state.lock().unwrap().names.clone();
    for (user, host, name) in &names {
        match user.as_str() {
            "admin" => assert_eq!((host.as_str(), name), ("db", &None), "the master logs in where its secret says"),
            _ if host == "alias.corp" => {
                assert_eq!(name.as_deref(), Some("db"), "{user} at the alias verifies the name")
            }
            _ => assert_eq!((host.as_str(), name), ("db", &None), "{user} at the master's endpoint takes its name"),
        }
    }
    let at_alias: Vec<_> = names.iter().filter(|(_, host, _)| host == "alias.corp").map(|(user, ..)| user).collect();
    assert_eq!(
        at_alias,
        ["app", "app_clone", "app_clone"],
        "AWSCURRENT before the master acts, then setSecret's wait and testSecret, where applications connect"
    );

    // An alias whose name verifies but that does not reach the master's database (here: nothing answers there):
    // AWSCURRENT is tried there first, so it fails before the master logs in at all.
    let w = alternating_world();
    w.set_value("v0", aliased(Some(true), "DB"));
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    assert!(err.to_string().contains("alias.corp"), "{err}");
    let logins = w.db.state.lock().unwrap().logins.clone();
    assert!(logins.iter().all(|(user, _)| user != "admin"), "the master logged in: {logins:?}");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));

    for (ssl, name, why) in [
        (Some(false), "db", "stands for its host only where every login there verifies"),
        (None, "db", "stands for its host only where every login there verifies"),
        (Some(true), "elsewhere.example", "(another host, and not an RDS endpoint name)"),
    ] {
        let w = alternating_world();
        w.set_value("v0", aliased(ssl, name));
        w.db.state.lock().unwrap().readers.insert("alias.corp".into(), std::time::Duration::ZERO);
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains(why), "{ssl:?} {name}: {err}");
        if ssl != Some(true) {
            assert!(err.to_string().contains("set the rotated secret's \"ssl\" to true"), "{err}");
        }
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{ssl:?} {name}: no login at all");
        assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
        assert_eq!(w.db_password("app"), "pw-0");
    }
}

/// The rotated secret's `tlsServerName` never reaches a master login: at the master's own endpoint every login —
/// the master's and the users' — verifies the name the master secret gives (its own `tlsServerName`, or its host).
#[tokio::test]
async fn a_master_login_never_takes_the_rotated_secrets_tls_server_name() {
    for own in [None, Some("db.abc123.us-east-1.rds.amazonaws.com")] {
        let w = alternating_world();
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["ssl"] = true.into();
        secret["tlsServerName"] = "attacker.example".into();
        w.set_value("v0", secret.to_string());
        let mut master =
            serde_json::json!({"engine": "postgres", "host": "db", "username": "admin", "password": "admin-pw"});
        if let Some(own) = own {
            master["tlsServerName"] = own.into();
        }
        w.store.state.lock().unwrap().others.insert(MASTER.into(), master.to_string());
        w.rotate().await.unwrap();
        w.assert_alternated("app_clone", "app");
        let names = w.db.state.lock().unwrap().names.clone();
        assert!(!names.is_empty());
        for (user, host, name) in names {
            assert_eq!((host.as_str(), name.as_deref()), ("db", own), "{user}");
        }
    }
}

/// The master user is never a user of the pair, whether the secret names it or its history aims at it.
#[tokio::test]
async fn the_master_user_is_never_rotated_as_an_alternate() {
    // AWSCURRENT names the master user itself.
    let w = alternating_world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("admin", "admin-pw", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert!(err.to_string().contains("alternating users never rotate the master user"), "{err}");
    assert_eq!(w.db_password("admin"), "admin-pw");

    // The history makes the master user "the other one": AWSCURRENT admin_clone, AWSPREVIOUS admin.
    let w = alternating_world();
    let mut current: serde_json::Value = serde_json::from_str(&secret_json("admin_clone", "c-pw", "db")).unwrap();
    current["masterarn"] = MASTER.into();
    let mut previous = current.clone();
    previous["username"] = "admin".into();
    previous["password"] = "guessed".into();
    w.set_value("v0", current.to_string());
    w.store
        .state
        .lock()
        .unwrap()
        .versions
        .insert("v-prev".into(), (Some(previous.to_string()), vec![AWSPREVIOUS.into()]));
    w.db.state.lock().unwrap().passwords.insert("admin_clone".into(), "c-pw".into());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(err.to_string().contains(r#"refuse user "admin": it is the master user"#), "{err}");
    assert_eq!(w.db_password("admin"), "admin-pw");
}

/// A user that could administer accounts is never copied from or to.
#[tokio::test]
async fn an_account_administrator_is_refused_and_untouched() {
    for admin in ["app", "app_clone"] {
        let w = alternating_world();
        w.db.state.lock().unwrap().admins.insert(admin.into(), "is a superuser".into());
        if admin == "app_clone" {
            // An existing clone that this secret's pending password already logs in as (a crash's leftover).
            w.step(Step::Create).await.unwrap();
            let pending = w.store.state.lock().unwrap().versions["tok"].0.clone().unwrap();
            let pending = DbSecret::parse(&pending, &SecretDefaults::default()).unwrap();
            w.db.state.lock().unwrap().passwords.insert("app_clone".into(), pending.password().expose_secret().into());
        } else {
            w.step(Step::Create).await.unwrap();
        }
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
        assert!(err.to_string().contains(&format!(r#"user "{admin}": it is a superuser"#)), "{err}");
        assert!(w.db.state.lock().unwrap().twins.is_empty(), "nothing was synced");
        assert_eq!(w.db_password("app"), "pw-0");
    }
}

/// The secret proves it holds the current user's password before the master acts: an AWSCURRENT naming a user
/// with a guessed password is refused, and the master never logs in.
#[tokio::test]
async fn an_awscurrent_that_does_not_log_in_is_refused_before_the_master_acts() {
    let w = alternating_world();
    w.db.state.lock().unwrap().passwords.insert("victim".into(), "victims-own".into());
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("victim", "guessed", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(err.to_string().contains("AWSCURRENT does not log in as it"), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
    assert_eq!(w.db_password("victim"), "victims-own");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("victim_clone"));
}

/// History written by whoever writes the secret proves nothing: an AWSPREVIOUS naming an existing user with a
/// guessed password does not make that user this secret's to change.
#[tokio::test]
async fn a_forged_awsprevious_does_not_hand_over_its_user() {
    let w = alternating_world();
    // The writer's own user is called victim_clone and works; AWSPREVIOUS claims victim, with a guess.
    let mut current: serde_json::Value = serde_json::from_str(&secret_json("victim_clone", "own-pw", "db")).unwrap();
    current["masterarn"] = MASTER.into();
    let mut previous = current.clone();
    previous["username"] = "victim".into();
    previous["password"] = "guessed".into();
    w.set_value("v0", current.to_string());
    w.store
        .state
        .lock()
        .unwrap()
        .versions
        .insert("v-prev".into(), (Some(previous.to_string()), vec![AWSPREVIOUS.into()]));
    {
        let mut state = w.db.state.lock().unwrap();
        state.passwords.insert("victim_clone".into(), "own-pw".into());
        state.passwords.insert("victim".into(), "victims-own".into());
    }
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict", "{err}");
    assert_eq!(w.db_password("victim"), "victims-own");
    assert!(w.db.state.lock().unwrap().twins.is_empty(), "nothing was synced");
}

/// A step that would outlive the invocation stops before Lambda's deadline with a transient error; the retry
/// completes the rotation.
#[tokio::test(start_paused = true)]
async fn a_step_stops_before_the_lambda_deadline_and_the_retry_completes() {
    use tokio::time::Instant;
    let w = world();
    w.step(Step::Create).await.unwrap();
    w.db.state.lock().unwrap().delay = Some(std::time::Duration::from_secs(30));
    let deadline = Instant::now() + crate::handler::DEADLINE_MARGIN + std::time::Duration::from_millis(300);
    let started = Instant::now();
    let err = crate::handler::handle_until(&w.rotator, &w.event(Step::Set), Some(deadline)).await.unwrap_err();
    assert!(Instant::now() < deadline, "stopped before the deadline ({:?})", started.elapsed());
    assert_eq!(err.error_type(), "DeadlineReached", "{err}");
    assert!(err.is_transient());
    w.db.state.lock().unwrap().delay = None;
    for step in [Step::Set, Step::Test, Step::Finish] {
        w.step(step).await.unwrap();
    }
    w.assert_rotated();
}

/// Only the master secrets the operator lists may be used: a secret naming another readable secret as its master is
/// refused before that secret's value is used.
#[tokio::test]
async fn a_master_secret_the_operator_did_not_list_is_refused() {
    let w = alternating_world();
    let other = "arn:aws:secretsmanager:us-east-1:1:secret:team-b-app";
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    secret["masterarn"] = other.into();
    w.set_value("v0", secret.to_string());
    let master = serde_json::json!({"engine": "postgres", "host": "db", "username": "admin", "password": "admin-pw"});
    w.store.state.lock().unwrap().others.insert(other.into(), master.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(err.to_string().contains("MASTER_SECRET_ARNS"), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
}

/// testSecret's master is AWSCURRENT's: a pending version naming another master secret is refused.
#[tokio::test]
async fn a_pending_version_cannot_name_another_master() {
    let w = alternating_world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    let pending = w.store.state.lock().unwrap().versions["tok"].0.clone().unwrap();
    let mut pending: serde_json::Value = serde_json::from_str(&pending).unwrap();
    pending["masterarn"] = "arn:aws:secretsmanager:us-east-1:1:secret:another".into();
    w.set_value("tok", pending.to_string());
    let err = w.step(Step::Test).await.unwrap_err();
    assert_eq!(err.error_type(), "PendingMismatch", "{err}");
    assert!(err.to_string().contains("masterarn"), "{err}");
}
