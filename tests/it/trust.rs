//! Trust boundaries (docs/threat-model.md): each guarantee, played by an attacker against the real servers, or
//! against a small fake server where a real one cannot misbehave the way a hostile one would. Every attack fails
//! with an error that names what is wrong, and changes nothing.

use crate::common;

use common::fake_servers::{self, MyScript};
use common::*;
use mysql_async::prelude::Queryable;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rds_rotator::internal::{
    AccountAdmin, Config, DbEngine, DbSession, Drivers, EngineErrorKind, EngineKind, Login, LoginOutcome, Password,
    RotationSession, Step, Target, TlsChoice, UserName,
};

const INITIAL: &str = "Trust-initial-Passw0rd";
const MASTER_PASSWORD: &str = "Master-Passw0rd-never-sent";

fn drivers(vars: &[(&str, &str)]) -> Drivers {
    rds_rotator::internal::drivers(
        &Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).unwrap(),
    )
}

fn master_at(engine: EngineKind, port: u16) -> Target {
    Target {
        engine,
        host: "127.0.0.1".into(),
        port,
        dbname: None,
        tls: TlsChoice::Master { verified: false },
        tls_server_name: None,
    }
}

/// `needle` appears in `haystack`.
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

// ---------------------------------------------------------------- the master's password

/// A PostgreSQL server the master is sent to without verified TLS asks for its password in cleartext: the master
/// login refuses, in plaintext and over unverified TLS, and the server receives no password message.
#[tokio::test]
async fn a_master_login_never_answers_a_cleartext_request_from_an_unverified_server() {
    for (mode, tls) in [("disable", None), ("require", Some(fake_servers::local_tls()))] {
        let fake = fake_servers::pg_asking_cleartext(tls);
        let drivers = drivers(&[("MASTER_TLS_MODE", mode)]);
        let (user, password) = (UserName::new("postgres").unwrap(), Password::new(MASTER_PASSWORD.into()));
        let at = master_at(EngineKind::Postgres, fake.port);
        let err = match drivers.login(&at, Login { user: &user, password: &password }).await {
            Err(err) => err,
            Ok(_) => panic!("{mode}: the fake server's login succeeded"),
        };
        assert_eq!(err.kind, EngineErrorKind::Unverified, "{mode}: {err}");
        assert!(err.to_string().contains("asked for the password in cleartext"), "{err}");
        let received = fake.received();
        assert!(!contains(&received, MASTER_PASSWORD), "{mode}: the fake server received the master's password");
        capture(&String::from_utf8_lossy(&received));
    }
}

/// The same for a MySQL-family server that asks for caching_sha2_password's full authentication (the password, or
/// the password encrypted to a key the server chooses): refused before the driver sees it; and a master login over
/// unverified TLS is refused outright on this family, naming the setting.
#[tokio::test]
async fn a_master_login_never_answers_a_full_authentication_request_from_an_unverified_server() {
    let fake = fake_servers::mysql(MyScript::FullAuthentication);
    let drivers = drivers(&[("MASTER_TLS_MODE", "disable")]);
    let (user, password) = (UserName::new("admin").unwrap(), Password::new(MASTER_PASSWORD.into()));
    let login = Login { user: &user, password: &password };
    let err = match drivers.login(&master_at(EngineKind::Mysql, fake.port), login).await {
        Err(err) => err,
        Ok(_) => panic!("the fake server's login succeeded"),
    };
    assert_eq!(err.kind, EngineErrorKind::Unverified, "{err}");
    assert!(err.to_string().contains("full authentication"), "{err}");
    let received = fake.received();
    assert!(!contains(&received, MASTER_PASSWORD), "the fake server received the master's password");
    // The handshake response (the user, a scramble) and nothing after it: no key request, no password.
    assert!(contains(&received, "admin") && !received.ends_with(&[2]), "{received:?}");

    // A handshake that is not protocol 10, which mysql_async would take as one: refused before it is handed over.
    let fake = fake_servers::mysql(MyScript::ProtocolZero);
    let err = match drivers.login(&master_at(EngineKind::Mysql, fake.port), login).await {
        Err(err) => err,
        Ok(_) => panic!("the fake server's login succeeded"),
    };
    assert!(err.to_string().contains("not MySQL protocol 10"), "{err}");
    assert!(fake.received().is_empty(), "the driver never saw the handshake, and sent nothing");

    let fake = fake_servers::mysql(MyScript::FullAuthentication);
    let drivers = self::drivers(&[("MASTER_TLS_MODE", "require")]);
    let err = match drivers.login(&master_at(EngineKind::Mariadb, fake.port), login).await {
        Err(err) => err,
        Ok(_) => panic!("an unverified TLS master login was made"),
    };
    assert_eq!(err.kind, EngineErrorKind::Unverified, "{err}");
    assert!(err.to_string().contains("MASTER_TLS_MODE=require"), "{err}");
    assert!(fake.received().is_empty(), "no connection was made");
}

/// Master logins are verified TLS unless the operator says otherwise, whatever the secrets say: a master secret for
/// an address its server's certificate does not name, with `"ssl": false`, next to a rotated secret with
/// `"ssl": false`, fails on the certificate before any login, and nothing changes.
#[tokio::test]
async fn a_master_login_is_verified_tls_whatever_the_secrets_say() {
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let (admin, admin_password) = match engine {
            Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
            Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
        };
        let master = unique("unverified-master");
        let value = serde_json::json!({
            "engine": engine.engine_name(), "username": admin, "password": admin_password, "host": "127.0.0.1",
            "port": engine.port(), "ssl": false,
        });
        create_secret(&sm().await, &master, &value).await;
        let user = unique("trust_tls");
        engine.create_user(&user, INITIAL).await;
        let mut secret = engine.secret(&user, INITIAL);
        secret["masterarn"] = master.into();
        let secret_id = unique("trust-secret");
        create_secret(&sm().await, &secret_id, &secret).await;
        let users_before = engine.users(&user).await;
        let token = stage_rotation(&sm().await, &secret_id).await;
        let rotator = rotator().await;
        run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
        let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "DatabaseError", "{engine:?}: {err}");
        assert!(err.to_string().contains("hostname mismatch"), "{engine:?}: {err}");
        assert_eq!(engine.users(&user).await, users_before, "{engine:?}: nothing changed");
    }
}

/// A rotated secret whose host is an alias of the master's endpoint (127.0.0.1, whose certificate names "localhost"
/// only, the master secret's host) counts as the master's database by its `tlsServerName` only over verified TLS:
/// with `"ssl": true` it rotates, applications' logins going to the alias and verifying the name there; with
/// `"ssl": false` the name is only the secret writer's word, and the rotation is refused before any login, naming
/// what to do, with nothing changed.
#[tokio::test]
async fn an_alias_of_the_masters_endpoint_rotates_only_over_verified_tls() {
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let (admin, admin_password) = match engine {
            Engine::Postgres => (env("TEST_PG_ADMIN_USER"), env("TEST_PG_ADMIN_PASSWORD")),
            Engine::Mariadb => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
        };
        let masterarn = engine.master_secret(&admin, &admin_password).await;
        for ssl in [false, true] {
            let user = unique("trust_alias");
            engine.create_user(&user, INITIAL).await;
            let mut secret = engine.alternating_secret(&user, INITIAL, &masterarn);
            secret["host"] = "127.0.0.1".into();
            secret["tlsServerName"] = tls_host().into();
            secret["ssl"] = ssl.into();
            let secret_id = unique("trust-alias");
            create_secret(&sm().await, &secret_id, &secret).await;
            let token = stage_rotation(&sm().await, &secret_id).await;
            let rotator = rotator().await;
            let users_before = engine.users(&user).await;
            if ssl {
                let mark = std::fs::metadata(env("TEST_PG_LOG")).map(|m| m.len()).unwrap_or(0) as usize;
                run_rotation(&rotator, &secret_id, &token).await.unwrap();
                let current = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
                let clone = format!("{user}_clone");
                assert_eq!(current["username"].as_str(), Some(clone.as_str()), "{engine:?}");
                assert!(engine.logs_in(&clone, &password_of(&current)).await, "{engine:?}: the new user logs in");
                assert!(engine.logs_in(&user, INITIAL).await, "{engine:?}: the previous user keeps working");
                if engine == Engine::Postgres {
                    // The new user's logins (setSecret's wait and testSecret, at the alias) were TLS sessions.
                    let log = std::fs::read(env("TEST_PG_LOG")).unwrap();
                    let log = String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned();
                    let at_alias = log
                        .lines()
                        .any(|line| line.contains(&format!("user={clone} ")) && line.contains("SSL enabled"));
                    assert!(at_alias, "{log}");
                }
            } else {
                run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
                let labels = versions(&sm().await, &secret_id).await;
                let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
                assert_eq!(err.error_type(), "MasterSecretError", "{engine:?}: {err}");
                let text = err.to_string();
                assert!(
                    text.contains(&format!("its tlsServerName {} stands for its host only where", tls_host())),
                    "{text}"
                );
                assert!(text.contains("set the rotated secret's \"ssl\" to true"), "{text}");
                assert_eq!(engine.users(&user).await, users_before, "{engine:?}: nothing changed");
                assert_eq!(versions(&sm().await, &secret_id).await, labels, "{engine:?}: the labels are unchanged");
            }
        }
    }
}

// ---------------------------------------------------------------- the operator's TLS floor

/// `DB_TLS_MINIMUM` wins over a secret's `"ssl": false`: against a server without TLS the login is refused before
/// the server sees the user; against one with TLS it is verified.
#[tokio::test]
async fn a_secret_cannot_lower_the_operators_tls_minimum() {
    let user = unique("trust_floor");
    engine_user_on_plain_cluster(&user).await;
    let plain_port: u16 = env("TEST_PG_PLAIN_PORT").parse().unwrap();
    let mut secret = pg_secret(&user, INITIAL);
    secret["port"] = plain_port.into();
    let secret_id = unique("trust-floor");
    create_secret(&sm().await, &secret_id, &secret).await;
    let rotator = rotator_with(&[("DB_TLS_MINIMUM", "require")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let log = env("TEST_PG_PLAIN_LOG");
    let mark = std::fs::metadata(&log).unwrap().len() as usize;
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert!(err.to_string().contains("the database offers no TLS"), "{err}");
    let seen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()[mark..]).into_owned();
    assert!(!seen.contains(&user), "the server saw a login of {user}: {seen}");

    // With TLS on offer, `"ssl": false` under a verify-full minimum logs in verified (the host is the name the
    // certificate carries) and the rotation completes.
    let user = unique("trust_floor_tls");
    pg_create_role(&user, INITIAL).await;
    let mut secret = pg_secret(&user, INITIAL);
    secret["host"] = tls_host().into();
    let secret_id = unique("trust-floor");
    create_secret(&sm().await, &secret_id, &secret).await;
    let rotator = rotator_with(&[("DB_TLS_MINIMUM", "verify-full")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    assert!(log_mentions_tls_for(&user), "PostgreSQL recorded the rotator's logins as TLS");
}

async fn engine_user_on_plain_cluster(user: &str) {
    let port: u16 = env("TEST_PG_PLAIN_PORT").parse().unwrap();
    let admin = pg_connect_at(port, &env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await.unwrap();
    let sql =
        format!("CREATE ROLE {} LOGIN PASSWORD {}", escape_identifier(user), escape_literal(&pg_verifier(INITIAL)));
    admin.batch_execute(&sql).await.unwrap();
}

/// PostgreSQL's log records each authorized connection with its TLS protocol: every one of `user`'s was TLS.
fn log_mentions_tls_for(user: &str) -> bool {
    let log = pg_statement_log();
    let logins: Vec<&str> =
        log.lines().filter(|line| line.contains(&format!("connection authorized: user={user} "))).collect();
    !logins.is_empty() && logins.iter().all(|line| line.contains("SSL enabled"))
}

// ---------------------------------------------------------------- single user: the session's own user

/// PostgreSQL: a user whose role setting switches its sessions to another role (`ALTER ROLE app SET role = …`)
/// still changes its own password — `SESSION_USER`, not the role `CURRENT_USER` follows — and the other role's
/// password is untouched.
#[tokio::test]
async fn a_role_setting_cannot_redirect_a_single_user_rotation() {
    let (app, victim) = (unique("trust_app"), unique("trust_victim"));
    pg_create_role(&app, INITIAL).await;
    pg_create_role(&victim, "victims-own-Passw0rd").await;
    let (app_q, victim_q) = (escape_identifier(&app), escape_identifier(&victim));
    let sql = format!("GRANT {victim_q} TO {app_q}; ALTER ROLE {app_q} SET role = {}", escape_literal(&victim));
    pg_admin().await.batch_execute(&sql).await.unwrap();
    let victim_before = pg_stored_password(&victim).await;
    let secret_id = unique("trust-role");
    create_secret(&sm().await, &secret_id, &pg_secret(&app, INITIAL)).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();
    let current = password_of(&secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&app, &current).await, "the session user's own password changed");
    assert!(!pg_logs_in(&app, INITIAL).await);
    assert_eq!(pg_stored_password(&victim).await, victim_before, "the role it is set to is untouched");
    assert!(pg_logs_in(&victim, "victims-own-Passw0rd").await);
}

// ---------------------------------------------------------------- bounded statements

/// Another session holds a lock the password change needs: the statement stops after `STATEMENT_TIMEOUT_SECONDS`
/// with a transient error that names the setting, nothing changes, and once the lock is gone the retry completes.
#[tokio::test]
async fn a_statement_blocked_by_a_lock_stops_in_time_and_the_retry_converges() {
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let user = unique("trust_lock");
        engine.create_user(&user, INITIAL).await;
        let secret_id = unique("trust-lock");
        create_secret(&sm().await, &secret_id, &engine.secret(&user, INITIAL)).await;
        let rotator = rotator_with(&[("STATEMENT_TIMEOUT_SECONDS", "1")]).await;
        let token = stage_rotation(&sm().await, &secret_id).await;
        run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();

        let holder = hold_lock(engine, &user).await;
        let started = std::time::Instant::now();
        let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(err.error_type(), "DatabaseUnavailable", "{engine:?}: {err}");
        assert!(err.is_transient() && err.to_string().contains("STATEMENT_TIMEOUT_SECONDS"), "{err}");
        assert!(waited < std::time::Duration::from_secs(10), "{engine:?}: it waited {waited:?}");
        holder.release().await;
        assert!(engine.logs_in(&user, INITIAL).await, "{engine:?}: nothing changed");

        for step in [Step::Set, Step::Test, Step::Finish] {
            run_step(&rotator, &secret_id, &token, step).await.unwrap_or_else(|err| panic!("{engine:?} {step}: {err}"));
        }
        let current = password_of(&secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap());
        assert!(engine.logs_in(&user, &current).await);
    }
}

/// A session holding what a password change of `user` waits for: PostgreSQL, the role's row (an uncommitted
/// ALTER ROLE); MariaDB, the grant table (LOCK TABLES … WRITE).
enum LockHolder {
    Postgres(tokio_postgres::Client),
    Mariadb(mysql_async::Conn),
}

async fn hold_lock(engine: Engine, user: &str) -> LockHolder {
    match engine {
        Engine::Postgres => {
            let admin = pg_admin().await;
            let sql = format!("BEGIN; ALTER ROLE {} CONNECTION LIMIT 50", escape_identifier(user));
            admin.batch_execute(&sql).await.unwrap();
            LockHolder::Postgres(admin)
        }
        Engine::Mariadb => {
            let mut admin = my_admin().await;
            admin.query_drop("LOCK TABLES mysql.global_priv WRITE").await.unwrap();
            LockHolder::Mariadb(admin)
        }
    }
}

impl LockHolder {
    async fn release(self) {
        match self {
            LockHolder::Postgres(admin) => admin.batch_execute("ROLLBACK").await.unwrap(),
            LockHolder::Mariadb(mut admin) => {
                admin.query_drop("UNLOCK TABLES").await.unwrap();
                admin.disconnect().await.unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------- unexpected server data

/// An application login in plaintext (`"ssl": false`) to a hostile MySQL-family server: full authentication with a
/// public key that is no key (mysql_async would panic on it) is refused with an error, as is a handshake of another
/// protocol; the process lives on.
#[tokio::test]
async fn a_hostile_server_cannot_panic_an_application_login() {
    for script in [MyScript::FullAuthentication, MyScript::ProtocolZero] {
        let fake = fake_servers::mysql(script);
        let drivers = drivers(&[]);
        let (user, password) = (UserName::new("app").unwrap(), Password::new("apps-own".into()));
        let at = Target { tls: TlsChoice::Secret(Some(false)), ..master_at(EngineKind::Mysql, fake.port) };
        let err = match drivers.login(&at, Login { user: &user, password: &password }).await {
            Err(err) => err,
            Ok(_) => panic!("the fake server's login succeeded"),
        };
        assert_eq!(err.kind, EngineErrorKind::LoginRefused, "{err}");
        let _ = fake.received();
    }
}

/// A server that answers a query with a row of another shape than asked for gets an error that says so, not a
/// panic (mysql_async's own conversion would panic).
#[tokio::test]
async fn a_row_of_an_unexpected_shape_is_an_error_not_a_panic() {
    let fake = fake_servers::mysql(MyScript::OddRows);
    let drivers = drivers(&[]);
    let (user, password) = (UserName::new("app").unwrap(), Password::new("whatever".into()));
    let at = Target { tls: TlsChoice::Secret(Some(false)), ..master_at(EngineKind::Mysql, fake.port) };
    let mut session = match drivers.login(&at, Login { user: &user, password: &password }).await {
        Ok(LoginOutcome::Accepted(session)) => session,
        Ok(LoginOutcome::Rejected) => panic!("refused"),
        Err(err) => panic!("{err}"),
    };
    let err = session.set_password(&user, &Password::new("new-one".into())).await.unwrap_err();
    assert!(err.to_string().contains("unexpected shape"), "{err}");
    session.close().await;
    let received = fake.received();
    assert!(contains(&received, "SET NAMES utf8mb4"), "the session was pinned first");
}

// ---------------------------------------------------------------- the MySQL-family character set

/// A session on the server whose sessions start in GBK (unless they are an administrator's): as root, pinned to
/// utf8mb4, or as `user` with the server's GBK.
async fn gbk_session(user: Option<(&str, &str)>) -> mysql_async::Conn {
    let (name, password) = match user {
        Some((name, password)) => (name.to_owned(), password.to_owned()),
        None => (env("TEST_MARIADB_ADMIN_USER"), env("TEST_MARIADB_ADMIN_PASSWORD")),
    };
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(env("TEST_MARIADB_HOST"))
        .tcp_port(env("TEST_MARIADB_GBK_PORT").parse().unwrap())
        .user(Some(name))
        .pass(Some(password))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    if user.is_none() {
        conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    }
    conn
}

/// A backtick-quoted MariaDB identifier, as the function writes one.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

async fn gbk_user_exists(name: &str) -> bool {
    let mut admin = gbk_session(None).await;
    let count: Option<u64> = admin.exec_first("SELECT COUNT(*) FROM mysql.user WHERE User = ?", (name,)).await.unwrap();
    admin.disconnect().await.unwrap();
    count.unwrap_or(0) > 0
}

/// The server's sessions start in GBK, in which the last byte of "中" written in UTF-8 and a backtick form one
/// character: the backtick that doubles a name's backtick is swallowed, the next one closes the name, and the rest of
/// the name is SQL. The test shows the server does that to a session that does not pin its character set — the
/// master's `CREATE USER` of one hostile name creates a second, passwordless user — and then rotates a user with such
/// a name, with alternating users and that least-privileged master: the function's sessions are pinned to utf8mb4,
/// the names reach the server as they are, and nothing else is created.
#[tokio::test]
async fn a_multi_byte_session_character_set_cannot_unquote_a_name() {
    let tag = unique("g").replace('_', "");
    let (evil, probe, master, database) =
        (format!("evil{tag}"), format!("p{tag}"), format!("m{tag}"), format!("db{tag}"));
    let hostile = |who: &str| format!("{who}中`@'%',{evil}@'%'-- ");
    let base = hostile(&format!("b{tag}"));
    let mut admin = gbk_session(None).await;
    for sql in [
        // A least-privileged master: not an administrator, so its sessions start in GBK.
        format!("CREATE USER {}@'%' IDENTIFIED BY {}", ident(&master), my_quote(MASTER_PASSWORD)),
        format!("GRANT CREATE USER ON *.* TO {}@'%'", ident(&master)),
        format!("GRANT SELECT ON mysql.* TO {}@'%'", ident(&master)),
        format!("CREATE DATABASE {}", ident(&database)),
        format!("GRANT SELECT ON {}.* TO {}@'%' WITH GRANT OPTION", ident(&database), ident(&master)),
        format!("CREATE USER {}@'%' IDENTIFIED BY {}", ident(&base), my_quote(INITIAL)),
        format!("GRANT SELECT ON {}.* TO {}@'%'", ident(&database), ident(&base)),
    ] {
        admin.query_drop(sql).await.unwrap();
    }

    // The attack works on the master's own session when it is not pinned.
    let mut raw = gbk_session(Some((&master, MASTER_PASSWORD))).await;
    let charset: Option<String> = raw.query_first("SELECT @@character_set_client").await.unwrap();
    assert_eq!(charset.as_deref(), Some("gbk"));
    raw.query_drop(format!("CREATE USER {}@`%` IDENTIFIED BY 'x-Passw0rd'", ident(&hostile(&probe)))).await.unwrap();
    raw.disconnect().await.unwrap();
    assert!(gbk_user_exists(&evil).await, "the GBK session let the name's tail create {evil}");
    admin.query_drop(format!("DROP USER {}@'%'", ident(&evil))).await.unwrap();
    admin.disconnect().await.unwrap();

    // A rotation of a user named the same way changes that user and its clone only.
    let gbk_port: u16 = env("TEST_MARIADB_GBK_PORT").parse().unwrap();
    let masterarn = unique("gbk-master");
    let value = serde_json::json!({"engine": "mariadb", "username": master, "password": MASTER_PASSWORD, "host": tls_host(), "port": gbk_port});
    create_secret(&sm().await, &masterarn, &value).await;
    let secret = serde_json::json!({
        "engine": "mariadb", "host": tls_host(), "port": gbk_port, "username": base, "password": INITIAL,
        "ssl": false, "masterarn": masterarn,
    });
    let secret_id = unique("gbk-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();
    let current = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(current["username"].as_str(), Some(format!("{base}_clone").as_str()));
    assert!(gbk_user_exists(&format!("{base}_clone")).await, "the clone has the exact name");
    assert!(!gbk_user_exists(&evil).await, "nothing else was created");
}

// ---------------------------------------------------------------- the master's session

/// The owner of a database can set its `search_path` to a schema of theirs, where a function named like a catalog
/// function runs as whoever calls it. The master never opens the database the rotated secret names, and every
/// session pins its search path and names the catalog's objects in full: the owner's function never runs as the
/// master, even in a master session opened in that very database.
#[tokio::test]
async fn a_database_search_path_cannot_run_code_as_the_master() {
    let database = unique("trust_db");
    let admin = pg_admin().await;
    admin.batch_execute(&format!("CREATE DATABASE {}", escape_identifier(&database))).await.unwrap();
    let mut owner = tokio_postgres::Config::new();
    owner.host(pg_host()).port(pg_port()).user(env("TEST_PG_ADMIN_USER")).password(env("TEST_PG_ADMIN_PASSWORD"));
    let (owner, connection) = owner.dbname(&database).connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    owner
        .batch_execute(&format!(
            "CREATE SCHEMA evil; CREATE TABLE evil.loot (who text); GRANT ALL ON SCHEMA evil TO PUBLIC; \
             GRANT ALL ON evil.loot TO PUBLIC; \
             CREATE FUNCTION evil.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO evil.loot VALUES (current_user); RETURN false; END $$; \
             CREATE FUNCTION evil.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO evil.loot VALUES (current_user); RETURN; END $$; \
             ALTER DATABASE {} SET search_path = evil, pg_catalog",
            escape_identifier(&database)
        ))
        .await
        .unwrap();

    // An alternating rotation whose secret names that database.
    let master = unique("trust_master");
    create_rds_master(Engine::Postgres, &master, MASTER_PASSWORD).await;
    let user = unique("trust_sp");
    pg_create_role_as(&master, MASTER_PASSWORD, &user, INITIAL).await;
    let masterarn = Engine::Postgres.master_secret(&master, MASTER_PASSWORD).await;
    let mut secret = Engine::Postgres.alternating_secret(&user, INITIAL, &masterarn);
    secret["dbname"] = database.clone().into();
    let secret_id = unique("trust-sp");
    create_secret(&sm().await, &secret_id, &secret).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();

    // A master session opened in that database all the same (a master secret naming it).
    let drivers = drivers(&[("DB_EXTRA_CA_BUNDLE", &env("TEST_TLS_CA"))]);
    let at = Target {
        engine: EngineKind::Postgres,
        host: tls_host(),
        port: pg_port(),
        dbname: Some(database.clone()),
        tls: TlsChoice::Master { verified: false },
        tls_server_name: None,
    };
    let (name, password) = (UserName::new(&master).unwrap(), Password::new(MASTER_PASSWORD.into()));
    let Ok(LoginOutcome::Accepted(mut session)) = drivers.login(&at, Login { user: &name, password: &password }).await
    else {
        panic!("the master logs in");
    };
    assert_eq!(session.account_power(&UserName::new(&user).unwrap()).await.unwrap(), None);
    session.close().await;
    let loot = owner.query("SELECT who FROM evil.loot", &[]).await.unwrap();
    assert!(
        loot.is_empty(),
        "the owner's function ran as {:?}",
        loot.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>()
    );
}
