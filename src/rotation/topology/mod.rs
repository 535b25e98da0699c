//! Where a rotation talks to the database. The secret's host is authoritative, with four exceptions that need the
//! RDS API (through the `RdsApi` trait; nothing here does I/O of its own):
//!
//! - a secret without a host names its instance or cluster (`dbInstanceIdentifier`, `dbClusterIdentifier`): the
//!   endpoint is the instance's, or the cluster's writer;
//! - a host that is a cluster's reader endpoint (`<cluster>.cluster-ro-…`), known by its name: the change goes to
//!   the writer, and the secret's host is where the new password must then work (`await_propagation`);
//! - a host that refuses the change as read-only (a read replica, an Aurora reader): the writer is looked up from
//!   the identifiers the secret names, or the instance its host names, and the change goes there;
//! - break-glass (opt-in): a drifted master user's password is reset through the RDS API.
//!
//! A secret with a host makes no RDS call unless one of these happens, so rotations that worked without a network
//! path to the RDS API keep working without one. `RDS_ENDPOINT_MAP` (test-only) replaces the
//! endpoints the function connects to by local addresses.

use tracing::{info, warn};

pub(in crate::rotation) mod break_glass;
pub(crate) mod endpoint;
mod propagation;

pub(crate) use break_glass::RdsResourceName;

use super::Settings;
use crate::domain::Target;
use crate::engines::{DbEngine, EngineErrorKind};
use crate::rds::{DbCluster, DbInstance, Endpoint, RdsApi};
use crate::rotation::{Error, ErrorKind, TopologyProblem};
use crate::secret::DbSecret;
use endpoint::{EndpointKind, RdsEndpoint};

/// What the topology code works with: the RDS API, the drivers (for the waits) and the settings — not the secret
/// store, so nothing here reads or writes a secret. `Rotator::topology` (`rotation/mod.rs`) lends one.
pub(in crate::rotation) struct Topology<'a, E, R> {
    pub(super) engine: &'a E,
    pub(super) rds: &'a R,
    pub(super) settings: &'a Settings,
}
/// Where one rotation connects.
#[derive(Clone, Debug)]
pub struct Located {
    /// The endpoint that takes the password change: the secret's host, or the writer behind it (alternating
    /// users: the master's endpoint). Logins of the secret's users take only its host, port and the name its
    /// certificate carries (`DbSecret::at`).
    pub writer: Target,
    /// Where applications connect, when it is another endpoint than the writer: the new password must work there
    /// before the rotation goes on.
    pub readers: Option<Target>,
    /// The instance or cluster behind the endpoint, when the RDS API was asked.
    pub resource: Option<Resource>,
    /// The writer's host as the secret or the RDS API names it, before the test-only `RDS_ENDPOINT_MAP`.
    pub named: String,
}

/// The RDS resource that owns an endpoint.
#[derive(Clone, Debug)]
pub enum Resource {
    Instance(DbInstance),
    Cluster(DbCluster),
}

impl Located {
    /// Where a login that stands for the application's goes.
    pub fn application(&self) -> &Target {
        self.readers.as_ref().unwrap_or(&self.writer)
    }
}

impl Resource {
    fn master_username(&self) -> Option<&str> {
        match self {
            Resource::Instance(instance) => instance.master_username.as_deref(),
            Resource::Cluster(cluster) => cluster.master_username.as_deref(),
        }
    }

    fn manages_master_password(&self) -> bool {
        match self {
            Resource::Instance(instance) => instance.manages_master_password,
            Resource::Cluster(cluster) => cluster.manages_master_password,
        }
    }

    fn describe(&self) -> String {
        match self {
            Resource::Instance(instance) => format!("DB instance {}", instance.id),
            Resource::Cluster(cluster) => format!("DB cluster {}", cluster.id),
        }
    }

    /// Whether `host` is an endpoint the RDS API reports for this instance or cluster (its writer or reader
    /// endpoint): a host that only looks like one — the same identifier under another account's or Region's name —
    /// is not.
    pub(super) fn has_endpoint(&self, host: &str) -> bool {
        let same = |endpoint: Option<&str>| endpoint.is_some_and(|endpoint| endpoint.eq_ignore_ascii_case(host));
        match self {
            Resource::Instance(instance) => same(instance.endpoint.as_ref().map(|e| e.host.as_str())),
            Resource::Cluster(cluster) => {
                same(cluster.writer.as_ref().map(|e| e.host.as_str())) || same(cluster.reader_host.as_deref())
            }
        }
    }
}

/// One entry of `RDS_ENDPOINT_MAP`: connections to `host` (on `port`, or any port) go to `to_host:to_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointMapping {
    pub host: String,
    pub port: Option<u16>,
    pub to_host: String,
    pub to_port: u16,
}

impl EndpointMapping {
    /// `host[:port]=host:port`, comma-separated.
    pub fn parse_list(text: &str) -> Result<Vec<EndpointMapping>, String> {
        let split_port = |address: &str| -> Option<(String, Option<u16>)> {
            match address.rsplit_once(':') {
                Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok().filter(|p| *p > 0)?))),
                None => Some((address.to_owned(), None)),
            }
        };
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let problem = || format!("has {entry:?}: expected host[:port]=host:port");
                let (from, to) = entry.split_once('=').ok_or_else(problem)?;
                let (host, port) = split_port(from.trim()).ok_or_else(problem)?;
                let (to_host, to_port) = split_port(to.trim()).ok_or_else(problem)?;
                let to_port = to_port.ok_or_else(problem)?;
                if host.is_empty() || to_host.is_empty() {
                    return Err(problem());
                }
                Ok(EndpointMapping { host: host.to_ascii_lowercase(), port, to_host, to_port })
            })
            .collect()
    }
}

/// The identifier in an endpoint's host name when it is of `kind` (`endpoint.rs` parses it, anchored to RDS's domains).
fn endpoint_id(host: &str, kind: EndpointKind) -> Option<String> {
    RdsEndpoint::parse(host).filter(|endpoint| endpoint.kind == kind).map(|endpoint| endpoint.id)
}

/// The cluster identifier in a reader endpoint's host name: `app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com`.
pub(crate) fn reader_endpoint_cluster(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Reader)
}

/// The cluster identifier in a cluster (writer) endpoint's host name: `app.cluster-abc123.eu-west-1.rds.amazonaws.com`
/// (not a reader's `cluster-ro-…` or a custom endpoint's `cluster-custom-…`).
pub(crate) fn cluster_endpoint_id(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Cluster)
}

/// The instance identifier in an instance endpoint's host name: `db1.abc123.eu-west-1.rds.amazonaws.com` (not a
/// cluster's `cluster-…` or a proxy's endpoint).
pub(crate) fn instance_endpoint_id(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Instance)
}

/// How many read replicas of read replicas are followed to the source that takes writes.
pub(super) const MAX_REPLICA_HOPS: usize = 5;

/// `target` with its host (and port) replaced as the map says. Its `tlsServerName`, if any, stays: the map changes
/// where the connection goes, as the alias it names would, not which server must answer.
pub(crate) fn mapped(map: &[EndpointMapping], target: &Target) -> Target {
    let host = target.host.to_ascii_lowercase();
    let entry = map.iter().find(|m| m.host == host && m.port.is_none_or(|p| p == target.port));
    match entry {
        Some(m) => Target { host: m.to_host.clone(), port: m.to_port, ..target.clone() },
        None => target.clone(),
    }
}

/// `target` moved to an endpoint the RDS API named, whose certificate carries that endpoint's own name: a
/// `tlsServerName` belongs to the secret's host and does not come along.
fn at(target: &Target, endpoint: &Endpoint) -> Target {
    Target { host: endpoint.host.clone(), port: endpoint.port, tls_server_name: None, ..target.clone() }
}

impl<E: DbEngine, R: RdsApi> Topology<'_, E, R> {
    /// Where `secret` is changed and where it must then work (see the module's documentation). Asks the RDS API
    /// only for a secret without a host, or whose host is a reader endpoint.
    pub(in crate::rotation) async fn locate(&self, secret: &DbSecret) -> Result<Located, Error> {
        let target = secret.target();
        let reader_cluster = reader_endpoint_cluster(&target.host);
        if !target.host.is_empty() && reader_cluster.is_none() {
            let writer = mapped(&self.settings.endpoint_map, target);
            return Ok(Located { writer, readers: None, resource: None, named: target.host.clone() });
        }
        let ids = secret.rds();
        let cluster = ids.cluster.as_deref().or(reader_cluster.as_deref());
        let located = self.resolve(secret, cluster, ids.instance.as_deref()).await?;
        // A reader endpoint's name says which cluster, but only the RDS API says it is that cluster's: the new
        // password goes to the host, which must be the reader endpoint the API reports.
        if !target.host.is_empty() && !located.resource.as_ref().is_some_and(|r| r.has_endpoint(&target.host)) {
            return Err(TopologyProblem::NotAReaderEndpoint(target.host.clone()).into());
        }
        Ok(located)
    }

    /// The writer the identifiers of a secret without a host name (`dbInstanceIdentifier`, `dbClusterIdentifier`).
    pub(in crate::rotation) async fn resolve_identifiers(&self, secret: &DbSecret) -> Result<Located, Error> {
        let ids = secret.rds();
        self.resolve(secret, ids.cluster.as_deref(), ids.instance.as_deref()).await
    }

    /// After the secret's host refused a change as read-only (a read replica, an Aurora reader): the writer behind
    /// it, from the identifiers the secret names or the instance its host names. `None` when nothing names one.
    pub(in crate::rotation) async fn writer_behind(&self, secret: &DbSecret) -> Result<Option<Located>, Error> {
        let ids = secret.rds();
        let from_host = instance_endpoint_id(&secret.target().host);
        if ids.cluster.is_none() && ids.instance.is_none() {
            // Only the host's name names the instance: the RDS API must report that very host as its endpoint.
            let Some(id) = from_host.as_deref() else { return Ok(None) };
            let named = self.instance(id).await?.map(Resource::Instance);
            if !named.is_some_and(|instance| instance.has_endpoint(&secret.target().host)) {
                return Ok(None);
            }
        }
        let instance = ids.instance.as_deref().or(from_host.as_deref());
        let located = self.resolve(secret, ids.cluster.as_deref(), instance).await?;
        Ok((located.readers.is_some()).then_some(located))
    }

    /// When `result` is the secret's host refusing a change as read-only, and the RDS API names a writer behind
    /// it: that writer (logged). `None` otherwise, `result` then stands.
    pub(in crate::rotation) async fn writer_behind_read_only<T>(
        &self,
        secret: &DbSecret,
        located: &Located,
        result: &Result<T, Error>,
    ) -> Result<Option<Located>, Error> {
        let read_only = matches!(result, Err(err) if matches!(err.kind(), ErrorKind::Db(err) if err.kind == EngineErrorKind::ReadOnly));
        if !read_only || located.resource.is_some() {
            return Ok(None);
        }
        let behind = match self.writer_behind(secret).await {
            Ok(behind) => behind,
            Err(err) if matches!(err.kind(), ErrorKind::Rds(_)) && !err.is_transient() => {
                // The RDS API cannot be used (no permission, or none here): the read-only refusal is the error
                // that explains the failure; the lookup's goes to the log.
                warn!(error = %err, "setSecret: the secret's host is read-only, and the RDS API names no writer");
                None
            }
            Err(err) => return Err(err),
        };
        if let Some(behind) = &behind {
            warn!(
                host = %located.writer,
                writer = %behind.writer,
                "setSecret: the secret's host is read-only (a read replica or a reader); the change goes to the writer"
            );
        }
        Ok(behind)
    }

    async fn resolve(
        &self,
        secret: &DbSecret,
        cluster: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Located, Error> {
        let target = secret.target();
        let unresolved = |problem: TopologyProblem| Error::from(problem);
        if let (Some(theirs), Some(ours)) = (secret.rds().region.as_deref(), self.rds.region())
            && theirs != ours
        {
            // The same identifier in this Region could be another database.
            let (theirs, ours) = (theirs.to_owned(), ours.to_owned());
            return Err(unresolved(TopologyProblem::OtherRegion { theirs, ours }));
        }
        let (writer, resource) = if let Some(id) = cluster {
            self.cluster_writer(id, || unresolved(TopologyProblem::NoSuch(format!("DB cluster {id}")))).await?
        } else {
            let id = instance.unwrap_or_default();
            let mut instance = self
                .instance(id)
                .await?
                .ok_or_else(|| unresolved(TopologyProblem::NoSuch(format!("DB instance {id}"))))?;
            let mut hops = 0;
            while let Some(source) = instance.replica_of.clone() {
                // A read replica: the change goes to its source, through replicas of replicas.
                if source.starts_with("arn:") {
                    // RDS names a source in another Region by its ARN; this function's RDS API is its own Region's.
                    let (instance, of) = (instance.id.clone(), source);
                    return Err(unresolved(TopologyProblem::CrossRegionReplica { instance, of }));
                }
                hops += 1;
                if hops > MAX_REPLICA_HOPS {
                    return Err(unresolved(TopologyProblem::TooDeep { id: id.to_owned(), hops: MAX_REPLICA_HOPS }));
                }
                instance = self.instance(&source).await?.ok_or_else(|| {
                    unresolved(TopologyProblem::SourceMissing { instance: instance.id.clone(), of: source.clone() })
                })?;
            }
            if let Some(cluster_id) = instance.cluster.clone() {
                // An Aurora instance, perhaps a reader: changes go through the cluster's writer endpoint.
                let missing = || unresolved(TopologyProblem::NoSuch(format!("DB cluster {cluster_id} of {id}")));
                self.cluster_writer(&cluster_id, missing).await?
            } else {
                // The instance, or the source at the top of its replicas.
                let no_endpoint = || unresolved(TopologyProblem::NoEndpointYet(instance.id.clone()));
                (instance.endpoint.clone().ok_or_else(no_endpoint)?, Resource::Instance(instance))
            }
        };
        let writer_target = at(target, &writer);
        let readers =
            (!target.host.is_empty() && !target.host.eq_ignore_ascii_case(&writer.host)).then(|| target.clone());
        info!(
            writer = %writer_target,
            readers = readers.as_ref().map(ToString::to_string),
            resource = resource.describe(),
            "the RDS API resolved the endpoint: password changes go to the writer"
        );
        let map = &self.settings.endpoint_map;
        Ok(Located {
            writer: mapped(map, &writer_target),
            readers: readers.map(|target| mapped(map, &target)),
            resource: Some(resource),
            named: writer.host,
        })
    }

    /// The writer endpoint of cluster `id`; `missing()` is the error when the cluster does not exist.
    async fn cluster_writer(&self, id: &str, missing: impl FnOnce() -> Error) -> Result<(Endpoint, Resource), Error> {
        let cluster = self.cluster(id).await?.ok_or_else(missing)?;
        let writer = cluster.writer.clone().ok_or_else(|| TopologyProblem::NoWriter(id.to_owned()))?;
        Ok((writer, Resource::Cluster(cluster)))
    }

    async fn instance(&self, id: &str) -> Result<Option<DbInstance>, Error> {
        Ok(self.rds.instance(id).await?)
    }

    async fn cluster(&self, id: &str) -> Result<Option<DbCluster>, Error> {
        Ok(self.rds.cluster(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_recognised_by_their_names() {
        let some = |id: &str| Some(id.to_owned());
        assert_eq!(reader_endpoint_cluster("app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com"), some("app"));
        assert_eq!(reader_endpoint_cluster("App.CLUSTER-RO-abc123.eu-west-1.rds.amazonaws.com"), some("app"));
        assert_eq!(reader_endpoint_cluster("app.cluster-abc123.eu-west-1.rds.amazonaws.com"), None);
        assert_eq!(reader_endpoint_cluster("db.example.com"), None);
        assert_eq!(cluster_endpoint_id("app.cluster-abc123.eu-west-1.rds.amazonaws.com"), some("app"));
        assert_eq!(cluster_endpoint_id("app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com"), None);
        assert_eq!(cluster_endpoint_id("app.cluster-custom-abc123.eu-west-1.rds.amazonaws.com"), None);
        assert_eq!(instance_endpoint_id("db1.abc123.eu-west-1.rds.amazonaws.com"), some("db1"));
        assert_eq!(instance_endpoint_id("DB1.abc123.eu-west-1.rds.amazonaws.com"), some("db1"));
        assert_eq!(instance_endpoint_id("app.cluster-abc123.eu-west-1.rds.amazonaws.com"), None);
        assert_eq!(instance_endpoint_id("app.proxy-abc123.eu-west-1.rds.amazonaws.com"), None);
        assert_eq!(instance_endpoint_id("db.example.com"), None);
    }

    #[test]
    fn the_map_replaces_hosts_and_ports() {
        let map = vec![
            EndpointMapping { host: "w.rds".into(), port: Some(5432), to_host: "127.0.0.1".into(), to_port: 6000 },
            EndpointMapping { host: "r.rds".into(), port: None, to_host: "127.0.0.1".into(), to_port: 6001 },
        ];
        let target = |host: &str, port| Target {
            engine: crate::domain::EngineKind::Postgres,
            host: host.into(),
            port,
            dbname: None,
            tls: crate::domain::TlsChoice::Secret(None),
            tls_server_name: None,
        };
        assert_eq!(mapped(&map, &target("W.rds", 5432)).port, 6000);
        assert_eq!(mapped(&map, &target("w.rds", 5433)).host, "w.rds");
        assert_eq!(mapped(&map, &target("r.rds", 1)).port, 6001);
    }
}

#[cfg(test)]
mod endpoint_map_tests {
    use super::*;

    #[test]
    fn the_endpoint_map_is_parsed_or_refused() {
        let map = EndpointMapping::parse_list("DB1.rds.example:5432=127.0.0.1:6000, r.rds=localhost:6001").unwrap();
        assert_eq!(
            map[0],
            EndpointMapping {
                host: "db1.rds.example".into(),
                port: Some(5432),
                to_host: "127.0.0.1".into(),
                to_port: 6000
            }
        );
        assert_eq!((map[1].port, map[1].to_port), (None, 6001));
        for bad in ["a=b", "=127.0.0.1:1", "a:0=b:1", "a=b:x", "a"] {
            assert!(EndpointMapping::parse_list(bad).is_err(), "{bad}");
        }
    }
}
