//! Alternating users: a secret with a `masterarn` key moves, at each rotation, between two database users — its
//! original user and `<original>_clone` — and the master (the user of the master secret) creates the other user,
//! gives it the current user's privileges and sets its password. The user the secret leaves keeps working until the
//! next rotation, so applications holding the previous version never see a refused login.
//!
//! Which user is "the other" comes from the secret's own history, never from a name alone: when AWSPREVIOUS and
//! AWSCURRENT name `x` and `x_clone`, the pair is theirs; otherwise the current user is the original and the other is
//! `<current>_clone`. A user whose own name ends in `_clone` is thus never taken for somebody's clone (AWS's template
//! strips the suffix and changes the password of whoever has the remaining name). An other user that already exists
//! is changed only when this secret proves it holds the user's password: AWSPREVIOUS names it and still logs in as it,
//! or the pending password already does — which only this rotation knows, and which the engines give a user from the
//! statement that creates it, so a retry after a crash recognises its own work. History alone proves nothing: whoever
//! writes the secret writes its history too.
//!
//! Before the master changes anything: AWSCURRENT must log in as its user (the secret holds a working password of the
//! user it names), neither user may be the master user, and neither may be able to administer accounts (a superuser,
//! `CREATEROLE`, `rds_superuser`; MySQL-family `CREATE USER`, `SUPER`, the global grant option, writes to the grant
//! tables) — copying such a user's privileges would hand account administration to whoever writes the secret.
//! Where the master logs in is `master.rs`.

use tracing::{info, warn};

use super::findings::{Check, Finding};
use super::topology::Located;
use super::{Error, ErrorKind, MasterProblem, Outcome, Refusal, Rotator, SetRequest};
use crate::domain::{Password, UserName};
use crate::engines::{AccountAdmin, Alternate, DbEngine, DbSession, EngineErrorKind, LoginOutcome};
use crate::rds::RdsApi;
use crate::secret::{DbSecret, Master};
use crate::store::{SecretStore, Version};
/// The alternating users' part of one setSecret: both versions located at the writer, the pair, and AWSPREVIOUS
/// (where it names the same database).
#[derive(Clone, Copy)]
struct Twin<'a> {
    current: &'a DbSecret,
    pending: &'a DbSecret,
    pair: &'a Pair,
    previous: Option<&'a DbSecret>,
}

/// What the plan of an alternating setSecret keeps for its change: the master, the pair, AWSPREVIOUS (at the writer,
/// where it names the same database), and what the guards found.
pub(super) struct TwinPlan {
    master: Master,
    masterarn: String,
    pair: Pair,
    previous: Option<DbSecret>,
    facts: TwinFacts,
}

/// What the guards found of the pending user.
#[derive(Clone, Copy)]
struct TwinFacts {
    /// The pending user exists already.
    exists: bool,
    /// AWSPREVIOUS names it and still logs in as it (a normal switch back).
    by_previous: bool,
}

/// Appended to the original user's name to name the other user.
pub(super) const CLONE_SUFFIX: &str = "_clone";

/// The two users a secret alternates between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pair {
    pub base: UserName,
    pub clone: UserName,
}

impl Pair {
    /// The pair, from the current user and AWSPREVIOUS's (see the module's documentation).
    pub(super) fn of(current: &UserName, previous: Option<&UserName>) -> Result<Pair, String> {
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
    pub(super) fn other(&self, user: &UserName) -> &UserName {
        if *user == self.base { &self.clone } else { &self.base }
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// The pair of `current`, and AWSPREVIOUS. An AWSPREVIOUS that cannot be read now is an error (the pair would
    /// be guessed wrongly); one that is not a valid secret counts as none, with a warning.
    pub(super) async fn pair(&self, secret_id: &str, current: &DbSecret) -> Result<(Pair, Option<DbSecret>), Error> {
        let previous = match self.load(secret_id, Version::Previous).await {
            Ok(previous) => previous,
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => {
                warn!(error = %err, "AWSPREVIOUS is not a usable secret; the pair is taken from AWSCURRENT alone");
                None
            }
        };
        let pair = Pair::of(current.username(), previous.as_ref().map(DbSecret::username)).map_err(|problem| {
            let (user, alternate) =
                (current.username().clone(), format!("{}{CLONE_SUFFIX}", current.username().as_str()));
            ErrorKind::AlternateName { user, alternate, problem }
        })?;
        let next = pair.other(current.username());
        let engine = current.target().engine;
        if let Some(problem) = engine.username_problem(next.as_str(), self.settings.secrets.mysql_username_limit) {
            let (user, alternate) = (current.username().clone(), next.to_string());
            return Err(ErrorKind::AlternateName { user, alternate, problem }.into());
        }
        Ok((pair, previous))
    }

    /// setSecret's plan for alternating users: every check before the master changes anything — the pair, the
    /// master, AWSCURRENT's proof of possession where the master and applications connect, the guards on both users,
    /// the master's authority over them — in the master's open session, which the plan keeps for the change
    /// (`plan.rs` makes them its `Change::Twin`): where the change goes, the session, and what it needs.
    pub(super) async fn plan_alternating(
        &self,
        request: SetRequest<'_>,
        masterarn: &str,
    ) -> Result<(Located, E::Session, Box<TwinPlan>), Error> {
        let SetRequest { secret_id, current, pending, .. } = request;
        let (pair, previous) = self.pair(secret_id, current).await?;
        let next = pair.other(current.username());
        let mismatch = pending.pending_differs_but_for_the_user(current);
        if let Some(key) = mismatch.or((pending.username() != next).then_some("username")) {
            return Err(ErrorKind::PendingMismatch { token: request.token.clone(), key }.into());
        }
        let (master, located) = self.master(secret_id, current, masterarn).await?;
        let refuse = |user: &UserName, refusal: Refusal| {
            Error::from(ErrorKind::AlternateRefused { user: user.clone(), refusal })
        };
        if next == master.username() {
            return Err(refuse(next, Refusal::MasterUser));
        }
        // The secret proves it holds the current user's password before the master acts on its word.
        let current_w = current.at(&located.writer);
        if !self.logs_in(&current_w).await? {
            return Err(refuse(current.username(), Refusal::NoLogin(current_w.target().clone())));
        }
        // Where applications connect, when it is not the writer (a reader endpoint, a replica, an alias whose
        // verified name stood for the master's endpoint): AWSCURRENT must log in there too, so that a host that
        // reaches another database is refused before the master acts, not after.
        if let Some(application) = &located.readers {
            let current_a = current.at(application);
            if !self.logs_in(&current_a).await? {
                let at = current_a.target().clone();
                return Err(refuse(current.username(), Refusal::NoLoginWhereApplicationsConnect(at)));
            }
        }
        let mut session = self.login_master(masterarn, &master).await?;
        let previous_w = previous.filter(|p| p.differs_but_for_the_user(current).is_none());
        let previous_w = previous_w.map(|p| p.at(&located.writer));
        let twin = Twin {
            current: &current_w,
            pending: &pending.at(&located.writer),
            pair: &pair,
            previous: previous_w.as_ref(),
        };
        match self.guard_pair(request, &mut session, twin).await {
            Ok(facts) => {
                let twin =
                    Box::new(TwinPlan { master, masterarn: masterarn.to_owned(), pair, previous: previous_w, facts });
                Ok((located, session, twin))
            }
            Err(err) => {
                session.close().await;
                Err(err)
            }
        }
    }

    /// The guards on both users in the master's session, before the master acts (see the module's documentation).
    async fn guard_pair(
        &self,
        request: SetRequest<'_>,
        session: &mut E::Session,
        twin: Twin<'_>,
    ) -> Result<TwinFacts, Error> {
        let Twin { current, pending, pair, previous } = twin;
        let refuse = |user: &UserName, power: String| {
            Error::from(ErrorKind::AlternateRefused { user: user.clone(), refusal: Refusal::AccountPower(power) })
        };
        if let Some(power) = session.account_power(current.username()).await? {
            return Err(refuse(current.username(), power));
        }
        // AWSCURRENT's login proved the one account the server matched; privileges are copied from every account of
        // the name, so each must be this secret's (as the other user's must, `Alternate::known`).
        let unproven = session.unproven_accounts(current.username(), current.password()).await?;
        if !unproven.is_empty() {
            let (user, refusal) = (current.username().clone(), Refusal::UnprovenAccounts(unproven));
            return Err(ErrorKind::AlternateRefused { user, refusal }.into());
        }
        let next = pending.username();
        let previous = previous.filter(|p| p.username() == next);
        let exists = session.user_exists(next).await?;
        let mut by_previous = false;
        if exists {
            if let Some(power) = session.account_power(next).await? {
                return Err(refuse(next, power));
            }
            // Possession: AWSPREVIOUS still logs in as it (a normal switch back), or the pending password already
            // does (this rotation created it, or set it, before a crash; a password a preview made is nobody's).
            by_previous = match previous {
                Some(previous) => self.logs_in(previous).await?,
                None => false,
            };
            let by_pending = !by_previous && request.pending_stored && self.logs_in(pending).await?;
            if !by_previous && !by_pending {
                return Err(ErrorKind::AlternateConflict { user: next.clone(), of: current.username().clone() }.into());
            }
        }
        let known: Vec<&Password> = previous.map(DbSecret::password).into_iter().chain([pending.password()]).collect();
        let alternate =
            Alternate { current: current.username(), next, base: &pair.base, clone: &pair.clone, known: &known };
        // The master may administer both users (PostgreSQL 16+'s ADMIN OPTION), or the error names the grant to run.
        session.master_authority(alternate).await?;
        Ok(TwinFacts { exists, by_previous })
    }

    /// The twin's change: the master makes the pending user the current user's twin, then the wait until the new
    /// password works where applications connect.
    pub(super) async fn apply_twin(
        &self,
        request: SetRequest<'_>,
        located: &Located,
        mut session: E::Session,
        twin: Box<TwinPlan>,
    ) -> Result<Outcome, Error> {
        let SetRequest { current, pending, .. } = request;
        let next = pending.username();
        let previous = twin.previous.as_ref().filter(|p| p.username() == next);
        let known: Vec<&Password> = previous.map(DbSecret::password).into_iter().chain([pending.password()]).collect();
        let (base, clone) = (&twin.pair.base, &twin.pair.clone);
        let alternate = Alternate { current: current.username(), next, base, clone, known: &known };
        let synced = session.sync_alternate(alternate, pending.password()).await;
        session.close().await;
        match synced {
            Ok(()) => {}
            Err(err) if err.kind == EngineErrorKind::NotOurs => {
                warn!(error = %err, "setSecret: an account of the other user holds a password this secret does not");
                let (user, of) = (next.clone(), current.username().clone());
                return Err(ErrorKind::AlternateConflict { user, of }.into());
            }
            Err(err) => return Err(err.into()),
        }
        self.topology().await_propagation(pending, located, request.deadline).await?;
        info!(user = %next, host = %located.writer, "setSecret: the master made {next} the twin of {}", current.username());
        Ok(Outcome::PasswordSet { with: "the master secret" })
    }

    /// The twin's plan, in findings for `check`.
    pub(super) async fn describe_twin(
        &self,
        request: SetRequest<'_>,
        located: &Located,
        session: E::Session,
        twin: Box<TwinPlan>,
    ) -> Result<Vec<Finding>, Error> {
        session.close().await;
        let SetRequest { current, pending, .. } = request;
        let (next, of) = (pending.username(), current.username());
        let plan = match (twin.facts.exists, twin.facts.by_previous) {
            (false, _) => format!("the rotation creates {next} as the twin of {of}"),
            (true, true) => format!(
                "the rotation moves to {next} (AWSPREVIOUS's user, whose password still logs in), the twin of {of}"
            ),
            (true, false) => format!(
                "{next} already logs in with the AWSPENDING password (a rotation was interrupted after it made \
                 {next}); its retry makes {next} the twin of {of}"
            ),
        };
        let master = &twin.master;
        let transport = self.engine.transport(master.target()).map(|t| format!(" ({t})")).unwrap_or_default();
        let current_w = current.at(&located.writer);
        Ok(vec![
            Finding::ok(
                Check::Endpoint,
                format!("password changes go to {}, where the master logs in", located.writer),
            ),
            Finding::ok(
                Check::MasterSecret,
                format!("{} logs in as {} at {}{transport}", twin.masterarn, master.username(), master.target()),
            ),
            Finding::ok(Check::Database, format!("AWSCURRENT logs in as {of} at {}", current_w.target())),
            Finding::ok(Check::Alternate, plan),
        ])
    }

    /// testSecret's second half for alternating users: the master confirms the pending user holds what the current
    /// user holds.
    pub(super) async fn verify_alternating(
        &self,
        current: &DbSecret,
        pending: &DbSecret,
        master: &Master,
        masterarn: &str,
    ) -> Result<(), Error> {
        if current.username() == pending.username() {
            // RotateImmediately=false tests a copy of the current version: nothing alternates.
            return Ok(());
        }
        // setSecret checked the pending user against the history; here the two users name the pair.
        let pair =
            Pair::of(current.username(), Some(pending.username())).map_err(|problem| ErrorKind::AlternateName {
                user: current.username().clone(),
                alternate: pending.username().to_string(),
                problem,
            })?;
        let mut session = self.login_master(masterarn, master).await?;
        let alternate = Alternate {
            current: current.username(),
            next: pending.username(),
            base: &pair.base,
            clone: &pair.clone,
            known: &[],
        };
        let verified = session.verify_alternate(alternate).await;
        session.close().await;
        Ok(verified?)
    }

    /// A session as the master. Refused credentials are the master secret's problem, and the error names it.
    async fn login_master(&self, masterarn: &str, master: &Master) -> Result<E::Session, Error> {
        match self.engine.login(master.target(), master.login()).await? {
            LoginOutcome::Accepted(session) => Ok(session),
            LoginOutcome::Rejected => {
                let problem = MasterProblem::DoesNotLogIn {
                    target: master.target().clone(),
                    user: master.username().clone(),
                    hint: self.engine.rejection_hint(master.target()),
                };
                Err(ErrorKind::MasterSecret { masterarn: masterarn.to_owned(), problem }.into())
            }
        }
    }

    /// Whether the secret's user logs in where it points; a server that cannot answer is an error, never a "no".
    pub(super) async fn logs_in(&self, secret: &DbSecret) -> Result<bool, Error> {
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
