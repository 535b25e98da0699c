//! The protocol core: the four steps of a Secrets Manager rotation, single user here and alternating users in
//! `alternating.rs`.
//!
//! No I/O of its own: it calls a `SecretStore`, an `RdsApi` and a `DbEngine` and never sees an SDK or driver type, so
//! tests run every step against fakes. Every step is idempotent — run twice, or again after a crash part-way, it reaches the
//! same end state — because Secrets Manager retries failed rotations with the same token.

mod alternating;
pub(crate) mod cancel;
pub(crate) mod error;
mod findings;
mod master;
mod plan;
pub(crate) mod preflight;
pub(crate) mod stages;
pub(crate) mod topology;

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tracing::info;

pub use error::Error;
pub(crate) use error::{BreakGlassProblem, ErrorKind, MasterProblem, Missing, Refusal, TopologyProblem, Tried};
use stages::StageCheck;
use topology::{EndpointMapping, RdsResourceName};

use crate::domain::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, EngineKind, Step, Strategy, VersionId};
use crate::engines::{DbEngine, DbSession, LoginOutcome, RotationSession};
use crate::event::RotationEvent;
use crate::password::{self, PasswordPolicy};
use crate::rds::{NoRds, RdsApi};
use crate::secret::{DbSecret, MAX_SECRET_BYTES, SecretDefaults, ShapeError};
use crate::store::{Fetched, SecretMeta, SecretStore, StoreErrorKind, Version};

/// How long before the invocation's deadline a step stops: time to log the error, write the metrics line and answer
/// the runtime, with every statement and call already bounded well below it.
pub(crate) const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// How long after setSecret's own waits end (at the margin) the whole step is cut off, still within the margin.
const STEP_GRACE: Duration = Duration::from_millis(500);

/// Runs rotation steps against one secret store, one set of database drivers and, where a secret needs it, the
/// RDS API.
pub struct Rotator<S, E, R = NoRds> {
    store: S,
    engine: E,
    rds: R,
    settings: Settings,
}

/// What the protocol core follows, from the function's settings (`config.rs` reads them).
#[derive(Clone, Debug)]
pub struct Settings {
    /// How new passwords are made.
    pub password: PasswordPolicy,
    /// What a secret lacking a key takes from the settings.
    pub secrets: SecretDefaults,
    /// `RDS_ENDPOINT_MAP` (test-only): endpoints replaced by local addresses.
    pub endpoint_map: Vec<EndpointMapping>,
    /// `PROPAGATION_TIMEOUT_SECONDS`: how long setSecret waits for a new password to work where applications connect
    /// (a reader endpoint, a replica), and for a break-glass reset to take effect.
    pub propagation_timeout: Duration,
    /// The instances and clusters break-glass may reset; empty: off.
    pub break_glass: Vec<RdsResourceName>,
    /// `MASTER_SECRET_ARNS`: the master secrets alternating users may name (ARNs, names, or prefixes ending in `*`);
    /// empty: alternating users are refused, naming the variable.
    pub master_secrets: Vec<String>,
}

/// What a step learned about the secret it rotated, for its metrics line. Empty where the step read no value
/// (finishSecret, or a step that failed first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepFacts {
    pub engine: Option<EngineKind>,
    pub strategy: Option<Strategy>,
}

impl StepFacts {
    fn note(&mut self, secret: &DbSecret) {
        self.engine = Some(secret.target().engine);
        self.strategy = Some(secret.strategy());
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

/// One setSecret, as the code below `set` sees it.
#[derive(Clone, Copy)]
pub(super) struct SetRequest<'a> {
    pub secret_id: &'a str,
    pub token: &'a VersionId,
    /// AWSCURRENT and the pending version, as stored.
    pub current: &'a DbSecret,
    pub pending: &'a DbSecret,
    /// When every wait of the step ends (`wait_deadline`).
    pub deadline: Instant,
    /// The pending version is stored (always, in a rotation): its password may be the database's already, after a
    /// crash. A preview of a rotation not yet begun makes one that is nobody's, and logs in with it nowhere.
    pub pending_stored: bool,
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
    pub fn new(store: S, engine: E, settings: Settings) -> Rotator<S, E, NoRds> {
        Rotator { store, engine, rds: NoRds, settings }
    }
}

impl<S, E, R> Rotator<S, E, R> {
    /// The same rotator, resolving endpoints through `rds`.
    pub fn with_rds<R2: RdsApi>(self, rds: R2) -> Rotator<S, E, R2> {
        let Rotator { store, engine, settings, .. } = self;
        Rotator { store, engine, rds, settings }
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The topology code's view of this rotator: the RDS API, the drivers and the settings, not the store.
    fn topology(&self) -> topology::Topology<'_, E, R> {
        topology::Topology { engine: &self.engine, rds: &self.rds, settings: &self.settings }
    }

    /// What a secret lacking a key takes from the settings, for reading secrets as the rotation does.
    pub fn secret_defaults(&self) -> &SecretDefaults {
        &self.settings.secrets
    }

    /// Runs the event's step after the stage checks every step starts with.
    pub async fn run(&self, event: &RotationEvent) -> Result<Outcome, Error> {
        self.run_noting(event, &mut StepFacts::default()).await
    }

    /// As `run`, noting in `facts` the engine and strategy of the secret the step read.
    pub async fn run_noting(&self, event: &RotationEvent, facts: &mut StepFacts) -> Result<Outcome, Error> {
        self.run_until(event, facts, None).await
    }

    /// As `run_noting`, ending the step `DEADLINE_MARGIN` before `deadline` (the invocation's, when Lambda runs it)
    /// with a transient error, as a crash there would but with a word said: every step is safe to stop anywhere, and
    /// the service's retry continues it. setSecret's own waits end at the margin; the whole step half a second later.
    pub async fn run_until(
        &self,
        event: &RotationEvent,
        facts: &mut StepFacts,
        deadline: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let result = match deadline {
            None => self.step(event, facts, None).await,
            Some(deadline) => {
                let until = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or_else(Instant::now);
                match tokio::time::timeout_at(until + STEP_GRACE, self.step(event, facts, Some(until))).await {
                    Ok(result) => result,
                    Err(_) => {
                        Err(Error::from(ErrorKind::Deadline { step: event.step, margin: DEADLINE_MARGIN - STEP_GRACE }))
                    }
                }
            }
        };
        // The secret is named once, here, for every error of the step.
        result.map_err(|err| err.in_secret(&event.secret_id))
    }

    async fn step(
        &self,
        event: &RotationEvent,
        facts: &mut StepFacts,
        until: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let meta = self.store.describe(&event.secret_id).await?;
        let check = stages::check(&meta, &event.token)?;
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
        let current = self.require(&event.secret_id, Version::Current).await?;
        facts.note(&current);
        // A value already stored under this token is the password setSecret may have set: never replace it. The
        // service refuses a second value for a version (PutSecretValue: "if the secret data is different, then the
        // operation fails because you can't modify an existing version"), so its refusal is the look, one call fewer.
        // An event without a RotationToken (this binary's `rotate`, an emulator's event) may come from an emulator
        // that replaces the value instead (moto does): there, look first.
        let rotation_token = event.rotation_token.as_ref();
        if rotation_token.is_none()
            && !matches!(self.store.get(&event.secret_id, Version::Pending(&event.token)).await?, Fetched::Missing)
        {
            return Ok(already_created());
        }
        let (pending, value) = self.new_pending(&event.secret_id, &current).await?;
        match self.store.put_pending(&event.secret_id, &event.token, &value, rotation_token).await {
            Ok(()) => {
                info!(user = %pending.username(), "createSecret: stored a new password as the AWSPENDING version");
                Ok(Outcome::Created)
            }
            Err(err) if err.kind == StoreErrorKind::VersionExists => Ok(already_created()),
            Err(err) => Err(err.into()),
        }
    }

    /// The version createSecret stores, and its JSON: a copy of AWSCURRENT with a new password (alternating users:
    /// of the pair's other user). Changes nothing; the preflight makes one too.
    pub(super) async fn new_pending(
        &self,
        secret_id: &str,
        current: &DbSecret,
    ) -> Result<(DbSecret, SecretString), Error> {
        let password = password::generate(&self.settings.password, current.target().engine)?;
        let pending = match current.masterarn() {
            None => current.with_password(password),
            // Alternating users: the other user of the pair.
            Some(_) => {
                let (pair, _) = self.pair(secret_id, current).await?;
                current.with_login(pair.other(current.username()).clone(), password)
            }
        };
        let value = pending.to_secret_string();
        // A longer password or user name can push a secret at the limit over it: say so before the service refuses.
        let bytes = value.expose_secret().len();
        if bytes > MAX_SECRET_BYTES {
            let source = ShapeError::TooLarge { bytes };
            return Err(ErrorKind::SecretShape { version: "new AWSPENDING", source }.into());
        }
        Ok((pending, value))
    }

    /// setSecret: make the database accept the pending password, logging in with whichever version it has.
    async fn set(
        &self,
        event: &RotationEvent,
        facts: &mut StepFacts,
        until: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let current = self.require(&event.secret_id, Version::Current).await?;
        facts.note(&current);
        let pending = self.require(&event.secret_id, Version::Pending(&event.token)).await?;
        let request = SetRequest {
            secret_id: &event.secret_id,
            token: &event.token,
            current: &current,
            pending: &pending,
            deadline: self.topology().wait_deadline(until),
            pending_stored: true,
        };
        self.set_with(request).await
    }

    /// testSecret: the pending version logs in and the session works.
    async fn test(&self, event: &RotationEvent, facts: &mut StepFacts) -> Result<Outcome, Error> {
        let pending = self.require(&event.secret_id, Version::Pending(&event.token)).await?;
        facts.note(&pending);
        // Where applications connect: the secret's host, or the writer when the secret names none (alternating
        // users: the master's endpoint, where the master's own secret says, unless the secret's host is a reader, a
        // replica or a verified alias of it).
        let (master, located) = match pending.masterarn() {
            Some(masterarn) => {
                // The master is AWSCURRENT's: a pending version naming another cannot aim the master's login.
                let current = self.require(&event.secret_id, Version::Current).await?;
                if current.masterarn() != Some(masterarn) {
                    return Err(ErrorKind::PendingMismatch { token: event.token.clone(), key: "masterarn" }.into());
                }
                let (master, located) = self.master(&event.secret_id, &current, masterarn).await?;
                (Some((master, masterarn, current)), located)
            }
            None => (None, self.topology().locate(&pending).await?),
        };
        let pending_at = pending.at(located.application());
        let (at, user) = (pending_at.target(), pending.username());
        match self.engine.login(at, pending.login()).await? {
            LoginOutcome::Accepted(mut session) => {
                session.check().await?;
                session.close().await;
                if let Some((master, masterarn, current)) = master {
                    self.verify_alternating(&current, &pending, &master, masterarn).await?;
                }
                info!(%user, host = %at, "testSecret: the AWSPENDING version logs in");
                Ok(Outcome::Tested)
            }
            LoginOutcome::Rejected => {
                let hint = self.engine.rejection_hint(at).map(str::to_owned);
                Err(ErrorKind::CredentialsRejected {
                    user: user.clone(),
                    target: at.clone(),
                    tried: Tried::Pending,
                    hint,
                }
                .into())
            }
        }
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
    async fn load(&self, secret_id: &str, version: Version<'_>) -> Result<Option<DbSecret>, Error> {
        Ok(self.load_with_arn(secret_id, version).await?.map(|(secret, _)| secret))
    }

    /// As `load`, with the secret's ARN as the service answers with it (when it does).
    async fn load_with_arn(
        &self,
        secret_id: &str,
        version: Version<'_>,
    ) -> Result<Option<(DbSecret, Option<String>)>, Error> {
        let label = label(version);
        match self.store.get(secret_id, version).await? {
            Fetched::Text(text, arn) => DbSecret::parse(text.expose_secret(), &self.settings.secrets)
                .map(|secret| Some((secret, arn)))
                .map_err(|source| ErrorKind::SecretShape { version: label, source }.into()),
            Fetched::Binary => Err(Missing::Binary(label).into()),
            Fetched::Missing => Ok(None),
        }
    }

    /// Like `load`, for a version the step cannot do without.
    async fn require(&self, secret_id: &str, version: Version<'_>) -> Result<DbSecret, Error> {
        match self.load(secret_id, version).await? {
            Some(secret) => Ok(secret),
            None => Err(match version {
                Version::Pending(token) => Missing::PendingNotCreated(token.clone()),
                _ => Missing::NoValue(label(version)),
            }
            .into()),
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

/// createSecret's answer when the token's version already has a value.
fn already_created() -> Outcome {
    info!("createSecret: the AWSPENDING version already has a value, nothing to do");
    Outcome::AlreadyCreated
}

#[cfg(test)]
mod tests;
