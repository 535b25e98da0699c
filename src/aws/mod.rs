//! The AWS side: the SDK's configuration, and the adapters of the store and RDS ports on it — the only code that
//! uses the AWS SDK crates.

pub(crate) mod rds;
pub(crate) mod secrets_manager;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// What the AWS adapters are built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `CONNECT_TIMEOUT_SECONDS`: bound on each connection to an AWS endpoint; one attempt at most twice that.
    pub connect_timeout: Duration,
    /// `SECRETS_MANAGER_ENDPOINT`: overrides the Secrets Manager endpoint (AWS's templates honour it too).
    pub secrets_manager_endpoint: Option<String>,
    /// `RDS_ENDPOINT`: overrides the RDS API endpoint (a VPC interface endpoint's, say).
    pub rds_endpoint: Option<String>,
}

/// The SDK found no region (`AWS_REGION`, or a profile's).
#[derive(Debug, thiserror::Error)]
#[error("is not set, and no AWS profile names a region")]
pub(crate) struct NoRegion;

/// The AWS SDK's configuration for every client of the function: the SDK's usual environment (region, credentials,
/// `AWS_ENDPOINT_URL*`) and short timeouts — an unreachable endpoint must fail fast and say so, not eat the Lambda's
/// whole time budget.
pub(crate) async fn sdk_config(settings: &AwsSettings) -> Result<SdkConfig, NoRegion> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.connect_timeout * 2)
        .build();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    if sdk.region().is_none() {
        return Err(NoRegion);
    }
    Ok(sdk)
}
