//! Alternating users: a secret with a `masterarn` key moves, at each rotation, between two database users — its
//! original user and `<original>_clone` — and the master (the user of the master secret) creates the other user,
//! gives it the current user's privileges and sets its password. The user the secret leaves keeps working until the
//! next rotation, so applications holding the previous version never see a refused login.
//!
//! Which user is "the other" comes from the secret's own history, never from a name alone: when AWSPREVIOUS and
//! AWSCURRENT name `x` and `x_clone`, the pair is theirs; otherwise the current user is the original and the other is
//! `<current>_clone`. A user whose own name ends in `_clone` is thus never taken for somebody's clone (AWS's template
//! strips the suffix and changes the password of whoever has the remaining name). An other user that already exists
//! is changed only when it is AWSPREVIOUS's user, or when it already accepts the pending password — which only this
//! rotation knows, and which the engines give a user from the statement that creates it, so a retry after a crash
//! recognises its own work.

use secrecy::ExposeSecret;
use tracing::{info, warn};

use super::topology::{Located, mapped};
use super::{Outcome, Rotator};
use crate::credentials::{DbSecret, Target, UserName};
use crate::engines::{Alternate, DbEngine, DbSession, LoginOutcome};
use crate::error::Error;
use crate::event::RotationEvent;
use crate::rds::RdsApi;
use crate::secrets::{Fetched, SecretStore, Version};

/// The tags of an RDS-managed master secret.
const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";
const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";

/// RDS names the secrets it manages `rds!db-…` and `rds!cluster-…`.
fn is_rds_managed(masterarn: &str) -> bool {
    let name = masterarn.rsplit(":secret:").next().unwrap_or(masterarn);
    name.starts_with("rds!")
}

/// Appended to the original user's name to name the other user.
pub const CLONE_SUFFIX: &str = "_clone";

/// The two users a secret alternates between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub base: UserName,
    pub clone: UserName,
}

impl Pair {
    /// The pair, from the current user and AWSPREVIOUS's (see the module's documentation).
    pub fn of(current: &UserName, previous: Option<&UserName>) -> Result<Pair, String> {
        if let Some(previous) = previous {
            let suffixed = |a: &UserName, b: &UserName| b.as_str().strip_suffix(CLONE_SUFFIX) == Some(a.as_str());
            if suffixed(current, previous) {
                return Ok(Pair { base: current.clone(), clone: previous.clone() });
            }
            if suffixed(previous, current) {
                return Ok(Pair { base: previous.clone(), clone: current.clone() });
            }
        }
        let clone = UserName::new(&format!("{}{CLONE_SUFFIX}", current.as_str()))?;
        Ok(Pair { base: current.clone(), clone })
    }

    /// The user of the pair that is not `user`.
    pub fn other(&self, user: &UserName) -> &UserName {
        if *user == self.base { &self.clone } else { &self.base }
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// The pair of `current`, and AWSPREVIOUS's user. An AWSPREVIOUS that cannot be read now is an error (the pair
    /// would be guessed wrongly); one that is not a valid secret counts as none, with a warning.
    pub(super) async fn pair(
        &self,
        event: &RotationEvent,
        current: &DbSecret,
    ) -> Result<(Pair, Option<UserName>), Error> {
        let previous = match self.load(event, Version::Previous).await {
            Ok(previous) => previous.map(|p| p.username().clone()),
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => {
                warn!(error = %err, "AWSPREVIOUS is not a usable secret; the pair is taken from AWSCURRENT alone");
                None
            }
        };
        let pair = Pair::of(current.username(), previous.as_ref()).map_err(|problem| Error::AlternateName {
            secret_id: event.secret_id.clone(),
            user: current.username().clone(),
            alternate: format!("{}{CLONE_SUFFIX}", current.username().as_str()),
            problem,
        })?;
        let next = pair.other(current.username());
        let engine = current.target().engine;
        if let Some(problem) = engine.username_problem(next.as_str(), self.defaults.mysql_username_limit) {
            let (secret_id, user, alternate) = (event.secret_id.clone(), current.username().clone(), next.to_string());
            return Err(Error::AlternateName { secret_id, user, alternate, problem });
        }
        Ok((pair, previous))
    }

    /// The master secret's AWSCURRENT, with what it lacks taken from the rotated secret (`current`, at the writer
    /// `located` names): where and as whom the master logs in. Public for `rds-rotator check`, which must find
    /// the same master as a rotation.
    pub async fn master(
        &self,
        secret_id: &str,
        current: &DbSecret,
        masterarn: &str,
        located: &Located,
    ) -> Result<DbSecret, Error> {
        let refused = |problem: String| Error::MasterSecret {
            secret_id: secret_id.to_owned(),
            masterarn: masterarn.to_owned(),
            problem,
        };
        if masterarn == secret_id {
            return Err(refused("is the rotated secret itself".to_owned()));
        }
        let (master, host_inherited) = match self.store.get(masterarn, Version::Current).await {
            Ok(Fetched::Text(text)) => DbSecret::parse_master(text.expose_secret(), current.target(), &self.defaults)
                .map_err(|problem| refused(problem.to_string()))?,
            Ok(Fetched::Binary) => return Err(refused("holds SecretBinary, not a JSON SecretString".to_owned())),
            Ok(Fetched::Missing) => {
                return Err(refused(
                    "does not exist, or has no AWSCURRENT version with a value (check the secret's masterarn)"
                        .to_owned(),
                ));
            }
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => return Err(refused(format!("cannot be read: {err}"))),
        };
        let (ours, theirs) = (current.target().engine, master.target().engine);
        if ours.family() != theirs.family() {
            return Err(refused(format!("is for engine {theirs}, and the rotated secret for {ours}")));
        }
        if !host_inherited {
            return Ok(master.at(&mapped(&self.topology.endpoint_map, master.target())));
        }
        // An RDS-managed master secret holds no host: its tags name the instance or cluster it is the master of.
        // When the RDS API already named the rotated secret's writer, that is the same endpoint; otherwise the tags
        // are asked, and anything wrong with them leaves the master at the rotated secret's endpoint.
        if is_rds_managed(masterarn) && located.resource.is_none() {
            match self.tagged_writer(masterarn, current.target()).await {
                Ok(Some(writer)) => return Ok(master.at(&writer)),
                Ok(None) => {}
                Err(problem) => {
                    warn!(%problem, "the master secret is RDS-managed, but its tags name no endpoint; the master logs in at the rotated secret's");
                }
            }
        }
        Ok(master)
    }

    /// The writer endpoint of the instance or cluster an RDS-managed secret's tags name; `None` when they name none.
    async fn tagged_writer(&self, masterarn: &str, rotated: &Target) -> Result<Option<Target>, String> {
        let meta = self.store.describe(masterarn).await.map_err(|err| err.to_string())?;
        let id = |arn: &str| arn.rsplit(':').next().unwrap_or(arn).to_owned();
        let endpoint = if let Some(arn) = meta.tags.get(CLUSTER_TAG) {
            let cluster = self.rds.cluster(&id(arn)).await.map_err(|err| err.to_string())?;
            let cluster =
                cluster.ok_or_else(|| format!("{CLUSTER_TAG} names DB cluster {arn}, which does not exist"))?;
            cluster.writer.ok_or_else(|| format!("DB cluster {arn} has no writer endpoint"))?
        } else if let Some(arn) = meta.tags.get(INSTANCE_TAG) {
            let instance = self.rds.instance(&id(arn)).await.map_err(|err| err.to_string())?;
            let instance =
                instance.ok_or_else(|| format!("{INSTANCE_TAG} names DB instance {arn}, which does not exist"))?;
            instance.endpoint.ok_or_else(|| format!("DB instance {arn} has no endpoint yet"))?
        } else {
            return Ok(None);
        };
        let writer = Target { host: endpoint.host, port: endpoint.port, ..rotated.clone() };
        info!(writer = %writer, "the master secret is RDS-managed; its tags name the endpoint");
        Ok(Some(mapped(&self.topology.endpoint_map, &writer)))
    }

    /// setSecret for alternating users: the master makes the pending user the current user's twin.
    pub(super) async fn set_alternating(
        &self,
        event: &RotationEvent,
        current: &DbSecret,
        pending: &DbSecret,
        masterarn: &str,
    ) -> Result<Outcome, Error> {
        let deadline = self.wait_deadline();
        let (pair, previous) = self.pair(event, current).await?;
        let next = pair.other(current.username());
        let mismatch = pending.differs_from(current).filter(|key| *key != "username");
        if let Some(key) = mismatch.or((pending.username() != next).then_some("username")) {
            let (secret_id, token) = (event.secret_id.clone(), event.token.clone());
            return Err(Error::PendingMismatch { secret_id, token, key });
        }
        let mut located = self.locate(&event.secret_id, current).await?;
        let synced = self.sync_at(event, current, pending, masterarn, &pair, previous.as_ref(), &located).await;
        if let Some(behind) = self.writer_behind_read_only(event, current, &located, &synced).await? {
            located = behind;
            self.sync_at(event, current, pending, masterarn, &pair, previous.as_ref(), &located).await?;
        } else {
            synced?;
        }
        self.await_propagation(pending, &located, deadline).await?;
        info!(user = %next, host = %current.target(), "setSecret: the master made {next} the twin of {}", current.username());
        Ok(Outcome::PasswordSet { with: "the master secret" })
    }

    /// setSecret's work in the master's session at the writer `located` names.
    #[allow(clippy::too_many_arguments)]
    async fn sync_at(
        &self,
        event: &RotationEvent,
        current: &DbSecret,
        pending: &DbSecret,
        masterarn: &str,
        pair: &Pair,
        previous: Option<&UserName>,
        located: &Located,
    ) -> Result<(), Error> {
        let (current_w, pending_w) = (current.at(&located.writer), pending.at(&located.writer));
        let master = self.master(&event.secret_id, &current_w, masterarn, located).await?;
        let mut session = self.login_master(event, masterarn, &master).await?;
        let result = self.sync_pair(event, &mut session, &current_w, &pending_w, pair, previous).await;
        session.close().await;
        result
    }

    async fn sync_pair(
        &self,
        event: &RotationEvent,
        session: &mut E::Session,
        current: &DbSecret,
        pending: &DbSecret,
        pair: &Pair,
        previous: Option<&UserName>,
    ) -> Result<(), Error> {
        let next = pending.username();
        if session.user_exists(next).await? && previous != Some(next) && !self.logs_in(pending).await? {
            let (secret_id, user, of) = (event.secret_id.clone(), next.clone(), current.username().clone());
            return Err(Error::AlternateConflict { secret_id, user, of });
        }
        let alternate = Alternate { current: current.username(), next, base: &pair.base, clone: &pair.clone };
        session.sync_alternate(alternate, pending.password()).await?;
        Ok(())
    }

    /// testSecret's second half for alternating users: the master confirms the pending user holds what the current
    /// user holds.
    pub(super) async fn verify_alternating(
        &self,
        event: &RotationEvent,
        pending: &DbSecret,
        masterarn: &str,
        located: &Located,
    ) -> Result<(), Error> {
        let current = self.require(event, Version::Current).await?;
        if current.username() == pending.username() {
            // RotateImmediately=false tests a copy of the current version: nothing alternates.
            return Ok(());
        }
        // setSecret checked the pending user against the history; here the two users name the pair.
        let pair = Pair::of(current.username(), Some(pending.username())).map_err(|problem| Error::AlternateName {
            secret_id: event.secret_id.clone(),
            user: current.username().clone(),
            alternate: pending.username().to_string(),
            problem,
        })?;
        let master = self.master(&event.secret_id, &current.at(&located.writer), masterarn, located).await?;
        let mut session = self.login_master(event, masterarn, &master).await?;
        let alternate =
            Alternate { current: current.username(), next: pending.username(), base: &pair.base, clone: &pair.clone };
        let verified = session.verify_alternate(alternate).await;
        session.close().await;
        Ok(verified?)
    }

    /// A session as the master. Refused credentials are the master secret's problem, and the error names it.
    async fn login_master(
        &self,
        event: &RotationEvent,
        masterarn: &str,
        master: &DbSecret,
    ) -> Result<E::Session, Error> {
        match self.engine.login(master.target(), master.login()).await? {
            LoginOutcome::Accepted(session) => Ok(session),
            LoginOutcome::Rejected => {
                let hint =
                    self.engine.rejection_hint(master.target()).map(|hint| format!(" ({hint})")).unwrap_or_default();
                Err(Error::MasterSecret {
                    secret_id: event.secret_id.clone(),
                    masterarn: masterarn.to_owned(),
                    problem: format!(
                        "does not log in: {} refused user {}; its password is not the database's, or the user does \
                         not exist{hint}",
                        master.target(),
                        master.username()
                    ),
                })
            }
        }
    }

    async fn logs_in(&self, secret: &DbSecret) -> Result<bool, Error> {
        Ok(match self.engine.login(secret.target(), secret.login()).await? {
            LoginOutcome::Accepted(session) => {
                session.close().await;
                true
            }
            LoginOutcome::Rejected => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::new(name).unwrap()
    }

    fn check(current: &str, previous: Option<&str>, base: &str, clone: &str) {
        let previous = previous.map(user);
        let pair = Pair::of(&user(current), previous.as_ref()).unwrap();
        assert_eq!(pair, Pair { base: user(base), clone: user(clone) }, "{current} after {previous:?}");
    }

    #[test]
    fn the_pair_comes_from_the_history() {
        check("app", None, "app", "app_clone");
        check("app", Some("app"), "app", "app_clone");
        check("app_clone", Some("app"), "app", "app_clone");
        check("app", Some("app_clone"), "app", "app_clone");
        // A user whose own name ends in _clone is an original, not somebody's clone.
        check("reporting_clone", None, "reporting_clone", "reporting_clone_clone");
        check("reporting_clone_clone", Some("reporting_clone"), "reporting_clone", "reporting_clone_clone");
        // An unrelated previous user does not make a pair.
        check("app", Some("other"), "app", "app_clone");
        check("app_clone", Some("ap"), "app_clone", "app_clone_clone");
    }

    #[test]
    fn other_is_the_one_that_is_not_current() {
        let pair = Pair::of(&user("app"), None).unwrap();
        assert_eq!(pair.other(&user("app")).as_str(), "app_clone");
        assert_eq!(pair.other(&user("app_clone")).as_str(), "app");
    }
}
