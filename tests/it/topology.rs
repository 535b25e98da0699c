//! RDS topology against the emulator's RDS API (moto), with the database side on the real local servers. moto
//! names endpoints such as `db1.aaaaaaaaaa.us-east-1.rds.amazonaws.com`; the test-only `RDS_ENDPOINT_MAP` sends
//! the function's connections for them to the local clusters: the writer to the main PostgreSQL cluster, a reader
//! or replica to the second cluster (`TEST_PG_PLAIN_PORT`), to which a task of the test "replicates" the writer's
//! new verifier, after a delay, as replication would.

use crate::common;

use std::time::Duration;

use aws_sdk_rds::Client as RdsClient;
use common::aws_proxy::AwsProxy;
use common::*;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rds_rotator::internal::logging::{self, LogSettings};
use rds_rotator::internal::{Outcome, Step};
use serde_json::json;

const INITIAL: &str = "Topology-initial-Passw0rd";

async fn rds() -> RdsClient {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    RdsClient::new(&config)
}

/// An RDS identifier no other test uses (lower case, letters, digits, hyphens).
fn rds_id(prefix: &str) -> String {
    unique(prefix).replace('_', "-")
}

fn host_and_port(address: &str, port: i32) -> String {
    format!("{address}:{port}")
}

/// A PostgreSQL instance in the emulator; returns its endpoint host.
async fn instance(id: &str, master: &str, managed: bool) -> String {
    instance_of("postgres", id, master, managed).await
}

/// An instance of `engine` in the emulator (moto 5 fails on "mariadb"; "mysql" stands for the MySQL family); returns
/// its endpoint host.
async fn instance_of(engine: &str, id: &str, master: &str, managed: bool) -> String {
    let request = rds()
        .await
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine(engine)
        .allocated_storage(20)
        .master_username(master);
    let request = if managed {
        request.manage_master_user_password(true)
    } else {
        request.master_user_password("Unused-Passw0rd")
    };
    let created = request.send().await.expect("create DB instance");
    created.db_instance().unwrap().endpoint().unwrap().address().unwrap().to_owned()
}

/// An Aurora cluster with a writer and a reader in the emulator; returns (writer host, reader host).
async fn cluster(id: &str) -> (String, String) {
    let rds = rds().await;
    let created = rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("admin")
        .master_user_password("Unused-Passw0rd")
        .send()
        .await
        .expect("create DB cluster");
    for member in ["a", "b"] {
        rds.create_db_instance()
            .db_instance_identifier(format!("{id}-{member}"))
            .db_instance_class("db.r5.large")
            .engine("aurora-postgresql")
            .db_cluster_identifier(id)
            .send()
            .await
            .expect("create cluster member");
    }
    let cluster = created.db_cluster().unwrap();
    (cluster.endpoint().unwrap().to_owned(), cluster.reader_endpoint().unwrap().to_owned())
}

fn map_to_writer(host: &str) -> String {
    format!("{}=127.0.0.1:{}", host_and_port(host, 5432), pg_port())
}

/// The same, by the name the local certificates are issued for: master logins verify TLS.
fn map_to_writer_by_name(host: &str) -> String {
    format!("{}={}:{}", host_and_port(host, 5432), tls_host(), pg_port())
}

fn map_to_reader(host: &str) -> String {
    format!("{}=127.0.0.1:{}", host_and_port(host, 5432), env("TEST_PG_PLAIN_PORT"))
}

fn plain_port() -> u16 {
    env("TEST_PG_PLAIN_PORT").parse().unwrap()
}

async fn reader_admin() -> tokio_postgres::Client {
    pg_connect_at(plain_port(), &env("TEST_PG_ADMIN_USER"), &env("TEST_PG_ADMIN_PASSWORD")).await.unwrap()
}

/// A login user on both clusters, with the same password.
async fn user_on_both(name: &str) {
    pg_create_role(name, INITIAL).await;
    let sql =
        format!("CREATE ROLE {} LOGIN PASSWORD {}", escape_identifier(name), escape_literal(&pg_verifier(INITIAL)));
    reader_admin().await.batch_execute(&sql).await.unwrap();
}

/// Plays replication: once the writer's verifier for `user` changes, copies it to the reader after `delay`. Fails
/// when the writer's verifier has not changed within 30 s.
fn replicate_after(user: String, delay: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let before = pg_stored_password(&user).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(std::time::Instant::now() < deadline, "the writer's password for {user} never changed");
            let now = pg_stored_password(&user).await;
            if now != before {
                tokio::time::sleep(delay).await;
                let sql = format!("ALTER ROLE {} PASSWORD {}", escape_identifier(&user), escape_literal(&now.unwrap()));
                reader_admin().await.batch_execute(&sql).await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn reader_logs_in(user: &str, password: &str) -> bool {
    pg_connect_at(plain_port(), user, password).await.is_ok()
}

fn secret_for(user: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut secret =
        json!({"engine": "postgres", "username": user, "password": INITIAL, "dbname": "postgres", "ssl": false});
    secret.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    secret
}

async fn new_secret(value: &serde_json::Value) -> String {
    let id = unique("topology-secret");
    create_secret(&sm().await, &id, value).await;
    id
}

async fn current_password(secret_id: &str) -> String {
    password_of(&secret_value(&sm().await, secret_id, "AWSCURRENT").await.unwrap())
}

#[tokio::test]
async fn an_instance_identifier_without_a_host_resolves_to_the_instance_endpoint() {
    let id = rds_id("inst");
    let endpoint = instance(&id, "admin", false).await;
    let user = unique("topo_inst");
    pg_create_role(&user, INITIAL).await;
    let secret = secret_for(&user, json!({"dbInstanceIdentifier": id}));
    let secret_id = new_secret(&secret).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_writer(&endpoint))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    assert!(pg_logs_in(&user, &current_password(&secret_id).await).await);
    let stored = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
    assert!(stored.get("host").is_none(), "the secret keeps its shape: {stored}");
}

#[tokio::test]
async fn an_arn_of_a_cluster_resolves_to_the_writer() {
    let id = rds_id("clu");
    let (writer, _) = cluster(&id).await;
    let user = unique("topo_clu");
    pg_create_role(&user, INITIAL).await;
    let arn = format!("arn:aws:rds:us-east-1:123456789012:cluster:{id}");
    let secret_id = new_secret(&secret_for(&user, json!({"dbClusterIdentifier": arn}))).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_writer(&writer))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    assert!(pg_logs_in(&user, &current_password(&secret_id).await).await);
}

/// An identifier given as an ARN of another Region: refused by name, and an instance of the same name in the
/// function's Region, perhaps another database, is left alone.
#[tokio::test]
async fn an_identifier_of_another_region_is_refused_by_name() {
    let id = rds_id("oth");
    let endpoint = instance(&id, "admin", false).await;
    let user = unique("topo_oth");
    pg_create_role(&user, INITIAL).await;
    let arn = format!("arn:aws:rds:eu-west-1:123456789012:db:{id}");
    let secret_id = new_secret(&secret_for(&user, json!({"dbInstanceIdentifier": arn}))).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_writer(&endpoint))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert!(err.to_string().contains("eu-west-1") && err.to_string().contains("us-east-1"), "{err}");
    assert!(pg_logs_in(&user, INITIAL).await, "nothing changed");
}

#[tokio::test]
async fn a_missing_instance_is_named() {
    let id = rds_id("gone");
    let user = unique("topo_gone");
    pg_create_role(&user, INITIAL).await;
    let secret_id = new_secret(&secret_for(&user, json!({"dbInstanceIdentifier": id}))).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    let rotator = rotator().await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert!(err.to_string().contains(&format!("DB instance {id} does not exist")), "{err}");
    assert!(pg_logs_in(&user, INITIAL).await);
}

/// A secret whose host is a cluster's reader endpoint: the change goes to the writer, and setSecret returns once
/// the readers accept the new password — 1.5 s later here.
#[tokio::test]
async fn a_reader_endpoint_sends_the_change_to_the_writer_and_waits_for_the_readers() {
    let id = rds_id("rdr");
    let (writer, reader) = cluster(&id).await;
    let user = unique("topo_rdr");
    user_on_both(&user).await;
    let secret_id = new_secret(&secret_for(&user, json!({"host": reader, "port": 5432}))).await;
    let map = format!("{},{}", map_to_writer(&writer), map_to_reader(&reader));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map), ("PROPAGATION_TIMEOUT_SECONDS", "20")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let replication = replicate_after(user.clone(), Duration::from_millis(1500));
    let outcome = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap();
    assert_eq!(outcome, Outcome::PasswordSet { with: "AWSCURRENT" });
    replication.await.unwrap();
    let pending = password_of(&secret_value(&sm().await, &secret_id, "AWSPENDING").await.unwrap());
    assert!(pg_logs_in(&user, &pending).await, "the writer has the new password");
    assert!(reader_logs_in(&user, &pending).await, "setSecret returned once the readers had it");
    run_step(&rotator, &secret_id, &token, Step::Test).await.unwrap();
    run_step(&rotator, &secret_id, &token, Step::Finish).await.unwrap();
    assert_eq!(secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap()["host"], reader.as_str());
}

/// The same, when replication never brings the password: a clear, transient error naming where it was expected;
/// once it arrives, the retry completes the rotation.
#[tokio::test]
async fn a_password_that_never_reaches_the_readers_is_a_clear_transient_error() {
    let id = rds_id("lag");
    let (writer, reader) = cluster(&id).await;
    let user = unique("topo_lag");
    user_on_both(&user).await;
    let secret_id = new_secret(&secret_for(&user, json!({"host": reader}))).await;
    let map = format!("{},{}", map_to_writer(&writer), map_to_reader(&reader));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map), ("PROPAGATION_TIMEOUT_SECONDS", "2")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "PasswordNotPropagated", "{err}");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{}", plain_port())) && err.to_string().contains("2 s"),
        "{err}"
    );

    let verifier = pg_stored_password(&user).await.unwrap();
    let sql = format!("ALTER ROLE {} PASSWORD {}", escape_identifier(&user), escape_literal(&verifier));
    reader_admin().await.batch_execute(&sql).await.unwrap();
    assert_eq!(run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap(), Outcome::AlreadySet);
    run_step(&rotator, &secret_id, &token, Step::Test).await.unwrap();
    run_step(&rotator, &secret_id, &token, Step::Finish).await.unwrap();
}

/// A read replica of `source` in the emulator; returns its endpoint host.
async fn replica(id: &str, source: &str) -> String {
    let request = rds().await.create_db_instance_read_replica().db_instance_identifier(id);
    let created = request.source_db_instance_identifier(source).send().await.expect("create replica");
    created.db_instance().unwrap().endpoint().unwrap().address().unwrap().to_owned()
}

/// A login user on both clusters whose sessions on the second one (the replica) are read-only: its ALTER ROLE
/// there fails with SQLSTATE 25006, as on a real replica.
async fn user_on_writer_and_replica(prefix: &str) -> String {
    let user = unique(prefix);
    user_on_both(&user).await;
    let sql = format!("ALTER ROLE {} SET default_transaction_read_only = on", escape_identifier(&user));
    reader_admin().await.batch_execute(&sql).await.unwrap();
    user
}

/// A secret whose host is a read replica (`depth` 1), or a replica of a replica (2): the replica refuses the change
/// as read-only, the RDS API names the source at the top, the change goes there, and the rotation waits until it
/// has reached the replica.
async fn replica_rotation(depth: usize) {
    let source = rds_id("src");
    let source_host = instance(&source, "admin", false).await;
    let (mut replica_id, mut replica_host) = (source.clone(), source_host.clone());
    for _ in 0..depth {
        let id = rds_id("rep");
        replica_host = replica(&id, &replica_id).await;
        replica_id = id;
    }
    let user = user_on_writer_and_replica("topo_rep").await;
    let secret = secret_for(&user, json!({"host": replica_host, "dbInstanceIdentifier": replica_id}));
    let secret_id = new_secret(&secret).await;
    let map = format!("{},{}", map_to_writer(&source_host), map_to_reader(&replica_host));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map), ("PROPAGATION_TIMEOUT_SECONDS", "20")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    let replication = replicate_after(user.clone(), Duration::from_millis(500));
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    replication.await.expect("the source instance's password changed");
    let current = current_password(&secret_id).await;
    assert!(pg_logs_in(&user, &current).await && reader_logs_in(&user, &current).await);
}

#[tokio::test]
async fn a_read_replica_sends_the_change_to_its_source() {
    replica_rotation(1).await;
}

#[tokio::test]
async fn a_replica_of_a_replica_sends_the_change_to_the_first_source() {
    replica_rotation(2).await;
}

/// A replica whose source is in another Region (RDS names it by its ARN): refused by name, nothing changed, rather
/// than looking the source's identifier up in this Region, where another instance may carry it.
#[tokio::test]
async fn a_cross_region_replica_is_refused_by_name() {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).region("eu-west-1").load().await;
    let source = rds_id("xsrc");
    let request = RdsClient::new(&config).create_db_instance().db_instance_identifier(&source);
    let request = request.db_instance_class("db.t3.micro").engine("postgres").allocated_storage(20);
    let request = request.master_username("admin").master_user_password("Unused-Passw0rd");
    let source_arn = request.send().await.unwrap().db_instance().unwrap().db_instance_arn().unwrap().to_owned();
    let replica_id = rds_id("xrep");
    let replica_host = replica(&replica_id, &source_arn).await;
    // The same identifier in this Region: the wrong database, which the rotation must not touch.
    instance(&source, "admin", false).await;
    let user = user_on_writer_and_replica("topo_xrep").await;
    let secret_id =
        new_secret(&secret_for(&user, json!({"host": replica_host, "dbInstanceIdentifier": replica_id}))).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_reader(&replica_host))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert!(err.to_string().contains(&source_arn) && err.to_string().contains("another Region"), "{err}");
    assert!(pg_logs_in(&user, INITIAL).await && reader_logs_in(&user, INITIAL).await, "nothing changed");
}

/// An RDS-managed master secret of instance `id` (created with ManageMasterUserPassword), holding the local
/// administrator's credentials as RDS would hold the instance's; returns its ARN.
async fn managed_master_secret(id: &str) -> String {
    let described = rds().await.describe_db_instances().db_instance_identifier(id).send().await.unwrap();
    let master_arn = described.db_instances()[0].master_user_secret().unwrap().secret_arn().unwrap().to_owned();
    let admin = json!({"username": env("TEST_PG_ADMIN_USER"), "password": env("TEST_PG_ADMIN_PASSWORD")});
    sm().await.put_secret_value().secret_id(&master_arn).secret_string(admin.to_string()).send().await.unwrap();
    master_arn
}

/// Alternating users with an RDS-managed master secret, which holds only a user name and a password: its tags name
/// the instance, whose endpoint the master logs in at, over verified TLS.
#[tokio::test]
async fn an_rds_managed_master_secret_is_found_through_its_tags() {
    let logs = LogBuffer::default();
    let settings = LogSettings { json: false, directives: "info".into(), timestamps: false };
    let _guard = tracing::subscriber::set_default(logging::subscriber(&settings, logs.clone()));

    let id = rds_id("mgd");
    let endpoint = instance(&id, &env("TEST_PG_ADMIN_USER"), true).await;
    let master_arn = managed_master_secret(&id).await;
    let user = unique("topo_mgd");
    pg_create_role(&user, INITIAL).await;
    let secret = secret_for(&user, json!({"host": endpoint, "port": 5432, "masterarn": master_arn}));
    let secret_id = new_secret(&secret).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_writer_by_name(&endpoint))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_rotation(&rotator, &secret_id, &token).await.unwrap();
    let current = secret_value(&sm().await, &secret_id, "AWSCURRENT").await.unwrap();
    assert_eq!(current["username"], format!("{user}_clone").as_str());
    assert!(pg_logs_in(&format!("{user}_clone"), &password_of(&current)).await);
    let text = logs.text();
    assert!(text.contains("the master secret is RDS-managed; its tags name the endpoint"), "{text}");
}

/// The rotated secret's host, which its writer chooses, cannot send an RDS-managed master anywhere but its own
/// instance: another instance's endpoint, or the same name under another domain, is refused before any login.
#[tokio::test]
async fn a_rotated_secret_cannot_send_an_rds_managed_master_elsewhere() {
    let id = rds_id("mgd2");
    let endpoint = instance(&id, &env("TEST_PG_ADMIN_USER"), true).await;
    let master_arn = managed_master_secret(&id).await;
    let other = instance(&rds_id("other"), "admin", false).await;
    let look_alike = endpoint.replace(".rds.amazonaws.com", ".rds.amazonaws.com.attacker.example");
    for host in [other.as_str(), look_alike.as_str(), "127.0.0.1"] {
        let user = unique("topo_else");
        pg_create_role(&user, INITIAL).await;
        let secret_id =
            new_secret(&secret_for(&user, json!({"host": host, "port": 5432, "masterarn": master_arn}))).await;
        // Every name leads to the local server: only the check, not the network, keeps the master away.
        let map =
            format!("{},{},{}", map_to_writer_by_name(&endpoint), map_to_writer(&other), map_to_writer(&look_alike));
        let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map)]).await;
        let token = stage_rotation(&sm().await, &secret_id).await;
        run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
        let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{host}: {err}");
        assert!(err.to_string().contains("the master logs in only where its own secret says"), "{err}");
        assert!(pg_stored_password(&format!("{user}_clone")).await.is_none(), "{host}: nothing was created");
        assert!(pg_logs_in(&user, INITIAL).await);
    }
}

/// The RDS API says which engine an RDS-managed master's instance runs, and so which protocol the master's password
/// goes out in: an instance of the other family than the rotated secret's is a refusal, not a substitution of the
/// rotated secret's engine, and nothing logs in.
#[tokio::test]
async fn an_rds_managed_master_of_the_other_family_is_refused() {
    let id = rds_id("mgdmy");
    let endpoint = instance_of("mysql", &id, &env("TEST_PG_ADMIN_USER"), true).await;
    let master_arn = managed_master_secret(&id).await;
    let user = unique("topo_family");
    pg_create_role(&user, INITIAL).await;
    let secret_id =
        new_secret(&secret_for(&user, json!({"host": endpoint, "port": 5432, "masterarn": master_arn}))).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map_to_writer_by_name(&endpoint))]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(
        err.to_string().contains("is for engine mysql (the RDS API), and the rotated secret for postgres"),
        "{err}"
    );
    assert!(pg_stored_password(&format!("{user}_clone")).await.is_none());
    assert!(pg_logs_in(&user, INITIAL).await);
}

/// An RDS-managed-looking master secret (only a user name and a password) whose tags name nothing: the rotation
/// fails closed, naming what is missing, rather than logging the master in where the rotated secret points.
#[tokio::test]
async fn a_master_secret_with_neither_host_nor_tags_fails_closed() {
    let master = unique("untagged-master");
    let admin = json!({"username": env("TEST_PG_ADMIN_USER"), "password": env("TEST_PG_ADMIN_PASSWORD")});
    create_secret(&sm().await, &master, &admin).await;
    let user = unique("topo_untagged");
    pg_create_role(&user, INITIAL).await;
    let secret_id =
        new_secret(&secret_for(&user, json!({"host": pg_host(), "port": pg_port(), "masterarn": master}))).await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(
        err.to_string().contains("holds no host") && err.to_string().contains("aws:rds:primaryDBInstanceArn"),
        "{err}"
    );
    assert!(pg_stored_password(&format!("{user}_clone")).await.is_none());
}

/// The rotated secret may name a read replica of the master's instance: the master changes the writer, and the
/// rotation waits until the new user works at the replica.
#[tokio::test]
async fn a_rotated_secret_may_name_a_replica_of_the_masters_instance() {
    let id = rds_id("msrc");
    let endpoint = instance(&id, &env("TEST_PG_ADMIN_USER"), false).await;
    let replica_id = rds_id("mrep");
    let replica_host = replica(&replica_id, &id).await;
    let master = unique("replica-master");
    let admin = json!({
        "engine": "postgres", "username": env("TEST_PG_ADMIN_USER"), "password": env("TEST_PG_ADMIN_PASSWORD"),
        "host": endpoint, "port": 5432,
    });
    create_secret(&sm().await, &master, &admin).await;
    let user = unique("topo_mrep");
    user_on_both(&user).await;
    let secret_id = new_secret(&secret_for(&user, json!({"host": replica_host, "masterarn": master}))).await;
    let map = format!("{},{}", map_to_writer_by_name(&endpoint), map_to_reader(&replica_host));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map), ("PROPAGATION_TIMEOUT_SECONDS", "20")]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let clone = format!("{user}_clone");
    // Plays replication: the clone the master creates on the writer appears on the replica.
    let replication = tokio::spawn({
        let clone = clone.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                assert!(std::time::Instant::now() < deadline, "the clone never appeared on the writer");
                if let Some(verifier) = pg_stored_password(&clone).await {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let sql = format!(
                        "CREATE ROLE {} LOGIN PASSWORD {}",
                        escape_identifier(&clone),
                        escape_literal(&verifier)
                    );
                    reader_admin().await.batch_execute(&sql).await.unwrap();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap();
    replication.await.unwrap();
    let pending = password_of(&secret_value(&sm().await, &secret_id, "AWSPENDING").await.unwrap());
    assert!(reader_logs_in(&clone, &pending).await, "setSecret returned once the replica had it");
}

struct BreakGlass {
    proxy: AwsProxy,
    user: String,
    secret_id: String,
    id: String,
}

/// The instance's master user, drifted away from every version of its secret. The secret names the instance by its
/// identifier, or (`by_host`) only by its endpoint's host name.
async fn drifted_master(managed: bool, by_host: bool) -> (BreakGlass, String) {
    let id = rds_id("bg");
    let user = unique("bg");
    let endpoint = instance(&id, &user, managed).await;
    pg_create_role(&user, INITIAL).await;
    pg_set_password(&user, "Drifted-Passw0rd-by-hand").await;
    let names = if by_host { json!({"host": endpoint, "port": 5432}) } else { json!({"dbInstanceIdentifier": id}) };
    let secret_id = new_secret(&secret_for(&user, names)).await;
    let proxy = AwsProxy::start(&env("AWS_ENDPOINT_URL"));
    (BreakGlass { proxy, user, secret_id, id }, map_to_writer(&endpoint))
}

/// Break-glass: `ModifyDBInstance` with the pending password, applied immediately; the test plays RDS and applies
/// it to the local server a moment later; the rotation then completes.
#[tokio::test]
async fn break_glass_resets_a_drifted_master_through_the_rds_api() {
    break_glass_resets(false).await;
}

/// The same for a secret with a plain host: the instance is found by its endpoint's name, on the failure path only.
#[tokio::test]
async fn break_glass_finds_the_instance_of_a_plain_host() {
    break_glass_resets(true).await;
}

async fn break_glass_resets(by_host: bool) {
    let (bg, map) = drifted_master(false, by_host).await;
    let rotator = rotator_with(&[
        ("RDS_ENDPOINT_MAP", &map),
        ("RDS_ENDPOINT", &bg.proxy.url),
        ("BREAK_GLASS_MASTER_RESET", "true"),
        ("BREAK_GLASS_DB_IDENTIFIERS", &format!("some-other-db,{}", bg.id)),
        ("PROPAGATION_TIMEOUT_SECONDS", "20"),
    ])
    .await;
    let token = stage_rotation(&sm().await, &bg.secret_id).await;
    run_step(&rotator, &bg.secret_id, &token, Step::Create).await.unwrap();
    let pending = password_of(&secret_value(&sm().await, &bg.secret_id, "AWSPENDING").await.unwrap());

    let playing_rds = {
        let (proxy, user) = (bg.proxy.clone(), bg.user.clone());
        tokio::spawn(async move {
            loop {
                let reset = proxy.parameters("ModifyDBInstance").into_iter().next();
                let password = reset.and_then(|call| call.into_iter().find(|(k, _)| k == "MasterUserPassword"));
                if let Some((_, password)) = password {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    pg_set_password(&user, &password).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let outcome = run_step(&rotator, &bg.secret_id, &token, Step::Set).await.unwrap();
    playing_rds.await.unwrap();
    assert_eq!(outcome, Outcome::PasswordSet { with: "the RDS API (break-glass master reset)" });

    let calls = bg.proxy.parameters("ModifyDBInstance");
    assert_eq!(calls.len(), 1, "one reset");
    let call = &calls[0];
    let value = |key: &str| call.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(value("DBInstanceIdentifier"), Some(bg.id.as_str()));
    assert_eq!(value("ApplyImmediately"), Some("true"));
    assert_eq!(value("MasterUserPassword"), Some(pending.as_str()));
    run_step(&rotator, &bg.secret_id, &token, Step::Test).await.unwrap();
    run_step(&rotator, &bg.secret_id, &token, Step::Finish).await.unwrap();
    assert!(pg_logs_in(&bg.user, &current_password(&bg.secret_id).await).await);
}

#[tokio::test]
async fn break_glass_refuses_an_instance_that_manages_its_master_password() {
    let (bg, map) = drifted_master(true, false).await;
    let rotator = rotator_with(&[
        ("RDS_ENDPOINT_MAP", &map),
        ("RDS_ENDPOINT", &bg.proxy.url),
        ("BREAK_GLASS_MASTER_RESET", "true"),
        ("BREAK_GLASS_DB_IDENTIFIERS", &bg.id),
    ])
    .await;
    let token = stage_rotation(&sm().await, &bg.secret_id).await;
    run_step(&rotator, &bg.secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &bg.secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "BreakGlassError", "{err}");
    assert!(err.to_string().contains("manages its master password"), "{err}");
    assert!(bg.proxy.parameters("ModifyDBInstance").is_empty(), "no reset was sent");
    assert!(pg_logs_in(&bg.user, "Drifted-Passw0rd-by-hand").await, "nothing changed");
}

#[tokio::test]
async fn without_break_glass_a_drifted_master_is_left_to_a_human() {
    let (bg, map) = drifted_master(false, false).await;
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map), ("RDS_ENDPOINT", &bg.proxy.url)]).await;
    let token = stage_rotation(&sm().await, &bg.secret_id).await;
    run_step(&rotator, &bg.secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &bg.secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "CredentialsRejected", "{err}");
    assert!(bg.proxy.parameters("ModifyDBInstance").is_empty());
    assert!(pg_logs_in(&bg.user, "Drifted-Passw0rd-by-hand").await);
}

/// Break-glass resets only what the operator listed: a secret naming another instance (by identifier, or by an
/// endpoint name under a look-alike domain) gets no RDS call at all — no lookup, no reset — and the refused login
/// stands, saying why break-glass was not tried.
#[tokio::test]
async fn break_glass_touches_only_the_instances_the_operator_listed() {
    let (bg, map) = drifted_master(false, false).await;
    let look_alike = format!("{}.abcdefghij.us-east-1.rds.amazonaws.evil.example", bg.id);
    for (names, why) in [
        (json!({"dbInstanceIdentifier": bg.id}), format!("DB instance {} is not in BREAK_GLASS_DB_IDENTIFIERS", bg.id)),
        (json!({"host": look_alike, "port": 5432}), "names no RDS instance or cluster".to_owned()),
    ] {
        let secret_id = new_secret(&secret_for(&bg.user, names)).await;
        let map = format!("{map},{}=127.0.0.1:{}", host_and_port(&look_alike, 5432), pg_port());
        let rotator = rotator_with(&[
            ("RDS_ENDPOINT_MAP", &map),
            ("RDS_ENDPOINT", &bg.proxy.url),
            ("BREAK_GLASS_MASTER_RESET", "true"),
            ("BREAK_GLASS_DB_IDENTIFIERS", "production-db,arn:aws:rds:us-east-1:123456789012:cluster:payments"),
        ])
        .await;
        let token = stage_rotation(&sm().await, &secret_id).await;
        run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
        let resolving = bg.proxy.seen().len();
        let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "CredentialsRejected", "{err}");
        assert!(err.to_string().contains(&why), "{err}");
        let calls: Vec<String> = bg.proxy.seen()[resolving..].iter().map(|seen| seen.operation.clone()).collect();
        // A secret without a host needs one lookup to find its endpoint at all; break-glass adds none.
        assert!(calls.iter().all(|op| op == "DescribeDBInstances") && calls.len() <= 1, "{calls:?}");
        assert!(bg.proxy.parameters("ModifyDBInstance").is_empty(), "no reset was sent");
        assert!(pg_logs_in(&bg.user, "Drifted-Passw0rd-by-hand").await, "nothing changed");
    }
}

/// A reader endpoint's name, or a replica's, under another account's (or Region's) hash names a host the RDS API
/// does not report: the identifier alone does not make it this cluster's or this replica's. Refused, and nothing
/// changes — the new password is never sent there.
#[tokio::test]
async fn an_endpoint_name_of_another_account_is_not_this_databases() {
    // Single user, a look-alike reader endpoint of a real cluster.
    let id = rds_id("lk");
    let (writer, reader) = cluster(&id).await;
    let (hash, _) = reader.split_once(".us-east-1").unwrap();
    let look_alike = reader.replace(hash, &format!("{id}.cluster-ro-zzzzzzzzzz"));
    assert_ne!(look_alike, reader);
    let user = unique("topo_lk");
    pg_create_role(&user, INITIAL).await;
    let secret_id = new_secret(&secret_for(&user, json!({"host": look_alike, "port": 5432}))).await;
    let map = format!("{},{}", map_to_writer(&writer), map_to_reader(&look_alike));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map)]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "TopologyError", "{err}");
    assert!(err.to_string().contains("looks like a reader endpoint"), "{err}");
    assert!(pg_logs_in(&user, INITIAL).await, "nothing changed");

    // Alternating users, a look-alike of a real replica of the master's instance.
    let source = rds_id("lksrc");
    let endpoint = instance(&source, &env("TEST_PG_ADMIN_USER"), false).await;
    let replica_id = rds_id("lkrep");
    let replica_host = replica(&replica_id, &source).await;
    let other_account = replica_host.replace(".aaaaaaaaaa.", ".zzzzzzzzzz.");
    assert_ne!(other_account, replica_host);
    let master = unique("lk-master");
    let admin = json!({
        "engine": "postgres", "username": env("TEST_PG_ADMIN_USER"), "password": env("TEST_PG_ADMIN_PASSWORD"),
        "host": endpoint, "port": 5432,
    });
    create_secret(&sm().await, &master, &admin).await;
    let user = unique("topo_lkrep");
    pg_create_role(&user, INITIAL).await;
    let secret_id = new_secret(&secret_for(&user, json!({"host": other_account, "masterarn": master}))).await;
    let map = format!("{},{}", map_to_writer_by_name(&endpoint), map_to_reader(&other_account));
    let rotator = rotator_with(&[("RDS_ENDPOINT_MAP", &map)]).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(pg_stored_password(&format!("{user}_clone")).await.is_none(), "nothing was created");
}
