//! The secret store: the `SecretStore` trait the protocol core calls, and `AwsSecretStore`, its implementation on
//! aws-sdk-secretsmanager — the only code that uses that SDK.

use std::collections::BTreeMap;
use std::future::Future;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;
use crate::event::{RotationToken, VersionId};

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

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
#[error("Secrets Manager {operation} for secret {secret_id} failed: {message}")]
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
}

/// `SecretStore` on the AWS SDK.
pub struct AwsSecretStore {
    client: Client,
    /// Where requests go, for error messages: in a VPC, a missing endpoint or route looks like a timeout.
    endpoint: String,
}

/// The AWS SDK's configuration for every client of the function: the SDK's usual environment (region, credentials,
/// `AWS_ENDPOINT_URL*`) and short timeouts — an unreachable endpoint must fail fast and say so, not eat the Lambda's
/// whole time budget.
pub async fn sdk_config(config: &Config) -> Result<SdkConfig, crate::config::ConfigError> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.connect_timeout)
        .operation_attempt_timeout(config.connect_timeout * 2)
        .build();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    if sdk.region().is_none() {
        let problem = "is not set, and no AWS profile names a region".to_owned();
        return Err(crate::config::ConfigError { var: "AWS_REGION", problem });
    }
    Ok(sdk)
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

impl AwsSecretStore {
    /// Builds the client from the SDK's usual environment (region, credentials, `AWS_ENDPOINT_URL*`), with
    /// `SECRETS_MANAGER_ENDPOINT` taking precedence as in AWS's templates, and short timeouts: an unreachable
    /// endpoint must fail fast and say so, not eat the Lambda's whole time budget.
    pub async fn from_config(config: &Config) -> Result<AwsSecretStore, crate::config::ConfigError> {
        Ok(AwsSecretStore::new(&sdk_config(config).await?, config))
    }

    /// The client on an SDK configuration `sdk_config` made.
    pub fn new(sdk: &SdkConfig, config: &Config) -> AwsSecretStore {
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = &config.secrets_manager_endpoint {
            builder = builder.endpoint_url(url);
        }
        let endpoint = config
            .secrets_manager_endpoint
            .clone()
            // Only read to name the endpoint in errors; the SDK applies it itself.
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        AwsSecretStore { client: Client::from_conf(builder.build()), endpoint }
    }

    /// The endpoint requests go to, as far as it is known.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn error<E>(&self, operation: &'static str, secret_id: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = &self.endpoint;
        let (kind, message) = match &err {
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                (StoreErrorKind::Unavailable, format!("no answer from {endpoint} (connect timeout)"))
            }
            SdkError::DispatchFailure(failure) => {
                let cause =
                    failure.as_connector_error().map(|err| chain(err)).unwrap_or_else(|| "dispatch failure".into());
                (StoreErrorKind::Unavailable, format!("cannot reach {endpoint}: {cause}"))
            }
            SdkError::TimeoutError(_) => {
                (StoreErrorKind::Unavailable, format!("no answer from {endpoint} in time (operation timeout)"))
            }
            SdkError::ResponseError(_) => (StoreErrorKind::Unavailable, format!("unreadable response from {endpoint}")),
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("unknown error");
                let text = service.err().message().unwrap_or("");
                let status = service.raw().status().as_u16();
                let kind = match code {
                    "ResourceNotFoundException" => StoreErrorKind::NotFound,
                    "AccessDeniedException" | "AccessDenied" | "KMSAccessDeniedException" => {
                        StoreErrorKind::AccessDenied
                    }
                    "ThrottlingException" | "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
                        StoreErrorKind::Unavailable
                    }
                    _ if status >= 500 => StoreErrorKind::Unavailable,
                    _ => StoreErrorKind::Refused,
                };
                (kind, format!("{code}: {text}"))
            }
            _ => (StoreErrorKind::Refused, format!("request could not be built: {}", chain(&err))),
        };
        StoreError { operation, secret_id: secret_id.to_owned(), kind, message }
    }
}

impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMeta, StoreError> {
        let output = match self.client.describe_secret().secret_id(secret_id).send().await {
            Ok(output) => output,
            Err(err) => return Err(self.error("DescribeSecret", secret_id, err)),
        };
        let versions = output.version_ids_to_stages().cloned().unwrap_or_default().into_iter().collect();
        let tags =
            output.tags().iter().filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned()))).collect();
        Ok(SecretMeta { rotation_enabled: output.rotation_enabled(), versions, tags })
    }

    async fn get(&self, secret_id: &str, version: Version<'_>) -> Result<Fetched, StoreError> {
        let request = self.client.get_secret_value().secret_id(secret_id);
        let request = match version {
            Version::Current => request.version_stage(AWSCURRENT),
            Version::Previous => request.version_stage(AWSPREVIOUS),
            Version::Pending(token) => request.version_id(token.as_str()).version_stage(AWSPENDING),
        };
        match request.send().await {
            Ok(output) => Ok(match (output.secret_string(), output.secret_binary()) {
                (Some(text), _) => Fetched::Text(SecretString::from(text), output.arn().map(str::to_owned)),
                (None, Some(_)) => Fetched::Binary,
                (None, None) => Fetched::Missing,
            }),
            // The service answers ResourceNotFoundException for a version without a value.
            Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException") => {
                Ok(Fetched::Missing)
            }
            Err(err) => Err(self.error("GetSecretValue", secret_id, err)),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionId,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token.as_str())
            .secret_string(value.expose_secret())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(|t| t.expose().to_owned()));
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.error("PutSecretValue", secret_id, err)),
        }
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&VersionId>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(|id| id.as_str().to_owned()))
            .set_remove_from_version_id(from.map(str::to_owned));
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.error("UpdateSecretVersionStage", secret_id, err)),
        }
    }
}

/// An error and its causes on one line ("client error (Connect): tcp connect error: Connection refused").
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
