//! The one error type. Variants are named by what the operator does next; messages name the secret, the version,
//! the key, the host — never a password, a secret's JSON or a `RotationToken`.

use crate::domain::{Target, UserName, VersionId, shown};
use crate::engines::EngineError;
use crate::event::EventError;
use crate::password::PasswordError;
use crate::rds::RdsError;
use crate::rotation::stages::StageError;
use crate::secret::ShapeError;
use crate::store::StoreError;
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The invocation's payload is not a rotation event.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),

    /// The version labels forbid this step (rotation disabled, unknown token, token not pending).
    #[error("secret {}: {source}", shown(.secret_id))]
    Stage {
        secret_id: String,
        #[source]
        source: StageError,
    },

    /// A version's value is not a usable RDS secret: fix the secret.
    #[error("secret {}, {version} version: {source}", shown(.secret_id))]
    SecretShape {
        secret_id: String,
        version: &'static str,
        #[source]
        source: ShapeError,
    },

    /// A version the step needs has no value.
    #[error("secret {}: {}", shown(.secret_id), shown(.what))]
    MissingVersion { secret_id: String, what: String },

    /// The pending version points somewhere else than the current one: refuse rather than change another user.
    #[error(
        "secret {}: the AWSPENDING version {token} has another \"{key}\" than AWSCURRENT; \
         refusing to change a password on a different database or user",
        shown(.secret_id)
    )]
    PendingMismatch { secret_id: String, token: VersionId, key: &'static str },

    /// The database refused every credential tried: the password drifted out of band.
    #[error("database {target} refused user {user} with the {tried} password{}", hint.as_ref().map(|h| format!(" ({})", shown(h))).unwrap_or_default())]
    CredentialsRejected { user: UserName, target: Target, tried: &'static str, hint: Option<String> },

    /// Alternating users: the master secret cannot be used.
    #[error("secret {}: master secret {} {}", shown(.secret_id), shown(.masterarn), shown(.problem))]
    MasterSecret { secret_id: String, masterarn: String, problem: String },

    /// Alternating users: the other user exists, and nothing shows this secret made it.
    #[error(
        "secret {}: user {user} exists but was not created by rds-rotator as the alternate of {of}; \
         refusing to change it (drop or rename it, or rotate {of} another way)",
        shown(.secret_id)
    )]
    AlternateConflict { secret_id: String, user: UserName, of: UserName },

    /// Alternating users: a user of the pair may not be rotated this way (the master user, an account
    /// administrator, or a user the secret cannot prove it holds).
    #[error("secret {}: alternating users refuse user {user}: {}", shown(.secret_id), shown(.problem))]
    AlternateRefused { secret_id: String, user: UserName, problem: String },

    /// Alternating users: the other user's name cannot be formed.
    #[error("secret {}: the alternate of user {user} would be {alternate:?}, which {}", shown(.secret_id), shown(.problem))]
    AlternateName { secret_id: String, user: UserName, alternate: String, problem: String },

    /// The RDS API does not say where the secret's database is (no such instance or cluster, no endpoint yet).
    #[error("secret {}: {}", shown(.secret_id), shown(.problem))]
    Topology { secret_id: String, problem: String },

    /// The new password did not start working where applications connect (a reader endpoint or a replica) in
    /// time. Replication may be slow: the service's retry checks again.
    #[error(
        "the new password of user {user} set at the writer did not log in at {target} within {} s \
         (PROPAGATION_TIMEOUT_SECONDS)",
        (waited.as_millis() + 500) / 1000
    )]
    NotPropagated { user: UserName, target: Target, waited: std::time::Duration },

    /// Break-glass was needed but cannot be done, or did not take effect.
    #[error("secret {}: break-glass master reset: {}", shown(.secret_id), shown(.problem))]
    BreakGlass { secret_id: String, problem: String },

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

impl Error {
    /// A stable name for alarms and metric filters; it does not change when a message's wording does.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Event(_) => "InvalidEvent",
            Error::Stage { source: StageError::RotationDisabled, .. } => "RotationDisabled",
            Error::Stage { .. } => "StageError",
            Error::SecretShape { .. } => "InvalidSecret",
            Error::MissingVersion { .. } => "MissingVersion",
            Error::PendingMismatch { .. } => "PendingMismatch",
            Error::CredentialsRejected { .. } => "CredentialsRejected",
            Error::MasterSecret { .. } => "MasterSecretError",
            Error::AlternateConflict { .. } => "AlternateUserConflict",
            Error::AlternateName { .. } => "AlternateUserName",
            Error::AlternateRefused { .. } => "AlternateUserRefused",
            Error::Deadline { .. } => "DeadlineReached",
            Error::Topology { .. } => "TopologyError",
            Error::NotPropagated { .. } => "PasswordNotPropagated",
            Error::BreakGlass { .. } => "BreakGlassError",
            Error::Rds(err) if err.is_transient() => "RdsUnavailable",
            Error::Rds(_) => "RdsError",
            Error::Db(err) if err.is_transient() => "DatabaseUnavailable",
            Error::Db(_) => "DatabaseError",
            Error::Store(err) if err.is_transient() => "SecretsManagerUnavailable",
            Error::Store(_) => "SecretsManagerError",
            Error::Password(_) => "PasswordGenerationError",
        }
    }

    /// Whether the service's own retry of the rotation may succeed with nothing changed by a human.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Db(err) => err.is_transient(),
            Error::Rds(err) => err.is_transient(),
            Error::NotPropagated { .. } | Error::Deadline { .. } => true,
            Error::Store(err) => err.is_transient(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EngineKind;
    use crate::engines::EngineErrorKind;

    const MAX_DETAIL_FOR_TESTS: usize = 1_000;

    #[test]
    fn error_types_are_stable() {
        let target = Target {
            engine: EngineKind::Postgres,
            host: "db".into(),
            port: 5432,
            dbname: None,
            tls: crate::domain::TlsChoice::Secret(Some(false)),
            tls_server_name: None,
        };
        let unreachable = EngineError::new(EngineErrorKind::Unreachable, &target, "refused");
        assert_eq!(Error::Db(unreachable).error_type(), "DatabaseUnavailable");
        let statement = EngineError::new(EngineErrorKind::Statement, &target, "SQLSTATE 42501");
        assert_eq!(Error::Db(statement).error_type(), "DatabaseError");
        let disabled = Error::Stage { secret_id: "s".into(), source: StageError::RotationDisabled };
        assert_eq!(disabled.error_type(), "RotationDisabled");
        assert!(!disabled.is_transient());
    }

    /// What a secret's writer or a server wrote shows as data in every message, and a server's words are bounded.
    #[test]
    fn messages_show_outside_text_as_data() {
        let hostile = "m\u{1b}]52;c;aGk=\u{7}\r\n\u{9b}\u{202e}";
        let target = Target {
            engine: EngineKind::Postgres,
            host: format!("db{hostile}"),
            port: 5432,
            dbname: None,
            tls: crate::domain::TlsChoice::Secret(None),
            tls_server_name: None,
        };
        let errors = [
            Error::MasterSecret { secret_id: hostile.into(), masterarn: hostile.into(), problem: hostile.into() },
            Error::Topology { secret_id: hostile.into(), problem: hostile.into() },
            Error::MissingVersion { secret_id: hostile.into(), what: hostile.into() },
            Error::Db(EngineError::new(EngineErrorKind::LoginRefused, &target, hostile)),
            Error::CredentialsRejected {
                user: UserName::new("u\u{202e}").unwrap(),
                target: target.clone(),
                tried: "AWSCURRENT",
                hint: Some(hostile.into()),
            },
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.chars().any(crate::domain::text::is_special), "{text:?}");
            assert!(text.contains("\\u{1b}]52"), "{text}");
        }
        let long = EngineError::new(EngineErrorKind::LoginRefused, &target, "x".repeat(5_000));
        assert_eq!(long.detail.chars().count(), MAX_DETAIL_FOR_TESTS + 1);
    }
}
