//! `rds-rotator attach`: switches rotation on for many secrets without breaking one. Each secret's preflight runs
//! first (the core's dry run, `rotation/preflight.rs`); `RotateSecret` is called only for the secrets that pass, so
//! a misconfigured secret is found now, with what to fix, rather than by its first rotation failing.

use std::collections::HashSet;
use std::sync::Mutex;

use futures_util::{Stream, StreamExt, stream};

use super::status::{pending_version, same_function};
use super::{Fleet, PREFLIGHTS_AT_ONCE};
use crate::engines::DbEngine;
use crate::rds::RdsApi;
use crate::rotation::preflight::Failure;
use crate::store::catalog::{Attach, SecretCatalog};
use crate::store::{SecretStore, StoreError};

/// What became of one secret.
#[derive(Debug)]
pub(crate) enum AttachOutcome {
    /// Rotation is on, with this function and schedule; `replaced` names the function that rotated it before, if
    /// another one did (AWS's template, say).
    Attached { replaced: Option<String> },
    /// The preflight failed: rotation was left as it was.
    Refused(Failure),
    /// A rotation is in progress: the service would refuse `RotateSecret` until it ends.
    InProgress { version: String },
    /// The same secret as another operand (by name or by ARN): handled once, by that one.
    Repeated,
    /// `DescribeSecret` or `RotateSecret` failed.
    Failed(StoreError),
}

impl AttachOutcome {
    pub(crate) fn attached(&self) -> bool {
        matches!(self, AttachOutcome::Attached { .. })
    }
}

impl<C: SecretCatalog, S: SecretStore, E: DbEngine, R: RdsApi> Fleet<'_, C, S, E, R> {
    /// `attach` for each secret, `PREFLIGHTS_AT_ONCE` at a time (each preflight logs in to a database), in the order
    /// given. A secret named twice (by name and by ARN, say) is attached once: two `RotateSecret` calls at once would
    /// start two rotations.
    pub(crate) fn attach_each<'s>(
        &'s self,
        secrets: &'s [String],
        attach: &'s Attach,
    ) -> impl Stream<Item = (&'s str, AttachOutcome)> + 's {
        let claimed = std::sync::Arc::new(Mutex::new(HashSet::new()));
        let each = secrets.iter().enumerate().map(move |(at, secret)| {
            let claimed = claimed.clone();
            async move {
                if secrets[..at].contains(secret) {
                    return (secret.as_str(), AttachOutcome::Repeated);
                }
                (secret.as_str(), self.attach_claiming(secret, attach, &claimed).await)
            }
        });
        stream::iter(each).buffered(PREFLIGHTS_AT_ONCE)
    }

    /// Preflight, then `RotateSecret`, for one secret, unless its ARN is in `claimed` already (another operand
    /// named it); claims it otherwise.
    async fn attach_claiming(
        &self,
        secret_id: &str,
        attach: &Attach,
        claimed: &Mutex<HashSet<String>>,
    ) -> AttachOutcome {
        let replaced = match self.catalog.describe_listed(secret_id).await {
            Ok(listed) => {
                let first = claimed.lock().map(|mut claimed| claimed.insert(listed.arn.clone())).unwrap_or(true);
                if !first {
                    return AttachOutcome::Repeated;
                }
                if let Some(version) = pending_version(&listed) {
                    return AttachOutcome::InProgress { version: version.to_owned() };
                }
                listed.rotation_function.filter(|previous| !same_function(previous, &attach.function))
            }
            Err(err) => return AttachOutcome::Failed(err),
        };
        let report = self.rotator.preflight(secret_id).await;
        if let Some(failure) = report.failure {
            return AttachOutcome::Refused(failure);
        }
        match self.catalog.attach(secret_id, attach).await {
            Ok(()) => AttachOutcome::Attached { replaced },
            Err(err) => AttachOutcome::Failed(err),
        }
    }
}
