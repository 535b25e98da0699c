//! Break-glass (`BREAK_GLASS_MASTER_RESET` with `BREAK_GLASS_DB_IDENTIFIERS`): when no version of a secret logs in
//! and its user is the master user of an instance or cluster the operator listed, the RDS API resets that master
//! password to the pending version's. Whatever the secret names must be listed before any RDS call; what is reset
//! must be listed too; and the secret's host must be an endpoint the API reports for it.

use tracing::{error, warn};

use super::{Located, Resource, Topology, cluster_endpoint_id, instance_endpoint_id, reader_endpoint_cluster};
use crate::domain::Target;
use crate::engines::DbEngine;
use crate::rds::RdsApi;
use crate::rotation::{BreakGlassProblem, Error, ErrorKind, Outcome, SetRequest};
use crate::secret::DbSecret;

/// One entry of `BREAK_GLASS_DB_IDENTIFIERS`: a DB instance or cluster identifier (either kind), or the ARN of one
/// (that kind only). Identifiers are case-insensitive and kept in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdsResourceName {
    pub id: String,
    /// `Some(true)`: only a cluster of that name; `Some(false)`: only an instance; `None`: either.
    pub cluster: Option<bool>,
}

impl RdsResourceName {
    /// Identifiers or ARNs (`arn:PARTITION:rds:REGION:ACCOUNT:db:ID` or `…:cluster:ID`), comma-separated.
    pub fn parse_list(text: &str) -> Result<Vec<RdsResourceName>, String> {
        let names: Vec<RdsResourceName> = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let problem = || format!("has {entry:?}: expected a DB instance or cluster identifier, or its ARN");
                let (id, cluster) = match entry.strip_prefix("arn:") {
                    Some(rest) => {
                        let parts: Vec<&str> = rest.split(':').collect();
                        match parts.as_slice() {
                            [_, "rds", _, _, "db", id] => (*id, Some(false)),
                            [_, "rds", _, _, "cluster", id] => (*id, Some(true)),
                            _ => return Err(problem()),
                        }
                    }
                    None => (entry, None),
                };
                let valid = (1..=63).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !valid {
                    return Err(problem());
                }
                Ok(RdsResourceName { id: id.to_ascii_lowercase(), cluster })
            })
            .collect::<Result<_, _>>()?;
        if names.is_empty() {
            return Err("names no DB instance or cluster".to_owned());
        }
        Ok(names)
    }

    /// Whether this entry names the instance (`cluster` false) or cluster (`cluster` true) `id`.
    pub fn names(&self, id: &str, cluster: bool) -> bool {
        self.id.eq_ignore_ascii_case(id) && self.cluster.is_none_or(|kind| kind == cluster)
    }
}

impl<E: DbEngine, R: RdsApi> Topology<'_, E, R> {
    /// The instance or cluster behind a secret whose host was used as it is, and its writer, for break-glass: from
    /// the identifiers the secret names, or what its host's name names. `NotTried(reason)` when nothing names one, when
    /// what is named is not on the operator's list (checked before any RDS call), or when the RDS API cannot say
    /// (logged: the failure break-glass was meant to repair stands).
    async fn resource_behind(&self, stored: &DbSecret) -> Result<Behind, Error> {
        let (ids, host) = (stored.rds(), &stored.target().host);
        let cluster =
            ids.cluster.clone().or_else(|| cluster_endpoint_id(host)).or_else(|| reader_endpoint_cluster(host));
        let instance = ids.instance.clone().or_else(|| instance_endpoint_id(host));
        let named = match (&cluster, &instance) {
            (Some(id), _) => ("DB cluster", id, true),
            (None, Some(id)) => ("DB instance", id, false),
            (None, None) => {
                let reason =
                    format!("break-glass not tried: the secret names no RDS instance or cluster{}", alias_note(stored));
                return Ok(Behind::NotTried(reason));
            }
        };
        if !self.break_glass_allows(named.1, named.2) {
            return Ok(Behind::NotTried(not_listed(named.0, named.1)));
        }
        match self.resolve(stored, cluster.as_deref(), instance.as_deref()).await {
            Ok(Located { writer, resource: Some(resource), .. }) => {
                Ok(Behind::Found(Box::new(Reset { resource, writer })))
            }
            Ok(_) => Ok(Behind::NotTried("break-glass not tried: the RDS API names no instance or cluster".to_owned())),
            Err(err) if err.is_transient() => Err(err),
            Err(err) => {
                warn!(error = %err, "setSecret: break-glass cannot tell which instance or cluster the host belongs to");
                Ok(Behind::NotTried(format!("break-glass not tried: {err}")))
            }
        }
    }

    /// Whether `BREAK_GLASS_DB_IDENTIFIERS` lists the instance (`cluster` false) or cluster `id`.
    fn break_glass_allows(&self, id: &str, cluster: bool) -> bool {
        self.settings.break_glass.iter().any(|name| name.names(id, cluster))
    }

    /// Break-glass (`BREAK_GLASS_MASTER_RESET` with `BREAK_GLASS_DB_IDENTIFIERS`) for a secret no version of which
    /// logs in: a reset where the user is the master user of the instance or cluster behind the writer (for a secret
    /// whose host was used as it is, the one the RDS API names for its identifiers or host: a read replica's source,
    /// an Aurora instance's cluster), which the operator listed; otherwise not tried, with the reason where one is
    /// worth telling (it goes into the error that stands). Changes nothing. `pending` is located at the writer; the
    /// request's is as stored, with the host the secret names.
    pub(in crate::rotation) async fn plan_break_glass(
        &self,
        request: SetRequest<'_>,
        pending: &DbSecret,
        located: &Located,
    ) -> Result<BreakGlass, Error> {
        let SetRequest { pending: stored, .. } = request;
        if self.settings.break_glass.is_empty() {
            return Ok(BreakGlass::NotTried(None));
        }
        let (resource, writer) = match &located.resource {
            Some(resource) => (resource.clone(), located.writer.clone()),
            // A host used as it is: the RDS API is asked only now, on the failure path.
            None => match self.resource_behind(stored).await? {
                Behind::Found(found) => (found.resource, found.writer),
                Behind::NotTried(reason) => return Ok(BreakGlass::NotTried(Some(reason))),
            },
        };
        // The new master password will be tried where the secret points (testSecret): only at the resource's own
        // endpoints, as the RDS API reports them, never at a host that merely names it.
        let host = &stored.target().host;
        if !host.is_empty() && !resource.has_endpoint(host) {
            let reason = format!(
                "break-glass not tried: the secret's host {host} is not an endpoint of {}{}",
                resource.describe(),
                alias_note(stored)
            );
            return Ok(BreakGlass::NotTried(Some(reason)));
        }
        // What is reset must be listed too: a secret naming a listed replica does not reach an unlisted source.
        let (kind, id, cluster) = match &resource {
            Resource::Instance(instance) => ("DB instance", &instance.id, false),
            Resource::Cluster(cluster) => ("DB cluster", &cluster.id, true),
        };
        if !self.break_glass_allows(id, cluster) {
            return Ok(BreakGlass::NotTried(Some(not_listed(kind, id))));
        }
        if resource.master_username() != Some(pending.username().as_str()) {
            return Ok(BreakGlass::NotTried(None));
        }
        if resource.manages_master_password() {
            return Err(ErrorKind::BreakGlass(BreakGlassProblem::ManagedPassword(resource.describe())).into());
        }
        Ok(BreakGlass::Reset(Box::new(Reset { resource, writer })))
    }

    /// The reset of a plan: the master password of the resource set to the pending one through the RDS API, then
    /// the wait until that logs in at the writer.
    pub(in crate::rotation) async fn reset_master(
        &self,
        request: SetRequest<'_>,
        pending: &DbSecret,
        reset: Box<Reset>,
    ) -> Result<Outcome, Error> {
        let Reset { resource, writer } = *reset;
        let what = resource.describe();
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
        let waited = self.wait_for_login(&pending.at(&writer), &writer, request.deadline).await.inspect_err(|_| {
            error!(resource = what, "setSecret: BREAK-GLASS: RDS accepted the reset, but it has not taken effect yet");
        })?;
        warn!(resource = what, waited_ms = waited.as_millis() as u64, "setSecret: BREAK-GLASS: the reset took effect");
        Ok(Outcome::PasswordSet { with: "the RDS API (break-glass master reset)" })
    }
}

/// What is behind a secret whose host was used as it is, for break-glass.
enum Behind {
    /// The instance or cluster, and its writer.
    Found(Box<Reset>),
    /// Nothing break-glass may reset: why.
    NotTried(String),
}

/// What break-glass would do for a secret no version of which logs in.
pub(in crate::rotation) enum BreakGlass {
    /// Not tried (off, nothing named, not listed, not the master user), with the reason where one is worth telling.
    NotTried(Option<String>),
    /// Reset the master password of the resource through the RDS API.
    Reset(Box<Reset>),
}

/// A break-glass reset: the instance or cluster, and the writer where the new password must then log in.
pub(in crate::rotation) struct Reset {
    resource: Resource,
    writer: Target,
}

impl Reset {
    /// What it would do, for `check`.
    pub(in crate::rotation) fn describe(&self) -> String {
        let action = match &self.resource {
            Resource::Instance(_) => "rds:ModifyDBInstance",
            Resource::Cluster(_) => "rds:ModifyDBCluster",
        };
        format!(
            "the password drifted: no version of the secret logs in, and break-glass would reset the master password \
             of {} through the RDS API (it needs {action} on it: BreakGlassDbArns in template.yaml)",
            self.resource.describe()
        )
    }
}

/// For a secret whose host is an alias (it has a `tlsServerName`): why that name does not count here. A reset
/// master password is tried only at endpoints the RDS API reports, by their own names; an alias reaches whatever
/// its DNS says, and break-glass does not rest the master's password on the TLS of the secret writer's choosing.
fn alias_note(stored: &DbSecret) -> String {
    match &stored.target().tls_server_name {
        Some(name) => format!(
            " (its tlsServerName {name} does not stand for its host here: break-glass tries a reset master password \
             only at an endpoint the RDS API reports, so the host must be one)"
        ),
        None => String::new(),
    }
}

/// Why break-glass left an instance or cluster alone that the operator did not list.
fn not_listed(kind: &str, id: &str) -> String {
    format!("break-glass not tried: {kind} {id} is not in BREAK_GLASS_DB_IDENTIFIERS, so no RDS call was made")
}
