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

/// The four calls of `SecretStore`, named for a decoration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCall {
    Describe,
    Get,
    PutPending,
    MoveStage,
}

impl StoreCall {
    /// The Secrets Manager operation the call makes.
    pub fn operation(self) -> &'static str {
        match self {
            StoreCall::Describe => "DescribeSecret",
            StoreCall::Get => "GetSecretValue",
            StoreCall::PutPending => "PutSecretValue",
            StoreCall::MoveStage => "UpdateSecretVersionStage",
        }
    }
}

/// How a decoration lets one call through.
pub enum Around {
    /// To the inner store, and its answer back.
    Pass,
    /// Answered with this error; the inner store is not called.
    FailBefore(StoreError),
    /// To the inner store, its answer dropped and this error returned instead (a fault after the call reached the
    /// service).
    FailAfter(StoreError),
}

/// What a decorator adds to the store it wraps (`Decorated`): a say on each call, and on what `describe` answers.
/// The defaults pass everything through unchanged. The command line's `rotate` (a version the service would have
/// staged), the tests' fault injection and the benchmark's call counts are decorations.
pub trait Decoration: Send + Sync {
    fn around(&self, _call: StoreCall, _secret_id: &str) -> Around {
        Around::Pass
    }

    /// What `describe` answers, from what the inner store answered.
    fn described(&self, meta: SecretMeta) -> SecretMeta {
        meta
    }
}

/// `inner`, with `decoration` on every call: the one store-forwarding decorator.
pub struct Decorated<S, D> {
    pub inner: S,
    pub decoration: D,
}

impl<S: SecretStore, D: Decoration> Decorated<S, D> {
    async fn call<T>(
        &self,
        call: StoreCall,
        secret_id: &str,
        inner: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.decoration.around(call, secret_id) {
            Around::Pass => inner.await,
            Around::FailBefore(err) => Err(err),
            Around::FailAfter(err) => {
                let _ = inner.await;
                Err(err)
            }
        }
    }
}

impl<S: SecretStore, D: Decoration> SecretStore for Decorated<S, D> {
    fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint()
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretMeta, StoreError> {
        let meta = self.call(StoreCall::Describe, secret_id, self.inner.describe(secret_id)).await?;
        Ok(self.decoration.described(meta))
    }

    async fn get(&self, secret_id: &str, version: Version<'_>) -> Result<Fetched, StoreError> {
        self.call(StoreCall::Get, secret_id, self.inner.get(secret_id, version)).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionId,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        let inner = self.inner.put_pending(secret_id, token, value, rotation_token);
        self.call(StoreCall::PutPending, secret_id, inner).await
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&VersionId>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(StoreCall::MoveStage, secret_id, self.inner.move_stage(secret_id, stage, to, from)).await
    }
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
