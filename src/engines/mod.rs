//! The database side: the `DbEngine` trait the protocol core calls, the engine kinds a secret can name, and
//! `Drivers`, which picks the driver for a secret's engine.
//!
//! Each driver lives in its own file and is the only code that talks to its database; `sql/` is the only place
//! where SQL text is built from data; `mysql_auth.rs` computes what MySQL-family auth plugins store.

mod mysql;
pub mod mysql_auth;
mod postgres;
pub mod sql;

use std::fmt;
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::Arc;

use tracing::warn;

pub use mysql::{MySession, MysqlEngine};
pub use postgres::{PgSession, PostgresEngine};

use crate::config::Config;
use crate::credentials::{Login, Password, Target, UserName};
use crate::tls::{Tls, TlsMode};

/// The `engine` values of the RDS secret format this build rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Postgres,
    AuroraPostgres,
    Mysql,
    AuroraMysql,
    Mariadb,
}

/// Engines that share a wire protocol, a driver and SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Postgres,
    Mysql,
}

/// The answer to a login attempt that reached the server.
pub enum LoginOutcome<S> {
    /// The server accepted the credentials; the session is open.
    Accepted(S),
    /// The server refused these credentials (wrong password, or no such user).
    Rejected,
}

/// A database engine. Implementations hold no connection between calls.
pub trait DbEngine: Send + Sync {
    type Session: DbSession;

    /// Logs in as `login` at `at`. `Rejected` means the server refused the credentials; a server that cannot be
    /// reached, does not answer within the connect timeout, fails TLS or refuses for another reason is an `Err`, so
    /// that "wrong password" and "host down" are never confused. Changes nothing on the server.
    fn login(
        &self,
        at: &Target,
        login: Login<'_>,
    ) -> impl Future<Output = Result<LoginOutcome<Self::Session>, EngineError>> + Send;

    /// What a `Rejected` login at `at` may mean besides a wrong password, where the server does not say.
    fn rejection_hint(&self, _at: &Target) -> Option<&'static str> {
        None
    }
}

/// An open, authenticated session.
pub trait DbSession: Send {
    /// Makes `new` the password of `user`. Idempotent: succeeds, and leaves `new` in place, when it already is the
    /// password. The password reaches the server as the verifier or hash the server stores wherever the server and
    /// the account allow it; where they do not, the engine says so in a warning before sending it otherwise.
    fn set_password(&mut self, user: &UserName, new: &Password)
    -> impl Future<Output = Result<(), EngineError>> + Send;

    /// A query that proves the session can do work (testSecret). Changes nothing.
    fn check(&mut self) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// How `set_password` would change `user`'s password, in a sentence for an operator; an error where it could
    /// not (a privilege missing, an account it refuses). Changes nothing (the preflight `check` command).
    fn describe_password_change(&mut self, user: &UserName)
    -> impl Future<Output = Result<String, EngineError>> + Send;

    /// Ends the session politely, so the server logs a disconnect rather than an aborted connection.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// Whether a user of this name exists (on the MySQL family: with any host part). Reads only.
    fn user_exists(&mut self, user: &UserName) -> impl Future<Output = Result<bool, EngineError>> + Send;

    /// Alternating users, in the master's session: makes `pair.next` the current user's twin with `password`. It is
    /// created when missing — with `password` from the first statement, so that a retry can recognise it — then its
    /// privileges are made those of `pair.current` (added and revoked), then its password is set. Idempotent: a
    /// retry after a crash at any point completes the work. The caller has checked that an existing `pair.next`
    /// logs in with a password this secret holds; where one user name has several accounts (the MySQL family's
    /// `user@host`), each must hold one of `pair.known`, else `NotOurs` and nothing changes.
    fn sync_alternate(
        &mut self,
        pair: Alternate<'_>,
        password: &Password,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Alternating users, in the master's session: an error naming the first difference when `pair.next` does not
    /// hold what `pair.current` holds (testSecret). Reads only.
    fn verify_alternate(&mut self, pair: Alternate<'_>) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Alternating users, in the master's session: why `user` (which exists) could administer other accounts, in a
    /// phrase ("is a superuser", "holds CREATE USER …"), or `None`. A rotation that copies privileges from or to such
    /// a user would hand account administration to whoever writes the secret. Reads only.
    fn account_power(&mut self, user: &UserName) -> impl Future<Output = Result<Option<String>, EngineError>> + Send;
}

/// The two users of an alternating-users secret, as one rotation sees them.
#[derive(Clone, Copy, Debug)]
pub struct Alternate<'a> {
    /// The user in AWSCURRENT: the one whose privileges the other gets.
    pub current: &'a UserName,
    /// The user the pending version names.
    pub next: &'a UserName,
    /// The pair's original user, and its `_clone`.
    pub base: &'a UserName,
    pub clone: &'a UserName,
    /// The passwords this secret holds for `next` (AWSPREVIOUS's, when it names `next`, and the pending one): an
    /// existing account of `next` is this rotation's to change only when it holds one of them.
    pub known: &'a [&'a Password],
}

/// Why an engine call failed. Carries the endpoint and a message safe to log: server messages only from login
/// and read-only statements, and for a statement that carried a password only its error code and a fixed text.
#[derive(Debug, thiserror::Error)]
#[error("{kind} at {host}:{port}: {detail}")]
pub struct EngineError {
    pub kind: EngineErrorKind,
    pub host: String,
    pub port: u16,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// No TCP connection (refused, no route, DNS). Transient.
    Unreachable,
    /// No answer within the connect timeout. Transient.
    Timeout,
    /// TLS could not be set up as required (certificate, handshake, or the server demands TLS that is off here).
    Tls,
    /// The server offers no TLS, and the mode requires it.
    TlsNotOffered,
    /// The server is up but cannot take the session now (too many connections, starting up). Transient.
    Busy,
    /// The server refused the session for a reason other than the password (pg_hba, missing database).
    LoginRefused,
    /// A statement failed after login.
    Statement,
    /// The server refused a change because it is read-only: a replica or a reader, not the writer.
    ReadOnly,
    /// A server whose certificate is not verified asked for a password in a form it could read (PostgreSQL's
    /// cleartext request, MySQL's full authentication); the master login refused it.
    Unverified,
    /// An account of the other user holds a password this secret does not: it is not this rotation's to change.
    NotOurs,
}

/// How one login attempt reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Plain,
    /// TLS with the certificate verified against the trusted CAs and the host name.
    Verified,
    /// TLS without certificate checks (`DB_TLS_MODE=require`).
    EncryptOnly,
}

/// Logs in as the TLS mode says, through `connect`. Only `prefer` ever falls back to plaintext, only when the
/// server offers no TLS, and never without a warning; a certificate that fails is an error in every mode.
async fn login_per_mode<S, F, Fut>(mode: TlsMode, at: &Target, connect: F) -> Result<LoginOutcome<S>, EngineError>
where
    F: Fn(Transport) -> Fut,
    Fut: Future<Output = Result<LoginOutcome<S>, EngineError>>,
{
    match mode {
        TlsMode::VerifyFull => connect(Transport::Verified).await,
        TlsMode::Require => connect(Transport::EncryptOnly).await,
        TlsMode::Disable => connect(Transport::Plain).await,
        TlsMode::Prefer => match connect(Transport::Verified).await {
            Err(err) if err.kind == EngineErrorKind::TlsNotOffered => {
                warn!(host = %at, "the server offers no TLS; DB_TLS_MODE=prefer allows plaintext, so this login goes without it");
                connect(Transport::Plain).await
            }
            other => other,
        },
    }
}

/// The message for a plaintext login the server refuses because it demands TLS.
const TLS_DEMANDED: &str = "the server requires TLS for this login, and TLS is off here \
                            (the secret's \"ssl\" is false, or DB_TLS_MODE or MASTER_TLS_MODE is disable)";

/// The drivers of this build, one per engine family; dispatches on the target's engine.
pub struct Drivers {
    postgres: PostgresEngine,
    mysql: MysqlEngine,
    tls: Arc<Tls>,
}

/// A session of whichever driver served the login.
pub enum AnySession {
    Postgres(PgSession),
    Mysql(MySession),
}

impl EngineKind {
    pub const ALL: [EngineKind; 5] = [
        EngineKind::Postgres,
        EngineKind::AuroraPostgres,
        EngineKind::Mysql,
        EngineKind::AuroraMysql,
        EngineKind::Mariadb,
    ];

    /// Parses the secret's `engine` value (and the `DEFAULT_ENGINE` setting).
    pub fn parse(name: &str) -> Result<EngineKind, String> {
        match Self::ALL.into_iter().find(|kind| kind.as_str() == name) {
            Some(kind) => Ok(kind),
            None => {
                let known: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                let shown: String = name.chars().take(40).collect();
                Err(format!("is {shown:?}, which this build does not rotate (expected one of: {})", known.join(", ")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgres",
            EngineKind::AuroraPostgres => "aurora-postgresql",
            EngineKind::Mysql => "mysql",
            EngineKind::AuroraMysql => "aurora-mysql",
            EngineKind::Mariadb => "mariadb",
        }
    }

    pub fn family(self) -> Family {
        match self {
            EngineKind::Postgres | EngineKind::AuroraPostgres => Family::Postgres,
            EngineKind::Mysql | EngineKind::AuroraMysql | EngineKind::Mariadb => Family::Mysql,
        }
    }

    pub fn default_port(self) -> u16 {
        match self.family() {
            Family::Postgres => 5432,
            Family::Mysql => 3306,
        }
    }

    /// The `EXCLUDE_CHARACTERS` default of AWS's template for this engine.
    pub fn default_exclude_characters(self) -> &'static str {
        match self.family() {
            Family::Postgres => ":/@\"'\\",
            Family::Mysql => "/@\"'\\",
        }
    }

    /// Lengths a generated password may have. RDS takes 8 to 41 characters for MySQL-family master passwords; the
    /// function cannot tell a master user from another, so the bound applies to every MySQL-family user.
    pub fn password_lengths(self) -> RangeInclusive<usize> {
        match self.family() {
            Family::Postgres => 1..=4096,
            Family::Mysql => 8..=41,
        }
    }

    /// Why `name` cannot be a user name of this engine, if it cannot: PostgreSQL stores up to 63 bytes, MySQL
    /// 32 characters and MariaDB 80, unless `USERNAME_CHARACTER_LIMIT` (MySQL family only) says otherwise.
    pub fn username_problem(self, name: &str, mysql_limit: Option<usize>) -> Option<String> {
        match self {
            EngineKind::Postgres | EngineKind::AuroraPostgres => {
                (name.len() > 63).then(|| format!("is longer than {self}'s limit of 63 bytes"))
            }
            EngineKind::Mysql | EngineKind::AuroraMysql | EngineKind::Mariadb => {
                let default = if self == EngineKind::Mariadb { 80 } else { 32 };
                let limit = mysql_limit.unwrap_or(default);
                (name.chars().count() > limit).then(|| {
                    format!("is longer than {limit} characters, the limit for {self} (USERNAME_CHARACTER_LIMIT)")
                })
            }
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EngineError {
    pub fn new(kind: EngineErrorKind, at: &Target, detail: impl Into<String>) -> EngineError {
        EngineError { kind, host: at.host.clone(), port: at.port, detail: detail.into() }
    }

    /// Whether a later retry of the rotation may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, EngineErrorKind::Unreachable | EngineErrorKind::Timeout | EngineErrorKind::Busy)
    }
}

impl fmt::Display for EngineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineErrorKind::Unreachable => "database unreachable",
            EngineErrorKind::Timeout => "database did not answer in time",
            EngineErrorKind::Tls => "TLS to the database failed",
            EngineErrorKind::TlsNotOffered => "the database offers no TLS",
            EngineErrorKind::Busy => "database cannot take a session now",
            EngineErrorKind::LoginRefused => "database refused the session",
            EngineErrorKind::Statement => "database statement failed",
            EngineErrorKind::ReadOnly => "database is read-only",
            EngineErrorKind::Unverified => "refused to send the master's password to an unverified server",
            EngineErrorKind::NotOurs => "an account is not this rotation's to change",
        })
    }
}

impl Drivers {
    /// The TLS mode logins to `at` use.
    pub fn tls_mode_for(&self, at: &Target) -> TlsMode {
        self.tls.mode_for(at.tls)
    }

    pub fn new(config: &Config) -> Drivers {
        let extra = config.extra_ca_bundle.as_ref().map(|bundle| bundle.pem.clone());
        let tls = Arc::new(Tls::new(config.tls, extra));
        let (connect, statements) = (config.connect_timeout, config.statement_timeout);
        Drivers {
            postgres: PostgresEngine::new(connect, statements, tls.clone()),
            mysql: MysqlEngine::new(connect, statements, tls.clone()),
            tls,
        }
    }
}

impl DbEngine for Drivers {
    type Session = AnySession;

    fn rejection_hint(&self, at: &Target) -> Option<&'static str> {
        match at.engine.family() {
            Family::Postgres => self.postgres.rejection_hint(at),
            Family::Mysql => self.mysql.rejection_hint(at),
        }
    }

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<AnySession>, EngineError> {
        Ok(match at.engine.family() {
            Family::Postgres => match self.postgres.login(at, login).await? {
                LoginOutcome::Accepted(session) => LoginOutcome::Accepted(AnySession::Postgres(session)),
                LoginOutcome::Rejected => LoginOutcome::Rejected,
            },
            Family::Mysql => match self.mysql.login(at, login).await? {
                LoginOutcome::Accepted(session) => LoginOutcome::Accepted(AnySession::Mysql(session)),
                LoginOutcome::Rejected => LoginOutcome::Rejected,
            },
        })
    }
}

impl DbSession for AnySession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.set_password(user, new).await,
            AnySession::Mysql(session) => session.set_password(user, new).await,
        }
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.check().await,
            AnySession::Mysql(session) => session.check().await,
        }
    }

    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        match self {
            AnySession::Postgres(session) => session.describe_password_change(user).await,
            AnySession::Mysql(session) => session.describe_password_change(user).await,
        }
    }

    async fn close(self) {
        match self {
            AnySession::Postgres(session) => session.close().await,
            AnySession::Mysql(session) => session.close().await,
        }
    }

    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        match self {
            AnySession::Postgres(session) => session.user_exists(user).await,
            AnySession::Mysql(session) => session.user_exists(user).await,
        }
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.sync_alternate(pair, password).await,
            AnySession::Mysql(session) => session.sync_alternate(pair, password).await,
        }
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.verify_alternate(pair).await,
            AnySession::Mysql(session) => session.verify_alternate(pair).await,
        }
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        match self {
            AnySession::Postgres(session) => session.account_power(user).await,
            AnySession::Mysql(session) => session.account_power(user).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_names() {
        for kind in EngineKind::ALL {
            assert_eq!(EngineKind::parse(kind.as_str()), Ok(kind));
        }
        for bad in ["Postgres", "postgresql", "", "oracle-ee", "aurora", "MySQL"] {
            let err = EngineKind::parse(bad).unwrap_err();
            assert!(
                err.contains("expected one of: postgres, aurora-postgresql, mysql, aurora-mysql, mariadb"),
                "{err}"
            );
        }
    }

    #[test]
    fn username_limits() {
        let check = |kind: EngineKind, name: &str, limit: Option<usize>, ok: bool| {
            assert_eq!(kind.username_problem(name, limit).is_none(), ok, "{kind} {name:?} {limit:?}");
        };
        check(EngineKind::Postgres, &"u".repeat(63), None, true);
        check(EngineKind::Postgres, &"u".repeat(64), None, false);
        check(EngineKind::Postgres, &"é".repeat(32), None, false);
        check(EngineKind::Mysql, &"u".repeat(32), None, true);
        check(EngineKind::AuroraMysql, &"u".repeat(33), None, false);
        check(EngineKind::Mariadb, &"u".repeat(80), None, true);
        check(EngineKind::Mariadb, &"u".repeat(81), None, false);
        check(EngineKind::Mysql, &"u".repeat(17), Some(16), false);
        check(EngineKind::Mariadb, &"é".repeat(80), None, true);
        check(EngineKind::Postgres, &"u".repeat(63), Some(10), true);
    }
}
