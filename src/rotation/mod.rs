//! The protocol core: the four steps of a Secrets Manager rotation, single user here and alternating users in
//! `alternating.rs`.
//!
//! No I/O of its own: it calls a `SecretStore` and a `DbEngine` and never sees an SDK or driver type, so tests run
//! every step against fakes. Every step is idempotent — run twice, or again after a crash part-way, it reaches the
//! same end state — because Secrets Manager retries failed rotations with the same token.

mod alternating;
pub mod endpoint;
mod master;
pub mod stages;
pub mod topology;

pub use alternating::{CLONE_SUFFIX, Pair};
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::config::{Config, EndpointMapping, PasswordPolicy, RdsResourceName};
use crate::credentials::{DbSecret, Login, MAX_SECRET_BYTES, SecretDefaults, ShapeError};
use crate::engines::{DbEngine, DbSession, EngineKind, LoginOutcome};
use crate::error::Error;
use crate::event::{RotationEvent, Step};
use crate::password;
use crate::rds::{NoRds, RdsApi};
use crate::secrets::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Fetched, SecretMeta, SecretStore, Version};
use stages::StageCheck;

/// Runs rotation steps against one secret store, one set of database drivers and, where a secret needs it, the
/// RDS API.
pub struct Rotator<S, E, R = NoRds> {
    store: S,
    engine: E,
    rds: R,
    policy: PasswordPolicy,
    defaults: SecretDefaults,
    topology: TopologySettings,
}

/// The settings `topology.rs` follows.
struct TopologySettings {
    endpoint_map: Vec<EndpointMapping>,
    propagation_timeout: Duration,
    /// The instances and clusters break-glass may reset; empty: off.
    break_glass: Vec<RdsResourceName>,
    /// The master secrets alternating users may name (`MASTER_SECRET_ARNS`).
    master_secrets: Vec<String>,
}

/// How a secret is rotated: its user changes its own password, or (a `masterarn` key) the secret alternates between
/// two users that a master user manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    SingleUser,
    AlternatingUsers,
}

/// What a step learned about the secret it rotated, for its metrics line. Empty where the step read no value
/// (finishSecret, or a step that failed first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepFacts {
    pub engine: Option<EngineKind>,
    pub strategy: Option<Strategy>,
}

impl Strategy {
    pub fn of(secret: &DbSecret) -> Strategy {
        if secret.masterarn().is_some() { Strategy::AlternatingUsers } else { Strategy::SingleUser }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }
}

impl StepFacts {
    fn note(&mut self, secret: &DbSecret) {
        self.engine = Some(secret.target().engine);
        self.strategy = Some(Strategy::of(secret));
    }
}

/// What a step did, for logs and the local command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The token already carries `AWSCURRENT`: the rotation is complete, nothing was done.
    AlreadyCurrent,
    /// finishSecret had moved `AWSCURRENT` but not removed `AWSPENDING`; it was removed now.
    PendingCleared,
    /// createSecret stored a new pending version.
    Created,
    /// createSecret found the pending version already holding a value.
    AlreadyCreated,
    /// setSecret changed the password, logged in with the version named.
    PasswordSet { with: &'static str },
    /// setSecret found the database already on the pending password.
    AlreadySet,
    /// testSecret logged in with the pending version.
    Tested,
    /// finishSecret made the token `AWSCURRENT`; `previous` is the version that was.
    Finished { previous: Option<String> },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AlreadyCurrent => f.write_str("nothing to do: the version is already AWSCURRENT"),
            Outcome::PendingCleared => f.write_str("removed the AWSPENDING label left on the current version"),
            Outcome::Created => f.write_str("stored a new password as the AWSPENDING version"),
            Outcome::AlreadyCreated => f.write_str("nothing to do: the AWSPENDING version already has a value"),
            Outcome::PasswordSet { with } => {
                write!(f, "changed the password, logged in with {with}")
            }
            Outcome::AlreadySet => f.write_str("nothing to do: the database already has the AWSPENDING password"),
            Outcome::Tested => f.write_str("the AWSPENDING version logs in"),
            Outcome::Finished { previous: Some(previous) } => write!(f, "AWSCURRENT moved here from {previous}"),
            Outcome::Finished { previous: None } => f.write_str("AWSCURRENT attached to this version"),
        }
    }
}

impl<S: SecretStore, E: DbEngine> Rotator<S, E, NoRds> {
    /// A rotator without the RDS API: secrets that need it (no host, a reader endpoint, break-glass) fail clearly.
    pub fn new(store: S, engine: E, config: &Config) -> Rotator<S, E, NoRds> {
        let topology = TopologySettings {
            endpoint_map: config.endpoint_map.clone(),
            propagation_timeout: config.propagation_timeout,
            break_glass: config.break_glass.clone(),
            master_secrets: config.master_secrets.clone(),
        };
        let (policy, defaults) = (config.password.clone(), config.secret_defaults());
        Rotator { store, engine, rds: NoRds, policy, defaults, topology }
    }
}

impl<S, E, R> Rotator<S, E, R> {
    /// The same rotator, resolving endpoints through `rds`.
    pub fn with_rds<R2: RdsApi>(self, rds: R2) -> Rotator<S, E, R2> {
        let Rotator { store, engine, policy, defaults, topology, .. } = self;
        Rotator { store, engine, rds, policy, defaults, topology }
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs the event's step after the stage checks every step starts with.
    pub async fn run(&self, event: &RotationEvent) -> Result<Outcome, Error> {
        self.run_noting(event, &mut StepFacts::default()).await
    }

    /// As `run`, noting in `facts` the engine and strategy of the secret the step read.
    pub async fn run_noting(&self, event: &RotationEvent, facts: &mut StepFacts) -> Result<Outcome, Error> {
        self.run_until(event, facts, None).await
    }

    /// As `run_noting`, with the invocation's own deadline (`until`): setSecret's waits end before it. The caller
    /// bounds the whole step by it too (`handler.rs`).
    pub async fn run_until(
        &self,
        event: &RotationEvent,
        facts: &mut StepFacts,
        until: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let meta = self.store.describe(&event.secret_id).await?;
        let check = stages::check(&meta, &event.token)
            .map_err(|source| Error::Stage { secret_id: event.secret_id.clone(), source })?;
        match (check, event.step) {
            (StageCheck::AlreadyCurrent { pending_left: true }, Step::Finish) => self.clear_pending(event).await,
            (StageCheck::AlreadyCurrent { .. }, step) => {
                info!("{step}: version is already AWSCURRENT, nothing to do");
                Ok(Outcome::AlreadyCurrent)
            }
            (StageCheck::Proceed, Step::Create) => self.create(event, facts).await,
            (StageCheck::Proceed, Step::Set) => self.set(event, facts, until).await,
            (StageCheck::Proceed, Step::Test) => self.test(event, facts).await,
            (StageCheck::Proceed, Step::Finish) => self.finish(event, &meta).await,
        }
    }

    /// createSecret: a copy of AWSCURRENT with a new password, stored as AWSPENDING under the token.
    async fn create(&self, event: &RotationEvent, facts: &mut StepFacts) -> Result<Outcome, Error> {
        let current = self.require(event, Version::Current).await?;
        facts.note(&current);
        // A value already stored under this token is the password setSecret may have set: never replace it.
        if !matches!(self.store.get(&event.secret_id, Version::Pending(&event.token)).await?, Fetched::Missing) {
            info!("createSecret: the AWSPENDING version already has a value, nothing to do");
            return Ok(Outcome::AlreadyCreated);
        }
        let password = password::generate(&self.policy, current.target().engine)?;
        let pending = match current.masterarn() {
            None => current.with_password(password),
            // Alternating users: the other user of the pair.
            Some(_) => {
                let (pair, _) = self.pair(event, &current).await?;
                current.with_login(pair.other(current.username()).clone(), password)
            }
        };
        let value = pending.to_secret_string();
        // A longer password or user name can push a secret at the limit over it: say so before the service refuses.
        let bytes = value.expose_secret().len();
        if bytes > MAX_SECRET_BYTES {
            let source = ShapeError::TooLarge { bytes };
            return Err(Error::SecretShape { secret_id: event.secret_id.clone(), version: "new AWSPENDING", source });
        }
        let rotation_token = event.rotation_token.as_ref();
        self.store.put_pending(&event.secret_id, &event.token, &value, rotation_token).await?;
        info!(user = %pending.username(), "createSecret: stored a new password as the AWSPENDING version");
        Ok(Outcome::Created)
    }

    /// setSecret: make the database accept the pending password, logging in with whichever version it has.
    async fn set(
        &self,
        event: &RotationEvent,
        facts: &mut StepFacts,
        until: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let current = self.require(event, Version::Current).await?;
        facts.note(&current);
        let pending = self.require(event, Version::Pending(&event.token)).await?;
        let deadline = self.wait_deadline(until);
        if let Some(masterarn) = current.masterarn() {
            return self.set_alternating(event, &current, &pending, masterarn, deadline).await;
        }
        if let Some(key) = pending.differs_from(&current) {
            let (secret_id, token) = (event.secret_id.clone(), event.token.clone());
            return Err(Error::PendingMismatch { secret_id, token, key });
        }
        let mut located = self.locate(&event.secret_id, &current).await?;
        let at_writer = (current.at(&located.writer), pending.at(&located.writer));
        let mut result = self.set_at(event, &at_writer.0, &at_writer.1, &pending, &located, deadline).await;
        if let Some(behind) = self.writer_behind_read_only(event, &current, &located, &result).await? {
            located = behind;
            let at_writer = (current.at(&located.writer), pending.at(&located.writer));
            result = self.set_at(event, &at_writer.0, &at_writer.1, &pending, &located, deadline).await;
        }
        let outcome = result?;
        if matches!(outcome, Outcome::PasswordSet { .. } | Outcome::AlreadySet) {
            self.await_propagation(&pending, &located, deadline).await?;
        }
        Ok(outcome)
    }

    /// setSecret's single-user change, at the writer (`current` and `pending` are located there; `stored` is the
    /// pending version as stored, for comparing AWSPREVIOUS with it; `deadline` ends a break-glass wait).
    async fn set_at(
        &self,
        event: &RotationEvent,
        current: &DbSecret,
        pending: &DbSecret,
        stored: &DbSecret,
        located: &topology::Located,
        deadline: std::time::Instant,
    ) -> Result<Outcome, Error> {
        let (at, user) = (pending.target(), pending.username());
        // AWSCURRENT first: in a normal rotation the database has that password, so one login does, and the user
        // gets no failed login (which brute-force alarms count) in every rotation. A database that accepts the
        // current password does not have the pending one, so "pending already works" needs no login to rule out.
        if let Some(outcome) = self.change_as(pending, current.login(), AWSCURRENT).await? {
            return Ok(outcome);
        }
        if let LoginOutcome::Accepted(session) = self.engine.login(at, pending.login()).await? {
            session.close().await;
            info!(%user, host = %at, "setSecret: the database already has the AWSPENDING password, nothing to do");
            return Ok(Outcome::AlreadySet);
        }
        // The last resort: a rotation that failed after changing the password, then lost its pending version.
        match self.load(event, Version::Previous).await {
            Ok(Some(previous)) => match previous.differs_from(stored) {
                None => {
                    if let Some(outcome) = self.change_as(pending, previous.login(), AWSPREVIOUS).await? {
                        return Ok(outcome);
                    }
                }
                Some(key) => warn!(key, "setSecret: AWSPREVIOUS has another {key}, not tried"),
            },
            Ok(None) => {}
            Err(err) => warn!(error = %err, "setSecret: AWSPREVIOUS is unusable, not tried"),
        }
        // The last resort of all, when switched on: the RDS API resets a drifted master user's password.
        let not_tried = match self.break_glass(event, pending, stored, located, deadline).await? {
            Ok(outcome) => return Ok(outcome),
            Err(not_tried) => not_tried,
        };
        let hint = [self.engine.rejection_hint(at).map(str::to_owned), not_tried].into_iter().flatten();
        let hint = Some(hint.collect::<Vec<_>>().join("; ")).filter(|hint| !hint.is_empty());
        let tried = "AWSCURRENT, AWSPENDING or AWSPREVIOUS";
        Err(Error::CredentialsRejected { user: user.clone(), target: at.clone(), tried, hint })
    }

    /// testSecret: the pending version logs in and the session works.
    async fn test(&self, event: &RotationEvent, facts: &mut StepFacts) -> Result<Outcome, Error> {
        let pending = self.require(event, Version::Pending(&event.token)).await?;
        facts.note(&pending);
        // Where applications connect: the secret's host, or the writer when the secret names none (alternating
        // users: the master's endpoint, where the master's own secret says).
        let (master, located) = match pending.masterarn() {
            Some(masterarn) => {
                // The master is AWSCURRENT's: a pending version naming another cannot aim the master's login.
                let current = self.require(event, Version::Current).await?;
                if current.masterarn() != Some(masterarn) {
                    let (secret_id, token) = (event.secret_id.clone(), event.token.clone());
                    return Err(Error::PendingMismatch { secret_id, token, key: "masterarn" });
                }
                let (master, located) = self.master(&event.secret_id, &current, masterarn).await?;
                (Some((master, masterarn, current)), located)
            }
            None => (None, self.locate(&event.secret_id, &pending).await?),
        };
        let pending_at = pending.at(located.application());
        let (at, user) = (pending_at.target(), pending.username());
        match self.engine.login(at, pending.login()).await? {
            LoginOutcome::Accepted(mut session) => {
                session.check().await?;
                session.close().await;
                if let Some((master, masterarn, current)) = master {
                    self.verify_alternating(event, &current, &pending, &master, masterarn).await?;
                }
                info!(%user, host = %at, "testSecret: the AWSPENDING version logs in");
                Ok(Outcome::Tested)
            }
            LoginOutcome::Rejected => {
                let hint = self.engine.rejection_hint(at).map(str::to_owned);
                Err(Error::CredentialsRejected { user: user.clone(), target: at.clone(), tried: AWSPENDING, hint })
            }
        }
    }

    /// Logs in with `login` and makes the pending password the user's; `None` when the login is refused.
    async fn change_as(
        &self,
        pending: &DbSecret,
        login: Login<'_>,
        with: &'static str,
    ) -> Result<Option<Outcome>, Error> {
        let (at, user) = (pending.target(), pending.username());
        let LoginOutcome::Accepted(mut session) = self.engine.login(at, login).await? else {
            return Ok(None);
        };
        session.set_password(user, pending.password()).await?;
        session.close().await;
        info!(%user, host = %at, with, "setSecret: password changed to the AWSPENDING version's");
        Ok(Some(Outcome::PasswordSet { with }))
    }

    /// finishSecret: AWSCURRENT moves to the token (the service puts AWSPREVIOUS on the old one), then AWSPENDING
    /// comes off — explicitly, since a label left behind makes the next rotation fail.
    async fn finish(&self, event: &RotationEvent, meta: &SecretMeta) -> Result<Outcome, Error> {
        let previous = stages::current_version(meta).map(str::to_owned);
        let id = &event.secret_id;
        if let Err(err) = self.store.move_stage(id, AWSCURRENT, Some(&event.token), previous.as_deref()).await {
            // An overlapping invocation (a slow one and its retry) may have moved it first: then this one is done.
            if err.is_transient() || !self.has_label(event, AWSCURRENT).await? {
                return Err(err.into());
            }
            info!("finishSecret: another invocation moved AWSCURRENT to this version first");
        } else {
            info!(previous = previous.as_deref().unwrap_or("none"), "finishSecret: AWSCURRENT moved to this version");
        }
        if self.remove_pending(event).await? {
            info!("finishSecret: AWSPENDING removed");
        }
        Ok(Outcome::Finished { previous })
    }

    /// Removes AWSPENDING from the event's version. `false` when an overlapping invocation removed it first (then
    /// this one has nothing left to do); any other failure is an error.
    async fn remove_pending(&self, event: &RotationEvent) -> Result<bool, Error> {
        let Err(err) = self.store.move_stage(&event.secret_id, AWSPENDING, None, Some(event.token.as_str())).await
        else {
            return Ok(true);
        };
        if err.is_transient() || self.has_label(event, AWSPENDING).await? {
            return Err(err.into());
        }
        info!("finishSecret: another invocation removed AWSPENDING first");
        Ok(false)
    }

    /// Whether the event's version carries `label` now (a fresh `DescribeSecret`).
    async fn has_label(&self, event: &RotationEvent, label: &str) -> Result<bool, Error> {
        let meta = self.store.describe(&event.secret_id).await?;
        Ok(meta.versions.get(event.token.as_str()).is_some_and(|labels| labels.iter().any(|l| l == label)))
    }

    /// finishSecret, re-run after it moved AWSCURRENT but before it removed AWSPENDING.
    async fn clear_pending(&self, event: &RotationEvent) -> Result<Outcome, Error> {
        if self.remove_pending(event).await? {
            info!("finishSecret: version was already AWSCURRENT; removed the AWSPENDING label left on it");
        }
        Ok(Outcome::PendingCleared)
    }

    /// Reads and parses one version; `None` when it does not exist or has no value.
    async fn load(&self, event: &RotationEvent, version: Version<'_>) -> Result<Option<DbSecret>, Error> {
        let label = label(version);
        let secret_id = &event.secret_id;
        match self.store.get(secret_id, version).await? {
            Fetched::Text(text, _) => DbSecret::parse(text.expose_secret(), &self.defaults)
                .map(Some)
                .map_err(|source| Error::SecretShape { secret_id: secret_id.clone(), version: label, source }),
            Fetched::Binary => {
                let what = format!("the {label} version holds SecretBinary; an RDS secret is a JSON SecretString");
                Err(Error::MissingVersion { secret_id: secret_id.clone(), what })
            }
            Fetched::Missing => Ok(None),
        }
    }

    /// Like `load`, for a version the step cannot do without.
    async fn require(&self, event: &RotationEvent, version: Version<'_>) -> Result<DbSecret, Error> {
        match self.load(event, version).await? {
            Some(secret) => Ok(secret),
            None => {
                let what = match version {
                    Version::Pending(token) => {
                        format!("the AWSPENDING version {token} has no value yet; createSecret must run first")
                    }
                    _ => format!("there is no {} version with a value", label(version)),
                };
                Err(Error::MissingVersion { secret_id: event.secret_id.clone(), what })
            }
        }
    }
}

fn label(version: Version<'_>) -> &'static str {
    match version {
        Version::Current => AWSCURRENT,
        Version::Previous => AWSPREVIOUS,
        Version::Pending(_) => AWSPENDING,
    }
}
