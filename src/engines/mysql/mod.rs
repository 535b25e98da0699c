//! MySQL, Aurora MySQL and MariaDB, on mysql_async (rustls, no OpenSSL).
//!
//! The password change is chosen by what the server and the account support, never by version prefixes:
//! `SHOW CREATE USER CURRENT_USER()` names the account's plugin, `@@version` says whether the server is MariaDB, and
//! `@@sql_mode` how literals are read. Then, in order:
//!
//! | server | plugin | statement | privilege |
//! | --- | --- | --- | --- |
//! | MariaDB | mysql_native_password, ed25519 | `SET PASSWORD = '<stored string>'` | none (own account) |
//! | MySQL | mysql_native_password, caching_sha2_password | `ALTER USER CURRENT_USER() IDENTIFIED WITH p AS '<stored string>'` | `CREATE USER` |
//! | MySQL | any, when the above is refused or has no form | `ALTER USER CURRENT_USER() IDENTIFIED BY '<password>'` (MySQL writes `<secret>` in its logs) | none |
//! | MariaDB | any other plugin | `SET PASSWORD = PASSWORD('<password>')` (MariaDB logs it verbatim) | none |
//!
//! A literal is only sent after a warning says why. mysql_async's `Opts` print the password in `Debug`: they are
//! never formatted here.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, DriverError, IoError, OptsBuilder, Params, Row, SslOpts};
use tracing::{debug, info, warn};

use self::auth::{AccountAuth, AuthPlugin};
use self::sql::{MysqlFlavor as Flavor, MysqlQuoting};
use super::login::{TLS_DEMANDED, Transport, login_per_mode};
use super::{
    AccountAdmin, Alternate, DbEngine, DbSession, EngineError, EngineErrorKind, LoginOutcome, Preflight,
    RotationSession,
};
use crate::domain::{Login, Password, Target, TlsChoice, UserName, server_message};
use crate::engines::sql::Sql;
use crate::tls::{self, Tls, TlsMode};

mod admin;
mod alternate;
pub(crate) mod auth;
pub(super) mod grants;
pub(crate) mod guard;
pub(crate) mod sql;
mod tls_request;

pub(crate) struct MysqlEngine {
    connect_timeout: Duration,
    statement_timeout: Duration,
    tls: Arc<Tls>,
}

pub(crate) struct MySession {
    conn: Conn,
    user: UserName,
    /// The password this session logged in with, for servers that demand it (`PASSWORD REQUIRE CURRENT`).
    current: Password,
    target: Target,
    /// `STATEMENT_TIMEOUT_SECONDS`, set with the character set before the session's first statement (`prepared`).
    statement_timeout: Duration,
    prepared: bool,
}

/// How much longer than `STATEMENT_TIMEOUT_SECONDS` the client waits for a statement before it gives up on the
/// connection: the server's own timeouts should always answer first.
const CLIENT_GRACE: Duration = Duration::from_secs(2);

/// MySQL error numbers this engine acts on.
mod code {
    pub(super) const ACCESS_DENIED: u16 = 1045;
    pub(super) const TOO_MANY_CONNECTIONS: u16 = 1040;
    pub(super) const USER_LIMIT_REACHED: u16 = 1203;
    pub(super) const USER_RESOURCE_EXCEEDED: u16 = 1226;
    pub(super) const DB_ACCESS_DENIED: u16 = 1044;
    pub(super) const TABLE_ACCESS_DENIED: u16 = 1142;
    pub(super) const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub(super) const PASSWORD_HASH_FORMAT: u16 = 1372;
    pub(super) const PLUGIN_NOT_LOADED: u16 = 1524;
    pub(super) const PASSWORD_FORMAT: u16 = 1827;
    pub(super) const READ_ONLY: u16 = 1290;
    pub(super) const READ_ONLY_TRANSACTION: u16 = 1792;
    pub(super) const NOT_VALID_PASSWORD: u16 = 1819;
    pub(super) const MISSING_CURRENT_PASSWORD: u16 = 3892;
    pub(super) const SECURE_TRANSPORT_REQUIRED: u16 = 3159;
    pub(super) const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub(super) const SERVER_SHUTDOWN: u16 = 1053;
    /// MariaDB's `max_statement_time`.
    pub(super) const STATEMENT_TIMEOUT: u16 = 1969;
    /// MySQL's `max_execution_time`.
    pub(super) const EXECUTION_TIME_EXCEEDED: u16 = 3024;
}

/// Refusals of the hash form that the literal form may get past: missing privilege, plugin or format support.
const HASH_FORM_REFUSED: [u16; 7] = [
    code::SPECIFIC_ACCESS_DENIED,
    code::DB_ACCESS_DENIED,
    code::TABLE_ACCESS_DENIED,
    code::PLUGIN_NOT_LOADED,
    code::PASSWORD_HASH_FORMAT,
    code::PASSWORD_FORMAT,
    1396, // ER_CANNOT_USER: MariaDB's wrapper for a plugin refusing the value
];

impl MysqlEngine {
    /// TLS options for `transport` to `at`. mysql_async sends nothing of the login before the handshake when they
    /// are set. The handshake sends (SNI) and verifies the name `at` names: its `tlsServerName` when its host is an
    /// alias (mysql_async's "hostname override", which only renames; what is checked stays as set here), else the
    /// host.
    fn ssl_opts(&self, transport: Transport, at: &Target) -> Option<SslOpts> {
        let only_ours = SslOpts::default()
            .with_disable_built_in_roots(true)
            .with_danger_tls_hostname_override(at.tls_server_name.clone());
        match transport {
            Transport::Plain => None,
            Transport::Verified => {
                // (mysql_async names the element type PathOrBuf but does not export it: built through From.)
                let mut roots: Vec<_> = tls::BUILT_IN_BUNDLES.iter().map(|bundle| (*bundle).into()).collect();
                roots.extend(self.tls.extra_pem().map(|pem| pem.to_vec().into()));
                Some(only_ours.with_root_certs(roots))
            }
            Transport::EncryptOnly => Some(only_ours.with_danger_accept_invalid_certs(true)),
        }
    }

    async fn connect(
        &self,
        at: &Target,
        login: Login<'_>,
        transport: Transport,
    ) -> Result<LoginOutcome<MySession>, EngineError> {
        let started = std::time::Instant::now();
        let master = matches!(at.tls, TlsChoice::Master { .. });
        if master && transport == Transport::EncryptOnly {
            let detail = "MASTER_TLS_MODE=require cannot keep the master's password from a MySQL-family server whose \
                          certificate is not verified (caching_sha2_password full authentication sends it over \
                          any TLS): use verify-full, with the server's CA in DB_EXTRA_CA_BUNDLE if it is not an RDS CA";
            return Err(EngineError::new(EngineErrorKind::Unverified, at, detail));
        }
        let timed_out = || {
            let detail = format!("no answer within {} ms (CONNECT_TIMEOUT_SECONDS)", self.connect_timeout.as_millis());
            EngineError::new(EngineErrorKind::Timeout, at, detail)
        };
        // A plaintext login goes through the guard's relay (see guard.rs), the driver talking to it: no password
        // request for a master, nothing the driver would panic on for anyone.
        let relay = if transport == Transport::Plain {
            let server =
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect((at.host.as_str(), at.port))).await
                {
                    Err(_) => return Err(timed_out()),
                    Ok(Err(err)) => {
                        let kind = if err.kind() == std::io::ErrorKind::TimedOut {
                            EngineErrorKind::Timeout
                        } else {
                            EngineErrorKind::Unreachable
                        };
                        return Err(EngineError::new(kind, at, err.to_string()));
                    }
                    Ok(Ok(server)) => server,
                };
            let policy = if master { guard::Policy::Master } else { guard::Policy::Application };
            let relay = guard::start(server, policy, self.connect_timeout).await;
            Some(relay.map_err(|err| EngineError::new(EngineErrorKind::Unreachable, at, format!("relay: {err}")))?)
        } else {
            None
        };
        let (host, port) = match &relay {
            Some(relay) => (relay.address.ip().to_string(), relay.address.port()),
            None => (at.host.clone(), at.port),
        };
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(login.user.as_str()))
            .pass(Some(login.password.expose_secret()))
            .db_name(at.dbname.as_deref())
            .prefer_socket(false)
            // Set, so that mysql_async does not ask the server for them after every login: a round trip saved. The
            // function's statements are far below any server's max_allowed_packet, and no pool uses wait_timeout.
            .max_allowed_packet(Some(16 * 1024 * 1024))
            .wait_timeout(Some(28_800))
            .ssl_opts(self.ssl_opts(transport, at));
        let conn = match tokio::time::timeout(self.connect_timeout, Conn::new(opts)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(err)) => {
                if let Some(refusal) = relay.as_ref().and_then(|relay| relay.verdict.refusal()) {
                    let kind = if master { EngineErrorKind::Unverified } else { EngineErrorKind::LoginRefused };
                    return Err(EngineError::new(kind, at, refusal));
                }
                return login_failure(at, err, &self.tls);
            }
            Ok(Ok(conn)) => conn,
        };
        debug!(host = %at, ?transport, elapsed_ms = started.elapsed().as_millis() as u64, "logged in");
        let session = MySession {
            conn,
            user: login.user.clone(),
            current: login.password.clone(),
            target: at.clone(),
            statement_timeout: self.statement_timeout,
            prepared: false,
        };
        Ok(LoginOutcome::Accepted(session))
    }
}

impl DbEngine for MysqlEngine {
    type Session = MySession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<MySession>, EngineError> {
        login_per_mode(self.tls.mode_for(at.tls), at, |transport| self.connect(at, login, transport)).await
    }

    fn rejection_hint(&self, at: &Target) -> Option<&'static str> {
        // MariaDB refuses a plaintext login that needs TLS with the same error 1045 as a wrong password.
        (self.tls.mode_for(at.tls) == TlsMode::Disable).then_some(
            "TLS was off for this login, and MariaDB answers a plaintext login to an account that REQUIREs SSL \
             (or under require_secure_transport) with the same \"access denied\" as a wrong password",
        )
    }
}

impl DbSession for MySession {
    async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

impl RotationSession for MySession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        let (flavor, quoting, plugin) = self.account(user).await?;
        let password = new.expose_secret();
        if let Some(statement) = self.hash_form(flavor, &plugin, password, quoting)? {
            match self.run(&statement).await? {
                Ok(()) => {
                    info!(%plugin, "setSecret: password sent as the {plugin} hash, computed here");
                    return Ok(());
                }
                Err(mysql_async::Error::Server(err)) if HASH_FORM_REFUSED.contains(&err.code) => warn!(
                    %plugin,
                    mysql_error = err.code,
                    "setSecret: the server refused the {plugin} hash form (MySQL error {}); sending the password as \
                     a string literal instead",
                    err.code
                ),
                Err(err) => return Err(self.statement_error(&err, "the password change")),
            }
        } else {
            warn!(%plugin, "setSecret: the {plugin} plugin has no hash form here; sending the password as a string literal");
        }
        self.set_literal(flavor, password, quoting).await
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        let statement = sql::mysql_check();
        match self.run(&statement).await? {
            Ok(()) => Ok(()),
            Err(err) => Err(self.statement_error(&err, statement.as_str())),
        }
    }
}

impl AccountAdmin for MySession {
    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        self.user_rows_exist(user).await
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        self.admin_power(user).await
    }

    async fn unproven_accounts(&mut self, user: &UserName, password: &Password) -> Result<Vec<String>, EngineError> {
        self.accounts_not_holding(user, &[password]).await
    }

    async fn master_authority(&mut self, _pair: Alternate<'_>) -> Result<(), EngineError> {
        // The MySQL family has no per-account administration right: CREATE USER and the grant option (and the
        // privileges passed on) are global, and a statement the master may not run fails with its error number.
        Ok(())
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        self.sync_pair(pair, password).await
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        self.verify_pair(pair).await
    }
}

impl Preflight for MySession {
    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        // What the change would meet first: a read-only server refuses it (an account with SUPER or READ_ONLY ADMIN
        // could still change it there; such accounts are rotated with single-user secrets rarely, and checked as
        // refused), and setSecret then looks for the writer behind the host.
        let (read_only, innodb_read_only): (i64, i64) = self.query_row(sql::mysql_read_only()).await?;
        if read_only != 0 || innodb_read_only != 0 {
            let detail =
                "the server is read-only (a replica or a reader, not the writer: read_only or innodb_read_only)";
            return Err(EngineError::new(EngineErrorKind::ReadOnly, &self.target, detail));
        }
        let (flavor, _, plugin) = self.account(user).await?;
        Ok(match (flavor, &plugin) {
            (Flavor::Mariadb, AuthPlugin::MysqlNative | AuthPlugin::Ed25519) => {
                format!("SET PASSWORD with the account's {plugin} hash computed here (MariaDB; no privilege needed)")
            }
            (Flavor::Mariadb, _) => format!(
                "SET PASSWORD = PASSWORD('…'): the {plugin} plugin has no hash form here, so MariaDB's general log \
                 would show the new password"
            ),
            (Flavor::Mysql, AuthPlugin::MysqlNative | AuthPlugin::CachingSha2) => format!(
                "ALTER USER CURRENT_USER() with the account's {plugin} hash computed here where the account has \
                 CREATE USER, else IDENTIFIED BY '…', which MySQL writes as <secret> in its logs"
            ),
            (Flavor::Mysql, _) => format!(
                "ALTER USER CURRENT_USER() IDENTIFIED BY '…' (the {plugin} plugin has no hash form here; MySQL writes \
                 <secret> in its logs)"
            ),
        })
    }
}

impl MySession {
    /// The server's flavour, how it reads literals, and the plugin of `user`'s account — which must be the session's
    /// own: `set_password` changes only the logged-in account (alternating users go through `sync_alternate`).
    async fn account(&mut self, user: &UserName) -> Result<(Flavor, MysqlQuoting, AuthPlugin), EngineError> {
        if *user != self.user {
            let detail = "set_password changes only the logged-in account's password";
            return Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail));
        }
        let (version, sql_mode): (String, String) = self.query_row(sql::mysql_server_facts()).await?;
        let flavor = if version.contains("MariaDB") { Flavor::Mariadb } else { Flavor::Mysql };
        let create: Vec<u8> = self.query_row(sql::mysql_show_create_current_user()).await?;
        let plugin = match auth::account_auth(&String::from_utf8_lossy(&create)) {
            Ok(AccountAuth::Plugin(plugin)) => plugin,
            Ok(AccountAuth::Several) => {
                let detail = "the account authenticates with several plugins or factors; rotate it by hand";
                return Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail));
            }
            Err(problem) => return Err(EngineError::new(EngineErrorKind::Statement, &self.target, problem)),
        };
        Ok((flavor, MysqlQuoting::from_sql_mode(&sql_mode), plugin))
    }

    /// The single-user statement that sets `password` in its stored-string form, or `None` where there is none.
    fn hash_form(
        &self,
        flavor: Flavor,
        plugin: &AuthPlugin,
        password: &str,
        quoting: MysqlQuoting,
    ) -> Result<Option<Sql>, EngineError> {
        let Some(hash) = self.stored_string(flavor, plugin, password)? else { return Ok(None) };
        let statement = match flavor {
            Flavor::Mariadb => sql::mariadb_set_password_hash(&hash, quoting),
            Flavor::Mysql => sql::mysql_alter_current_user_hash(plugin, &hash, quoting),
        };
        statement.map(Some).map_err(|err| EngineError::new(EngineErrorKind::Statement, &self.target, err.to_string()))
    }

    /// What `plugin` stores for `password` on this server, computed here; `None` where this build has no hash form.
    fn stored_string(
        &self,
        flavor: Flavor,
        plugin: &AuthPlugin,
        password: &str,
    ) -> Result<Option<String>, EngineError> {
        let bytes = password.as_bytes();
        Ok(Some(match (flavor, plugin) {
            (_, AuthPlugin::MysqlNative) => auth::native_hash(bytes),
            (Flavor::Mariadb, AuthPlugin::Ed25519) => auth::ed25519_hash(bytes),
            (Flavor::Mysql, AuthPlugin::CachingSha2) => auth::caching_sha2_hash(bytes)
                .map_err(|err| EngineError::new(EngineErrorKind::Statement, &self.target, err))?,
            _ => return Ok(None),
        }))
    }

    /// The password as a literal, the server hashing it with the account's own plugin.
    async fn set_literal(&mut self, flavor: Flavor, password: &str, quoting: MysqlQuoting) -> Result<(), EngineError> {
        let literal = |replace: Option<&str>| match flavor {
            Flavor::Mariadb => sql::mariadb_set_password_literal(password, quoting),
            Flavor::Mysql => sql::mysql_alter_current_user_literal(password, replace, quoting),
        };
        let target = self.target.clone();
        let to_error = |err: sql::LiteralError| EngineError::new(EngineErrorKind::Statement, &target, err.to_string());
        let statement = literal(None).map_err(to_error)?;
        match self.run(&statement).await? {
            Ok(()) => Ok(()),
            // The account must confirm its current password (MySQL's PASSWORD REQUIRE CURRENT).
            Err(mysql_async::Error::Server(err)) if err.code == code::MISSING_CURRENT_PASSWORD => {
                let current = self.current.clone();
                let statement = literal(Some(current.expose_secret())).map_err(to_error)?;
                let result = self.run(&statement).await?;
                result.map_err(|err| self.statement_error(&err, "the password change"))
            }
            Err(err) => Err(self.statement_error(&err, "the password change")),
        }
    }

    /// The first row of a statement that returns one; a missing row is an error.
    async fn query_row<T: FromRow + Send + 'static>(&mut self, statement: Sql) -> Result<T, EngineError> {
        let rows: Vec<T> = self.fetch(&statement, Params::Empty, statement.as_str()).await?;
        match rows.into_iter().next() {
            Some(row) => Ok(row),
            None => {
                let detail = format!("{} returned no row", statement.as_str());
                Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail))
            }
        }
    }

    /// Pins the session, once, before its first statement: the utf8mb4 character set (a multi-byte set such as GBK
    /// or SJIS, which a server's default or `init_connect` could choose, can hide a quote inside a character and
    /// undo the quoting of a name), and bounds on each statement and lock wait. `/*M! … */` runs on MariaDB only.
    async fn prepare(&mut self) -> Result<(), EngineError> {
        if !self.prepared {
            let statement = sql::mysql_pin_session(self.statement_timeout);
            match within(self.statement_timeout, &self.target, self.conn.query_drop(statement.as_str())).await? {
                Ok(()) => self.prepared = true,
                Err(err) => return Err(self.read_failure(&err, "pinning the session's character set and timeouts")),
            }
        }
        Ok(())
    }

    /// Runs a statement in the pinned session; the outer error is the client's own timeout, the inner the server's
    /// answer, for the caller to interpret.
    async fn run(&mut self, statement: &Sql) -> Result<Result<(), mysql_async::Error>, EngineError> {
        self.prepare().await?;
        within(self.statement_timeout, &self.target, self.conn.query_drop(statement.as_str())).await
    }

    /// The rows of a statement with bind parameters (`Params::Empty`: none, a text query), each converted to `T`.
    /// A row the server returns in another shape is an error naming `what`, never a panic.
    async fn fetch<T: FromRow + Send + 'static>(
        &mut self,
        statement: &Sql,
        params: Params,
        what: &str,
    ) -> Result<Vec<T>, EngineError> {
        let rows = self.fetch_raw(statement, params).await?;
        let rows = rows.map_err(|err| self.read_failure(&err, what))?;
        self.convert(rows, what)
    }

    /// As `fetch`, the server's refusal left to the caller.
    async fn fetch_raw(
        &mut self,
        statement: &Sql,
        params: Params,
    ) -> Result<Result<Vec<Row>, mysql_async::Error>, EngineError> {
        self.prepare().await?;
        match params {
            Params::Empty => within(self.statement_timeout, &self.target, self.conn.query(statement.as_str())).await,
            params => within(self.statement_timeout, &self.target, self.conn.exec(statement.as_str(), params)).await,
        }
    }

    fn convert<T: FromRow>(&self, rows: Vec<Row>, what: &str) -> Result<Vec<T>, EngineError> {
        rows.into_iter()
            .map(|row| {
                T::from_row_opt(row).map_err(|_| {
                    let detail = format!("{what}: the server returned a row of an unexpected shape");
                    EngineError::new(EngineErrorKind::Statement, &self.target, detail)
                })
            })
            .collect()
    }

    /// A read that failed: the server's message is safe (the statement holds no secret) and says the most.
    fn read_failure(&self, err: &mysql_async::Error, what: &str) -> EngineError {
        match err {
            mysql_async::Error::Server(server) if server.code == code::TABLE_ACCESS_DENIED => self.read_error(format!(
                "{what}: {} (MySQL error {}); the master needs SELECT on the mysql schema",
                server_message(&server.message),
                server.code
            )),
            mysql_async::Error::Server(server) if !is_timeout(server.code) => {
                self.read_error(format!("{what}: {} (MySQL error {})", server_message(&server.message), server.code))
            }
            other => self.statement_error(other, what),
        }
    }

    fn read_error(&self, detail: impl Into<String>) -> EngineError {
        EngineError::new(EngineErrorKind::Statement, &self.target, detail)
    }

    /// A failed statement, described by its error number and a fixed text: the server's message could quote the
    /// statement, and a password statement holds a hash or the password.
    fn statement_error(&self, err: &mysql_async::Error, what: &str) -> EngineError {
        let mysql_async::Error::Server(server) = err else {
            return EngineError::new(EngineErrorKind::Unreachable, &self.target, format!("{what}: connection lost"));
        };
        if is_timeout(server.code) {
            let detail = format!(
                "{what} was stopped after {} ms (STATEMENT_TIMEOUT_SECONDS), MySQL error {}: another session holds \
                 a lock it needs, or the server is slow",
                self.statement_timeout.as_millis(),
                server.code
            );
            return EngineError::new(EngineErrorKind::Timeout, &self.target, detail);
        }
        // The server shutting down under the session (a reboot, a failover): the retry finds it back.
        if server.code == code::SERVER_SHUTDOWN {
            let detail = format!("{what}: the server is shutting down (MySQL error {})", server.code);
            return EngineError::new(EngineErrorKind::Unreachable, &self.target, detail);
        }
        let hint = match server.code {
            code::SPECIFIC_ACCESS_DENIED | code::DB_ACCESS_DENIED | code::TABLE_ACCESS_DENIED => {
                ": the account lacks the privilege for it"
            }
            code::NOT_VALID_PASSWORD => {
                ": the server's password policy (validate_password) refused the new password; \
                 adjust PASSWORD_LENGTH or the EXCLUDE_* settings"
            }
            code::READ_ONLY | code::READ_ONLY_TRANSACTION => ": the server is read-only (a replica, not the writer)",
            code::MISSING_CURRENT_PASSWORD => ": the account requires its current password",
            _ => "",
        };
        let detail = format!("{what} failed with MySQL error {} (SQLSTATE {}){hint}", server.code, server.state);
        let read_only = matches!(server.code, code::READ_ONLY | code::READ_ONLY_TRANSACTION);
        let kind = if read_only { EngineErrorKind::ReadOnly } else { EngineErrorKind::Statement };
        EngineError::new(kind, &self.target, detail)
    }
}

/// `call`, or a transient error when the server has not answered a moment after its own timeouts would have
/// (`statement_timeout` and `CLIENT_GRACE`): the connection is then given up.
async fn within<T>(statement_timeout: Duration, at: &Target, call: impl Future<Output = T>) -> Result<T, EngineError> {
    tokio::time::timeout(statement_timeout + CLIENT_GRACE, call).await.map_err(|_| {
        let detail = format!(
            "no answer to a statement within {} ms (STATEMENT_TIMEOUT_SECONDS, and {} s more)",
            statement_timeout.as_millis(),
            CLIENT_GRACE.as_secs()
        );
        EngineError::new(EngineErrorKind::Timeout, at, detail)
    })
}

/// The server's answers when `STATEMENT_TIMEOUT_SECONDS` stopped a statement or a lock wait.
fn is_timeout(code: u16) -> bool {
    matches!(code, code::LOCK_WAIT_TIMEOUT | code::STATEMENT_TIMEOUT | code::EXECUTION_TIME_EXCEEDED)
}

/// Sorts a failed login into "refused these credentials" (the only `Ok`) and everything else.
fn login_failure(at: &Target, err: mysql_async::Error, tls: &Tls) -> Result<LoginOutcome<MySession>, EngineError> {
    if let Some(detail) = tls::explain(&err, tls, at) {
        return Err(EngineError::new(EngineErrorKind::Tls, at, detail));
    }
    let (kind, detail) = match &err {
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            (EngineErrorKind::TlsNotOffered, "its handshake does not offer TLS".to_owned())
        }
        mysql_async::Error::Server(server) if server.code == code::SECURE_TRANSPORT_REQUIRED => {
            (EngineErrorKind::Tls, TLS_DEMANDED.to_owned())
        }
        mysql_async::Error::Server(server) => {
            let kind = match server.code {
                // Wrong password or unknown account: the server does not say which.
                code::ACCESS_DENIED => return Ok(LoginOutcome::Rejected),
                code::TOO_MANY_CONNECTIONS | code::USER_LIMIT_REACHED | code::USER_RESOURCE_EXCEEDED => {
                    EngineErrorKind::Busy
                }
                _ => EngineErrorKind::LoginRefused,
            };
            // Login errors carry no statement: the server's message is safe and says the most.
            (kind, format!("{} (MySQL error {})", server_message(&server.message), server.code))
        }
        mysql_async::Error::Io(IoError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
            (EngineErrorKind::Timeout, io.to_string())
        }
        mysql_async::Error::Io(IoError::Io(io)) => (EngineErrorKind::Unreachable, io.to_string()),
        mysql_async::Error::Io(IoError::Tls(tls)) => (EngineErrorKind::Tls, tls.to_string()),
        mysql_async::Error::Driver(driver) => (EngineErrorKind::Unreachable, driver.to_string()),
        other => (EngineErrorKind::LoginRefused, server_message(&other.to_string())),
    };
    Err(EngineError::new(kind, at, detail))
}
