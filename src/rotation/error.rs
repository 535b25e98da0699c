//! The one error type: what went wrong (`ErrorKind`, named by what the operator does next), and the secret it
//! concerns, attached once where a step, the preflight or `cancel` begins (`Error::in_secret`). Each kind has its
//! stable name (`error_type`) and its fix (`fix`) side by side; where one kind has several causes, a sub-kind names
//! the cause, and each cause its own fix. Messages name the secret, the version, the key, the host — never a
//! password, a secret's JSON or a `RotationToken` — and show every string from outside as data (`domain::text`).

use std::fmt;

use crate::domain::{EngineKind, Target, UserName, VersionId, shown};
use crate::engines::{EngineError, EngineErrorKind};
use crate::event::EventError;
use crate::password::PasswordError;
use crate::rds::RdsError;
use crate::rotation::stages::StageError;
use crate::secret::ShapeError;
use crate::store::{StoreError, StoreErrorKind};

/// An error of a step, the preflight or `cancel`, and the secret it concerns.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// The rotated secret, as the event or the operator named it; set at the boundary (`in_secret`).
    secret_id: Option<String>,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ErrorKind {
    /// The invocation's payload is not a rotation event.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),

    /// The version labels forbid this step (rotation disabled, unknown token, token not pending).
    #[error(transparent)]
    Stage(#[from] StageError),

    /// A version's value is not a usable RDS secret: fix the secret.
    #[error("{version} version: {source}")]
    SecretShape {
        version: &'static str,
        #[source]
        source: ShapeError,
    },

    /// A version the step needs has no value.
    #[error(transparent)]
    MissingVersion(#[from] Missing),

    /// The pending version points somewhere else than the current one: refuse rather than change another user.
    #[error(
        "the AWSPENDING version {token} has another \"{key}\" than AWSCURRENT; refusing to change a password on a \
         different database or user"
    )]
    PendingMismatch { token: VersionId, key: &'static str },

    /// The database refused every credential tried: the password drifted out of band.
    #[error("database {target} refused user {user} with {tried}{}", hint.as_ref().map(|h| format!(" ({})", shown(h))).unwrap_or_default())]
    CredentialsRejected { user: UserName, target: Target, tried: Tried, hint: Option<String> },

    /// Alternating users: the master secret cannot be used.
    #[error("master secret {} {problem}", shown(.masterarn))]
    MasterSecret { masterarn: String, problem: MasterProblem },

    /// Alternating users: the other user exists, and nothing shows this secret made it.
    #[error(
        "user {user} exists but was not created by rds-rotator as the alternate of {of}; refusing to change it (drop \
         or rename it, or rotate {of} another way)"
    )]
    AlternateConflict { user: UserName, of: UserName },

    /// Alternating users: a user of the pair may not be rotated this way.
    #[error("alternating users refuse user {user}: {refusal}")]
    AlternateRefused { user: UserName, refusal: Refusal },

    /// Alternating users: the other user's name cannot be formed.
    #[error("the alternate of user {user} would be {alternate:?}, which {}", shown(.problem))]
    AlternateName { user: UserName, alternate: String, problem: String },

    /// The RDS API does not say where the secret's database is.
    #[error(transparent)]
    Topology(#[from] TopologyProblem),

    /// The new password did not start working where applications connect (a reader endpoint or a replica) in
    /// time. Replication may be slow: the service's retry checks again.
    #[error(
        "the new password of user {user} set at the writer did not log in at {target} within {} s \
         (PROPAGATION_TIMEOUT_SECONDS)",
        (waited.as_millis() + 500) / 1000
    )]
    NotPropagated { user: UserName, target: Target, waited: std::time::Duration },

    /// Break-glass was needed but cannot be done.
    #[error("break-glass master reset: {0}")]
    BreakGlass(BreakGlassProblem),

    /// The step would have outlived the invocation: it stopped before Lambda's deadline. The service's retry
    /// continues where it stopped.
    #[error("{step} stopped {} ms before the Lambda deadline, unfinished; the service's retry continues it", margin.as_millis())]
    Deadline { step: crate::domain::Step, margin: std::time::Duration },

    /// The RDS API could not be used.
    #[error(transparent)]
    Rds(#[from] RdsError),

    /// The database could not be used (unreachable, TLS, privilege, statement failure).
    #[error(transparent)]
    Db(#[from] EngineError),

    /// Secrets Manager could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// No password could be generated.
    #[error("generating a password: {0}")]
    Password(#[from] PasswordError),
}

/// Which version had no value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Missing {
    #[error("there is no {0} version with a value")]
    NoValue(&'static str),
    #[error("the AWSPENDING version {0} has no value yet; createSecret must run first")]
    PendingNotCreated(VersionId),
    #[error("the {0} version holds SecretBinary; an RDS secret is a JSON SecretString")]
    Binary(&'static str),
}

/// The versions whose passwords a refused login tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tried {
    Current,
    Pending,
    CurrentOrPending,
    CurrentPendingOrPrevious,
    /// `cancel`: the pending version's, then AWSCURRENT's.
    PendingThenCurrent,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tried::Current => "the AWSCURRENT password",
            Tried::Pending => "the AWSPENDING password",
            Tried::CurrentOrPending => "the AWSCURRENT or AWSPENDING password",
            Tried::CurrentPendingOrPrevious => "the AWSCURRENT, AWSPENDING or AWSPREVIOUS password",
            Tried::PendingThenCurrent => "both the AWSPENDING and the AWSCURRENT password",
        })
    }
}

/// Why a master secret cannot be used; the kinds follow the order in which a rotation meets them.
#[derive(Debug)]
pub(crate) enum MasterProblem {
    IsTheRotatedSecret,
    NotListed,
    Binary,
    Missing,
    Unreadable(StoreError),
    Shape(ShapeError),
    /// The master's engine, from where it came, and the rotated secret's.
    OtherFamily {
        theirs: EngineKind,
        from: &'static str,
        ours: EngineKind,
    },
    NoEngine,
    TagsUnreadable(StoreError),
    NoHostNoTags {
        instance_tag: &'static str,
        cluster_tag: &'static str,
    },
    OtherRegion {
        arn: String,
        theirs: String,
        ours: String,
    },
    /// The RDS API does not name the endpoint of what the tags name (a sentence: "DB instance x has no endpoint yet").
    Unresolved(String),
    RdsEngine {
        arn: String,
        problem: String,
    },
    RotatedUser(UserName),
    /// The rotated secret points elsewhere than the master: the whole reason, in a sentence.
    Elsewhere(String),
    DoesNotLogIn {
        target: Target,
        user: UserName,
        hint: Option<&'static str>,
    },
}

impl fmt::Display for MasterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterProblem::IsTheRotatedSecret => f.write_str("is the rotated secret itself"),
            MasterProblem::NotListed => f.write_str(
                "is not among the master secrets MASTER_SECRET_ARNS names (template parameter MasterSecretArn): \
                 alternating users may use only the masters the operator lists",
            ),
            MasterProblem::Binary => f.write_str("holds SecretBinary, not a JSON SecretString"),
            MasterProblem::Missing => {
                f.write_str("does not exist, or has no AWSCURRENT version with a value (check the secret's masterarn)")
            }
            MasterProblem::Unreadable(err) => write!(f, "cannot be read: {err}"),
            MasterProblem::Shape(err) => write!(f, "{err}"),
            MasterProblem::OtherFamily { theirs, from, ours } => write!(
                f,
                "is for engine {theirs} ({from}), and the rotated secret for {ours}: the master's protocol is never \
                 the rotated secret's to choose"
            ),
            MasterProblem::NoEngine => f.write_str(
                "holds a \"host\" but no \"engine\": the master's protocol and port come from the master's side only; \
                 add \"engine\" (and \"port\") to the master secret, or set DEFAULT_ENGINE",
            ),
            MasterProblem::TagsUnreadable(err) => write!(f, "holds no host, and its tags cannot be read: {err}"),
            MasterProblem::NoHostNoTags { instance_tag, cluster_tag } => write!(
                f,
                "holds no host, and no {instance_tag} or {cluster_tag} tag names the instance or cluster it is the \
                 master of: add \"host\" (and \"port\") to the master secret"
            ),
            MasterProblem::OtherRegion { arn, theirs, ours } => write!(
                f,
                "is the master secret of {}, in {}, and this function's RDS API is {}'s",
                shown(arn),
                shown(theirs),
                shown(ours)
            ),
            MasterProblem::Unresolved(what) => write!(f, "holds no host, and {}", shown(what)),
            MasterProblem::RdsEngine { arn, problem } => {
                write!(f, "is the master of {}, whose RDS engine {}", shown(arn), shown(problem))
            }
            MasterProblem::RotatedUser(user) => write!(
                f,
                "names user {user}, the rotated secret's own user: alternating users never rotate the master user"
            ),
            MasterProblem::Elsewhere(why) => f.write_str(&shown(why).to_string()),
            MasterProblem::DoesNotLogIn { target, user, hint } => write!(
                f,
                "does not log in: {target} refused user {user}; its password is not the database's, or the user does \
                 not exist{}",
                hint.map(|hint| format!(" ({hint})")).unwrap_or_default()
            ),
        }
    }
}

impl MasterProblem {
    fn fix(&self) -> &'static str {
        match self {
            MasterProblem::IsTheRotatedSecret | MasterProblem::RotatedUser(_) => {
                "name the master user's own secret in masterarn, and rotate the master user with a single-user secret"
            }
            MasterProblem::NotListed => {
                "list the master secret in MASTER_SECRET_ARNS (MasterSecretArn in template.yaml), by its ARN or name"
            }
            MasterProblem::Binary | MasterProblem::Shape(_) => {
                "correct the master secret's JSON: its username and password, and its own host and engine (or use an \
                 RDS-managed master secret)"
            }
            MasterProblem::Missing => "check the secret's masterarn: the master secret needs an AWSCURRENT version",
            MasterProblem::Unreadable(_) => {
                "allow secretsmanager:GetSecretValue and DescribeSecret on the master secret, and kms:Decrypt on its key"
            }
            MasterProblem::OtherFamily { .. } | MasterProblem::RdsEngine { .. } => {
                "name a master secret of the rotated secret's engine family in its masterarn"
            }
            MasterProblem::NoEngine => "add \"engine\" (and \"port\") to the master secret, or set DEFAULT_ENGINE",
            MasterProblem::TagsUnreadable(_) => {
                "allow secretsmanager:DescribeSecret on the master secret, or give it its own \"host\" and \"engine\""
            }
            MasterProblem::NoHostNoTags { .. } => {
                "give the master secret its own \"host\", \"engine\" (and \"port\"), or use an RDS-managed master \
                 secret whose tags name the instance or cluster"
            }
            MasterProblem::OtherRegion { .. } => "rotate the secret with a rotation function in the master's Region",
            MasterProblem::Unresolved(_) => {
                "check the instance or cluster the master secret's tags name (it may not be available yet), and \
                 allow rds:DescribeDBInstances and rds:DescribeDBClusters"
            }
            MasterProblem::Elsewhere(_) => {
                "point the rotated secret at the master's endpoint (or its cluster's reader endpoint, or a read \
                 replica of it), where its own secret says the master logs in"
            }
            MasterProblem::DoesNotLogIn { .. } => "store the master user's working password in the master secret",
        }
    }
}

/// Why alternating users refuse a user of the pair.
#[derive(Debug)]
pub(crate) enum Refusal {
    MasterUser,
    /// It could administer accounts: how, in a phrase ("is a superuser", "holds CREATE USER on *.*").
    AccountPower(String),
    /// AWSCURRENT does not log in as it at the writer.
    NoLogin(Target),
    /// AWSCURRENT does not log in as it where the secret says applications connect.
    NoLoginWhereApplicationsConnect(Target),
    /// Accounts of the user's name (the MySQL family's other host parts) that do not hold AWSCURRENT's password.
    UnprovenAccounts(Vec<String>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MasterUser => f.write_str("it is the master user"),
            Refusal::AccountPower(power) => write!(f, "it {}, so it could administer other accounts", shown(power)),
            Refusal::NoLogin(at) => write!(
                f,
                "AWSCURRENT does not log in as it at {at}: before the master changes anything, the secret must hold a \
                 working password of the user it names (store the user's working password in AWSCURRENT)"
            ),
            Refusal::NoLoginWhereApplicationsConnect(at) => write!(
                f,
                "AWSCURRENT does not log in as it at {at}, where the secret says applications connect: it may reach \
                 another database than the master's; nothing was changed"
            ),
            Refusal::UnprovenAccounts(accounts) => {
                let one = accounts.len() == 1;
                write!(
                    f,
                    "{} {} not hold AWSCURRENT's password: its login proves only the account the server matched, and \
                     the other user would get every account's privileges; give {} AWSCURRENT's password, drop {}, or \
                     rotate this secret as single user. Nothing was changed",
                    shown(&accounts.join(", ")),
                    if one { "does" } else { "do" },
                    if one { "it" } else { "them" },
                    if one { "it" } else { "them" },
                )
            }
        }
    }
}

impl Refusal {
    fn fix(&self) -> &'static str {
        match self {
            Refusal::MasterUser => "rotate the master user with a single-user secret",
            Refusal::AccountPower(_) => {
                "rotate account administrators with single-user secrets: alternating users copy privileges between two \
                 users and never touch one that can administer accounts"
            }
            Refusal::NoLogin(_) => "the password drifted: store the user's working password in AWSCURRENT",
            Refusal::NoLoginWhereApplicationsConnect(_) => {
                "point the secret's host at the master's database (its endpoint, its reader endpoint or a replica), \
                 where AWSCURRENT logs in; if the password drifted there, store the user's working password in \
                 AWSCURRENT"
            }
            Refusal::UnprovenAccounts(_) => {
                "give every host account of the user AWSCURRENT's password, drop the ones that are not this secret's, \
                 or rotate it as single user (no masterarn)"
            }
        }
    }
}

/// Why the RDS API does not say where the secret's database is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TopologyProblem {
    #[error(
        "its host {} looks like a reader endpoint, but the RDS API names no such endpoint for the cluster it names",
        shown(.0)
    )]
    NotAReaderEndpoint(String),
    #[error(
        "its RDS identifiers are ARNs in {}, and this function's RDS API is {}'s: rotate it with a rotation function \
         in {}",
        shown(.theirs), shown(.ours), shown(.theirs)
    )]
    OtherRegion { theirs: String, ours: String },
    /// What does not exist ("DB cluster x", "DB cluster x of y").
    #[error("{} does not exist", shown(.0))]
    NoSuch(String),
    #[error("DB cluster {} has no writer endpoint", shown(.0))]
    NoWriter(String),
    #[error("DB instance {} has no endpoint yet", shown(.0))]
    NoEndpointYet(String),
    #[error(
        "DB instance {} is a read replica of {}, in another Region: rotate the source's secret with a rotation \
         function in that Region",
        shown(.instance), shown(.of)
    )]
    CrossRegionReplica { instance: String, of: String },
    #[error("{} is a read replica more than {hops} levels deep", shown(.id))]
    TooDeep { id: String, hops: usize },
    #[error("DB instance {} is a read replica of {}, which does not exist", shown(.instance), shown(.of))]
    SourceMissing { instance: String, of: String },
}

impl TopologyProblem {
    fn fix(&self) -> &'static str {
        match self {
            TopologyProblem::NotAReaderEndpoint(_) => {
                "put the cluster's reader endpoint as the RDS API names it in the secret's host, or the writer's"
            }
            TopologyProblem::OtherRegion { .. } | TopologyProblem::CrossRegionReplica { .. } => {
                "rotate the secret with a rotation function in the database's Region"
            }
            TopologyProblem::NoSuch(_) | TopologyProblem::SourceMissing { .. } => {
                "check the secret's dbInstanceIdentifier and dbClusterIdentifier, or put the endpoint in its host"
            }
            TopologyProblem::NoWriter(_) | TopologyProblem::NoEndpointYet(_) => {
                "wait until the instance or cluster is available, then rotate again, or put the endpoint in the \
                 secret's host"
            }
            TopologyProblem::TooDeep { .. } => "point the secret at the source instance",
        }
    }
}

/// Why break-glass cannot reset a master password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BreakGlassProblem {
    #[error(
        "{} manages its master password in Secrets Manager (ManageMasterUserPassword): rotate that secret instead, or \
         turn the managed password off",
        shown(.0)
    )]
    ManagedPassword(String),
}

impl Error {
    /// The error of `kind`, its secret not yet named.
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind, secret_id: None }
    }

    pub(crate) fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The same error, naming `secret_id` (unless it names one already): called once, where a step, the preflight
    /// or `cancel` begins, so that no function below passes the id on only for its errors.
    pub fn in_secret(mut self, secret_id: &str) -> Error {
        self.secret_id.get_or_insert_with(|| secret_id.to_owned());
        self
    }

    /// A stable name for alarms and metric filters; it does not change when a message's wording does.
    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }

    /// Whether the service's own retry of the rotation may succeed with nothing changed by a human.
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// What to do about it, in a sentence.
    pub fn fix(&self) -> &'static str {
        self.kind.fix()
    }

    /// The message without the secret's name, for output whose line names the secret already.
    pub fn message(&self) -> impl fmt::Display + '_ {
        &self.kind
    }
}

impl<T: Into<ErrorKind>> From<T> for Error {
    fn from(kind: T) -> Error {
        Error::new(kind.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.secret_id, &self.kind) {
            // A Secrets Manager error names the secret of its call itself; an event names none yet.
            (Some(secret_id), kind) if !matches!(kind, ErrorKind::Store(_) | ErrorKind::Event(_)) => {
                write!(f, "secret {}: {kind}", shown(secret_id))
            }
            (_, kind) => kind.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

impl ErrorKind {
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            ErrorKind::Event(_) => "InvalidEvent",
            ErrorKind::Stage(StageError::RotationDisabled) => "RotationDisabled",
            ErrorKind::Stage(_) => "StageError",
            ErrorKind::SecretShape { .. } => "InvalidSecret",
            ErrorKind::MissingVersion(_) => "MissingVersion",
            ErrorKind::PendingMismatch { .. } => "PendingMismatch",
            ErrorKind::CredentialsRejected { .. } => "CredentialsRejected",
            ErrorKind::MasterSecret { .. } => "MasterSecretError",
            ErrorKind::AlternateConflict { .. } => "AlternateUserConflict",
            ErrorKind::AlternateName { .. } => "AlternateUserName",
            ErrorKind::AlternateRefused { .. } => "AlternateUserRefused",
            ErrorKind::Deadline { .. } => "DeadlineReached",
            ErrorKind::Topology(_) => "TopologyError",
            ErrorKind::NotPropagated { .. } => "PasswordNotPropagated",
            ErrorKind::BreakGlass(_) => "BreakGlassError",
            ErrorKind::Rds(err) if err.is_transient() => "RdsUnavailable",
            ErrorKind::Rds(_) => "RdsError",
            ErrorKind::Db(err) if err.is_transient() => "DatabaseUnavailable",
            ErrorKind::Db(_) => "DatabaseError",
            ErrorKind::Store(err) if err.is_transient() => "SecretsManagerUnavailable",
            ErrorKind::Store(_) => "SecretsManagerError",
            ErrorKind::Password(_) => "PasswordGenerationError",
        }
    }

    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ErrorKind::Db(err) => err.is_transient(),
            ErrorKind::Rds(err) => err.is_transient(),
            ErrorKind::NotPropagated { .. } | ErrorKind::Deadline { .. } => true,
            ErrorKind::Store(err) => err.is_transient(),
            _ => false,
        }
    }

    /// What to do about it, in a sentence (what `check`, `status --verify` and `attach` print).
    pub(crate) fn fix(&self) -> &'static str {
        match self {
            ErrorKind::Store(err) => match err.kind {
                StoreErrorKind::Unavailable => {
                    "give the function a network path to Secrets Manager: a VPC interface endpoint or a NAT gateway \
                     (SECRETS_MANAGER_ENDPOINT names a custom endpoint)"
                }
                StoreErrorKind::NotFound => "check the secret's name or ARN",
                StoreErrorKind::AccessDenied => {
                    "allow secretsmanager:DescribeSecret, GetSecretValue, PutSecretValue and UpdateSecretVersionStage \
                     on this secret, and kms:Decrypt on its key"
                }
                StoreErrorKind::Refused | StoreErrorKind::VersionExists => "see the service's message",
            },
            ErrorKind::Stage(StageError::RotationDisabled) => {
                "switch rotation on (rotate-secret --rotation-lambda-arn, or rds-rotator attach)"
            }
            ErrorKind::Event(_) | ErrorKind::Stage(_) | ErrorKind::Deadline { .. } => "see the message",
            ErrorKind::SecretShape { .. } => "correct the secret's JSON (docs/configuration.md, \"The secret\")",
            ErrorKind::MissingVersion(Missing::PendingNotCreated(_)) => {
                "let createSecret run first (the service's retry runs the steps in order)"
            }
            ErrorKind::MissingVersion(_) => "put the current credentials in the secret, as a JSON SecretString",
            ErrorKind::PendingMismatch { .. } => "end the rotation left pending: rds-rotator cancel SECRET_ID",
            ErrorKind::Password(_) => "adjust PASSWORD_LENGTH or the EXCLUDE_* settings",
            ErrorKind::Topology(problem) => problem.fix(),
            ErrorKind::Rds(_) => {
                "allow rds:DescribeDBInstances and rds:DescribeDBClusters, give the function a network path to the \
                 RDS API (RDS_ENDPOINT names a VPC endpoint), or put the endpoint in the secret's host"
            }
            ErrorKind::NotPropagated { .. } => {
                "replication is slow: the service's retry checks again; raise PROPAGATION_TIMEOUT_SECONDS if it \
                 persists"
            }
            ErrorKind::MasterSecret { problem, .. } => problem.fix(),
            ErrorKind::CredentialsRejected { .. } => {
                "the password drifted: set the database password back to AWSCURRENT's, or store the working password \
                 in a new AWSCURRENT version, before rotating"
            }
            ErrorKind::BreakGlass(_) => "see the message; docs/runbook/break-glass.md",
            ErrorKind::AlternateName { .. } => "shorten the user name",
            ErrorKind::AlternateRefused { refusal, .. } => refusal.fix(),
            ErrorKind::AlternateConflict { .. } => {
                "drop or rename that user if it is not in use, or rotate this secret as single user (no masterarn)"
            }
            ErrorKind::Db(err) => match err.kind {
                EngineErrorKind::Unreachable | EngineErrorKind::Timeout => {
                    "check the secret's host and port, and that the database's security group admits the function"
                }
                EngineErrorKind::Tls => {
                    "trust the server's CA (DB_EXTRA_CA_BUNDLE; the RDS CAs are built in), use the host name the \
                     certificate names, or read docs/configuration.md, \"TLS\""
                }
                EngineErrorKind::TlsNotOffered => {
                    "turn TLS on at the server, or allow plaintext for this secret (\"ssl\": false) or all \
                     (DB_TLS_MODE=prefer)"
                }
                EngineErrorKind::Busy => "the server is at its connection limit or starting: try again",
                EngineErrorKind::LoginRefused | EngineErrorKind::Statement => {
                    "see the server's message; grant what it names, or rotate this user by hand"
                }
                EngineErrorKind::Unverified => {
                    "let the master log in with verified TLS (MASTER_TLS_MODE=verify-full, the server's CA built in \
                     or in DB_EXTRA_CA_BUNDLE)"
                }
                EngineErrorKind::MissingPrivilege => {
                    "run the GRANT the message names, as a role that holds that right (the role's creator) or a \
                     superuser, then check again"
                }
                EngineErrorKind::NotOurs => {
                    "drop or rename the account if it is not in use, or rotate this secret as single user"
                }
                EngineErrorKind::Unsupported => "rotate this secret as single user (no masterarn)",
                EngineErrorKind::ReadOnly => {
                    "the secret's host is a replica or reader: add dbInstanceIdentifier or dbClusterIdentifier, or \
                     point it at the writer"
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EngineKind;

    const MAX_DETAIL_FOR_TESTS: usize = 1_000;

    fn target(host: &str) -> Target {
        Target {
            engine: EngineKind::Postgres,
            host: host.into(),
            port: 5432,
            dbname: None,
            tls: crate::domain::TlsChoice::Secret(Some(false)),
            tls_server_name: None,
        }
    }

    #[test]
    fn error_types_are_stable() {
        let target = target("db");
        let unreachable = EngineError::new(EngineErrorKind::Unreachable, &target, "refused");
        assert_eq!(Error::from(unreachable).error_type(), "DatabaseUnavailable");
        let statement = EngineError::new(EngineErrorKind::Statement, &target, "SQLSTATE 42501");
        assert_eq!(Error::from(statement).error_type(), "DatabaseError");
        let disabled = Error::from(StageError::RotationDisabled).in_secret("s");
        assert_eq!(disabled.error_type(), "RotationDisabled");
        assert!(!disabled.is_transient());
        assert_eq!(disabled.to_string(), "secret s: rotation is not enabled for this secret");
    }

    /// One kind, several causes: each cause has its own fix.
    #[test]
    fn each_cause_has_its_own_fix() {
        let master = |problem| Error::from(ErrorKind::MasterSecret { masterarn: "m".into(), problem });
        let fixes = [
            master(MasterProblem::NotListed).fix(),
            master(MasterProblem::NoEngine).fix(),
            master(MasterProblem::Missing).fix(),
            master(MasterProblem::Elsewhere("points elsewhere".into())).fix(),
            master(MasterProblem::DoesNotLogIn { target: target("db"), user: UserName::new("m").unwrap(), hint: None })
                .fix(),
        ];
        let distinct: std::collections::BTreeSet<&str> = fixes.iter().copied().collect();
        assert_eq!(distinct.len(), fixes.len(), "{fixes:?}");
        assert!(master(MasterProblem::NotListed).fix().contains("MASTER_SECRET_ARNS"));
    }

    /// What a secret's writer or a server wrote shows as data in every message, and a server's words are bounded.
    #[test]
    fn messages_show_outside_text_as_data() {
        let hostile = "m\u{1b}]52;c;aGk=\u{7}\r\n\u{9b}\u{202e}";
        let target = target(&format!("db{hostile}"));
        let errors: Vec<Error> = vec![
            ErrorKind::MasterSecret { masterarn: hostile.into(), problem: MasterProblem::Elsewhere(hostile.into()) }
                .into(),
            ErrorKind::Topology(TopologyProblem::NoSuch(hostile.into())).into(),
            Error::from(ErrorKind::MissingVersion(Missing::NoValue("AWSCURRENT"))).in_secret(hostile),
            EngineError::new(EngineErrorKind::LoginRefused, &target, hostile).into(),
            ErrorKind::CredentialsRejected {
                user: UserName::new("u\u{202e}").unwrap(),
                target: target.clone(),
                tried: Tried::Current,
                hint: Some(hostile.into()),
            }
            .into(),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.chars().any(crate::domain::text::is_special), "{text:?}");
            assert!(text.contains("\\u{1b}]52") || text.contains("\\u{202e}"), "{text}");
        }
        let long = EngineError::new(EngineErrorKind::LoginRefused, &target, "x".repeat(5_000));
        assert_eq!(long.detail.chars().count(), MAX_DETAIL_FOR_TESTS + 1);
    }
}
