//! `RdsApi` on aws-sdk-rds — the only code that uses that SDK.

use aws_config::SdkConfig;
use aws_sdk_rds::Client;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

use crate::domain::Password;
use crate::rds::{DbCluster, DbInstance, Endpoint, RdsApi, RdsError, RdsErrorKind};

/// `RdsApi` on the AWS SDK.
pub struct AwsRds {
    client: Client,
    endpoint: String,
    region: String,
}

impl AwsRds {
    /// A client from the SDK configuration the Secrets Manager client uses (region, credentials, timeouts), with
    /// `RDS_ENDPOINT` taking precedence.
    pub fn new(sdk: &SdkConfig, endpoint: Option<&str>) -> AwsRds {
        let mut builder = aws_sdk_rds::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let named = endpoint
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_RDS").ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://rds.{region}.amazonaws.com"));
        AwsRds { client: Client::from_conf(builder.build()), endpoint: named, region }
    }

    fn error<E>(&self, operation: &'static str, id: &str, err: SdkError<E, HttpResponse>) -> RdsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = &self.endpoint;
        let (kind, message) = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => (
                RdsErrorKind::Unavailable,
                format!("no usable answer from {endpoint} (a network path to the RDS API?)"),
            ),
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("unknown error");
                let text = service.err().message().unwrap_or("");
                let status = service.raw().status().as_u16();
                let kind = match code {
                    "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => RdsErrorKind::AccessDenied,
                    "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => RdsErrorKind::Unavailable,
                    _ if status >= 500 => RdsErrorKind::Unavailable,
                    _ => RdsErrorKind::Refused,
                };
                (kind, format!("{code}: {text}"))
            }
            _ => (RdsErrorKind::Refused, "the request could not be built".to_owned()),
        };
        RdsError { operation, id: id.to_owned(), kind, message }
    }
}

fn endpoint(host: Option<&str>, port: Option<i32>) -> Option<Endpoint> {
    let host = host.filter(|host| !host.is_empty())?;
    let port = port.and_then(|port| u16::try_from(port).ok()).filter(|port| *port > 0)?;
    Some(Endpoint { host: host.to_owned(), port })
}

impl RdsApi for AwsRds {
    fn region(&self) -> Option<&str> {
        Some(&self.region).filter(|region| !region.is_empty()).map(String::as_str)
    }

    async fn instance(&self, id: &str) -> Result<Option<DbInstance>, RdsError> {
        let output = match self.client.describe_db_instances().db_instance_identifier(id).send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_db_instance_not_found_fault()) => return Ok(None),
            Err(err) => return Err(self.error("DescribeDBInstances", id, err)),
        };
        let Some(instance) = output.db_instances().first() else { return Ok(None) };
        let address = instance.endpoint().and_then(|e| e.address());
        let port = instance.endpoint().and_then(|e| e.port());
        Ok(Some(DbInstance {
            id: instance.db_instance_identifier().unwrap_or(id).to_owned(),
            endpoint: endpoint(address, port),
            engine: instance.engine().unwrap_or_default().to_owned(),
            master_username: instance.master_username().map(str::to_owned),
            cluster: instance.db_cluster_identifier().map(str::to_owned),
            replica_of: instance.read_replica_source_db_instance_identifier().map(str::to_owned),
            manages_master_password: instance.master_user_secret().is_some(),
        }))
    }

    async fn cluster(&self, id: &str) -> Result<Option<DbCluster>, RdsError> {
        let output = match self.client.describe_db_clusters().db_cluster_identifier(id).send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_db_cluster_not_found_fault()) => return Ok(None),
            Err(err) => return Err(self.error("DescribeDBClusters", id, err)),
        };
        let Some(cluster) = output.db_clusters().first() else { return Ok(None) };
        Ok(Some(DbCluster {
            id: cluster.db_cluster_identifier().unwrap_or(id).to_owned(),
            writer: endpoint(cluster.endpoint(), cluster.port()),
            reader_host: cluster.reader_endpoint().map(str::to_owned),
            engine: cluster.engine().unwrap_or_default().to_owned(),
            master_username: cluster.master_username().map(str::to_owned),
            manages_master_password: cluster.master_user_secret().is_some(),
        }))
    }

    async fn reset_instance_master_password(&self, id: &str, password: &Password) -> Result<(), RdsError> {
        let request = self
            .client
            .modify_db_instance()
            .db_instance_identifier(id)
            .master_user_password(password.expose_secret())
            .apply_immediately(true);
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(without(self.error("ModifyDBInstance", id, err), password)),
        }
    }

    async fn reset_cluster_master_password(&self, id: &str, password: &Password) -> Result<(), RdsError> {
        let request = self
            .client
            .modify_db_cluster()
            .db_cluster_identifier(id)
            .master_user_password(password.expose_secret())
            .apply_immediately(true);
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(without(self.error("ModifyDBCluster", id, err), password)),
        }
    }
}

/// `err` with every occurrence of `password` in the service's message replaced: RDS does not repeat a
/// `MasterUserPassword` in its errors, but whatever answers at `RDS_ENDPOINT` (a proxy, an emulator) might.
fn without(mut err: RdsError, password: &Password) -> RdsError {
    let secret = password.expose_secret();
    if !secret.is_empty() {
        err.message = err.message.replace(secret, "[the new password]");
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_error_never_repeats_the_password() {
        let err = RdsError {
            operation: "ModifyDBInstance",
            id: "db1".into(),
            kind: RdsErrorKind::Refused,
            message: "InvalidParameterValue: MasterUserPassword 'Zq8#new-pass' is not valid".into(),
        };
        let err = without(err, &Password::new("Zq8#new-pass".into()));
        assert!(!err.to_string().contains("Zq8#new-pass"), "{err}");
        assert!(err.to_string().contains("[the new password]"), "{err}");
    }
}
