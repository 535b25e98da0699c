//! `rds-rotator cancel`: ends a rotation left in progress without locking anyone out. Secrets Manager refuses to start
//! a rotation while `AWSPENDING` sits on a version that is not `AWSCURRENT` ("A previous rotation isn't complete"),
//! and removing the label by hand is only safe when the database never took the pending password: if it did, the
//! pending version is the only record of the password that works.
//!
//! So the database decides, through testSecret's own code: when the pending version logs in (and, for alternating
//! users, the pair checks out), the rotation is completed with finishSecret's code; when the database refuses it, or
//! it holds no usable value, the label is removed and the next rotation starts clean. Anything else (the database
//! unreachable, TLS refused) could hide either answer: nothing is changed, and the error says why.

use std::fmt;

use tracing::info;

use super::{Error, Rotator, StepFacts};
use crate::domain::{AWSCURRENT, AWSPENDING, Step, VersionId};
use crate::engines::DbEngine;
use crate::event::RotationEvent;
use crate::rds::RdsApi;
use crate::store::{SecretStore, Version};

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
        let meta = self.store.describe(secret_id).await?;
        let labelled = |labels: &[String], label: &str| labels.iter().any(|l| l == label);
        let Some((version, _)) =
            meta.versions.iter().find(|(_, labels)| labelled(labels, AWSPENDING) && !labelled(labels, AWSCURRENT))
        else {
            return Ok(Cancelled::NothingPending);
        };
        let version = version.clone();
        let Some(token) = VersionId::new(&version) else {
            return self.remove_label(secret_id, version, "its id is not one a rotation could have used").await;
        };
        match self.load(secret_id, Version::Pending(&token)).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return self.remove_label(secret_id, version, "it holds no value: createSecret never ran").await;
            }
            // setSecret reads the same value the same way: it cannot have set a password from it.
            Err(err @ Error::SecretShape { .. }) | Err(err @ Error::MissingVersion { .. }) => {
                let why = format!("setSecret could not have used it: {err}");
                return self.remove_label(secret_id, version, &why).await;
            }
            Err(err) => return Err(err),
        }

        let event = RotationEvent { step: Step::Test, secret_id: secret_id.to_owned(), token, rotation_token: None };
        match self.test(&event, &mut StepFacts::default()).await {
            Ok(_) => {
                let event = RotationEvent { step: Step::Finish, ..event };
                let meta = self.store.describe(secret_id).await?;
                self.finish(&event, &meta).await?;
                info!(%version, "cancel: the database accepts the pending password; completed the rotation");
                Ok(Cancelled::Completed { version })
            }
            Err(Error::CredentialsRejected { tried, .. }) if tried == AWSPENDING => {
                self.remove_label(secret_id, version, "the database refuses its password").await
            }
            Err(err @ Error::PendingMismatch { .. }) => {
                let why = format!("setSecret would have refused it: {err}");
                self.remove_label(secret_id, version, &why).await
            }
            Err(err) => Err(err),
        }
    }

    async fn remove_label(&self, secret_id: &str, version: String, why: &str) -> Result<Cancelled, Error> {
        self.store.move_stage(secret_id, AWSPENDING, None, Some(&version)).await?;
        info!(%version, why, "cancel: removed AWSPENDING");
        Ok(Cancelled::Removed { version, why: why.to_owned() })
    }
}
