//! `rds-rotator cancel`: ends a rotation left in progress without locking anyone out. Secrets Manager refuses to start
//! a rotation while `AWSPENDING` sits on a version that is not `AWSCURRENT` ("A previous rotation isn't complete"),
//! and removing the label by hand is only safe when the database never took the pending password: if it did, the
//! pending version is the only record of the password that works.
//!
//! So the database decides, at the writer — where setSecret changes passwords, never a reader or replica that may
//! lag it — with both passwords, from where the command runs:
//! - the pending password logs in: the rotation is completed (alternating users: once testSecret's own checks of the
//!   pair pass), with finishSecret's code;
//! - the pending password is refused and AWSCURRENT's logs in: the database never took it; the label is removed;
//! - the pending version has no value, or is one setSecret refuses (another host, user or master secret than
//!   AWSCURRENT's; for alternating users, any user but the pair's other one): setSecret never acted on it; the label
//!   is removed, with no login anywhere;
//! - anything else — both refused, the database unreachable, TLS refused, a pending value that cannot be read — could
//!   hide either answer: nothing is changed, and the error says why.
//!
//! A step still running could set the pending password after the label is gone; the command line refuses a pending
//! version younger than a step can run unless told otherwise (`cli/cancel.rs`).

use std::fmt;

use tracing::info;

use super::{Error, ErrorKind, Rotator, StepFacts, Tried};
use crate::domain::{AWSPENDING, Step, VersionId};
use crate::engines::DbEngine;
use crate::event::RotationEvent;
use crate::rds::RdsApi;
use crate::store::{SecretStore, Version, in_progress};

/// What `cancel` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// No version carries `AWSPENDING` apart from `AWSCURRENT`: nothing was in progress, nothing was changed.
    NothingPending,
    /// The database already accepts the pending password: the rotation was finished (`AWSCURRENT` moved to it).
    Completed { version: String },
    /// The database does not use the pending password: `AWSPENDING` was removed from the version.
    Removed { version: String, why: String },
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cancelled::NothingPending => f.write_str("no rotation in progress: nothing to do"),
            Cancelled::Completed { version } => write!(
                f,
                "completed the rotation: the database already accepts the pending password, so version {version} \
                 is AWSCURRENT now"
            ),
            Cancelled::Removed { version, why } => {
                write!(f, "removed AWSPENDING from version {version} ({why}); the next rotation starts clean")
            }
        }
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// Ends the rotation of `secret_id` left in progress: completes it where the database has taken the pending
    /// password, removes the `AWSPENDING` label where it has not. Works whether or not rotation is switched on.
    pub async fn cancel(&self, secret_id: &str) -> Result<Cancelled, Error> {
        self.end_rotation(secret_id).await.map_err(|err| err.in_secret(secret_id))
    }

    async fn end_rotation(&self, secret_id: &str) -> Result<Cancelled, Error> {
        let meta = self.store.describe(secret_id).await?;
        let Some(version) = in_progress(&meta.versions) else {
            // A finishSecret cut short between moving AWSCURRENT and removing AWSPENDING leaves both on one version:
            // no rotation is in progress, and the label is only in the way.
            let left = meta.versions.iter().find(|(_, labels)| labels.iter().any(|l| l == AWSPENDING));
            if let Some((version, _)) = left {
                let why = "it was left on AWSCURRENT by a finishSecret cut short";
                return self.remove_label(secret_id, version.clone(), why).await;
            }
            return Ok(Cancelled::NothingPending);
        };
        let version = version.to_owned();
        let Some(token) = VersionId::new(&version) else {
            return self.remove_label(secret_id, version, "its id is not one a rotation could have used").await;
        };
        let Some(pending) = self.load(secret_id, Version::Pending(&token)).await? else {
            return self.remove_label(secret_id, version, "it holds no value: createSecret never ran").await;
        };
        let current = self.require(secret_id, Version::Current).await?;

        // Where setSecret would have changed the password, if it acted at all.
        let writer = match current.masterarn() {
            Some(masterarn) => {
                if let Some(key) = pending.pending_differs_but_for_the_user(&current) {
                    let why = format!("its \"{key}\" differs from AWSCURRENT's, which setSecret refuses");
                    return self.remove_label(secret_id, version, &why).await;
                }
                // setSecret refuses a pending version naming any user but the pair's other one before anyone logs
                // in: so does cancel, or a secret's writer could make it log in as whoever they name at the master's
                // endpoint (the master user included: lockout counters, brute-force alarms).
                let why = match self.pair(secret_id, &current).await {
                    Ok((pair, _)) => {
                        let next = pair.other(current.username());
                        (pending.username() != next).then(|| {
                            format!(
                                "it names user {}, not {next}, the other user of the pair, which setSecret refuses",
                                pending.username()
                            )
                        })
                    }
                    Err(err) if matches!(err.kind(), ErrorKind::AlternateName { .. }) => {
                        Some(format!("no other user of the pair can be named ({err}), which setSecret refuses"))
                    }
                    Err(err) => return Err(err),
                };
                if let Some(why) = why {
                    return self.remove_label(secret_id, version, &why).await;
                }
                // A history shaped so that the master user is the pair's other one (AWSPREVIOUS naming it): setSecret
                // refuses it before any login, and so does cancel.
                let (master, located) = self.master(secret_id, &current, masterarn).await?;
                if pending.username() == master.username() {
                    let why = format!("it names user {}, the master user, which setSecret refuses", pending.username());
                    return self.remove_label(secret_id, version, &why).await;
                }
                located.writer
            }
            None => {
                if let Some(key) = pending.pending_differs_from(&current) {
                    let why = format!("its \"{key}\" differs from AWSCURRENT's, which setSecret refuses");
                    return self.remove_label(secret_id, version, &why).await;
                }
                match self.topology().writer_behind(&current).await? {
                    Some(behind) => behind.writer,
                    None => self.topology().locate(&current).await?.writer,
                }
            }
        };

        let pending_at = pending.at(&writer);
        if self.logs_in(&pending_at).await? {
            let event =
                RotationEvent { step: Step::Test, secret_id: secret_id.to_owned(), token, rotation_token: None };
            if current.masterarn().is_some() {
                // The other user has the password: the pair must also check out, as testSecret requires.
                self.test(&event, &mut StepFacts::default()).await?;
            }
            let event = RotationEvent { step: Step::Finish, ..event };
            let meta = self.store.describe(secret_id).await?;
            self.finish(&event, &meta).await?;
            info!(%version, "cancel: the database accepts the pending password; completed the rotation");
            return Ok(Cancelled::Completed { version });
        }
        let current_at = current.at(&writer);
        if self.logs_in(&current_at).await? {
            return self
                .remove_label(secret_id, version, "the database refuses its password and accepts AWSCURRENT's")
                .await;
        }
        let (user, target) = (current.username().clone(), writer.clone());
        Err(ErrorKind::CredentialsRejected { user, target, tried: Tried::PendingThenCurrent, hint: None }.into())
    }

    async fn remove_label(&self, secret_id: &str, version: String, why: &str) -> Result<Cancelled, Error> {
        self.store.move_stage(secret_id, AWSPENDING, None, Some(&version)).await?;
        info!(%version, why, "cancel: removed AWSPENDING");
        Ok(Cancelled::Removed { version, why: why.to_owned() })
    }
}
