//! Alternating users: where the master logs in. The rotated secret is written by whoever may write it — perhaps an
//! application team that must never learn the master's password — so it does not get to say where the master's
//! password goes. The master logs in where its own configuration says: the master secret's `host` (and `port`), or,
//! for an RDS-managed master secret that holds only a user name and a password, the endpoint the RDS API gives for
//! the instance or cluster its `aws:rds:…` tags name (tags with the `aws:` prefix only AWS can write). When neither
//! says, the rotation fails, naming what is missing.
//!
//! The rotated secret must then point at that same database: at the master's endpoint itself, at its cluster's
//! reader endpoint, or at a read replica of it (an Aurora member of its cluster, or a replica of its instance,
//! through replicas of replicas) — what AWS's template checks. Anything else is refused before any login.
//! Host names are compared as the secrets and the RDS API name them, before the test-only `RDS_ENDPOINT_MAP`. A
//! secret's `tlsServerName` stands for its host (an alias) in these comparisons only under verified TLS, where every
//! login at the host proves the name; the master's login never takes the rotated secret's.

use secrecy::ExposeSecret;
use tracing::info;

use super::Rotator;
use super::topology::endpoint::{EndpointKind, RdsEndpoint};
use super::topology::{Located, MAX_REPLICA_HOPS, Resource, mapped};
use crate::domain::{EngineKind, Target};
use crate::engines::DbEngine;
use crate::rds::RdsApi;
use crate::rotation::{Error, ErrorKind, MasterProblem};
use crate::secret::{DbSecret, Master, MasterSecret};
use crate::store::{Fetched, SecretStore, Version};
/// The tags of an RDS-managed master secret.
const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";
const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";

/// What the master's own configuration says of where it is.
struct MasterEndpoint {
    engine: EngineKind,
    /// Who said which engine: the master secret, the operator (`DEFAULT_ENGINE`) or the RDS API.
    engine_from: &'static str,
    host: String,
    port: Option<u16>,
    /// The instance or cluster, when the RDS API named the endpoint.
    resource: Option<Resource>,
}

/// The instance or cluster the master's endpoint belongs to, as far as its name or the RDS API tell.
#[derive(Default)]
struct MasterIdentity {
    instance: Option<String>,
    cluster: Option<String>,
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// The master of the alternating rotation of `current` (the rotated secret's AWSCURRENT), and where the
    /// rotation's logins go: the master's (and, at the same endpoint, the users') at the master's endpoint; the
    /// application's at the rotated secret's host when it is a reader or a replica. Public for `rds-rotator check`,
    /// which must find the same master as a rotation.
    pub async fn master(
        &self,
        secret_id: &str,
        current: &DbSecret,
        masterarn: &str,
    ) -> Result<(Master, Located), Error> {
        let refused =
            |problem: MasterProblem| Error::from(ErrorKind::MasterSecret { masterarn: masterarn.to_owned(), problem });
        if masterarn == secret_id {
            return Err(refused(MasterProblem::IsTheRotatedSecret));
        }
        let secret = match self.store.get(masterarn, Version::Current).await {
            Ok(Fetched::Text(text, arn)) => {
                // The service's events name the rotated secret by its ARN, `masterarn` may name it by its name: the
                // ARN the service answers with for the master tells.
                if is_secret(secret_id, arn.as_deref()) {
                    return Err(refused(MasterProblem::IsTheRotatedSecret));
                }
                // The operator names the master secrets the function may use (its role may read others: every
                // rotated secret), matched against the ARN the service answers with.
                if !self.settings.master_secrets.iter().any(|entry| names_secret(entry, masterarn, arn.as_deref())) {
                    return Err(refused(MasterProblem::NotListed));
                }
                MasterSecret::parse(text.expose_secret()).map_err(|problem| refused(MasterProblem::Shape(problem)))?
            }
            Ok(Fetched::Binary) => return Err(refused(MasterProblem::Binary)),
            Ok(Fetched::Missing) => return Err(refused(MasterProblem::Missing)),
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => return Err(refused(MasterProblem::Unreadable(err))),
        };
        let ours = current.target().engine;
        // The master secret's own engine is known before anything is looked up: of the other family, refused at once.
        if let Some(theirs) = secret.engine()
            && theirs.family() != ours.family()
        {
            return Err(refused(MasterProblem::OtherFamily { theirs, from: "its own \"engine\"", ours }));
        }
        let endpoint = self.master_endpoint(masterarn, &secret, &refused).await?;
        if endpoint.engine.family() != ours.family() {
            let (theirs, from) = (endpoint.engine, endpoint.engine_from);
            return Err(refused(MasterProblem::OtherFamily { theirs, from, ours }));
        }
        let master = secret.at(endpoint.engine, &endpoint.host, endpoint.port);
        if master.username() == current.username() {
            return Err(refused(MasterProblem::RotatedUser(master.username().clone())));
        }
        let readers = self.same_database(current, &master, endpoint.resource.as_ref(), &refused).await?;
        let map = &self.settings.endpoint_map;
        let located = Located {
            writer: mapped(map, master.target()),
            readers: readers.map(|target| mapped(map, &target)),
            resource: endpoint.resource,
            named: master.target().host.clone(),
        };
        let master = master.connecting_to(located.writer.clone());
        Ok((master, located))
    }

    /// The master secret's own host, or the endpoint of the instance or cluster its tags name; and the engine, whose
    /// protocol the master's password is sent in, from the master's side only: the master secret's `engine`, else the
    /// operator's `DEFAULT_ENGINE`; an RDS-managed master's is the RDS API's. Never the rotated secret's, whose
    /// writer would then pick the protocol and port the master's password goes to on the master's host.
    async fn master_endpoint(
        &self,
        masterarn: &str,
        secret: &MasterSecret,
        refused: &impl Fn(MasterProblem) -> Error,
    ) -> Result<MasterEndpoint, Error> {
        if let Some(host) = secret.host() {
            let (engine, engine_from) = match (secret.engine(), self.settings.secrets.engine) {
                (Some(engine), _) => (engine, "its own \"engine\""),
                (None, Some(engine)) => (engine, "DEFAULT_ENGINE"),
                (None, None) => return Err(refused(MasterProblem::NoEngine)),
            };
            return Ok(MasterEndpoint { engine, engine_from, host: host.to_owned(), port: None, resource: None });
        }
        let meta = match self.store.describe(masterarn).await {
            Ok(meta) => meta,
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => return Err(refused(MasterProblem::TagsUnreadable(err))),
        };
        let (arn, cluster) = match (meta.tags.get(CLUSTER_TAG), meta.tags.get(INSTANCE_TAG)) {
            (Some(arn), _) => (arn, true),
            (None, Some(arn)) => (arn, false),
            (None, None) => {
                let problem = MasterProblem::NoHostNoTags { instance_tag: INSTANCE_TAG, cluster_tag: CLUSTER_TAG };
                return Err(refused(problem));
            }
        };
        let (id, region) = arn_id_and_region(arn);
        if let (Some(theirs), Some(ours)) = (region, self.rds.region())
            && theirs != ours
        {
            let (arn, theirs, ours) = (arn.clone(), theirs.to_owned(), ours.to_owned());
            return Err(refused(MasterProblem::OtherRegion { arn, theirs, ours }));
        }
        let unresolved = |what: String| refused(MasterProblem::Unresolved(what));
        let (endpoint, engine, resource) = if cluster {
            let found = self.rds.cluster(id).await?;
            let cluster =
                found.ok_or_else(|| unresolved(format!("{CLUSTER_TAG} names {arn}, which does not exist")))?;
            let writer =
                cluster.writer.clone().ok_or_else(|| unresolved(format!("DB cluster {id} has no writer endpoint")))?;
            (writer, cluster.engine.clone(), Resource::Cluster(cluster))
        } else {
            let found = self.rds.instance(id).await?;
            let instance =
                found.ok_or_else(|| unresolved(format!("{INSTANCE_TAG} names {arn}, which does not exist")))?;
            let endpoint =
                instance.endpoint.clone().ok_or_else(|| unresolved(format!("DB instance {id} has no endpoint yet")))?;
            (endpoint, instance.engine.clone(), Resource::Instance(instance))
        };
        // The RDS API's engine names match the secret format's (and "aurora", Aurora MySQL 5.6's); any other is a
        // refusal, never a guess: the master's engine decides the protocol its password is sent in.
        let engine = match engine.as_str() {
            "aurora" => EngineKind::AuroraMysql,
            name => EngineKind::parse(name)
                .map_err(|problem| refused(MasterProblem::RdsEngine { arn: arn.clone(), problem }))?,
        };
        info!(master = %endpoint.host, "the master secret is RDS-managed; its tags name the endpoint");
        let (host, port) = (endpoint.host, Some(endpoint.port));
        Ok(MasterEndpoint { engine, engine_from: "the RDS API", host, port, resource: Some(resource) })
    }

    /// Checks that the rotated secret points at the master's database (see the module's documentation); returns
    /// where applications connect when that is another endpoint (a reader, a replica, or an alias of the master's
    /// endpoint).
    ///
    /// A `tlsServerName` stands for its host here only where every login at that host verifies the server's
    /// certificate against it (`DbEngine::verifies_certificate`): only then does a login there prove that the host
    /// reaches the endpoint the name names. An alias accepted so is where applications connect, so testSecret and
    /// setSecret's wait log in there, each proving it again. Unverified, the name is only the secret writer's word,
    /// and the host alone counts.
    async fn same_database(
        &self,
        current: &DbSecret,
        master: &Master,
        resource: Option<&Resource>,
        refused: &impl Fn(MasterProblem) -> Error,
    ) -> Result<Option<Target>, Error> {
        let (ours, theirs) = (current.target(), master.target());
        let (our_name, their_name) = (proven_name(&self.engine, ours), proven_name(&self.engine, theirs));
        let identity = MasterIdentity::of(their_name.unwrap_or(&theirs.host), resource);
        let unproven = match (&ours.tls_server_name, our_name) {
            (Some(name), None) => format!(
                "; its tlsServerName {name} stands for its host only where every login there verifies the server's \
                 certificate against it, and its logins use {}: set the rotated secret's \"ssl\" to true (or \
                 DB_TLS_MODE or DB_TLS_MINIMUM to verify-full), or name that endpoint itself as its host",
                self.engine.transport(ours).unwrap_or_else(|| "TLS that is not verified".to_owned())
            ),
            _ => String::new(),
        };
        let elsewhere = |why: &str| {
            refused(MasterProblem::Elsewhere(format!(
                "points the master at {theirs}, and the rotated secret points at {} {why}: the master logs in only \
                 where its own secret says, so the rotated secret must name that endpoint, its cluster's reader \
                 endpoint or a read replica of it{unproven}",
                if ours.host.is_empty() { "its RDS identifiers".to_owned() } else { ours.to_string() },
            )))
        };
        if ours.host.is_empty() {
            // Identifiers only: the RDS API names the writer, which must be the master's.
            let resolved = self.topology().resolve_identifiers(current).await?;
            let same = match &resolved.resource {
                Some(Resource::Instance(instance)) => identity.instance.as_deref() == Some(instance.id.as_str()),
                Some(Resource::Cluster(cluster)) => identity.cluster.as_deref() == Some(cluster.id.as_str()),
                None => false,
            } || resolved.named.eq_ignore_ascii_case(&theirs.host)
                || their_name.is_some_and(|name| resolved.named.eq_ignore_ascii_case(name));
            return if same { Ok(None) } else { Err(elsewhere("(the database they name is another one)")) };
        }
        if ours.host.eq_ignore_ascii_case(&theirs.host) {
            return if ours.port == theirs.port { Ok(None) } else { Err(elsewhere("(the same host, another port)")) };
        }
        // The master's endpoint under another host: an alias whose proven name is the master's endpoint, or the
        // endpoint the master's own alias is proven to stand for. Applications connect at the rotated secret's host.
        let our_names = || [Some(ours.host.as_str()), our_name].into_iter().flatten();
        let same_endpoint = our_names().any(|name| {
            [Some(theirs.host.as_str()), their_name].into_iter().flatten().any(|t| t.eq_ignore_ascii_case(name))
        });
        if same_endpoint {
            return if ours.port == theirs.port {
                Ok(Some(ours.clone()))
            } else {
                Err(elsewhere("(the same endpoint by name, another port)"))
            };
        }
        let Some((name, endpoint)) = our_names().find_map(|name| RdsEndpoint::parse(name).map(|e| (name, e))) else {
            return Err(elsewhere("(another host, and not an RDS endpoint name)"));
        };
        let reader_of_master_cluster = endpoint.kind == EndpointKind::Reader
            && identity.cluster.as_deref() == Some(endpoint.id.as_str())
            && RdsEndpoint::parse(their_name.unwrap_or(&theirs.host))
                .is_none_or(|master| master.same_account_and_region(&endpoint));
        let reader_named_by_api = matches!(resource, Some(Resource::Cluster(cluster))
            if cluster.reader_host.as_deref().is_some_and(|reader| reader.eq_ignore_ascii_case(name)));
        if reader_of_master_cluster || reader_named_by_api {
            return Ok(Some(ours.clone()));
        }
        if endpoint.kind == EndpointKind::Instance
            && (identity.instance.is_some() || identity.cluster.is_some())
            && self.is_replica_of(&endpoint.id, name, &identity).await?
        {
            return Ok(Some(ours.clone()));
        }
        Err(elsewhere("(neither that endpoint, its reader endpoint, nor a read replica of it)"))
    }

    /// Whether instance `id`, whose endpoint must be `host` as the RDS API reports it (the same identifier in another
    /// account's or Region's name is another instance), is a read replica of the master's instance (through replicas
    /// of replicas), or a member of the master's Aurora cluster.
    async fn is_replica_of(&self, id: &str, host: &str, master: &MasterIdentity) -> Result<bool, Error> {
        let mut id = id.to_owned();
        for hop in 0..=MAX_REPLICA_HOPS {
            let Some(instance) = self.rds.instance(&id).await? else { return Ok(false) };
            if hop == 0 && !instance.endpoint.as_ref().is_some_and(|e| e.host.eq_ignore_ascii_case(host)) {
                return Ok(false);
            }
            if instance.cluster.is_some() && instance.cluster == master.cluster {
                return Ok(true);
            }
            match instance.replica_of {
                // A source in another Region is named by its ARN: never the master's, which is in this one.
                Some(source) if !source.starts_with("arn:") => {
                    if master.instance.as_deref() == Some(source.as_str()) {
                        return Ok(true);
                    }
                    id = source;
                }
                _ => return Ok(false),
            }
        }
        Ok(false)
    }
}

impl MasterIdentity {
    fn of(host: &str, resource: Option<&Resource>) -> MasterIdentity {
        match resource {
            Some(Resource::Instance(instance)) => {
                MasterIdentity { instance: Some(instance.id.clone()), cluster: instance.cluster.clone() }
            }
            Some(Resource::Cluster(cluster)) => MasterIdentity { instance: None, cluster: Some(cluster.id.clone()) },
            None => match RdsEndpoint::parse(host) {
                Some(RdsEndpoint { id, kind: EndpointKind::Instance, .. }) => {
                    MasterIdentity { instance: Some(id), cluster: None }
                }
                Some(RdsEndpoint { id, kind: EndpointKind::Cluster, .. }) => {
                    MasterIdentity { instance: None, cluster: Some(id) }
                }
                _ => MasterIdentity::default(),
            },
        }
    }
}

/// The name `target` is proven to carry beside its host: its `tlsServerName`, where every login there verifies the
/// server's certificate against it.
fn proven_name<'t>(engine: &impl DbEngine, target: &'t Target) -> Option<&'t str> {
    (target.tls_server_name.is_some() && engine.verifies_certificate(target)).then(|| target.server_name())
}

/// Whether `MASTER_SECRET_ARNS`' `entry` names the secret `masterarn` named, whose ARN the service gave as `arn`:
/// `*` names any; an entry ending in `*`, any ARN (or, without one, id) it begins; otherwise the ARN itself, or the
/// secret's name (the ARN's last part without the six characters Secrets Manager appends).
pub(super) fn names_secret(entry: &str, masterarn: &str, arn: Option<&str>) -> bool {
    let id = arn.unwrap_or(masterarn);
    let name = arn.and_then(secret_name);
    match entry.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix) || name.is_some_and(|name| name.starts_with(prefix)),
        None => entry == id || name == Some(entry),
    }
}

/// Whether `secret_id` (an ARN or a name) is the secret whose ARN is `arn`.
fn is_secret(secret_id: &str, arn: Option<&str>) -> bool {
    arn.is_some_and(|arn| arn == secret_id || secret_name(arn) == Some(secret_id))
}

/// A secret's name from its ARN: the last part without the six characters Secrets Manager appends.
fn secret_name(arn: &str) -> Option<&str> {
    let (_, name) = arn.split_once(":secret:")?;
    name.rsplit_once('-').filter(|(_, suffix)| suffix.len() == 6).map(|(name, _)| name)
}

/// The identifier in an RDS ARN (`arn:PARTITION:rds:REGION:ACCOUNT:db:ID`), and its Region.
fn arn_id_and_region(arn: &str) -> (&str, Option<&str>) {
    let id = arn.rsplit(':').next().unwrap_or(arn);
    let region = arn.strip_prefix("arn:").and_then(|rest| rest.split(':').nth(2)).filter(|r| !r.is_empty());
    (id, region)
}

#[cfg(test)]
mod tests {
    use super::{is_secret, names_secret};

    #[test]
    fn the_rotated_secret_is_known_by_its_arn_or_its_name() {
        let arn = Some("arn:aws:secretsmanager:eu-west-1:1:secret:prod/app-AbC123");
        assert!(is_secret("arn:aws:secretsmanager:eu-west-1:1:secret:prod/app-AbC123", arn));
        assert!(is_secret("prod/app", arn));
        assert!(!is_secret("prod/app-AbC123x", arn));
        assert!(!is_secret("prod", arn));
        assert!(!is_secret("arn:aws:secretsmanager:eu-west-1:1:secret:prod/other-AbC123", arn));
        assert!(!is_secret("prod/app", None));
    }

    #[test]
    fn master_secret_entries() {
        let arn = Some("arn:aws:secretsmanager:eu-west-1:1:secret:prod/master-AbC123");
        assert!(names_secret("*", "anything", arn));
        assert!(names_secret("arn:aws:secretsmanager:eu-west-1:1:secret:prod/master-AbC123", "prod/master", arn));
        assert!(names_secret("prod/master", "prod/master", arn));
        assert!(names_secret("prod/master", "arn:aws:secretsmanager:eu-west-1:1:secret:prod/master-AbC123", arn));
        assert!(names_secret("arn:aws:secretsmanager:eu-west-1:1:secret:prod/*", "prod/master", arn));
        assert!(!names_secret("prod/mast", "prod/master", arn));
        assert!(!names_secret("arn:aws:secretsmanager:eu-west-1:1:secret:dev/*", "prod/master", arn));
        // What the secret says is not what counts: the service's ARN is.
        let other = Some("arn:aws:secretsmanager:eu-west-1:1:secret:team-b/app-Zz9999");
        assert!(!names_secret("prod/master", "prod/master", other));
        assert!(names_secret("master-secret_*", "master-secret_01", None));
        assert!(names_secret("prod/*", "prod/master", arn));
    }
}
