//! What is PostgreSQL's own: the verifier the server stores. The rotation scenarios both engines share are in
//! tests/it/rotation.rs.

use crate::common;

use common::*;

async fn rotated_user() -> (String, String) {
    let sm = sm().await;
    let user = unique("pgapp");
    pg_create_role(&user, "initial-pw").await;
    let secret_id = unique("pg-secret");
    create_secret(&sm, &secret_id, &pg_secret(&user, "initial-pw")).await;
    (user, secret_id)
}

/// The server stores a SCRAM verifier: what was sent was the verifier, and the password logs in against it.
#[tokio::test]
async fn the_server_stores_a_scram_verifier() {
    let sm = sm().await;
    let (user, secret_id) = rotated_user().await;
    let token = stage_rotation(&sm, &secret_id).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();
    let stored = pg_stored_password(&user).await.unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&user, &new).await);
}

/// Where the server still stores md5 (password_encryption = md5, for drivers that only speak md5), the new
/// password is sent as an md5 hash and stored as one.
#[tokio::test]
async fn md5_password_encryption_is_honoured() {
    let sm = sm().await;
    let (user, secret_id) = rotated_user().await;
    let sql =
        format!("ALTER ROLE {} SET password_encryption = 'md5'", postgres_protocol::escape::escape_identifier(&user));
    pg_admin().await.batch_execute(&sql).await.unwrap();
    let token = stage_rotation(&sm, &secret_id).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();
    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    let stored = pg_stored_password(&user).await.unwrap();
    assert!(stored.starts_with("md5") && stored.len() == 35, "{stored}");
    assert!(pg_logs_in(&user, &new).await);
    assert!(!pg_logs_in(&user, "initial-pw").await);
}
