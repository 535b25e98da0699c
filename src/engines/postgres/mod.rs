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
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, SimpleQueryMessage, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::debug;

use self::sql::Role;
use super::login::{TLS_DEMANDED, Transport, login_per_mode};
use super::{
    AccountAdmin, Alternate, DbEngine, DbSession, EngineError, EngineErrorKind, LoginOutcome, Preflight,
    RotationSession,
};
use crate::domain::{Login, Password, Target, TlsChoice, UserName, server_message};
use crate::engines::sql::Sql;
use crate::tls::{self, Tls};

mod alternate;
pub(crate) mod guard;
mod sql;
mod tls_request;

/// The database a session opens when the secret names none, as AWS's template does.
const DEFAULT_DBNAME: &str = "postgres";

/// Shown in `pg_stat_activity`, so a DBA can tell the rotation's sessions apart.
const APPLICATION_NAME: &str = "rds-rotator";

pub(crate) struct PostgresEngine {
    connect_timeout: Duration,
    statement_timeout: Duration,
    tls: Arc<Tls>,
}

pub(crate) struct PgSession {
    client: Client,
    user: UserName,
    target: Target,
    /// `STATEMENT_TIMEOUT_SECONDS`: the server's bound on each statement and lock wait, set before the first
    /// statement that could wait (`bounded`); the client gives up a moment after it.
    statement_timeout: Duration,
    bounded: bool,
}

/// How much longer than `STATEMENT_TIMEOUT_SECONDS` the client waits for a statement before it gives up on the
/// connection: the server's own timeout should always answer first.
const CLIENT_GRACE: Duration = Duration::from_secs(2);

impl PostgresEngine {
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
        // A master login to a server whose certificate is not verified goes through the guard, which keeps the
        // password from a server that asks for it in cleartext.
        let guarded = matches!(at.tls, TlsChoice::Master { .. }) && transport != Transport::Verified;
        let verdict = guard::Verdict::default();
        let outcome = match transport {
            Transport::Plain if guarded => {
                config.ssl_mode(SslMode::Disable);
                let verdict = verdict.clone();
                self.establish_raw(&config, at, move |tcp| guard::AuthGuard::new(tcp, verdict), NoTls).await
            }
            Transport::Plain => {
                config.ssl_mode(SslMode::Disable);
                self.establish(&config, NoTls, at).await
            }
            Transport::Verified | Transport::EncryptOnly => {
                // Require: tokio-postgres then never sends the startup message (the user name) without TLS.
                config.ssl_mode(SslMode::Require);
                let tls = self.tls.client_config(transport == Transport::Verified);
                let tls = tls.map_err(|detail| EngineError::new(EngineErrorKind::Tls, at, detail))?;
                // The name the handshake sends and checks: the secret's tlsServerName, else the host.
                let mut make = NamedTls { inner: MakeRustlsConnect::new((*tls).clone()), name: at.server_name() };
                if guarded {
                    let connect = make
                        .make_tls_connect(&at.host)
                        .map_err(|err| EngineError::new(EngineErrorKind::Tls, at, err.to_string()))?;
                    let guarded_tls = guard::GuardedTls { inner: connect, verdict: verdict.clone() };
                    self.establish_raw(&config, at, |tcp| tcp, guarded_tls).await
                } else {
                    self.establish(&config, make, at).await
                }
            }
        };
        let (client, connection) = match outcome {
            Ok(pair) => pair,
            Err(_) if verdict.refused() => {
                return Err(EngineError::new(EngineErrorKind::Unverified, at, guard::REFUSAL));
            }
            Err(err) => return login_failure(at, &err, &self.tls),
        };
        debug!(host = %at, ?transport, elapsed_ms = started.elapsed().as_millis() as u64, "logged in");
        // The connection task ends when the client is dropped; its errors surface on the client's next call.
        tokio::spawn(connection);
        let session = PgSession {
            client,
            user: login.user.clone(),
            target: at.clone(),
            statement_timeout: self.statement_timeout,
            bounded: false,
        };
        Ok(LoginOutcome::Accepted(session))
    }

    /// `establish` over a TCP connection made here and wrapped by `wrap`, for a guarded login: the driver then
    /// reads and writes through the wrapper.
    async fn establish_raw<S, T>(
        &self,
        config: &Config,
        at: &Target,
        wrap: impl FnOnce(TcpStream) -> S,
        tls: T,
    ) -> Result<(Client, BoxedConnection), ConnectFailure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        T: TlsConnect<S> + Send,
        T::Stream: Send + 'static,
        T::Future: Send,
    {
        let attempt = async {
            let tcp = TcpStream::connect((at.host.as_str(), at.port)).await.map_err(ConnectFailure::Io)?;
            let _ = tcp.set_nodelay(true);
            config.connect_raw(wrap(tcp), tls).await.map_err(ConnectFailure::Driver)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Err(_) => Err(ConnectFailure::Timeout(timeout(at, self.connect_timeout))),
            Ok(Err(err)) => Err(err),
            Ok(Ok((client, connection))) => {
                let connection: BoxedConnection = Box::pin(async move {
                    let _ = connection.await;
                });
                Ok((client, connection))
            }
        }
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

/// rustls for tokio-postgres, with the name the TLS handshake sends (SNI) and verifies the certificate against fixed
/// in advance: tokio-postgres asks for a connector for the host it connects to, and a secret whose host is an alias
/// names its certificate's name apart (`tlsServerName`). The TCP connection still goes to the host.
struct NamedTls<'a> {
    inner: MakeRustlsConnect,
    name: &'a str,
}

impl MakeTlsConnect<Socket> for NamedTls<'_> {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, _host: &str) -> Result<Self::TlsConnect, Self::Error> {
        <MakeRustlsConnect as MakeTlsConnect<Socket>>::make_tls_connect(&mut self.inner, self.name)
    }
}

/// A connection's I/O task, whatever its stream type.
type BoxedConnection = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Why a connection attempt ended before a session.
enum ConnectFailure {
    Timeout(EngineError),
    Driver(tokio_postgres::Error),
    /// The TCP connection a guarded login makes itself.
    Io(io::Error),
}

impl DbEngine for PostgresEngine {
    type Session = PgSession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<PgSession>, EngineError> {
        login_per_mode(self.tls.mode_for(at.tls), at, |transport| self.connect(at, login, transport)).await
    }
}

impl DbSession for PgSession {
    async fn close(self) {
        // Dropping the client ends the connection task with a Terminate message.
    }
}

impl RotationSession for PgSession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        let verifier = self.verifier(user, new).await?;
        let role = if *user == self.user { Role::LoggedIn } else { Role::Named(user) };
        // The server's message could quote the statement, so only the SQLSTATE is kept.
        self.execute(sql::pg_set_password(role, &verifier), "ALTER ROLE … PASSWORD").await?;
        if let Role::LoggedIn = role {
            // SESSION_USER is the user the login authenticated: say so if the server thinks otherwise.
            let who = self.query_values(sql::pg_session_user()).await?;
            if who.first().map(String::as_str) != Some(self.user.as_str()) {
                let detail = format!("the session's user is not {}, the user that logged in", self.user);
                return Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail));
            }
        }
        Ok(())
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        self.query_value(sql::pg_check()).await.map(drop)
    }
}

impl AccountAdmin for PgSession {
    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        self.role_exists(user).await
    }

    async fn unproven_accounts(&mut self, _user: &UserName, _password: &Password) -> Result<Vec<String>, EngineError> {
        // A role name is one role, with one password: the login as it proved it.
        Ok(Vec::new())
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        let rows = self.rows(sql::pg_account_power(), &[&user.as_str()], "checking the user's attributes").await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let (role, superuser, createrole) = (self.text(row, 0)?, self.flag(row, 1)?, self.flag(row, 2)?);
        let via = if role == user.as_str() { String::new() } else { format!(" through role {role:?}") };
        Ok(Some(match (superuser, createrole) {
            (true, _) => format!("is a superuser{via}"),
            (_, true) => format!("has CREATEROLE{via}"),
            _ => format!("is a member of {role}"),
        }))
    }

    async fn master_authority(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        PgSession::master_authority(self, pair).await
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        self.sync_pair(pair, password).await
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        self.verify_pair(pair).await
    }
}

impl Preflight for PgSession {
    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        // What the change would meet first: a standby refuses it as read-only, and setSecret then looks for the
        // writer behind the host.
        if self.query_value(sql::pg_in_recovery()).await? == "true" {
            let detail = "the server is a read-only replica, not the writer (pg_is_in_recovery)";
            return Err(EngineError::new(EngineErrorKind::ReadOnly, &self.target, detail));
        }
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
        let role = if *user == self.user { "SESSION_USER" } else { "the user" };
        Ok(format!("ALTER ROLE {role} PASSWORD with {verifier} computed here (password_encryption = {encryption})"))
    }
}

impl PgSession {
    /// A text column of a row the server returned; an error, never a panic, when it is not one.
    fn text(&self, row: &Row, index: usize) -> Result<String, EngineError> {
        row.try_get::<_, String>(index).map_err(|err| self.unexpected(index, &err))
    }

    /// A boolean column; see `text`.
    fn flag(&self, row: &Row, index: usize) -> Result<bool, EngineError> {
        row.try_get::<_, bool>(index).map_err(|err| self.unexpected(index, &err))
    }

    fn unexpected(&self, index: usize, err: &tokio_postgres::Error) -> EngineError {
        let detail = format!("the server returned an unexpected value in column {index}: {err}");
        EngineError::new(EngineErrorKind::Statement, &self.target, detail)
    }
}

impl PgSession {
    /// The verifier the server would store for `new` as `user`'s password: md5 where the session's
    /// `password_encryption` says md5 (PostgreSQL 10-13 also accept "on" for it), SCRAM-SHA-256 otherwise.
    async fn verifier(&mut self, user: &UserName, new: &Password) -> Result<String, EngineError> {
        let encryption = self.query_value(sql::pg_show_password_encryption()).await?;
        let cleartext = new.expose_secret().as_bytes();
        Ok(match encryption.as_str() {
            "md5" | "on" => password::md5(cleartext, user.as_str()),
            _ => password::scram_sha_256(cleartext),
        })
    }

    /// Runs a statement that returns one value, in one round trip (simple query protocol).
    async fn query_value(&mut self, statement: Sql) -> Result<String, EngineError> {
        let mut values = self.query_values(statement).await?;
        Ok(values.swap_remove(0))
    }

    /// Sets the session's statement and lock timeouts, once, before its first statement that could wait.
    async fn bound(&mut self) -> Result<(), EngineError> {
        if !self.bounded {
            let statement = sql::pg_bound_session(self.statement_timeout);
            let result = self.within(self.client.batch_execute(statement.as_str())).await?;
            result.map_err(|err| self.statement_error(&err, statement.as_str()))?;
            self.bounded = true;
        }
        Ok(())
    }

    /// `call`, or a transient error when the server has not answered a moment after its own statement timeout
    /// would have: the connection is then given up (a statement that never returns holds a lock or a backend).
    async fn within<T>(&self, call: impl Future<Output = T>) -> Result<T, EngineError> {
        let limit = self.statement_timeout + CLIENT_GRACE;
        tokio::time::timeout(limit, call).await.map_err(|_| {
            let detail = format!(
                "no answer to a statement within {} ms (STATEMENT_TIMEOUT_SECONDS, and {} s more)",
                self.statement_timeout.as_millis(),
                CLIENT_GRACE.as_secs()
            );
            EngineError::new(EngineErrorKind::Timeout, &self.target, detail)
        })
    }

    /// The rows of a statement with bind parameters; its text is safe to name in errors.
    async fn rows(
        &mut self,
        statement: Sql,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> Result<Vec<Row>, EngineError> {
        self.bound().await?;
        let result = self.within(self.client.query(statement.as_str(), params)).await?;
        result.map_err(|err| self.statement_error(&err, what))
    }

    /// A statement that may hold a verifier: its errors keep only the SQLSTATE.
    async fn execute(&mut self, statement: Sql, what: &str) -> Result<(), EngineError> {
        self.bound().await?;
        let result = self.within(self.client.batch_execute(statement.as_str())).await?;
        result.map_err(|err| self.statement_error(&err, what))
    }

    /// The first row of a statement, every column as text (NULL as empty), in one round trip.
    async fn query_values(&mut self, statement: Sql) -> Result<Vec<String>, EngineError> {
        self.bound().await?;
        let messages = match self.within(self.client.simple_query(statement.as_str())).await? {
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
        if matches!(*db.code(), SqlState::LOCK_NOT_AVAILABLE | SqlState::QUERY_CANCELED) {
            let detail = format!(
                "{what} was stopped after {} ms (STATEMENT_TIMEOUT_SECONDS), SQLSTATE {}: another session holds a \
                 lock it needs, or the server is slow",
                self.statement_timeout.as_millis(),
                db.code().code()
            );
            return EngineError::new(EngineErrorKind::Timeout, &self.target, detail);
        }
        // The server shutting down or restarting under the session (a reboot, a failover): the retry finds it back.
        if matches!(*db.code(), SqlState::ADMIN_SHUTDOWN | SqlState::CRASH_SHUTDOWN | SqlState::CANNOT_CONNECT_NOW) {
            let detail = format!("{what}: the server is shutting down or restarting (SQLSTATE {})", db.code().code());
            return EngineError::new(EngineErrorKind::Unreachable, &self.target, detail);
        }
        let hint = match *db.code() {
            SqlState::INSUFFICIENT_PRIVILEGE if what.contains("PASSWORD") => {
                ": the user lacks the privilege for it (PostgreSQL 16+: ADMIN OPTION on the role whose password it \
                 changes, if it is another; on RDS with rds.restrict_password_commands on, membership in rds_password)"
            }
            SqlState::INSUFFICIENT_PRIVILEGE if what.starts_with("GRANT") || what.starts_with("ALTER ROLE") => {
                ": the user lacks the privilege for it (PostgreSQL 16+: ADMIN OPTION on the role it grants or changes)"
            }
            SqlState::INSUFFICIENT_PRIVILEGE => ": the user lacks the privilege for it",
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
        ConnectFailure::Io(err) => {
            let kind = if err.kind() == io::ErrorKind::TimedOut {
                EngineErrorKind::Timeout
            } else {
                EngineErrorKind::Unreachable
            };
            return Err(EngineError::new(kind, at, format!("error connecting to server: {err}")));
        }
        ConnectFailure::Driver(err) => err,
    };
    if let Some(detail) = tls::explain(err, tls, at) {
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
        let detail = format!("{} (SQLSTATE {})", server_message(db.message()), db.code().code());
        return Err(EngineError::new(kind, at, detail));
    }
    let kind = match io_kind(err) {
        Some(io::ErrorKind::TimedOut) => EngineErrorKind::Timeout,
        _ => EngineErrorKind::Unreachable,
    };
    Err(EngineError::new(kind, at, server_message(&describe(err))))
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
