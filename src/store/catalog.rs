//! The secrets as their operators see them: which exist, how their rotation is configured, when each version was
//! made, and switching rotation on. A port, beside `SecretStore` (what one rotation needs, `store/mod.rs`): the operators' commands
//! (`fleet/`) call it, the rotation never does; the implementation on Secrets Manager is `aws::secrets_manager`.

use std::collections::BTreeMap;
use std::future::Future;

use super::StoreError;
use crate::domain::Timestamp;

/// One secret as `ListSecrets` or `DescribeSecret` describes it. Never its value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    pub arn: String,
    pub name: String,
    /// `RotationEnabled`; absent counts as off.
    pub rotation_enabled: bool,
    /// `RotationLambdaARN`.
    pub rotation_function: Option<String>,
    pub rules: RotationRules,
    pub created: Option<Timestamp>,
    pub last_rotated: Option<Timestamp>,
    /// `NextRotationDate`, where the service gives one.
    pub next_rotation: Option<Timestamp>,
    /// `SecretVersionsToStages` (`VersionIdsToStages` in `DescribeSecret`).
    pub versions: BTreeMap<String, Vec<String>>,
}

/// `RotationRules`, as `RotateSecret` takes them and `ListSecrets` gives them back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    /// `rate(…)` or `cron(…)`.
    pub schedule_expression: Option<String>,
    /// The rotation window (`Duration`, as `3h`).
    pub window: Option<String>,
}

impl RotationRules {
    /// `rate(30 days)`, `every 30 days`, or nothing when no rule is set.
    pub fn describe(&self) -> Option<String> {
        let schedule = match (&self.schedule_expression, self.automatically_after_days) {
            (Some(expression), _) => expression.clone(),
            (None, Some(days)) => format!("every {days} days"),
            (None, None) => return None,
        };
        Some(match &self.window {
            Some(window) => format!("{schedule} within {window}"),
            None => schedule,
        })
    }
}

/// What `attach` asks of `RotateSecret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attach {
    /// `RotationLambdaARN`.
    pub function: String,
    pub rules: RotationRules,
    /// `RotateImmediately`: the service starts a rotation now (its default); otherwise it runs only testSecret.
    pub rotate_now: bool,
}

/// One page of `ListSecrets`, and where the next one starts.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub secrets: Vec<Listed>,
    pub next: Option<String>,
}

/// Secrets Manager as the operators' commands need it.
pub(crate) trait SecretCatalog: Send + Sync {
    /// `ListSecrets`: one page, from `next` (the previous page's).
    fn list(&self, next: Option<&str>) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// `DescribeSecret`, in the same shape as a listed secret.
    fn describe_listed(&self, secret_id: &str) -> impl Future<Output = Result<Listed, StoreError>> + Send;

    /// When `version` was made (`ListSecretVersionIds`); `None` where the service does not say.
    fn version_created(
        &self,
        secret_id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;

    /// `RotateSecret` with this function, these rules and `RotateImmediately`.
    fn attach(&self, secret_id: &str, attach: &Attach) -> impl Future<Output = Result<(), StoreError>> + Send;
}
