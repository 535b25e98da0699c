//! The fakes the core's tests run against: a secret store that behaves like Secrets Manager (labels, AWSPREVIOUS on
//! moving AWSCURRENT, PutSecretValue idempotency per token) and a database that knows one password per user. Both
//! count their external calls, so a fault can be injected at any one of them. `World` holds one of each and a rotator.

pub(super) use std::collections::{BTreeMap, HashMap};
pub(super) use std::sync::{Arc, Mutex};

pub(super) use secrecy::{ExposeSecret, SecretString};

pub(super) use crate::domain::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Login, Password, RotationToken, Step, Target, TlsChoice, UserName, VersionId,
};
pub(super) use crate::engines::{
    AccountAdmin, Alternate, DbEngine, DbSession, EngineError, EngineErrorKind, LoginOutcome, Preflight,
    RotationSession,
};
pub(super) use crate::event::RotationEvent;
pub(super) use crate::rds::{NoRds, RdsApi};
pub(super) use crate::rotation::Error;
pub(super) use crate::rotation::{Outcome, Rotator, Settings};
pub(super) use crate::secret::{DbSecret, SecretDefaults};
pub(super) use crate::store::{Fetched, SecretMeta, SecretStore, StoreError, StoreErrorKind, Version};

pub(super) const SECRET: &str = "app-secret";

/// Fails one external call, counted across the store and the database.
#[derive(Default)]
pub(super) struct Faults {
    pub(super) calls: usize,
    /// The call (1-based) to fail, and whether it takes effect before failing (a timeout after the commit).
    pub(super) fail: Option<(usize, bool)>,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Fault {
    None,
    Before,
    After,
}

impl Faults {
    pub(super) fn next(&mut self) -> Fault {
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
pub(super) struct StoreState {
    pub(super) rotation_enabled: Option<bool>,
    /// Version id -> (value, labels).
    pub(super) versions: BTreeMap<String, (Option<String>, Vec<String>)>,
    pub(super) rotation_tokens: Vec<String>,
    /// AWSCURRENT of other secrets (the master secret of alternating users), by id.
    pub(super) others: HashMap<String, String>,
    /// What the next DescribeSecret calls answer instead of the state: what an invocation saw just before an
    /// overlapping one changed the labels.
    pub(super) stale_describes: Vec<SecretMeta>,
}

#[derive(Clone)]
pub(super) struct FakeStore {
    pub(super) state: Arc<Mutex<StoreState>>,
    pub(super) faults: Arc<Mutex<Faults>>,
}

pub(super) struct DbState {
    pub(super) host: String,
    pub(super) reachable: bool,
    pub(super) passwords: HashMap<String, String>,
    pub(super) logins: Vec<(String, bool)>,
    /// Every login attempt, reachable or not: (user, host).
    pub(super) attempts: Vec<(String, String)>,
    /// Every login attempt's host and the `tlsServerName` it carried: (user, host, name).
    pub(super) names: Vec<(String, String, Option<String>)>,
    /// How long each login takes (a server that hangs).
    pub(super) delay: Option<std::time::Duration>,
    /// Alternating users: the user each alternate was last made the twin of.
    pub(super) twins: HashMap<String, String>,
    /// Users that could administer accounts, and why.
    pub(super) admins: HashMap<String, String>,
    /// Accounts of a user that hold another password than the secret's (the MySQL family's other host parts).
    pub(super) foreign: HashMap<String, Vec<String>>,
    /// Hosts that replicate the writer (`host`) with a lag: a reader endpoint, a read replica.
    pub(super) readers: HashMap<String, std::time::Duration>,
    /// Every password change at the writer, on tokio's clock: (when, user, the password before).
    pub(super) changes: Vec<(tokio::time::Instant, String, Option<String>)>,
}

impl DbState {
    /// `user`'s password as a host sees it: the writer's now, a reader's as the writer's was `lag` ago.
    pub(super) fn password_at(&self, host: &str, user: &str) -> Option<String> {
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

    pub(super) fn change(&mut self, user: &str, password: &str) {
        let before = self.passwords.insert(user.to_owned(), password.to_owned());
        self.changes.push((tokio::time::Instant::now(), user.to_owned(), before));
    }
}

#[derive(Clone)]
pub(super) struct FakeDb {
    pub(super) state: Arc<Mutex<DbState>>,
    pub(super) faults: Arc<Mutex<Faults>>,
}

pub(super) struct FakeSession {
    pub(super) db: FakeDb,
    pub(super) target: Target,
}

pub(super) fn unavailable(operation: &'static str) -> StoreError {
    let message = "injected fault".to_owned();
    StoreError { operation, secret_id: SECRET.into(), kind: StoreErrorKind::Unavailable, message }
}

pub(super) fn refused(operation: &'static str, message: &str) -> StoreError {
    StoreError { operation, secret_id: SECRET.into(), kind: StoreErrorKind::Refused, message: message.into() }
}

impl StoreState {
    pub(super) fn labelled(&self, label: &str) -> Option<&String> {
        self.versions.iter().find(|(_, (_, labels))| labels.iter().any(|l| l == label)).map(|(id, _)| id)
    }

    pub(super) fn value(&self, label: &str) -> Option<String> {
        let id = self.labelled(label)?;
        self.versions[id].0.clone()
    }

    pub(super) fn has(&self, id: &str, label: &str) -> bool {
        self.versions.get(id).is_some_and(|(_, labels)| labels.iter().any(|l| l == label))
    }

    pub(super) fn detach(&mut self, label: &str) {
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
    pub(super) fn error(&self, at: &Target) -> EngineError {
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
pub(super) struct World<R = NoRds> {
    pub(super) store: FakeStore,
    pub(super) db: FakeDb,
    pub(super) faults: Arc<Mutex<Faults>>,
    pub(super) token: VersionId,
    pub(super) rotator: Rotator<FakeStore, FakeDb, R>,
}

pub(super) fn secret_json(user: &str, password: &str, host: &str) -> String {
    serde_json::json!({
        "engine": "postgres", "host": host, "port": 5432, "username": user, "password": password,
        "dbname": "app", "ssl": false, "team": "payments",
    })
    .to_string()
}

pub(super) fn world() -> World {
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
    let rotator = Rotator::new(store.clone(), db.clone(), settings());
    World { store, db, faults, token: VersionId::new("tok").unwrap(), rotator }
}

/// The tests' settings: the function's defaults (as `config.rs` reads them from an empty environment; its own tests
/// cover the reading), with `MASTER` as the one master secret alternating users may name.
pub(super) fn settings() -> Settings {
    Settings {
        password: crate::password::templates_defaults(),
        secrets: SecretDefaults::default(),
        endpoint_map: Vec::new(),
        propagation_timeout: std::time::Duration::from_secs(30),
        break_glass: Vec::new(),
        master_secrets: vec![MASTER.to_owned()],
    }
}

impl<R: RdsApi> World<R> {
    /// The event as the service sends it, with the rotation's RotationToken.
    pub(super) fn event(&self, step: Step) -> RotationEvent {
        let rotation_token = Some(RotationToken::new("rt".into()));
        RotationEvent { step, secret_id: SECRET.into(), token: self.token.clone(), rotation_token }
    }

    pub(super) async fn step(&self, step: Step) -> Result<Outcome, Error> {
        self.rotator.run(&self.event(step)).await
    }

    pub(super) async fn rotate(&self) -> Result<(), Error> {
        for step in Step::ALL {
            self.step(step).await?;
        }
        Ok(())
    }

    pub(super) fn db_password(&self, user: &str) -> String {
        self.db.state.lock().unwrap().passwords[user].clone()
    }

    pub(super) fn password_of(&self, label: &str) -> Option<String> {
        let value = self.store.state.lock().unwrap().value(label)?;
        Some(DbSecret::parse(&value, &SecretDefaults::default()).unwrap().password().expose_secret().to_owned())
    }

    pub(super) fn labels(&self) -> Vec<(String, Vec<String>)> {
        let state = self.store.state.lock().unwrap();
        state.versions.iter().map(|(id, (_, labels))| (id.clone(), labels.clone())).collect()
    }

    pub(super) fn set_value(&self, id: &str, value: String) {
        self.store.state.lock().unwrap().versions.get_mut(id).unwrap().0 = Some(value);
    }

    /// An alternating-users history as its writer chooses it: AWSCURRENT `current` (user, password) with the master,
    /// and an AWSPREVIOUS naming `previous` (user, password), the database unchanged.
    pub(super) fn set_history(&self, current: (&str, &str), previous: (&str, &str)) {
        let mut value: serde_json::Value = serde_json::from_str(&secret_json(current.0, current.1, "db")).unwrap();
        value["masterarn"] = MASTER.into();
        let mut earlier = value.clone();
        earlier["username"] = previous.0.into();
        earlier["password"] = previous.1.into();
        self.set_value("v0", value.to_string());
        let version = (Some(earlier.to_string()), vec![AWSPREVIOUS.into()]);
        self.store.state.lock().unwrap().versions.insert("v-prev".into(), version);
    }

    /// The end state of a completed rotation: the token is AWSCURRENT and the database has its password, the old
    /// version is AWSPREVIOUS, no AWSPENDING is left, and nothing else in the database changed.
    pub(super) fn assert_rotated(&self) {
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
    pub(super) fn assert_untouched(&self) {
        assert_eq!(self.db_password("app"), "pw-0");
        assert_eq!(self.db_password("other"), "other-pw");
        assert_eq!(self.password_of(AWSCURRENT).as_deref(), Some("pw-0"));
        let labels = self.labels();
        assert!(labels.contains(&("v0".to_owned(), vec![AWSCURRENT.to_owned()])), "{labels:?}");
    }
}

pub(super) const MASTER: &str = "arn:aws:secretsmanager:us-east-1:1:secret:master";

/// `world()` with alternating users: the secret names a master secret, and the master's user exists.
pub(super) fn alternating_world() -> World {
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
    pub(super) fn user_of(&self, label: &str) -> Option<String> {
        let value = self.store.state.lock().unwrap().value(label)?;
        Some(DbSecret::parse(&value, &SecretDefaults::default()).unwrap().username().as_str().to_owned())
    }

    /// Starts the next rotation: a new token staged as RotateSecret does.
    pub(super) fn next_token(&mut self, token: &str) {
        self.store.state.lock().unwrap().versions.insert(token.into(), (None, vec![AWSPENDING.into()]));
        self.token = VersionId::new(token).unwrap();
    }

    /// Alternating users' end state: AWSCURRENT's user has AWSCURRENT's password and is the twin of the previous
    /// user, who keeps AWSPREVIOUS's password; the master and the unrelated user are untouched.
    pub(super) fn assert_alternated(&self, current: &str, previous: &str) {
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
