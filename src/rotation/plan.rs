//! setSecret as a value: `plan` finds what it would change — it logs in and makes every check, and changes nothing
//! — and returns a `Plan`; a rotation then applies it (`apply`), and `check` describes it (`describe`, for the
//! preflight). One finding, two effects: `check` and a rotation cannot disagree about what setSecret would do,
//! because both take the same plan.
//!
//! What a plan cannot settle without a step a preview must not take stays in it as a choice the consumer makes:
//! the last resorts when no version logs in (AWSPREVIOUS, whose failed login would count toward lockouts, and
//! break-glass, which changes the master password), and the writer behind a host that refuses the change as
//! read-only, which only the change itself (or `check`'s question about it) finds.

use tracing::{info, warn};

use super::alternating::TwinPlan;
use super::findings::{Check, Finding};
use super::topology::Located;
use super::topology::break_glass::BreakGlass;
use super::{Error, ErrorKind, Outcome, Rotator, SetRequest, Tried};
use crate::domain::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Login};
use crate::engines::{DbEngine, DbSession, LoginOutcome, Preflight, RotationSession};
use crate::rds::RdsApi;
use crate::secret::DbSecret;
use crate::store::{SecretStore, Version};

/// What setSecret would change, and where.
pub(super) struct Plan<'r, S> {
    pub request: SetRequest<'r>,
    pub located: Located,
    pub change: Change<S>,
}

/// The change a plan makes.
pub(super) enum Change<S> {
    /// The database already has the pending password: a rotation interrupted after setSecret's change.
    AlreadySet,
    /// Set the pending password in `session`, which logged in with AWSCURRENT's.
    Password { session: S },
    /// No version the plan may try logs in (AWSCURRENT, and AWSPENDING where it is stored). A rotation tries
    /// AWSPREVIOUS, then break-glass, in that order; `check` tries neither.
    LastResort,
    /// Alternating users: the master makes the pending user the current user's twin, in its `session`.
    Twin { session: S, twin: Box<TwinPlan> },
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// setSecret's plan, once both versions are read.
    pub(super) async fn plan<'q>(&self, request: SetRequest<'q>) -> Result<Plan<'q, E::Session>, Error> {
        if let Some(masterarn) = request.current.masterarn() {
            let (located, session, twin) = self.plan_alternating(request, masterarn).await?;
            return Ok(Plan { request, located, change: Change::Twin { session, twin } });
        }
        let SetRequest { current, pending, .. } = request;
        if let Some(key) = pending.pending_differs_from(current) {
            return Err(ErrorKind::PendingMismatch { token: request.token.clone(), key }.into());
        }
        let located = self.topology().locate(current).await?;
        self.plan_at(request, located).await
    }

    /// The single-user plan at `located`'s writer. AWSCURRENT first: in a normal rotation the database has that
    /// password, so one login does, and the user gets no failed login (which brute-force alarms count) in every
    /// rotation. A database that accepts the current password does not have the pending one, so "pending already
    /// works" needs no login to rule out.
    async fn plan_at<'q>(&self, request: SetRequest<'q>, located: Located) -> Result<Plan<'q, E::Session>, Error> {
        let (current, pending) = (request.current.at(&located.writer), request.pending.at(&located.writer));
        let change = match self.engine.login(pending.target(), current.login()).await? {
            LoginOutcome::Accepted(session) => Change::Password { session },
            LoginOutcome::Rejected if request.pending_stored => {
                match self.engine.login(pending.target(), pending.login()).await? {
                    LoginOutcome::Accepted(session) => {
                        session.close().await;
                        Change::AlreadySet
                    }
                    LoginOutcome::Rejected => Change::LastResort,
                }
            }
            // A pending version a preview made is nobody's: no login with it.
            LoginOutcome::Rejected => Change::LastResort,
        };
        Ok(Plan { request, located, change })
    }

    /// setSecret: the plan, applied; where the host refuses the change as read-only and the RDS API names a writer
    /// behind it, the plan made again there, and applied.
    pub(super) async fn set_with(&self, request: SetRequest<'_>) -> Result<Outcome, Error> {
        let plan = self.plan(request).await?;
        let alternating = matches!(plan.change, Change::Twin { .. });
        let located = plan.located.clone();
        let result = self.apply(plan).await;
        if alternating {
            return result;
        }
        match self.topology().writer_behind_read_only(request.current, &located, &result).await? {
            Some(behind) => self.apply(self.plan_at(request, behind).await?).await,
            None => result,
        }
    }

    /// `check`'s part of setSecret: the plan, described (with the same writer behind a read-only host).
    pub(super) async fn describe_set(&self, request: SetRequest<'_>) -> Result<Vec<Finding>, Error> {
        let plan = self.plan(request).await?;
        let alternating = matches!(plan.change, Change::Twin { .. });
        let located = plan.located.clone();
        let result = self.describe(plan).await;
        if alternating {
            return result;
        }
        match self.topology().writer_behind_read_only(request.current, &located, &result).await? {
            Some(behind) => self.describe(self.plan_at(request, behind).await?).await,
            None => result,
        }
    }

    /// Makes the change, then waits until the new password works where applications connect.
    pub(super) async fn apply(&self, plan: Plan<'_, E::Session>) -> Result<Outcome, Error> {
        let Plan { request, located, change } = plan;
        let pending = request.pending.at(&located.writer);
        let (at, user) = (pending.target(), pending.username());
        let outcome = match change {
            Change::Twin { session, twin } => return self.apply_twin(request, &located, session, twin).await,
            Change::AlreadySet => {
                info!(%user, host = %at, "setSecret: the database already has the AWSPENDING password, nothing to do");
                Outcome::AlreadySet
            }
            Change::Password { session } => self.change_password(session, &pending, AWSCURRENT).await?,
            Change::LastResort => self.last_resort(request, &pending, &located).await?,
        };
        self.topology().await_propagation(request.pending, &located, request.deadline).await?;
        Ok(outcome)
    }

    /// The pending password set in `session`, opened with `with`'s password.
    async fn change_password(
        &self,
        mut session: E::Session,
        pending: &DbSecret,
        with: &'static str,
    ) -> Result<Outcome, Error> {
        let (at, user) = (pending.target(), pending.username());
        // A session whose statement failed is dropped, not closed: the driver ends it in the background, and a
        // server that stopped answering cannot hold the step in a polite goodbye.
        session.set_password(user, pending.password()).await?;
        session.close().await;
        info!(%user, host = %at, with, "setSecret: password changed to the AWSPENDING version's");
        Ok(Outcome::PasswordSet { with })
    }

    /// No version the plan tried logs in. The last resort: a rotation that failed after changing the password, then
    /// lost its pending version — AWSPREVIOUS; the last resort of all, when switched on: the RDS API resets a drifted
    /// master user's password. Where neither applies, `CredentialsRejected`, with why break-glass was not tried.
    async fn last_resort(
        &self,
        request: SetRequest<'_>,
        pending: &DbSecret,
        located: &Located,
    ) -> Result<Outcome, Error> {
        match self.load(request.secret_id, Version::Previous).await {
            Ok(Some(previous)) => match previous.differs_from(request.pending) {
                None => {
                    let previous = previous.at(&located.writer);
                    if let Some(session) = self.session(pending, previous.login()).await? {
                        return self.change_password(session, pending, AWSPREVIOUS).await;
                    }
                }
                Some(key) => warn!(key, "setSecret: AWSPREVIOUS has another {key}, not tried"),
            },
            Ok(None) => {}
            Err(err) => warn!(error = %err, "setSecret: AWSPREVIOUS is unusable, not tried"),
        }
        match self.topology().plan_break_glass(request, pending, located).await? {
            BreakGlass::Reset(reset) => self.topology().reset_master(request, pending, reset).await,
            BreakGlass::NotTried(reason) => Err(self.rejected(pending, reason, Tried::CurrentPendingOrPrevious)),
        }
    }

    /// A session at `pending`'s target with `login`, or `None` when it is refused.
    async fn session(&self, pending: &DbSecret, login: Login<'_>) -> Result<Option<E::Session>, Error> {
        Ok(match self.engine.login(pending.target(), login).await? {
            LoginOutcome::Accepted(session) => Some(session),
            LoginOutcome::Rejected => None,
        })
    }

    /// The error when no version logs in: the versions `tried`, and what the server does not say.
    fn rejected(&self, pending: &DbSecret, more: Option<String>, tried: Tried) -> Error {
        let at = pending.target();
        let hint = [self.engine.rejection_hint(at).map(str::to_owned), more].into_iter().flatten();
        let hint = Some(hint.collect::<Vec<_>>().join("; ")).filter(|hint| !hint.is_empty());
        ErrorKind::CredentialsRejected { user: pending.username().clone(), target: at.clone(), tried, hint }.into()
    }

    /// What the plan would change, in findings; the error the rotation would meet, where it would fail.
    pub(super) async fn describe(&self, plan: Plan<'_, E::Session>) -> Result<Vec<Finding>, Error> {
        let Plan { request, located, change } = plan;
        let pending = request.pending.at(&located.writer);
        let (at, user) = (pending.target(), pending.username());
        let mut findings = match change {
            Change::Twin { session, twin } => return self.describe_twin(request, &located, session, twin).await,
            Change::AlreadySet => vec![
                Finding::ok(Check::Database, format!("{at} answers; {AWSPENDING} logs in as {user}")),
                Finding::note(
                    Check::PasswordChange,
                    "nothing to change: the database already has the AWSPENDING password (a rotation was interrupted \
                     after setSecret; its retry finishes it)",
                ),
            ],
            Change::Password { mut session } => {
                let how = session.describe_password_change(user).await?;
                session.close().await;
                let transport = self.engine.transport(at).map(|t| format!(" ({t})")).unwrap_or_default();
                vec![
                    Finding::ok(Check::Database, format!("{at} answers{transport}; {AWSCURRENT} logs in as {user}")),
                    Finding::ok(Check::PasswordChange, how),
                ]
            }
            Change::LastResort => match self.topology().plan_break_glass(request, &pending, &located).await? {
                BreakGlass::Reset(reset) => vec![Finding::note(Check::PasswordChange, reset.describe())],
                BreakGlass::NotTried(reason) => {
                    let previewed = "check does not try AWSPREVIOUS, which a rotation tries last".to_owned();
                    let more = [reason, Some(previewed)].into_iter().flatten().collect::<Vec<_>>().join("; ");
                    let tried = if request.pending_stored { Tried::CurrentOrPending } else { Tried::Current };
                    return Err(self.rejected(&pending, Some(more), tried));
                }
            },
        };
        let readers = located.readers.as_ref();
        let then = readers.map(|r| format!("; the new password must then work at {r}")).unwrap_or_default();
        findings.insert(0, Finding::ok(Check::Endpoint, format!("password changes go to {}{then}", located.writer)));
        if let Some(readers) = readers {
            // Where setSecret waits after the change: reachable, over the TLS its logins use.
            findings.push(match self.logs_in(&request.current.at(readers)).await? {
                true => Finding::ok(Check::Endpoint, format!("AWSCURRENT logs in at {readers} too")),
                false => Finding::note(
                    Check::Endpoint,
                    format!("{readers} refuses AWSCURRENT's password: a replica that lags, or drift there"),
                ),
            });
        }
        Ok(findings)
    }
}
