//! PostgreSQL and Aurora PostgreSQL, on tokio-postgres.
//!
//! Connections are configured with `tokio_postgres::Config`, whose `Debug` redacts the password; no connection
//! string carrying a password is ever built. New passwords are sent as the verifier the server stores —
//! SCRAM-SHA-256, or md5 where the session's `password_encryption` says md5 — computed here, so the cleartext never
//! reaches the server, its statement log or `pg_stat_statements`.

use std::error::Error as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use postgres_protocol::password;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::debug;

use super::sql::{self, Role, Sql};
use super::{
    Alternate, DbEngine, DbSession, EngineError, EngineErrorKind, LoginOutcome, TLS_DEMANDED, Transport, login_per_mode,
};
use crate::credentials::{Login, Password, Target, UserName};
use crate::tls::{self, Tls};

mod alternate;

/// The database a session opens when the secret names none, as AWS's template does.
const DEFAULT_DBNAME: &str = "postgres";

/// Shown in `pg_stat_activity`, so a DBA can tell the rotation's sessions apart.
const APPLICATION_NAME: &str = "rds-rotator";

pub struct PostgresEngine {
    connect_timeout: Duration,
    tls: Arc<Tls>,
}

pub struct PgSession {
    client: Client,
    user: UserName,
    target: Target,
}

impl PostgresEngine {
    pub fn new(connect_timeout: Duration, tls: Arc<Tls>) -> PostgresEngine {
        PostgresEngine { connect_timeout, tls }
    }

    async fn connect(
        &self,
        at: &Target,
        login: Login<'_>,
        transport: Transport,
    ) -> Result<LoginOutcome<PgSession>, EngineError> {
        let started = std::time::Instant::now();
        let mut config = Config::new();
        config
            .host(&at.host)
            .port(at.port)
            .user(login.user.as_str())
            .password(login.password.expose_secret())
            .dbname(at.dbname.as_deref().unwrap_or(DEFAULT_DBNAME))
            .application_name(APPLICATION_NAME)
            .connect_timeout(self.connect_timeout);
        let outcome = match transport {
            Transport::Plain => {
                config.ssl_mode(SslMode::Disable);
                self.establish(&config, NoTls, at).await
            }
            Transport::Verified | Transport::EncryptOnly => {
                // Require: tokio-postgres then never sends the startup message (the user name) without TLS.
                config.ssl_mode(SslMode::Require);
                let tls = self.tls.client_config(transport == Transport::Verified);
                let tls = tls.map_err(|detail| EngineError::new(EngineErrorKind::Tls, at, detail))?;
                self.establish(&config, MakeRustlsConnect::new((*tls).clone()), at).await
            }
        };
        let (client, connection) = match outcome {
            Ok(pair) => pair,
            Err(err) => return login_failure(at, &err, &self.tls),
        };
        debug!(host = %at, ?transport, elapsed_ms = started.elapsed().as_millis() as u64, "logged in");
        // The connection task ends when the client is dropped; its errors surface on the client's next call.
        tokio::spawn(connection);
        Ok(LoginOutcome::Accepted(PgSession { client, user: login.user.clone(), target: at.clone() }))
    }

    /// The handshake, authentication included, bounded by the connect timeout (tokio-postgres's own bounds only
    /// the TCP connect). Returns the client and the connection as a task to spawn.
    async fn establish<T>(
        &self,
        config: &Config,
        tls: T,
        at: &Target,
    ) -> Result<(Client, BoxedConnection), ConnectFailure>
    where
        T: MakeTlsConnect<Socket> + Send,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        match tokio::time::timeout(self.connect_timeout, config.connect(tls)).await {
            Err(_) => Err(ConnectFailure::Timeout(timeout(at, self.connect_timeout))),
            Ok(Err(err)) => Err(ConnectFailure::Driver(err)),
            Ok(Ok((client, connection))) => {
                let connection: BoxedConnection = Box::pin(async move {
                    let _ = connection.await;
                });
                Ok((client, connection))
            }
        }
    }
}

/// A connection's I/O task, whatever its stream type.
type BoxedConnection = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Why a connection attempt ended before a session.
enum ConnectFailure {
    Timeout(EngineError),
    Driver(tokio_postgres::Error),
}

impl PostgresEngine {
    pub fn tls_mode_for(&self, at: &Target) -> crate::tls::TlsMode {
        self.tls.mode_for(at.ssl)
    }
}

impl DbEngine for PostgresEngine {
    type Session = PgSession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<PgSession>, EngineError> {
        login_per_mode(self.tls.mode_for(at.ssl), at, |transport| self.connect(at, login, transport)).await
    }
}

impl DbSession for PgSession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        let verifier = self.verifier(user, new).await?;
        let role = if *user == self.user { Role::CurrentUser } else { Role::Named(user) };
        let statement = sql::pg_set_password(role, &verifier);
        match self.client.batch_execute(statement.as_str()).await {
            Ok(()) => Ok(()),
            // The server's message could quote the statement, so only the SQLSTATE is kept.
            Err(err) => Err(self.statement_error(&err, "ALTER ROLE … PASSWORD")),
        }
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        self.query_value(sql::pg_check()).await.map(drop)
    }

    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        let allowed = self.query_values(sql::pg_password_commands_allowed()).await?;
        if allowed.first().is_some_and(|restricted| restricted == "on")
            && allowed.get(1).map(String::as_str) != Some("t")
        {
            let detail = format!(
                "RDS restricts password changes (rds.restrict_password_commands = on) to members of rds_password, \
                 and {user} is not one: GRANT rds_password TO the user, or turn the parameter off"
            );
            return Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail));
        }
        let encryption = self.query_value(sql::pg_show_password_encryption()).await?;
        let verifier =
            if matches!(encryption.as_str(), "md5" | "on") { "an md5 hash" } else { "a SCRAM-SHA-256 verifier" };
        let role = if *user == self.user { "CURRENT_USER" } else { "the user" };
        Ok(format!("ALTER ROLE {role} PASSWORD with {verifier} computed here (password_encryption = {encryption})"))
    }

    async fn close(self) {
        // Dropping the client ends the connection task with a Terminate message.
    }

    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        self.role_exists(user).await
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        self.sync_pair(pair, password).await
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        self.verify_pair(pair).await
    }
}

impl PgSession {
    /// The verifier the server would store for `new` as `user`'s password: md5 where the session's
    /// `password_encryption` says md5 (PostgreSQL 10-13 also accept "on" for it), SCRAM-SHA-256 otherwise.
    async fn verifier(&self, user: &UserName, new: &Password) -> Result<String, EngineError> {
        let encryption = self.query_value(sql::pg_show_password_encryption()).await?;
        let cleartext = new.expose_secret().as_bytes();
        Ok(match encryption.as_str() {
            "md5" | "on" => password::md5(cleartext, user.as_str()),
            _ => password::scram_sha_256(cleartext),
        })
    }

    /// Runs a statement that returns one value, in one round trip (simple query protocol).
    async fn query_value(&self, statement: Sql) -> Result<String, EngineError> {
        let mut values = self.query_values(statement).await?;
        Ok(values.swap_remove(0))
    }

    /// The first row of a statement, every column as text (NULL as empty), in one round trip.
    async fn query_values(&self, statement: Sql) -> Result<Vec<String>, EngineError> {
        let messages = match self.client.simple_query(statement.as_str()).await {
            Ok(messages) => messages,
            Err(err) => return Err(self.statement_error(&err, statement.as_str())),
        };
        let row = messages.iter().find_map(|message| match message {
            SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or_default().to_owned()).collect())
            }
            _ => None,
        });
        row.filter(|values: &Vec<String>| !values.is_empty()).ok_or_else(|| {
            let detail = format!("{} returned no value", statement.as_str());
            EngineError::new(EngineErrorKind::Statement, &self.target, detail)
        })
    }

    fn statement_error(&self, err: &tokio_postgres::Error, what: &str) -> EngineError {
        let Some(db) = err.as_db_error() else {
            let detail = format!("{what}: connection lost ({})", io_cause(err).unwrap_or("closed"));
            return EngineError::new(EngineErrorKind::Unreachable, &self.target, detail);
        };
        let hint = match *db.code() {
            SqlState::INSUFFICIENT_PRIVILEGE => {
                ": the user lacks the privilege for it (on RDS with rds.restrict_password_commands on, membership \
                 in rds_password)"
            }
            SqlState::READ_ONLY_SQL_TRANSACTION => ": the server is a read-only replica, not the writer",
            _ => "",
        };
        let detail = format!("{what} failed with SQLSTATE {}{hint}", db.code().code());
        let kind = if *db.code() == SqlState::READ_ONLY_SQL_TRANSACTION {
            EngineErrorKind::ReadOnly
        } else {
            EngineErrorKind::Statement
        };
        EngineError::new(kind, &self.target, detail)
    }
}

fn timeout(at: &Target, limit: Duration) -> EngineError {
    let detail = format!("no answer within {} ms (CONNECT_TIMEOUT_SECONDS)", limit.as_millis());
    EngineError::new(EngineErrorKind::Timeout, at, detail)
}

/// Sorts a failed login into "refused these credentials" (the only `Ok`) and everything else.
fn login_failure(at: &Target, failure: &ConnectFailure, tls: &Tls) -> Result<LoginOutcome<PgSession>, EngineError> {
    let err = match failure {
        ConnectFailure::Timeout(err) => return Err(EngineError::new(err.kind, at, err.detail.clone())),
        ConnectFailure::Driver(err) => err,
    };
    if let Some(detail) = tls::explain(err, tls) {
        return Err(EngineError::new(EngineErrorKind::Tls, at, detail));
    }
    // tokio-postgres's words when the server answers SSLRequest with 'N'.
    if describe(err).contains("server does not support TLS") {
        return Err(EngineError::new(EngineErrorKind::TlsNotOffered, at, "it answered the TLS request with no"));
    }
    if let Some(db) = err.as_db_error() {
        // pg_hba.conf's hostssl: "no pg_hba.conf entry for host …, no encryption".
        if *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION && db.message().ends_with("no encryption") {
            return Err(EngineError::new(EngineErrorKind::Tls, at, TLS_DEMANDED));
        }
        let kind = match *db.code() {
            // PostgreSQL answers 28P01 for a wrong password and, under password authentication, for an unknown
            // user too, so that the two cannot be told apart from outside.
            SqlState::INVALID_PASSWORD => return Ok(LoginOutcome::Rejected),
            SqlState::TOO_MANY_CONNECTIONS | SqlState::CANNOT_CONNECT_NOW => EngineErrorKind::Busy,
            _ => EngineErrorKind::LoginRefused,
        };
        // Login errors carry no statement, so the server's message is safe and the most useful thing to show.
        let detail = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        return Err(EngineError::new(kind, at, detail));
    }
    let kind = match io_kind(err) {
        Some(io::ErrorKind::TimedOut) => EngineErrorKind::Timeout,
        _ => EngineErrorKind::Unreachable,
    };
    Err(EngineError::new(kind, at, describe(err)))
}

fn io_kind(err: &tokio_postgres::Error) -> Option<io::ErrorKind> {
    err.source().and_then(|source| source.downcast_ref::<io::Error>()).map(io::Error::kind)
}

fn io_cause(err: &tokio_postgres::Error) -> Option<&'static str> {
    io_kind(err).map(|kind| match kind {
        io::ErrorKind::ConnectionReset => "reset by peer",
        io::ErrorKind::UnexpectedEof => "closed by the server",
        io::ErrorKind::TimedOut => "timed out",
        _ => "I/O error",
    })
}

/// tokio-postgres's own text with its cause ("error connecting to server: Connection refused (os error 111)").
fn describe(err: &tokio_postgres::Error) -> String {
    match err.source() {
        Some(source) if !err.to_string().contains(&source.to_string()) => {
            format!("{err}: {source}")
        }
        _ => err.to_string(),
    }
}
