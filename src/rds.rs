//! The RDS API, as far as rotation needs it: the `RdsApi` trait the topology code calls, and what it answers. A
//! port: the implementation on aws-sdk-rds is `aws::rds`. Reads (`DescribeDBInstances`, `DescribeDBClusters`)
//! whenever a secret's endpoint must be resolved; the master-password reset (`ModifyDBInstance` /
//! `ModifyDBCluster`) only for the opt-in break-glass.

use std::future::Future;

use crate::domain::Password;
/// A host and port the RDS API names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// What rotation needs to know of a DB instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInstance {
    pub id: String,
    pub endpoint: Option<Endpoint>,
    pub engine: String,
    pub master_username: Option<String>,
    /// The Aurora cluster the instance belongs to.
    pub cluster: Option<String>,
    /// The instance this one is a read replica of (an identifier, or an ARN across Regions).
    pub replica_of: Option<String>,
    /// RDS keeps the master password in a secret of its own (`ManageMasterUserPassword`).
    pub manages_master_password: bool,
}

/// What rotation needs to know of a DB cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbCluster {
    pub id: String,
    /// The cluster (writer) endpoint.
    pub writer: Option<Endpoint>,
    /// The reader endpoint's host.
    pub reader_host: Option<String>,
    pub engine: String,
    pub master_username: Option<String>,
    pub manages_master_password: bool,
}

/// An RDS API call that failed.
#[derive(Debug, thiserror::Error)]
#[error("RDS {operation} for {} failed: {}", crate::domain::shown(.id), crate::domain::shown(.message))]
pub struct RdsError {
    pub operation: &'static str,
    pub id: String,
    pub kind: RdsErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdsErrorKind {
    /// No answer, throttling, or a server error. Transient.
    Unavailable,
    AccessDenied,
    /// Refused, or this build has no RDS API (tests on fakes).
    Refused,
}

/// The RDS API as rotation needs it. Implementations do what they are told; the decisions are in `topology.rs`.
pub trait RdsApi: Send + Sync {
    /// `DescribeDBInstances` of one instance; `None` when there is no such instance.
    fn instance(&self, id: &str) -> impl Future<Output = Result<Option<DbInstance>, RdsError>> + Send;

    /// `DescribeDBClusters` of one cluster; `None` when there is no such cluster.
    fn cluster(&self, id: &str) -> impl Future<Output = Result<Option<DbCluster>, RdsError>> + Send;

    /// `ModifyDBInstance` with `MasterUserPassword`, applied immediately.
    fn reset_instance_master_password(
        &self,
        id: &str,
        password: &Password,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `ModifyDBCluster` with `MasterUserPassword`, applied immediately.
    fn reset_cluster_master_password(
        &self,
        id: &str,
        password: &Password,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// The Region whose resources the calls see, when known.
    fn region(&self) -> Option<&str> {
        None
    }
}

/// No RDS API: every call is refused. For rotators built without one (the protocol core's fakes).
pub struct NoRds;

impl RdsApi for NoRds {
    async fn instance(&self, id: &str) -> Result<Option<DbInstance>, RdsError> {
        Err(NoRds::refused("DescribeDBInstances", id))
    }

    async fn cluster(&self, id: &str) -> Result<Option<DbCluster>, RdsError> {
        Err(NoRds::refused("DescribeDBClusters", id))
    }

    async fn reset_instance_master_password(&self, id: &str, _: &Password) -> Result<(), RdsError> {
        Err(NoRds::refused("ModifyDBInstance", id))
    }

    async fn reset_cluster_master_password(&self, id: &str, _: &Password) -> Result<(), RdsError> {
        Err(NoRds::refused("ModifyDBCluster", id))
    }
}

impl NoRds {
    fn refused(operation: &'static str, id: &str) -> RdsError {
        let message = "this rotator has no RDS API".to_owned();
        RdsError { operation, id: id.to_owned(), kind: RdsErrorKind::Refused, message }
    }
}

impl RdsError {
    pub fn is_transient(&self) -> bool {
        self.kind == RdsErrorKind::Unavailable
    }
}
