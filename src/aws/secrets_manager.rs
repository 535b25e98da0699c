//! `SecretStore` and `SecretCatalog` on aws-sdk-secretsmanager — the only code that uses that SDK.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::DateTime;
use aws_sdk_secretsmanager::types::RotationRulesType;
use secrecy::{ExposeSecret, SecretString};

use super::AwsSettings;
use crate::domain::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, RotationToken, Timestamp, VersionId};
use crate::store::catalog::{Attach, Listed, Page, RotationRules, SecretCatalog};
use crate::store::{Fetched, SecretMeta, SecretStore, StoreError, StoreErrorKind, Version};

/// `SecretStore` on the AWS SDK. A clone shares the client.
#[derive(Clone)]
pub struct AwsSecretStore {
    client: Client,
    /// Where requests go, for error messages: in a VPC, a missing endpoint or route looks like a timeout.
    endpoint: String,
}

impl AwsSecretStore {
    /// The client on an SDK configuration `sdk_config` made, with `SECRETS_MANAGER_ENDPOINT` taking precedence as
    /// in AWS's templates.
    pub fn new(sdk: &SdkConfig, settings: &AwsSettings) -> AwsSecretStore {
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = &settings.secrets_manager_endpoint {
            builder = builder.endpoint_url(url);
        }
        let endpoint = settings
            .secrets_manager_endpoint
            .clone()
            // Only read to name the endpoint in errors; the SDK applies it itself.
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        AwsSecretStore { client: Client::from_conf(builder.build()), endpoint }
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
                    "ResourceExistsException" => StoreErrorKind::VersionExists,
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
    /// The endpoint requests go to, as far as it is known.
    fn endpoint(&self) -> Option<&str> {
        Some(&self.endpoint)
    }

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

impl SecretCatalog for AwsSecretStore {
    async fn list(&self, next: Option<&str>) -> Result<Page, StoreError> {
        // 100 is the service's largest page; the secrets of a whole account may be thousands.
        let request = self.client.list_secrets().max_results(100).set_next_token(next.map(str::to_owned));
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => return Err(self.error("ListSecrets", "(all)", err)),
        };
        let secrets = output
            .secret_list()
            .iter()
            .map(|entry| Listed {
                arn: entry.arn().unwrap_or_default().to_owned(),
                name: entry.name().unwrap_or_default().to_owned(),
                rotation_enabled: entry.rotation_enabled().unwrap_or(false),
                rotation_function: entry.rotation_lambda_arn().filter(|arn| !arn.is_empty()).map(str::to_owned),
                rules: rules(entry.rotation_rules()),
                created: time(entry.created_date()),
                last_rotated: time(entry.last_rotated_date()),
                next_rotation: time(entry.next_rotation_date()),
                versions: entry.secret_versions_to_stages().cloned().unwrap_or_default().into_iter().collect(),
            })
            .collect();
        // An emulator may answer an empty token on the last page.
        let next = output.next_token().filter(|token| !token.is_empty()).map(str::to_owned);
        Ok(Page { secrets, next })
    }

    async fn describe_listed(&self, secret_id: &str) -> Result<Listed, StoreError> {
        let output = match self.client.describe_secret().secret_id(secret_id).send().await {
            Ok(output) => output,
            Err(err) => return Err(self.error("DescribeSecret", secret_id, err)),
        };
        Ok(Listed {
            arn: output.arn().unwrap_or_default().to_owned(),
            name: output.name().unwrap_or(secret_id).to_owned(),
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
            rotation_function: output.rotation_lambda_arn().filter(|arn| !arn.is_empty()).map(str::to_owned),
            rules: rules(output.rotation_rules()),
            created: time(output.created_date()),
            last_rotated: time(output.last_rotated_date()),
            next_rotation: time(output.next_rotation_date()),
            versions: output.version_ids_to_stages().cloned().unwrap_or_default().into_iter().collect(),
        })
    }

    async fn version_created(&self, secret_id: &str, version: &str) -> Result<Option<Timestamp>, StoreError> {
        let mut next: Option<String> = None;
        loop {
            let request = self
                .client
                .list_secret_version_ids()
                .secret_id(secret_id)
                .max_results(100)
                .set_next_token(next.clone());
            let output = match request.send().await {
                Ok(output) => output,
                Err(err) => return Err(self.error("ListSecretVersionIds", secret_id, err)),
            };
            if let Some(entry) = output.versions().iter().find(|entry| entry.version_id() == Some(version)) {
                return Ok(time(entry.created_date()));
            }
            match output.next_token().filter(|token| !token.is_empty()) {
                // An endpoint that answers the token it was given would page forever.
                Some(token) if next.as_deref() == Some(token) => return Ok(None),
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(None),
            }
        }
    }

    async fn attach(&self, secret_id: &str, attach: &Attach) -> Result<(), StoreError> {
        let rules = RotationRulesType::builder()
            .set_automatically_after_days(attach.rules.automatically_after_days)
            .set_schedule_expression(attach.rules.schedule_expression.clone())
            .set_duration(attach.rules.window.clone())
            .build();
        let request = self
            .client
            .rotate_secret()
            .secret_id(secret_id)
            .rotation_lambda_arn(&attach.function)
            .rotation_rules(rules)
            .rotate_immediately(attach.rotate_now);
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.error("RotateSecret", secret_id, err)),
        }
    }
}

fn rules(rules: Option<&RotationRulesType>) -> RotationRules {
    RotationRules {
        automatically_after_days: rules.and_then(RotationRulesType::automatically_after_days).filter(|days| *days > 0),
        schedule_expression: rules.and_then(RotationRulesType::schedule_expression).map(str::to_owned),
        window: rules.and_then(RotationRulesType::duration).map(str::to_owned),
    }
}

fn time(date: Option<&DateTime>) -> Option<Timestamp> {
    date.map(|date| Timestamp::from_unix(date.secs()))
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
