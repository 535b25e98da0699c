//! The secret store as the protocol needs it: the `SecretStore` trait the core calls, and what it answers. A port:
//! the implementation on Secrets Manager is `aws::secrets_manager`. `catalog.rs` is the same service as the
//! operators' commands need it.

pub(crate) mod catalog;

use std::collections::BTreeMap;
use std::future::Future;

use secrecy::SecretString;

use crate::domain::{AWSCURRENT, AWSPENDING, RotationToken, VersionId, shown};

/// What `DescribeSecret` says about rotation and versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretMeta {
    /// `RotationEnabled`; absent in some emulators until rotation is configured.
    pub rotation_enabled: Option<bool>,
    /// `VersionIdsToStages`.
    pub versions: BTreeMap<String, Vec<String>>,
    /// The secret's tags (an RDS-managed secret names its instance or cluster in `aws:rds:…` tags).
    pub tags: BTreeMap<String, String>,
}

/// The version a rotation left in progress: `AWSPENDING` on a version that is not `AWSCURRENT` (`VersionIdsToStages`
/// as `DescribeSecret` and `ListSecrets` give it). The service refuses to start another rotation while there is one.
pub(crate) fn in_progress(versions: &BTreeMap<String, Vec<String>>) -> Option<&str> {
    let labelled = |labels: &[String], label: &str| labels.iter().any(|l| l == label);
    versions
        .iter()
        .find(|(_, labels)| labelled(labels, AWSPENDING) && !labelled(labels, AWSCURRENT))
        .map(|(id, _)| id.as_str())
}

/// Which version to read.
#[derive(Clone, Copy, Debug)]
pub enum Version<'a> {
    Current,
    Previous,
    /// The version `token`, which must carry `AWSPENDING`.
    Pending(&'a VersionId),
}

/// One version's value.
pub enum Fetched {
    /// The `SecretString`, and the secret's ARN as the service names it (when it does).
    Text(SecretString, Option<String>),
    /// The version holds `SecretBinary`, which is not an RDS-format secret.
    Binary,
    /// No such version, or a version with no value yet (as `RotateSecret` stages it).
    Missing,
}

/// Secrets Manager as the protocol needs it. Implementations do what they are told, no more; all protocol
/// decisions are in `rotation/`.
pub trait SecretStore: Send + Sync {
    /// The endpoint it calls, for an operator's eyes.
    fn endpoint(&self) -> Option<&str> {
        None
    }

    /// `DescribeSecret`. Reads only.
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretMeta, StoreError>> + Send;

    /// `GetSecretValue` of one version. Reads only.
    fn get(&self, secret_id: &str, version: Version<'_>) -> impl Future<Output = Result<Fetched, StoreError>> + Send;

    /// `PutSecretValue` of `value` as version `token`, staged `AWSPENDING`, with the event's `RotationToken` when
    /// there is one. The service treats the same token with the same value as a no-op.
    fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionId,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `UpdateSecretVersionStage`: attaches `stage` to `to` and/or detaches it from `from`. Moving `AWSCURRENT` this
    /// way makes the service put `AWSPREVIOUS` on `from` itself.
    fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&VersionId>,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A failed Secrets Manager call: which call, on which secret, and why.
#[derive(Debug, thiserror::Error)]
#[error("Secrets Manager {operation} for secret {} failed: {}", shown(.secret_id), shown(.message))]
pub struct StoreError {
    pub operation: &'static str,
    pub secret_id: String,
    pub kind: StoreErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The endpoint did not answer, or answered with throttling or a server error. Transient.
    Unavailable,
    /// The secret does not exist.
    NotFound,
    /// The function's role may not do this (or may not use the secret's KMS key).
    AccessDenied,
    /// The service refused the request as invalid.
    Refused,
    /// PutSecretValue named a version that already holds another value (`ResourceExistsException`): a version's
    /// value never changes.
    VersionExists,
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_rotation_in_progress() {
        let mut versions = BTreeMap::new();
        versions.insert("a".to_owned(), vec![AWSCURRENT.to_owned(), AWSPENDING.to_owned()]);
        assert_eq!(in_progress(&versions), None);
        versions.insert("b".to_owned(), vec![AWSPENDING.to_owned()]);
        assert_eq!(in_progress(&versions), Some("b"));
    }
}
