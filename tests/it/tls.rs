//! TLS on real servers: verified rotations that are encrypted on the server's side, failures that name what went
//! wrong without a plaintext attempt (the server's log never sees the user), and the modes. The servers use a
//! throwaway CA ($TEST_TLS_CA) whose certificates name "localhost" only, so 127.0.0.1 is a hostname mismatch.

use crate::common;

use common::*;
use rds_rotator::internal::Step;
use rds_rotator::internal::logging::{self, LogSettings};

const INITIAL: &str = "initial-Passw0rd!";

fn trusting_the_test_ca() -> Vec<(&'static str, String)> {
    vec![("DB_EXTRA_CA_BUNDLE", env("TEST_TLS_CA"))]
}

/// A rotator with exactly these settings: the local CA is trusted only when `vars` says so.
async fn rotator_from(vars: &[(&str, String)]) -> rds_rotator::internal::AwsRotator {
    let mut vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !vars.iter().any(|(k, _)| *k == "DB_EXTRA_CA_BUNDLE") {
        vars.push(("DB_EXTRA_CA_BUNDLE", ""));
    }
    rotator_with(&vars).await
}

/// The server log's text from `mark` on.
fn log_since(path: &str, mark: usize) -> String {
    let log = std::fs::read(path).expect("the server log is readable");
    String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned()
}

fn log_len(path: &str) -> usize {
    std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}

/// A user and a secret for it at `host`:`port`, with `ssl` as given (None: no key), and a staged rotation.
async fn staged(
    engine: Engine,
    host: &str,
    port: u16,
    ssl: Option<bool>,
) -> (String, String, rds_rotator::internal::VersionId) {
    staged_named(engine, host, None, port, ssl).await
}

/// As `staged`, the secret naming `tls_server_name` (None: no key) as the name its host's certificate carries.
async fn staged_named(
    engine: Engine,
    host: &str,
    tls_server_name: Option<&str>,
    port: u16,
    ssl: Option<bool>,
) -> (String, String, rds_rotator::internal::VersionId) {
    let user = unique("tls");
    engine.create_user(&user, INITIAL).await;
    let mut secret = engine.secret(&user, INITIAL);
    secret["host"] = host.into();
    secret["port"] = port.into();
    if let Some(name) = tls_server_name {
        secret["tlsServerName"] = name.into();
    }
    match ssl {
        Some(ssl) => secret["ssl"] = ssl.into(),
        None => drop(secret.as_object_mut().unwrap().remove("ssl")),
    }
    let secret_id = unique("tls-secret");
    let sm = sm().await;
    create_secret(&sm, &secret_id, &secret).await;
    let token = stage_rotation(&sm, &secret_id).await;
    (user, secret_id, token)
}

fn port_of(engine: Engine) -> u16 {
    match engine {
        Engine::Postgres => pg_port(),
        Engine::Mariadb => my_port(),
    }
}

fn log_of(engine: Engine) -> String {
    match engine {
        Engine::Postgres => env("TEST_PG_LOG"),
        Engine::Mariadb => env("TEST_MARIADB_GENERAL_LOG"),
    }
}

/// What the server logs when `user`'s session is encrypted.
fn encrypted_login_line(engine: Engine, log: &str, user: &str) -> bool {
    log.lines().any(|line| match engine {
        Engine::Postgres => line.contains(&format!("user={user} ")) && line.contains("SSL enabled (protocol=TLSv1."),
        Engine::Mariadb => line.contains(&format!("Connect\t{user}@")) && line.ends_with("using SSL/TLS"),
    })
}

async fn verified_rotation(engine: Engine, ssl: Option<bool>) {
    let (user, secret_id, token) = staged(engine, &env("TEST_TLS_HOST"), port_of(engine), ssl).await;
    let mark = log_len(&log_of(engine));
    run_rotation(&rotator_from(&trusting_the_test_ca()).await, &secret_id, &token).await.unwrap();
    let new = password_of(&secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(engine.logs_in(&user, &new).await);
    assert!(!engine.logs_in(&user, INITIAL).await);
    let log = log_since(&log_of(engine), mark);
    assert!(encrypted_login_line(engine, &log, &user), "the server saw only TLS sessions of {user}:\n{log}");
}

#[tokio::test]
async fn postgres_rotates_over_verified_tls_by_default() {
    verified_rotation(Engine::Postgres, None).await;
}

#[tokio::test]
async fn mariadb_rotates_over_verified_tls_by_default() {
    verified_rotation(Engine::Mariadb, None).await;
}

#[tokio::test]
async fn ssl_true_means_verified_tls_whatever_the_mode() {
    verified_rotation(Engine::Postgres, Some(true)).await;
}

/// A TLS failure: the step fails with `expected` in its message, the server's log never sees the user (no login was
/// sent, in plaintext or otherwise), and nothing changed.
async fn tls_failure(engine: Engine, host: &str, port: u16, log: &str, vars: &[(&str, String)], expected: &str) {
    tls_failure_named(engine, (host, None), port, log, vars, &[expected]).await;
}

/// As `tls_failure`, for a secret at `host` naming `tls_server_name` (None: no key); every one of `expected` is in
/// the message, and the secret's labels are as they were before setSecret.
async fn tls_failure_named(
    engine: Engine,
    (host, tls_server_name): (&str, Option<&str>),
    port: u16,
    log: &str,
    vars: &[(&str, String)],
    expected: &[&str],
) {
    let (user, secret_id, token) = staged_named(engine, host, tls_server_name, port, None).await;
    let rotator = rotator_from(vars).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let labels = versions(&sm().await, &secret_id).await;
    let mark = log_len(log);
    for step in [Step::Set, Step::Test] {
        let err = run_step(&rotator, &secret_id, &token, step).await.unwrap_err();
        for expected in expected {
            assert!(err.to_string().contains(expected), "{step}: expected {expected:?} in: {err}");
        }
        assert!(err.to_string().contains(&format!("{host}:{port}")), "{err}");
    }
    let seen = log_since(log, mark);
    assert!(!seen.contains(&user), "the server saw a login of {user}:\n{seen}");
    assert!(engine.logs_in(&user, INITIAL).await || port != port_of(engine), "the password is unchanged");
    let current = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(password_of(&current), INITIAL);
    assert_eq!(versions(&sm().await, &secret_id).await, labels, "the labels are unchanged");
}

#[tokio::test]
async fn an_untrusted_chain_is_refused_on_both_engines() {
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let host = env("TEST_TLS_HOST");
        tls_failure(engine, &host, port_of(engine), &log_of(engine), &[], "untrusted certificate chain").await;
    }
}

#[tokio::test]
async fn a_hostname_mismatch_is_refused_on_both_engines() {
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let vars = trusting_the_test_ca();
        tls_failure(engine, "127.0.0.1", port_of(engine), &log_of(engine), &vars, "hostname mismatch").await;
    }
}

/// A host that is an alias of the name its server's certificate carries (here 127.0.0.1, whose certificate names
/// "localhost" only): without `tlsServerName`, verified TLS fails closed on the host; naming the certificate's name
/// rotates, over TLS the server saw, connecting to the host; naming another name fails closed, naming the name
/// checked, with no login sent and nothing changed.
async fn a_tls_server_name_is_checked_in_place_of_the_host(engine: Engine) {
    let (port, log, vars) = (port_of(engine), log_of(engine), trusting_the_test_ca());
    let alias = "127.0.0.1";
    tls_failure_named(
        engine,
        (alias, None),
        port,
        &log,
        &vars,
        &["hostname mismatch", "not for the secret's host 127.0.0.1"],
    )
    .await;

    let (user, secret_id, token) = staged_named(engine, alias, Some(&env("TEST_TLS_HOST")), port, None).await;
    let mark = log_len(&log);
    run_rotation(&rotator_from(&vars).await, &secret_id, &token).await.unwrap();
    let current = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(
        (current["host"].as_str(), current["tlsServerName"].as_str()),
        (Some(alias), Some(env("TEST_TLS_HOST").as_str()))
    );
    assert!(engine.logs_in(&user, &password_of(&current)).await, "the new password logs in");
    assert!(!engine.logs_in(&user, INITIAL).await, "the old one is refused");
    let seen = log_since(&log, mark);
    assert!(encrypted_login_line(engine, &seen, &user), "the server saw only TLS sessions of {user}:\n{seen}");

    tls_failure_named(
        engine,
        (alias, Some("db.example.com")),
        port,
        &log,
        &vars,
        &[
            "hostname mismatch",
            "not for db.example.com, the secret's tlsServerName (checked in place of its host 127.0.0.1)",
        ],
    )
    .await;
}

#[tokio::test]
async fn postgres_checks_a_tls_server_name_in_place_of_the_host() {
    a_tls_server_name_is_checked_in_place_of_the_host(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_checks_a_tls_server_name_in_place_of_the_host() {
    a_tls_server_name_is_checked_in_place_of_the_host(Engine::Mariadb).await;
}

/// The TLS handshake sends the name it verifies (SNI), on both drivers: the `tlsServerName` when the secret has one;
/// for a host that is an IP address and no name, none (SNI carries no addresses).
#[tokio::test]
async fn the_handshake_sends_the_tls_server_name() {
    use rds_rotator::internal::{DbEngine, EngineKind, Login, Password, Target, TlsChoice, UserName};
    let config =
        rds_rotator::internal::Config::from_lookup(|name| (name == "DB_EXTRA_CA_BUNDLE").then(|| env("TEST_TLS_CA")))
            .unwrap();
    let drivers = rds_rotator::internal::drivers(&config);
    let (user, password) = (UserName::new("app").unwrap(), Password::new("never-checked".into()));
    for engine in [EngineKind::Postgres, EngineKind::Mariadb] {
        for (name, sent) in [(Some(env("TEST_TLS_HOST")), env("TEST_TLS_HOST")), (None, String::new())] {
            let fake = fake_servers::tls_hello(engine == EngineKind::Mariadb);
            let at = Target {
                engine,
                host: "127.0.0.1".into(),
                port: fake.port,
                dbname: None,
                tls: TlsChoice::Secret(None),
                tls_server_name: name.clone(),
            };
            // The fake hangs up after the handshake: the login fails either way.
            assert!(drivers.login(&at, Login { user: &user, password: &password }).await.is_err());
            assert_eq!(String::from_utf8(fake.received()).unwrap(), sent, "{engine} with {name:?}");
        }
    }
}

/// `tlsServerName` never lowers TLS: under `require` it is only sent (nothing is verified, as without it), and with
/// `"ssl": false` the login is plaintext, as without it.
#[tokio::test]
async fn a_tls_server_name_changes_no_tls_mode() {
    let (user, secret_id, token) =
        staged_named(Engine::Postgres, "127.0.0.1", Some("db.example.com"), pg_port(), None).await;
    let mark = log_len(&env("TEST_PG_LOG"));
    run_rotation(&rotator_with(&[("DB_TLS_MODE", "require")]).await, &secret_id, &token).await.unwrap();
    let log = log_since(&env("TEST_PG_LOG"), mark);
    assert!(encrypted_login_line(Engine::Postgres, &log, &user), "{log}");

    let (user, secret_id, token) =
        staged_named(Engine::Postgres, "127.0.0.1", Some("db.example.com"), pg_port(), Some(false)).await;
    let mark = log_len(&env("TEST_PG_LOG"));
    run_rotation(&rotator_from(&[]).await, &secret_id, &token).await.unwrap();
    let log = log_since(&env("TEST_PG_LOG"), mark);
    let plaintext =
        log.lines().any(|l| l.contains(&format!("connection authorized: user={user} ")) && !l.contains("SSL"));
    assert!(plaintext, "{log}");
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let port: u16 = env("TEST_PG_EXPIRED_PORT").parse().unwrap();
    let log = env("TEST_PG_EXPIRED_LOG");
    tls_failure(Engine::Postgres, &env("TEST_TLS_HOST"), port, &log, &trusting_the_test_ca(), "expired certificate")
        .await;
}

#[tokio::test]
async fn a_server_without_tls_is_refused_unless_the_mode_allows_plaintext() {
    let port: u16 = env("TEST_PG_PLAIN_PORT").parse().unwrap();
    let log = env("TEST_PG_PLAIN_LOG");
    let host = env("TEST_TLS_HOST");
    for mode in ["verify-full", "require"] {
        let mut vars = trusting_the_test_ca();
        vars.push(("DB_TLS_MODE", mode.to_owned()));
        tls_failure(Engine::Postgres, &host, port, &log, &vars, "the database offers no TLS").await;
    }
}

#[tokio::test]
async fn prefer_falls_back_to_plaintext_only_without_tls_and_says_so() {
    let logs = LogBuffer::default();
    let settings = LogSettings { json: false, directives: "warn".into(), timestamps: false };
    let _guard = tracing::subscriber::set_default(logging::subscriber(&settings, logs.clone()));
    let mut vars = trusting_the_test_ca();
    vars.push(("DB_TLS_MODE", "prefer".to_owned()));
    let rotator = rotator_from(&vars).await;

    // A server without TLS: plaintext, with a warning. The user lives in that cluster.
    let port: u16 = env("TEST_PG_PLAIN_PORT").parse().unwrap();
    let user = unique("prefer");
    let admin = pg_connect_at(port, &env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await.unwrap();
    let create =
        format!("CREATE ROLE {} LOGIN PASSWORD '{INITIAL}'", postgres_protocol::escape::escape_identifier(&user));
    admin.batch_execute(&create).await.unwrap();
    let mut secret = pg_secret(&user, INITIAL);
    secret["host"] = env("TEST_TLS_HOST").into();
    secret["port"] = port.into();
    secret.as_object_mut().unwrap().remove("ssl");
    let secret_id = unique("prefer-secret");
    let sm = sm().await;
    create_secret(&sm, &secret_id, &secret).await;
    let token = stage_rotation(&sm, &secret_id).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    assert!(logs.text().contains("offers no TLS; DB_TLS_MODE=prefer allows plaintext"), "{}", logs.text());

    // A server with TLS whose certificate fails: no fallback.
    let host = env("TEST_TLS_HOST");
    let expired: u16 = env("TEST_PG_EXPIRED_PORT").parse().unwrap();
    tls_failure(Engine::Postgres, &host, expired, &env("TEST_PG_EXPIRED_LOG"), &vars, "expired certificate").await;
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    // No test CA: verify-full would refuse this chain; require encrypts anyway.
    let (user, secret_id, token) = staged(Engine::Postgres, "127.0.0.1", pg_port(), None).await;
    let mark = log_len(&env("TEST_PG_LOG"));
    let rotator = rotator_with(&[("DB_TLS_MODE", "require")]).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    let log = log_since(&env("TEST_PG_LOG"), mark);
    assert!(encrypted_login_line(Engine::Postgres, &log, &user), "{log}");
}

#[tokio::test]
async fn disable_and_ssl_false_rotate_in_plaintext() {
    for (ssl, vars) in [(Some(false), vec![]), (None, vec![("DB_TLS_MODE", "disable".to_owned())])] {
        let (user, secret_id, token) = staged(Engine::Postgres, "127.0.0.1", pg_port(), ssl).await;
        let mark = log_len(&env("TEST_PG_LOG"));
        run_rotation(&rotator_from(&vars).await, &secret_id, &token).await.unwrap();
        let log = log_since(&env("TEST_PG_LOG"), mark);
        let plaintext =
            log.lines().any(|l| l.contains(&format!("connection authorized: user={user} ")) && !l.contains("SSL"));
        assert!(plaintext, "{log}");
    }
}

#[tokio::test]
async fn a_server_that_demands_tls_is_named_when_tls_is_off() {
    // PostgreSQL says so (pg_hba.conf hostnossl … reject).
    let (user, secret_id, token) = staged(Engine::Postgres, "127.0.0.1", pg_port(), Some(false)).await;
    let grant = format!("GRANT tls_required TO {}", postgres_protocol::escape::escape_identifier(&user));
    pg_admin().await.batch_execute(&grant).await.unwrap();
    let rotator = rotator().await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseError", "{err}");
    assert!(err.to_string().contains("the server requires TLS for this login, and TLS is off here"), "{err}");

    // MariaDB answers "access denied", as for a wrong password: the error says what else it may mean.
    let (user, secret_id, token) = staged(Engine::Mariadb, "127.0.0.1", my_port(), Some(false)).await;
    my_exec(&format!("ALTER USER {}@'%' REQUIRE SSL", my_quote(&user))).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "CredentialsRejected", "{err}");
    assert!(err.to_string().contains("REQUIREs SSL"), "{err}");
}

/// Every certificate built in, from both bundles.
fn built_in_certificates() -> Vec<x509_cert::Certificate> {
    rds_rotator::internal::BUILT_IN_BUNDLES
        .iter()
        .flat_map(|pem| x509_cert::Certificate::load_pem_chain(pem).expect("the bundle parses"))
        .collect()
}

/// The Regions where AWS runs RDS, from botocore 1.44.8's endpoints.json (the `rds` service of the `aws` and
/// `aws-us-gov` partitions). A Region AWS opens is added here; the test then fails until its CAs are built in.
const RDS_REGIONS: [&str; 36] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// Every Region AWS runs RDS in has its three current root CAs built in (RSA2048, RSA4096, ECC384 G1), so verified
/// TLS works there without DB_EXTRA_CA_BUNDLE. China's are not built in (one source only; docs say so).
#[test]
fn every_rds_region_has_its_root_cas_built_in() {
    let names: Vec<String> = built_in_certificates()
        .iter()
        .map(|cert| cert.tbs_certificate.subject.to_string())
        .filter_map(|subject| subject.split(',').find_map(|part| part.strip_prefix("CN=")).map(str::to_owned))
        .collect();
    let mut missing = Vec::new();
    for region in RDS_REGIONS {
        for kind in ["RSA2048", "RSA4096", "ECC384"] {
            let cn = format!("Amazon RDS {region} Root CA {kind} G1");
            if !names.contains(&cn) {
                missing.push(cn);
            }
        }
    }
    assert!(missing.is_empty(), "not built in: {missing:?}");
    assert!(!names.iter().any(|cn| cn.contains(" cn-")), "China's CAs are documented, not built in");
}

/// The built-in bundle: every certificate is a CA certificate, and its subject is one of the RDS or RDS Proxy CAs.
#[test]
fn the_built_in_bundle_holds_only_the_expected_cas() {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::BasicConstraints;
    let certs = built_in_certificates();
    assert_eq!(certs.len(), 147);
    let expected = |cn: &str| {
        let rds = cn.starts_with("Amazon RDS ")
            && ["Root CA RSA2048 G1", "Root CA RSA4096 G1", "Root CA ECC384 G1", "2019 CA", "Root CA", " CA"]
                .iter()
                .any(|suffix| cn.ends_with(suffix));
        let proxy = cn.starts_with("Amazon Root CA ") || cn == "Starfield Services Root Certificate Authority - G2";
        rds || proxy
    };
    for cert in certs {
        let subject = cert.tbs_certificate.subject.to_string();
        let cn = subject.split(',').find_map(|part| part.strip_prefix("CN=")).unwrap_or_default().to_owned();
        assert!(expected(&cn), "unexpected subject {subject}");
        let constraints = cert.tbs_certificate.extensions.iter().flatten().find_map(|ext| {
            (ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
                .then(|| BasicConstraints::from_der(ext.extn_value.as_bytes()).unwrap())
        });
        assert!(constraints.is_some_and(|c| c.ca), "{cn} is not a CA certificate");
    }
}
