//! What is MariaDB's own: the stored string the server keeps for each auth plugin, accounts whose host part is not
//! `'%'`, and accounts this function must refuse. The rotation scenarios both engines share are in tests/it/rotation.rs.

use crate::common;

use common::*;
use rds_rotator::internal::Step;
use sha1::{Digest, Sha1};

/// `mysql_native_password`'s stored string, computed here independently of the code under test.
fn native(password: &str) -> String {
    let twice = Sha1::digest(Sha1::digest(password.as_bytes()));
    format!("*{}", twice.iter().map(|b| format!("{b:02X}")).collect::<String>())
}

/// A secret for `user` (whatever its host part) with `password`, and a staged rotation of it.
async fn staged_secret(secret: serde_json::Value) -> (String, rds_rotator::internal::VersionId) {
    let sm = sm().await;
    let secret_id = unique("my-secret");
    create_secret(&sm, &secret_id, &secret).await;
    let token = stage_rotation(&sm, &secret_id).await;
    (secret_id, token)
}

async fn current_password(secret_id: &str) -> String {
    password_of(&secret_value(&sm().await, secret_id, "AWSCURRENT").await.unwrap())
}

#[tokio::test]
async fn a_native_password_account_gets_the_hash_computed_here() {
    let user = unique("nat");
    my_exec(&format!(
        "CREATE USER {}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('initial-pw')",
        my_quote(&user)
    ))
    .await;
    // The secret says "mysql": the server, not the secret, decides which statement MariaDB gets.
    let mut secret = my_secret(&user, "initial-pw");
    secret["engine"] = "mysql".into();
    let (secret_id, token) = staged_secret(secret).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();

    let new = current_password(&secret_id).await;
    let accounts = my_accounts(&user).await;
    assert_eq!(accounts[&format!("{user}@%")], ("mysql_native_password".to_owned(), native(&new)));
    assert!(my_logs_in(&user, &new).await);
    assert!(!my_logs_in(&user, "initial-pw").await);
    // The general log saw the hash, never the password.
    let log = my_general_log();
    assert!(log.contains(&format!("SET PASSWORD = '{}'", native(&new))), "the hash form was used");
    assert!(!log.contains(&new));
}

#[tokio::test]
async fn an_ed25519_account_stays_ed25519() {
    let user = unique("ed");
    my_exec(&format!("CREATE USER {}@'%' IDENTIFIED VIA ed25519 USING PASSWORD('initial-pw')", my_quote(&user))).await;
    let (secret_id, token) = staged_secret(my_secret(&user, "initial-pw")).await;
    let before = my_accounts(&user).await;
    // mysql_common 0.37.3 (under mysql_async) drops a trailing zero byte from the server's authentication challenge
    // (`AuthSwitchRequest::plugin_data`), and ed25519's 32-byte challenge ends in one once in 256 logins: that login
    // is refused whatever the password. The rotation then fails as CredentialsRejected, and the service's retry, a
    // new challenge, succeeds — as here (docs/testing.md, "What ran where").
    let rotator = rotator().await;
    let mut attempts = 0;
    while let Err(err) = run_rotation(&rotator, &secret_id, &token).await {
        attempts += 1;
        assert!(err.error_type() == "CredentialsRejected" && attempts < 3, "attempt {attempts}: {err}");
    }

    let new = current_password(&secret_id).await;
    let (plugin, stored) = my_accounts(&user).await[&format!("{user}@%")].clone();
    assert_eq!(plugin, "ed25519");
    assert_eq!(stored.len(), 43);
    assert_ne!(Some(&(plugin, stored)), before.values().next());
    // A test login meets the same challenge: a refusal is asked again (a wrong password is refused every time).
    let logs_in = async |password: &str| {
        for _ in 0..3 {
            if my_logs_in(&user, password).await {
                return true;
            }
        }
        false
    };
    assert!(logs_in(&new).await);
    assert!(!logs_in("initial-pw").await);
    assert!(!my_general_log().contains(&new));
}

/// The reference assumes `'%'`; the account a login matches is the one that changes, whatever its host part.
#[tokio::test]
async fn the_account_the_login_matches_is_the_one_rotated() {
    let user = unique("hosted");
    my_exec(&format!("CREATE USER {}@'127.0.0.1' IDENTIFIED BY 'loopback-pw'", my_quote(&user))).await;
    my_exec(&format!("CREATE USER {}@'%' IDENTIFIED BY 'anywhere-pw'", my_quote(&user))).await;
    let (secret_id, token) = staged_secret(my_secret(&user, "loopback-pw")).await;
    let before = my_accounts(&user).await;
    run_rotation(&rotator().await, &secret_id, &token).await.unwrap();

    let new = current_password(&secret_id).await;
    let after = my_accounts(&user).await;
    let (loopback, anywhere) = (format!("{user}@127.0.0.1"), format!("{user}@%"));
    assert_eq!(after[&loopback].1, native(&new));
    assert_eq!(after[&anywhere], before[&anywhere], "the '%' account is another account and keeps its password");
    assert!(my_logs_in(&user, &new).await);
}

#[tokio::test]
async fn an_account_with_several_plugins_is_refused_and_unchanged() {
    let user = unique("multi");
    my_exec(&format!(
        "CREATE USER {}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('initial-pw') OR ed25519 USING PASSWORD('other-pw')",
        my_quote(&user)
    ))
    .await;
    let (secret_id, token) = staged_secret(my_secret(&user, "initial-pw")).await;
    let before = my_accounts(&user).await;
    let rotator = rotator().await;
    run_step(&rotator, &secret_id, &token, Step::Create).await.unwrap();
    let err = run_step(&rotator, &secret_id, &token, Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseError", "{err}");
    assert!(err.to_string().contains("several plugins"), "{err}");
    assert_eq!(my_accounts(&user).await, before);
}

#[tokio::test]
async fn mysql_family_passwords_stay_within_41_characters() {
    let user = unique("len");
    my_exec(&format!("CREATE USER {}@'%' IDENTIFIED BY 'initial-pw'", my_quote(&user))).await;
    let (secret_id, token) = staged_secret(my_secret(&user, "initial-pw")).await;
    let err = run_step(&rotator_with(&[("PASSWORD_LENGTH", "64")]).await, &secret_id, &token, Step::Create)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "PasswordGenerationError", "{err}");
    assert!(err.to_string().contains("8 to 41"), "{err}");
    assert_eq!(secret_text(&sm().await, &secret_id, "AWSPENDING").await, None);

    run_rotation(&rotator_with(&[("PASSWORD_LENGTH", "41")]).await, &secret_id, &token).await.unwrap();
    let new = current_password(&secret_id).await;
    assert_eq!(new.len(), 41);
    assert!(my_logs_in(&user, &new).await);
}
