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

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::endpoint::{EndpointKind, RdsEndpoint};
use super::{Outcome, Rotator};
use crate::config::EndpointMapping;
use crate::credentials::{DbSecret, Target};
use crate::engines::{DbEngine, DbSession, EngineErrorKind, LoginOutcome};
use crate::error::Error;
use crate::event::RotationEvent;
use crate::rds::{DbCluster, DbInstance, Endpoint, RdsApi};
use crate::secrets::SecretStore;

/// Where one rotation connects.
#[derive(Clone, Debug)]
pub struct Located {
    /// The endpoint that takes the password change: the secret's host, or the writer behind it (alternating
    /// users: the master's endpoint). Logins of the secret's users take only its host and port (`DbSecret::at`).
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

/// The identifier in an endpoint's host name when it is of `kind` (`endpoint.rs` parses it, anchored to RDS's domains).
fn endpoint_id(host: &str, kind: EndpointKind) -> Option<String> {
    RdsEndpoint::parse(host).filter(|endpoint| endpoint.kind == kind).map(|endpoint| endpoint.id)
}

/// The cluster identifier in a reader endpoint's host name: `app.cluster-ro-abc123.eu-west-1.rds.amazonaws.com`.
pub fn reader_endpoint_cluster(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Reader)
}

/// The cluster identifier in a cluster (writer) endpoint's host name: `app.cluster-abc123.eu-west-1.rds.amazonaws.com`
/// (not a reader's `cluster-ro-…` or a custom endpoint's `cluster-custom-…`).
pub fn cluster_endpoint_id(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Cluster)
}

/// The instance identifier in an instance endpoint's host name: `db1.abc123.eu-west-1.rds.amazonaws.com` (not a
/// cluster's `cluster-…` or a proxy's endpoint).
pub fn instance_endpoint_id(host: &str) -> Option<String> {
    endpoint_id(host, EndpointKind::Instance)
}

/// How many read replicas of read replicas are followed to the source that takes writes.
pub(super) const MAX_REPLICA_HOPS: usize = 5;

/// `target` with its host (and port) replaced as the map says.
pub fn mapped(map: &[EndpointMapping], target: &Target) -> Target {
    let host = target.host.to_ascii_lowercase();
    let entry = map.iter().find(|m| m.host == host && m.port.is_none_or(|p| p == target.port));
    match entry {
        Some(m) => Target { host: m.to_host.clone(), port: m.to_port, ..target.clone() },
        None => target.clone(),
    }
}

fn at(target: &Target, endpoint: &Endpoint) -> Target {
    Target { host: endpoint.host.clone(), port: endpoint.port, ..target.clone() }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// Where `secret` is changed and where it must then work (see the module's documentation). Asks the RDS API
    /// only for a secret without a host, or whose host is a reader endpoint.
    pub async fn locate(&self, secret_id: &str, secret: &DbSecret) -> Result<Located, Error> {
        let target = secret.target();
        let reader_cluster = reader_endpoint_cluster(&target.host);
        if !target.host.is_empty() && reader_cluster.is_none() {
            let writer = mapped(&self.topology.endpoint_map, target);
            return Ok(Located { writer, readers: None, resource: None, named: target.host.clone() });
        }
        let ids = secret.rds();
        let cluster = ids.cluster.as_deref().or(reader_cluster.as_deref());
        let located = self.resolve(secret_id, secret, cluster, ids.instance.as_deref()).await?;
        // A reader endpoint's name says which cluster, but only the RDS API says it is that cluster's: the new
        // password goes to the host, which must be the reader endpoint the API reports.
        if !target.host.is_empty() && !located.resource.as_ref().is_some_and(|r| r.has_endpoint(&target.host)) {
            return Err(Error::Topology {
                secret_id: secret_id.to_owned(),
                problem: format!(
                    "its host {} looks like a reader endpoint, but the RDS API names no such endpoint for the \
                     cluster it names",
                    target.host
                ),
            });
        }
        Ok(located)
    }

    /// The writer the identifiers of a secret without a host name (`dbInstanceIdentifier`, `dbClusterIdentifier`).
    pub(super) async fn resolve_identifiers(&self, secret_id: &str, secret: &DbSecret) -> Result<Located, Error> {
        let ids = secret.rds();
        self.resolve(secret_id, secret, ids.cluster.as_deref(), ids.instance.as_deref()).await
    }

    /// After the secret's host refused a change as read-only (a read replica, an Aurora reader): the writer behind
    /// it, from the identifiers the secret names or the instance its host names. `None` when nothing names one.
    pub(super) async fn writer_behind(&self, secret_id: &str, secret: &DbSecret) -> Result<Option<Located>, Error> {
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
        let located = self.resolve(secret_id, secret, ids.cluster.as_deref(), instance).await?;
        Ok((located.readers.is_some()).then_some(located))
    }

    /// When `result` is the secret's host refusing a change as read-only, and the RDS API names a writer behind
    /// it: that writer (logged). `None` otherwise, `result` then stands.
    pub(super) async fn writer_behind_read_only<T>(
        &self,
        event: &RotationEvent,
        secret: &DbSecret,
        located: &Located,
        result: &Result<T, Error>,
    ) -> Result<Option<Located>, Error> {
        let read_only = matches!(result, Err(Error::Db(err)) if err.kind == EngineErrorKind::ReadOnly);
        if !read_only || located.resource.is_some() {
            return Ok(None);
        }
        let behind = match self.writer_behind(&event.secret_id, secret).await {
            Ok(behind) => behind,
            Err(Error::Rds(err)) if !err.is_transient() => {
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
        secret_id: &str,
        secret: &DbSecret,
        cluster: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Located, Error> {
        let target = secret.target();
        let unresolved = |problem: String| Error::Topology { secret_id: secret_id.to_owned(), problem };
        if let (Some(theirs), Some(ours)) = (secret.rds().region.as_deref(), self.rds.region())
            && theirs != ours
        {
            // The same identifier in this Region could be another database.
            return Err(unresolved(format!(
                "its RDS identifiers are ARNs in {theirs}, and this function's RDS API is {ours}'s: rotate it \
                 with a rotation function in {theirs}"
            )));
        }
        let (writer, resource) = if let Some(id) = cluster {
            self.cluster_writer(id, || unresolved(format!("DB cluster {id} does not exist")), &unresolved).await?
        } else {
            let id = instance.unwrap_or_default();
            let mut instance =
                self.instance(id).await?.ok_or_else(|| unresolved(format!("DB instance {id} does not exist")))?;
            let mut hops = 0;
            while let Some(source) = instance.replica_of.clone() {
                // A read replica: the change goes to its source, through replicas of replicas.
                if source.starts_with("arn:") {
                    // RDS names a source in another Region by its ARN; this function's RDS API is its own Region's.
                    return Err(unresolved(format!(
                        "DB instance {} is a read replica of {source}, in another Region: rotate the source's \
                         secret with a rotation function in that Region",
                        instance.id
                    )));
                }
                hops += 1;
                if hops > MAX_REPLICA_HOPS {
                    return Err(unresolved(format!("{id} is a read replica more than {MAX_REPLICA_HOPS} levels deep")));
                }
                instance = self.instance(&source).await?.ok_or_else(|| {
                    unresolved(format!(
                        "DB instance {} is a read replica of {source}, which does not exist",
                        instance.id
                    ))
                })?;
            }
            if let Some(cluster_id) = instance.cluster.clone() {
                // An Aurora instance, perhaps a reader: changes go through the cluster's writer endpoint.
                let missing = || unresolved(format!("DB cluster {cluster_id} of {id} does not exist"));
                self.cluster_writer(&cluster_id, missing, &unresolved).await?
            } else {
                // The instance, or the source at the top of its replicas.
                let no_endpoint = || unresolved(format!("DB instance {} has no endpoint yet", instance.id));
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
        let map = &self.topology.endpoint_map;
        Ok(Located {
            writer: mapped(map, &writer_target),
            readers: readers.map(|target| mapped(map, &target)),
            resource: Some(resource),
            named: writer.host,
        })
    }

    /// The writer endpoint of cluster `id`; `missing()` is the error when the cluster does not exist.
    async fn cluster_writer(
        &self,
        id: &str,
        missing: impl FnOnce() -> Error,
        unresolved: &impl Fn(String) -> Error,
    ) -> Result<(Endpoint, Resource), Error> {
        let cluster = self.cluster(id).await?.ok_or_else(missing)?;
        let writer =
            cluster.writer.clone().ok_or_else(|| unresolved(format!("DB cluster {id} has no writer endpoint")))?;
        Ok((writer, Resource::Cluster(cluster)))
    }

    async fn instance(&self, id: &str) -> Result<Option<DbInstance>, Error> {
        Ok(self.rds.instance(id).await?)
    }

    async fn cluster(&self, id: &str) -> Result<Option<DbCluster>, Error> {
        Ok(self.rds.cluster(id).await?)
    }

    /// After a change at the writer: waits, with exponential backoff until `deadline`, until `secret` logs in where
    /// applications connect.
    pub(super) async fn await_propagation(
        &self,
        secret: &DbSecret,
        located: &Located,
        deadline: Instant,
    ) -> Result<(), Error> {
        let Some(readers) = &located.readers else { return Ok(()) };
        let waited = self.wait_for_login(secret, readers, deadline).await?;
        info!(at = %readers, waited_ms = waited.as_millis() as u64, "setSecret: the new password works where applications connect");
        Ok(())
    }

    /// When setSecret must be done waiting: `PROPAGATION_TIMEOUT_SECONDS` from now, or the invocation's own deadline
    /// (`until`) if that comes first. One budget for every wait of the invocation (a break-glass reset, then
    /// readers), so that the waits together stay within it.
    pub(super) fn wait_deadline(&self, until: Option<Instant>) -> Instant {
        let budget = Instant::now() + self.topology.propagation_timeout;
        until.map_or(budget, |until| until.min(budget))
    }

    /// Logs in as `secret` at `at` until it works, with backoff (0.25 s doubling to 4 s), until `deadline`.
    async fn wait_for_login(&self, secret: &DbSecret, at: &Target, deadline: Instant) -> Result<Duration, Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let outcome = self.engine.login(at, secret.login()).await;
            match outcome {
                Ok(LoginOutcome::Accepted(session)) => {
                    session.close().await;
                    return Ok(started.elapsed());
                }
                Ok(LoginOutcome::Rejected) => {}
                Err(err) if err.is_transient() => {}
                Err(err) => return Err(err.into()),
            }
            if Instant::now() + pause > deadline {
                return Err(Error::NotPropagated {
                    user: secret.username().clone(),
                    target: at.clone(),
                    waited: deadline.saturating_duration_since(started),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }

    /// The instance or cluster behind a secret whose host was used as it is, and its writer, for break-glass: from
    /// the identifiers the secret names, or what its host's name names. `Err(reason)` when nothing names one, when
    /// what is named is not on the operator's list (checked before any RDS call), or when the RDS API cannot say
    /// (logged: the failure break-glass was meant to repair stands).
    async fn resource_behind(
        &self,
        secret_id: &str,
        stored: &DbSecret,
    ) -> Result<Result<(Resource, Target), String>, Error> {
        let (ids, host) = (stored.rds(), &stored.target().host);
        let cluster =
            ids.cluster.clone().or_else(|| cluster_endpoint_id(host)).or_else(|| reader_endpoint_cluster(host));
        let instance = ids.instance.clone().or_else(|| instance_endpoint_id(host));
        let named = match (&cluster, &instance) {
            (Some(id), _) => ("DB cluster", id, true),
            (None, Some(id)) => ("DB instance", id, false),
            (None, None) => {
                return Ok(Err("break-glass not tried: the secret names no RDS instance or cluster".to_owned()));
            }
        };
        if !self.break_glass_allows(named.1, named.2) {
            return Ok(Err(not_listed(named.0, named.1)));
        }
        match self.resolve(secret_id, stored, cluster.as_deref(), instance.as_deref()).await {
            Ok(Located { writer, resource: Some(resource), .. }) => Ok(Ok((resource, writer))),
            Ok(_) => Ok(Err("break-glass not tried: the RDS API names no instance or cluster".to_owned())),
            Err(err) if err.is_transient() => Err(err),
            Err(err) => {
                warn!(error = %err, "setSecret: break-glass cannot tell which instance or cluster the host belongs to");
                Ok(Err(format!("break-glass not tried: {err}")))
            }
        }
    }

    /// Whether `BREAK_GLASS_DB_IDENTIFIERS` lists the instance (`cluster` false) or cluster `id`.
    fn break_glass_allows(&self, id: &str, cluster: bool) -> bool {
        self.topology.break_glass.iter().any(|name| name.names(id, cluster))
    }

    /// Break-glass (`BREAK_GLASS_MASTER_RESET` with `BREAK_GLASS_DB_IDENTIFIERS`): no version of the secret logs in,
    /// and the user is the master user of the instance or cluster behind the writer (for a secret whose host was used
    /// as it is, the one the RDS API names for its identifiers or host: a read replica's source, an Aurora
    /// instance's cluster), which the operator listed. Resets its password to the pending one through the RDS API,
    /// then waits until that logs in at the writer. `Ok(Err(reason))` when break-glass does not apply (off, nothing
    /// named, not listed, not the master user): the reason, if any is worth telling, goes into the error that
    /// stands. `stored` is the pending version as stored, with the host the secret names.
    pub(super) async fn break_glass(
        &self,
        event: &RotationEvent,
        pending: &DbSecret,
        stored: &DbSecret,
        located: &Located,
        deadline: Instant,
    ) -> Result<Result<Outcome, Option<String>>, Error> {
        if self.topology.break_glass.is_empty() {
            return Ok(Err(None));
        }
        let (resource, writer) = match &located.resource {
            Some(resource) => (resource.clone(), located.writer.clone()),
            // A host used as it is: the RDS API is asked only now, on the failure path.
            None => match self.resource_behind(&event.secret_id, stored).await? {
                Ok(found) => found,
                Err(reason) => return Ok(Err(Some(reason))),
            },
        };
        // The new master password will be tried where the secret points (testSecret): only at the resource's own
        // endpoints, as the RDS API reports them, never at a host that merely names it.
        let host = &stored.target().host;
        if !host.is_empty() && !resource.has_endpoint(host) {
            let reason = format!(
                "break-glass not tried: the secret's host {host} is not an endpoint of {}",
                resource.describe()
            );
            return Ok(Err(Some(reason)));
        }
        // What is reset must be listed too: a secret naming a listed replica does not reach an unlisted source.
        let (kind, id, cluster) = match &resource {
            Resource::Instance(instance) => ("DB instance", &instance.id, false),
            Resource::Cluster(cluster) => ("DB cluster", &cluster.id, true),
        };
        if !self.break_glass_allows(id, cluster) {
            return Ok(Err(Some(not_listed(kind, id))));
        }
        if resource.master_username() != Some(pending.username().as_str()) {
            return Ok(Err(None));
        }
        let what = resource.describe();
        if resource.manages_master_password() {
            return Err(Error::BreakGlass {
                secret_id: event.secret_id.clone(),
                problem: format!(
                    "{what} manages its master password in Secrets Manager (ManageMasterUserPassword): rotate that \
                     secret instead, or turn the managed password off"
                ),
            });
        }
        error!(
            resource = what,
            user = %pending.username(),
            "setSecret: BREAK-GLASS: no version of the secret logs in as the master user; resetting its password \
             to the AWSPENDING version's through the RDS API (BREAK_GLASS_MASTER_RESET)"
        );
        match &resource {
            Resource::Instance(instance) => {
                self.rds.reset_instance_master_password(&instance.id, pending.password()).await?
            }
            Resource::Cluster(cluster) => {
                self.rds.reset_cluster_master_password(&cluster.id, pending.password()).await?
            }
        }
        // Not yet in effect by the deadline: PasswordNotPropagated, transient; the service's retry finds the new
        // password working (AlreadySet), or resets again.
        let waited = self.wait_for_login(&pending.at(&writer), &writer, deadline).await.inspect_err(|_| {
            error!(resource = what, "setSecret: BREAK-GLASS: RDS accepted the reset, but it has not taken effect yet");
        })?;
        warn!(resource = what, waited_ms = waited.as_millis() as u64, "setSecret: BREAK-GLASS: the reset took effect");
        Ok(Ok(Outcome::PasswordSet { with: "the RDS API (break-glass master reset)" }))
    }
}

/// Why break-glass left an instance or cluster alone that the operator did not list.
fn not_listed(kind: &str, id: &str) -> String {
    format!("break-glass not tried: {kind} {id} is not in BREAK_GLASS_DB_IDENTIFIERS, so no RDS call was made")
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
            engine: crate::engines::EngineKind::Postgres,
            host: host.into(),
            port,
            dbname: None,
            tls: crate::credentials::TlsChoice::Secret(None),
        };
        assert_eq!(mapped(&map, &target("W.rds", 5432)).port, 6000);
        assert_eq!(mapped(&map, &target("w.rds", 5433)).host, "w.rds");
        assert_eq!(mapped(&map, &target("r.rds", 1)).port, 6001);
    }
}
