//! What the integration tests share: the servers `scripts/local-servers.sh` started (found through its environment
//! variables), a Secrets Manager client on the emulator, PostgreSQL helpers that work as the cluster's superuser,
//! and a log buffer. A missing server is a loud failure, never a skip.
#![allow(dead_code)]

/// Runs each scenario (an `async fn(Engine)` of the test file) once per engine, as `postgres::name` and
/// `mariadb::name`. For test files that declare `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Engine::Postgres).await })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Engine::Mariadb).await })*
        }
    };
}

pub mod aws_proxy;
pub mod fake_servers;
pub mod faults;
pub mod fleet;
pub mod runtime_api;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::Client as SmClient;
use aws_sdk_secretsmanager::types::RotationRulesType;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rand::RngExt;
use rds_rotator::internal::{AwsRotator, Config, Outcome, RotationEvent, RotationToken, Step, VersionId, handler};
use tokio_postgres::NoTls;
use tracing_subscriber::fmt::MakeWriter;

/// An ARN of a function that does not exist: moto then stages the empty AWSPENDING version as the real service
/// does before it invokes createSecret, fails to find the function, and invokes nothing.
pub const NO_SUCH_LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:rds-rotator-not-deployed";

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rds-rotator");

/// Runs the binary outside Lambda with extra settings and optional stdin; its output goes into the log scan.
pub fn run_binary(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(BIN);
    command.args(args).envs(envs.iter().copied()).env_remove("AWS_LAMBDA_RUNTIME_API");
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    capture(&String::from_utf8_lossy(&output.stdout));
    capture(&String::from_utf8_lossy(&output.stderr));
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the integration tests need the local servers. Run `make test`, or \
             `scripts/local-servers.sh run -- cargo test`"
        )
    })
}

pub fn pg_host() -> String {
    env("TEST_PG_HOST")
}

pub fn pg_port() -> u16 {
    env("TEST_PG_PORT").parse().expect("TEST_PG_PORT is a port")
}

/// A count from the environment variable `name` (a run's size), or `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// A name no other test (or earlier run against the same servers) uses.
pub fn unique(prefix: &str) -> String {
    let suffix: u64 = rand::rng().random();
    format!("{prefix}_{suffix:016x}")
}

pub fn new_token() -> VersionId {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    VersionId::new(&hex).unwrap()
}

// ---------------------------------------------------------------- PostgreSQL

/// A session as the cluster's superuser.
pub async fn pg_admin() -> tokio_postgres::Client {
    let password = env("TEST_PG_ADMIN_PASSWORD");
    pg_connect(&env("TEST_PG_ADMIN_USER"), &password).await.expect("the superuser logs in")
}

/// A plain tokio-postgres login, independent of the code under test.
pub async fn pg_connect(user: &str, password: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    pg_connect_at(pg_port(), user, password).await
}

/// The same, to one of the other local clusters.
pub async fn pg_connect_at(
    port: u16,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host(pg_host()).port(port).user(user).password(password).dbname("postgres");
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Whether `user` logs in with `password`; any failure other than a refused password fails the test.
pub async fn pg_logs_in(user: &str, password: &str) -> bool {
    match pg_connect(user, password).await {
        Ok(client) => {
            client.simple_query("SELECT 1").await.expect("a logged-in session works");
            true
        }
        Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD) => false,
        Err(err) => panic!("login as {user:?} failed for another reason than the password: {err}"),
    }
}

/// A SCRAM-SHA-256 verifier: tests, like the code under test, never send a password in cleartext, so the servers'
/// statement logs hold none (the suite's leak scan checks them).
pub fn pg_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

pub async fn pg_create_role(name: &str, password: &str) {
    let sql =
        format!("CREATE ROLE {} LOGIN PASSWORD {}", escape_identifier(name), escape_literal(&pg_verifier(password)));
    pg_admin().await.batch_execute(&sql).await.expect("create role");
}

pub async fn pg_set_password(name: &str, password: &str) {
    let sql = format!("ALTER ROLE {} PASSWORD {}", escape_identifier(name), escape_literal(&pg_verifier(password)));
    pg_admin().await.batch_execute(&sql).await.expect("alter role");
}

/// What `pg_authid` stores for a role (the verifier), as the superuser sees it.
pub async fn pg_stored_password(name: &str) -> Option<String> {
    let row = pg_admin()
        .await
        .query_opt("SELECT rolpassword FROM pg_authid WHERE rolname = $1", &[&name])
        .await
        .expect("read pg_authid");
    row.and_then(|row| row.get(0))
}

/// The roles whose names start with `prefix`, with their stored verifiers.
pub async fn pg_roles(prefix: &str) -> BTreeMap<String, Option<String>> {
    let rows = pg_admin()
        .await
        .query("SELECT rolname, rolpassword FROM pg_authid WHERE starts_with(rolname, $1)", &[&prefix])
        .await
        .expect("read pg_authid");
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

pub fn pg_statement_log() -> String {
    std::fs::read_to_string(env("TEST_PG_LOG")).expect("the PostgreSQL log is readable")
}

/// An RDS-format secret for the local cluster. TLS is off: these servers speak plaintext.
pub fn pg_secret(user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({
        "engine": "postgres",
        "host": pg_host(),
        "port": pg_port(),
        "username": user,
        "password": password,
        "dbname": "postgres",
        "ssl": false,
    })
}

// ---------------------------------------------------------------- MariaDB

pub fn my_port() -> u16 {
    env("TEST_MARIADB_PORT").parse().expect("TEST_MARIADB_PORT is a port")
}

/// A plain mysql_async login, independent of the code under test.
pub async fn my_connect(user: &str, password: &str) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(env("TEST_MARIADB_HOST"))
        .tcp_port(my_port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await
}

/// A session as the server's administrator (root over TCP, with its password).
pub async fn my_admin() -> mysql_async::Conn {
    my_connect(&env("TEST_MARIADB_ADMIN_USER"), &env("TEST_MARIADB_ADMIN_PASSWORD")).await.expect("root logs in")
}

/// A MariaDB string literal for a session in the default sql_mode (backslashes escape).
pub fn my_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The mysql_native_password hash, so that no test sends a password in cleartext.
pub fn my_native_hash(password: &str) -> String {
    rds_rotator::internal::native_hash(password.as_bytes())
}

pub async fn my_exec(sql: &str) {
    use mysql_async::prelude::Queryable;
    let mut admin = my_admin().await;
    admin.query_drop(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    admin.disconnect().await.unwrap();
}

/// Whether `user` logs in with `password`; any failure other than a refused password fails the test.
pub async fn my_logs_in(user: &str, password: &str) -> bool {
    use mysql_async::prelude::Queryable;
    match my_connect(user, password).await {
        Ok(mut conn) => {
            conn.query_drop("SELECT 1").await.expect("a logged-in session works");
            conn.disconnect().await.unwrap();
            true
        }
        Err(mysql_async::Error::Server(err)) if err.code == 1045 => false,
        Err(err) => panic!("login as {user:?} failed for another reason than the password: {err}"),
    }
}

/// The accounts whose names start with `prefix`: ("user@host", plugin, stored string).
pub async fn my_accounts(prefix: &str) -> BTreeMap<String, (String, String)> {
    use mysql_async::prelude::Queryable;
    let mut admin = my_admin().await;
    let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let rows: Vec<(String, String, String, String)> = admin
        .exec("SELECT User, Host, plugin, authentication_string FROM mysql.user WHERE User LIKE ?", (pattern,))
        .await
        .expect("read mysql.user");
    admin.disconnect().await.unwrap();
    rows.into_iter().map(|(user, host, plugin, auth)| (format!("{user}@{host}"), (plugin, auth))).collect()
}

pub fn my_general_log() -> String {
    String::from_utf8_lossy(&std::fs::read(env("TEST_MARIADB_GENERAL_LOG")).expect("the general log is readable"))
        .into_owned()
}

/// An RDS-format secret for the local MariaDB. TLS is off: this server speaks plaintext.
pub fn my_secret(user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({
        "engine": "mariadb",
        "host": env("TEST_MARIADB_HOST"),
        "port": my_port(),
        "username": user,
        "password": password,
        "ssl": false,
    })
}

// ---------------------------------------------------------------- either engine

/// The database a scenario runs on; the same scenarios prove both engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mariadb,
}

impl Engine {
    /// The longest user name the engine takes, in bytes of ASCII.
    pub fn max_name_len(self) -> usize {
        match self {
            Engine::Postgres => 63,
            Engine::Mariadb => 80,
        }
    }

    /// A login user with `password`; on MariaDB, `'name'@'%'` with the server's default plugin.
    pub async fn create_user(self, name: &str, password: &str) {
        match self {
            Engine::Postgres => pg_create_role(name, password).await,
            Engine::Mariadb => {
                let hash = my_native_hash(password);
                my_exec(&format!("CREATE USER {}@'%' IDENTIFIED BY PASSWORD '{hash}'", my_quote(name))).await
            }
        }
    }

    /// Changes a password as the administrator (drift, restored backups).
    pub async fn set_password(self, name: &str, password: &str) {
        match self {
            Engine::Postgres => pg_set_password(name, password).await,
            Engine::Mariadb => {
                let hash = my_native_hash(password);
                my_exec(&format!("ALTER USER {}@'%' IDENTIFIED BY PASSWORD '{hash}'", my_quote(name))).await
            }
        }
    }

    pub async fn logs_in(self, name: &str, password: &str) -> bool {
        match self {
            Engine::Postgres => pg_logs_in(name, password).await,
            Engine::Mariadb => my_logs_in(name, password).await,
        }
    }

    /// Whether `name` logs in with `password`, or why the server gave no answer (at its connection limit, down).
    pub async fn try_logs_in(self, name: &str, password: &str) -> Result<bool, String> {
        use mysql_async::prelude::Queryable;
        match self {
            Engine::Postgres => match pg_connect(name, password).await {
                Ok(client) => client.simple_query("SELECT 1").await.map(|_| true).map_err(|err| err.to_string()),
                Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD) => Ok(false),
                Err(err) => Err(err.as_db_error().map_or_else(|| err.to_string(), |db| db.message().to_owned())),
            },
            Engine::Mariadb => match my_connect(name, password).await {
                Ok(mut conn) => {
                    let answer = conn.query_drop("SELECT 1").await.map(|_| true).map_err(|err| err.to_string());
                    let _ = conn.disconnect().await;
                    answer
                }
                Err(mysql_async::Error::Server(err)) if err.code == 1045 => Ok(false),
                Err(err) => Err(err.to_string()),
            },
        }
    }

    /// The users whose names start with `prefix`, with what the server stores for each.
    pub async fn users(self, prefix: &str) -> BTreeMap<String, Option<String>> {
        match self {
            Engine::Postgres => pg_roles(prefix).await,
            Engine::Mariadb => my_accounts(prefix)
                .await
                .into_iter()
                .map(|(account, (plugin, auth))| (account, Some(format!("{plugin}:{auth}"))))
                .collect(),
        }
    }

    /// The key `users` files `name` under.
    pub fn user_key(self, name: &str) -> String {
        match self {
            Engine::Postgres => name.to_owned(),
            Engine::Mariadb => format!("{name}@%"),
        }
    }

    /// The secret format's `engine` value.
    pub fn engine_name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mariadb => "mariadb",
        }
    }

    pub fn secret(self, name: &str, password: &str) -> serde_json::Value {
        match self {
            Engine::Postgres => pg_secret(name, password),
            Engine::Mariadb => my_secret(name, password),
        }
    }

    /// Everything the server logged of the statements it ran.
    pub fn statement_log(self) -> String {
        match self {
            Engine::Postgres => pg_statement_log(),
            Engine::Mariadb => my_general_log(),
        }
    }
}

impl Engine {
    pub fn port(self) -> u16 {
        match self {
            Engine::Postgres => pg_port(),
            Engine::Mariadb => my_port(),
        }
    }

    /// A master secret of the master's own, as alternating users need one: its user and password, and where it
    /// logs in — the host name the local servers' certificates are issued for, so that the master's login is
    /// verified TLS, as deployed. Returns its name.
    pub async fn master_secret(self, user: &str, password: &str) -> String {
        let id = unique("master-secret");
        let value = serde_json::json!({"engine": self.engine_name(), "username": user, "password": password, "host": tls_host(), "port": self.port()});
        create_secret(&sm().await, &id, &value).await;
        id
    }

    /// An alternating-users secret for `user`, naming `masterarn`, at the master's host (the rotated secret must
    /// point where the master secret does).
    pub fn alternating_secret(self, user: &str, password: &str, masterarn: &str) -> serde_json::Value {
        let mut secret = self.secret(user, password);
        secret["host"] = tls_host().into();
        secret["masterarn"] = masterarn.into();
        secret
    }
}

/// The main PostgreSQL cluster's major version (15, 16, ...).
pub async fn pg_major_version() -> u32 {
    let row = pg_admin().await.query_one("SHOW server_version_num", &[]).await.expect("the server's version");
    row.get::<_, String>(0).parse::<u32>().expect("a version number") / 10_000
}

/// The global privileges RDS gives the master user of a MariaDB instance (the RDS User Guide, "Master user account
/// privileges"), WITH GRANT OPTION: no SUPER, no ALL.
pub const RDS_MARIADB_MASTER_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, \
     REFERENCES, INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, \
     REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER";

/// A master user with exactly the RDS master's privileges, named `name`, with `password`. PostgreSQL: `LOGIN
/// NOSUPERUSER INHERIT CREATEDB CREATEROLE`, a member of an `rds_superuser` role (NOLOGIN, in `pg_monitor` and
/// `pg_signal_backend`, as RDS's) — on PostgreSQL 16+ such a role administers only the roles it created or holds
/// ADMIN OPTION on. MariaDB: the global privileges of `RDS_MARIADB_MASTER_PRIVILEGES` WITH GRANT OPTION.
pub async fn create_rds_master(engine: Engine, name: &str, password: &str) {
    match engine {
        Engine::Postgres => {
            // Once per cluster; tests create masters concurrently, and a second CREATE ROLE may fail either way.
            let setup = "DO $$ BEGIN CREATE ROLE rds_superuser NOLOGIN; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                 GRANT pg_monitor, pg_signal_backend TO rds_superuser";
            pg_admin().await.batch_execute(setup).await.expect("the rds_superuser role");
            let sql = format!(
                "CREATE ROLE {} WITH LOGIN NOSUPERUSER INHERIT CREATEDB CREATEROLE NOREPLICATION \
                 VALID UNTIL 'infinity' PASSWORD {} IN ROLE rds_superuser",
                escape_identifier(name),
                escape_literal(&pg_verifier(password))
            );
            pg_admin().await.batch_execute(&sql).await.expect("create the master");
        }
        Engine::Mariadb => {
            let account = format!("{}@'%'", my_quote(name));
            my_exec(&format!("CREATE USER {account} IDENTIFIED BY PASSWORD '{}'", my_native_hash(password))).await;
            my_exec(&format!("GRANT {RDS_MARIADB_MASTER_PRIVILEGES} ON *.* TO {account} WITH GRANT OPTION")).await;
        }
    }
}

/// A PostgreSQL login role `name` created by the role `creator` (logged in with `creator_password`), not by the
/// superuser: on PostgreSQL 16+ the creator then holds ADMIN OPTION on it, and no other CREATEROLE role does.
pub async fn pg_create_role_as(creator: &str, creator_password: &str, name: &str, password: &str) {
    let client = pg_connect(creator, creator_password).await.expect("the creator logs in");
    let sql =
        format!("CREATE ROLE {} LOGIN PASSWORD {}", escape_identifier(name), escape_literal(&pg_verifier(password)));
    client.batch_execute(&sql).await.expect("create role as its creator");
}

/// Stops, starts or restarts (`action`) the main server of `engine` with `scripts/local-servers.sh db`. For the test
/// binaries of their own (tests/restart.rs, tests/limits.rs): every other test would see the outage.
pub fn server(action: &str, engine: Engine) {
    let name = match engine {
        Engine::Postgres => "postgres",
        Engine::Mariadb => "mariadb",
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-servers.sh");
    let output = std::process::Command::new(script).args(["db", action, name]).output().expect("the script runs");
    assert!(output.status.success(), "db {action} {name}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The host name the local servers' certificates name.
pub fn tls_host() -> String {
    env("TEST_TLS_HOST")
}

// ---------------------------------------------------------------- Secrets Manager (moto)

pub async fn sm() -> SmClient {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    SmClient::new(&config)
}

pub async fn create_secret(sm: &SmClient, name: &str, value: &serde_json::Value) {
    sm.create_secret().name(name).secret_string(value.to_string()).send().await.expect("create secret");
}

/// Stages a rotation as `RotateSecret` does: a new version with no value, labelled AWSPENDING.
pub async fn stage_rotation(sm: &SmClient, name: &str) -> VersionId {
    let token = rotate_secret_without_function(sm, name, NO_SUCH_LAMBDA, 30).await;
    assert_eq!(versions(sm, name).await.get(token.as_str()), Some(&vec!["AWSPENDING".to_owned()]));
    token
}

/// `RotateSecret` with a `function` moto does not have and `days`: moto records the function and schedule, switches
/// rotation on and stages an AWSPENDING version with no value, then refuses the call and invokes nothing.
pub async fn rotate_secret_without_function(sm: &SmClient, name: &str, function: &str, days: i64) -> VersionId {
    let token = new_token();
    let rules = RotationRulesType::builder().automatically_after_days(days).build();
    let staged = sm
        .rotate_secret()
        .secret_id(name)
        .client_request_token(token.as_str())
        .rotation_lambda_arn(function)
        .rotation_rules(rules)
        .send()
        .await;
    assert!(staged.is_err(), "moto was expected to refuse the missing function after staging");
    token
}

pub async fn versions(sm: &SmClient, name: &str) -> BTreeMap<String, Vec<String>> {
    let described = sm.describe_secret().secret_id(name).send().await.expect("describe secret");
    let versions = described.version_ids_to_stages().cloned().unwrap_or_default();
    // moto lists versions that lost every label; the service forgets them. Compare only labelled ones.
    versions.into_iter().filter(|(_, labels)| !labels.is_empty()).collect()
}

pub async fn secret_text(sm: &SmClient, name: &str, stage: &str) -> Option<String> {
    let value = sm.get_secret_value().secret_id(name).version_stage(stage).send().await.ok()?;
    value.secret_string().map(str::to_owned)
}

pub async fn secret_value(sm: &SmClient, name: &str, stage: &str) -> Option<serde_json::Value> {
    secret_text(sm, name, stage).await.map(|text| serde_json::from_str(&text).expect("a JSON secret"))
}

/// Writes the pending version as createSecret would, with the rotation's `RotationToken`.
pub async fn put_pending(sm: &SmClient, name: &str, token: &VersionId, value: &serde_json::Value) {
    sm.put_secret_value()
        .secret_id(name)
        .client_request_token(token.as_str())
        .secret_string(value.to_string())
        .version_stages("AWSPENDING")
        .rotation_token(rotation_token_of(name, token))
        .send()
        .await
        .expect("put pending value");
}

pub fn password_of(secret: &serde_json::Value) -> String {
    secret["password"].as_str().expect("a password").to_owned()
}

// ---------------------------------------------------------------- the code under test

/// The deployed rotator, configured from `vars` instead of the process environment (the SDK still finds moto
/// through the AWS_* variables the script exported). The local servers' CA is trusted (`DB_EXTRA_CA_BUNDLE`) unless
/// `vars` says otherwise: master logins use verified TLS, as deployed. Any secret may be a master secret
/// (`MASTER_SECRET_ARNS=*`) unless `vars` says otherwise.
pub async fn rotator_with(vars: &[(&str, &str)]) -> AwsRotator {
    let mut vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if !vars.iter().any(|(k, _)| k == "DB_EXTRA_CA_BUNDLE") {
        vars.push(("DB_EXTRA_CA_BUNDLE".into(), env("TEST_TLS_CA")));
    }
    // Every test makes master secrets of its own: any may be one here, as none may be unless listed in a deployment.
    if !vars.iter().any(|(k, _)| k == "MASTER_SECRET_ARNS") {
        vars.push(("MASTER_SECRET_ARNS".into(), "*".into()));
    }
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("a valid configuration");
    rds_rotator::internal::build(&config).await.expect("the rotator builds")
}

pub async fn rotator() -> AwsRotator {
    rotator_with(&[]).await
}

/// The event Secrets Manager sends the function for `step` of the rotation that staged `token`, as the service sends
/// it: the secret's ARN, and the `RotationToken` the service gave that rotation, which `PutSecretValue` must pass. The
/// strict layer in front of moto (tests/strict-secrets-manager.py) plays the service's side: it gave the token at
/// `RotateSecret` and refuses a `PutSecretValue` into the rotation's version without it.
pub fn event(secret_id: &str, token: &VersionId, step: Step) -> RotationEvent {
    let json = service_event(secret_id, token.as_str(), step.as_str());
    let field = |name: &str| json[name].as_str().expect("the strict layer's event has every field").to_owned();
    RotationEvent {
        step,
        secret_id: field("SecretId"),
        token: token.clone(),
        rotation_token: Some(RotationToken::new(field("RotationToken"))),
    }
}

/// The `RotationToken` the service gave the rotation that staged `token`, for a test that writes the pending value
/// as the function would.
pub fn rotation_token_of(secret_id: &str, token: &VersionId) -> String {
    let event = service_event(secret_id, token.as_str(), "createSecret");
    event["RotationToken"].as_str().expect("a RotationToken").to_owned()
}

/// The same event as Lambda's JSON payload (`Step` as given, for tests of unknown steps).
pub fn service_event(secret_id: &str, token: &str, step: &str) -> serde_json::Value {
    let request = serde_json::json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token}).to_string();
    // A burst of hundreds of rotations starting at once can overflow the layer's accept queue: ask again.
    let mut attempt = 0;
    loop {
        match strict_layer_post("/strict/event", &request) {
            Ok(reply) => return reply,
            Err(_) if attempt < 20 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            Err(err) => panic!("the strict layer in front of moto gives no event: {err}"),
        }
    }
}

/// POSTs `body` to the strict layer's own API; its JSON reply, or what went wrong.
fn strict_layer_post(path: &str, body: &str) -> Result<serde_json::Value, String> {
    use std::io::{Read, Write};
    let endpoint = env("AWS_ENDPOINT_URL");
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).map_err(|err| err.to_string())?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).map_err(|err| err.to_string())?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|err| err.to_string())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(|err| err.to_string())?;
    let (head, json) = reply.split_once("\r\n\r\n").ok_or("no HTTP reply")?;
    assert!(head.starts_with("HTTP/1.1 200"), "the strict layer refused: {head}");
    serde_json::from_str(json).map_err(|err| err.to_string())
}

pub async fn run_step(
    rotator: &AwsRotator,
    secret_id: &str,
    token: &VersionId,
    step: Step,
) -> Result<Outcome, rds_rotator::internal::Error> {
    let result = handler::handle(rotator, &event(secret_id, token, step)).await;
    if let Err(err) = &result {
        capture(&format!("{err}\n{err:?}"));
    }
    result
}

/// The four steps in order, as the service invokes them.
pub async fn run_rotation(
    rotator: &AwsRotator,
    secret_id: &str,
    token: &VersionId,
) -> Result<(), rds_rotator::internal::Error> {
    for step in Step::ALL {
        run_step(rotator, secret_id, token, step).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- logs

/// Keeps `text` for the suite's leak scan (scripts/leak-scan.py): everything the code under test said — log
/// lines, error messages, the binary's output — goes to `$LOCAL_SERVERS_DIR/captured.log`.
pub fn capture(text: &str) {
    use std::io::Write as _;
    let Ok(dir) = std::env::var("LOCAL_SERVERS_DIR") else { return };
    let path = std::path::Path::new(&dir).join("captured.log");
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{text}");
    }
}

/// A `MakeWriter` that keeps everything written, for assertions on log output.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("logs are UTF-8")
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        capture(&String::from_utf8_lossy(buf));
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}
