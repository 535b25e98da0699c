//! The trust boundaries of alternating users against the fakes: where the master logs in, which masters and users
//! may be used, what a forged history gains.

use super::*;

/// The master logs in nowhere but where its own secret says: a master secret without a host (and no RDS tags)
/// fails closed, naming what is missing; the master's password is never tried at the rotated secret's host.
#[tokio::test]
async fn a_master_secret_without_a_host_fails_closed() {
    let w = alternating_world();
    let bare = serde_json::json!({"username": "admin", "password": "admin-pw"});
    w.store.state.lock().unwrap().others.insert(MASTER.into(), bare.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(err.to_string().contains("holds no host") && err.to_string().contains("add \"host\""), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
    w.assert_untouched();
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
}

/// A login proves one account; where the current user's name has accounts that hold another password (the MySQL
/// family's other host parts), the rotation refuses before the master changes anything, naming them — and the
/// preflight says the same.
#[tokio::test]
async fn an_account_of_the_current_user_it_cannot_prove_stops_the_rotation() {
    let w = alternating_world();
    w.db.state.lock().unwrap().foreign.insert("app".into(), vec!["\"app\"@\"%\" (mysql_native_password)".into()]);
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(
        err.to_string().contains("\"app\"@\"%\" (mysql_native_password) does not hold AWSCURRENT's password"),
        "{err}"
    );
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"), "no alternate was made");
    let report = w.rotator.preflight(SECRET).await;
    let failure = report.failure.expect("the preflight fails as the rotation does");
    assert_eq!(failure.error.error_type(), "AlternateUserRefused");
}

/// The master's protocol and port come from the master's side only: a master secret with a host but no engine
/// takes none from the rotated secret (whose writer would pick which protocol the master's password goes out in),
/// but the operator's DEFAULT_ENGINE; one of the other family is refused. Neither refusal logs in anywhere.
#[tokio::test]
async fn the_masters_engine_comes_from_the_masters_side_only() {
    let hostless_engine = serde_json::json!({"host": "db", "username": "admin", "password": "admin-pw"});
    let other_family =
        serde_json::json!({"engine": "mariadb", "host": "db", "username": "admin", "password": "admin-pw"});
    for (master, why) in [
        (&hostless_engine, "holds a \"host\" but no \"engine\""),
        (&other_family, "is for engine mariadb (its own \"engine\"), and the rotated secret for postgres"),
    ] {
        let w = alternating_world();
        w.store.state.lock().unwrap().others.insert(MASTER.into(), master.to_string());
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{master}: no login at all");
        w.assert_untouched();
    }
    // The operator says which engine a secret without one is: the master's protocol is then the operator's word.
    let w = alternating_world();
    w.store.state.lock().unwrap().others.insert(MASTER.into(), hostless_engine.to_string());
    let defaults = SecretDefaults { engine: Some(crate::domain::EngineKind::Postgres), ..SecretDefaults::default() };
    let w = World {
        rotator: Rotator::new(w.store.clone(), w.db.clone(), Settings { secrets: defaults, ..settings() }),
        ..w
    };
    w.rotate().await.unwrap();
    w.assert_alternated("app_clone", "app");
}

/// A rotated secret that points elsewhere than the master's host cannot send the master there: refused before any
/// login, whatever the rotated secret's host, port or `ssl`.
#[tokio::test]
async fn a_rotated_secret_cannot_point_the_master_at_another_host() {
    for (host, port) in [("attacker.example", 5432), ("db", 6543)] {
        let w = alternating_world();
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", host)).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["port"] = port.into();
        w.set_value("v0", secret.to_string());
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains("the master logs in only where its own secret says"), "{err}");
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{host}:{port}: no login at all");
        assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
    }
}

/// An alternating-users secret whose host is an alias of the master's endpoint, naming that endpoint in
/// `tlsServerName`: over verified TLS it rotates, applications' logins (testSecret, setSecret's wait) go to the alias
/// and verify that name there, and the master's own logins never carry it. Over TLS that is not verified the name
/// proves nothing: refused before any login, naming what to do.
#[tokio::test]
async fn an_alias_stands_for_the_masters_endpoint_only_over_verified_tls() {
    let aliased = |ssl: Option<bool>, name: &str| {
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "alias.corp")).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["tlsServerName"] = name.into();
        match ssl {
            Some(ssl) => secret["ssl"] = ssl.into(),
            None => drop(secret.as_object_mut().unwrap().remove("ssl")),
        }
        secret.to_string()
    };
    let w = alternating_world();
    w.set_value("v0", aliased(Some(true), "DB"));
    w.db.state.lock().unwrap().readers.insert("alias.corp".into(), std::time::Duration::ZERO);
    w.rotate().await.unwrap();
    w.assert_alternated("app_clone", "app");
    let names = w.db.state.lock().unwrap().names.clone();
    for (user, host, name) in &names {
        match user.as_str() {
            "admin" => assert_eq!((host.as_str(), name), ("db", &None), "the master logs in where its secret says"),
            _ if host == "alias.corp" => {
                assert_eq!(name.as_deref(), Some("db"), "{user} at the alias verifies the name")
            }
            _ => assert_eq!((host.as_str(), name), ("db", &None), "{user} at the master's endpoint takes its name"),
        }
    }
    let at_alias: Vec<_> = names.iter().filter(|(_, host, _)| host == "alias.corp").map(|(user, ..)| user).collect();
    assert_eq!(
        at_alias,
        ["app", "app_clone", "app_clone"],
        "AWSCURRENT before the master acts, then setSecret's wait and testSecret, where applications connect"
    );

    // An alias whose name verifies but that does not reach the master's database (here: nothing answers there):
    // AWSCURRENT is tried there first, so it fails before the master logs in at all.
    let w = alternating_world();
    w.set_value("v0", aliased(Some(true), "DB"));
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    assert!(err.to_string().contains("alias.corp"), "{err}");
    let logins = w.db.state.lock().unwrap().logins.clone();
    assert!(logins.iter().all(|(user, _)| user != "admin"), "the master logged in: {logins:?}");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));

    for (ssl, name, why) in [
        (Some(false), "db", "stands for its host only where every login there verifies"),
        (None, "db", "stands for its host only where every login there verifies"),
        (Some(true), "elsewhere.example", "(another host, and not an RDS endpoint name)"),
    ] {
        let w = alternating_world();
        w.set_value("v0", aliased(ssl, name));
        w.db.state.lock().unwrap().readers.insert("alias.corp".into(), std::time::Duration::ZERO);
        w.step(Step::Create).await.unwrap();
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains(why), "{ssl:?} {name}: {err}");
        if ssl != Some(true) {
            assert!(err.to_string().contains("set the rotated secret's \"ssl\" to true"), "{err}");
        }
        assert!(w.db.state.lock().unwrap().attempts.is_empty(), "{ssl:?} {name}: no login at all");
        assert!(!w.db.state.lock().unwrap().passwords.contains_key("app_clone"));
        assert_eq!(w.db_password("app"), "pw-0");
    }
}

/// The rotated secret's `tlsServerName` never reaches a master login: at the master's own endpoint every login —
/// the master's and the users' — verifies the name the master secret gives (its own `tlsServerName`, or its host).
#[tokio::test]
async fn a_master_login_never_takes_the_rotated_secrets_tls_server_name() {
    for own in [None, Some("db.abc123.us-east-1.rds.amazonaws.com")] {
        let w = alternating_world();
        let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
        secret["masterarn"] = MASTER.into();
        secret["ssl"] = true.into();
        secret["tlsServerName"] = "attacker.example".into();
        w.set_value("v0", secret.to_string());
        let mut master =
            serde_json::json!({"engine": "postgres", "host": "db", "username": "admin", "password": "admin-pw"});
        if let Some(own) = own {
            master["tlsServerName"] = own.into();
        }
        w.store.state.lock().unwrap().others.insert(MASTER.into(), master.to_string());
        w.rotate().await.unwrap();
        w.assert_alternated("app_clone", "app");
        let names = w.db.state.lock().unwrap().names.clone();
        assert!(!names.is_empty());
        for (user, host, name) in names {
            assert_eq!((host.as_str(), name.as_deref()), ("db", own), "{user}");
        }
    }
}

/// The master user is never a user of the pair, whether the secret names it or its history aims at it.
#[tokio::test]
async fn the_master_user_is_never_rotated_as_an_alternate() {
    // AWSCURRENT names the master user itself.
    let w = alternating_world();
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("admin", "admin-pw", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert!(err.to_string().contains("alternating users never rotate the master user"), "{err}");
    assert_eq!(w.db_password("admin"), "admin-pw");

    // The history makes the master user "the other one": AWSCURRENT admin_clone, AWSPREVIOUS admin.
    let w = alternating_world();
    w.set_history(("admin_clone", "c-pw"), ("admin", "guessed"));
    w.db.state.lock().unwrap().passwords.insert("admin_clone".into(), "c-pw".into());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(err.to_string().contains(r#"refuse user "admin": it is the master user"#), "{err}");
    assert_eq!(w.db_password("admin"), "admin-pw");
}

/// A user that could administer accounts is never copied from or to.
#[tokio::test]
async fn an_account_administrator_is_refused_and_untouched() {
    for admin in ["app", "app_clone"] {
        let w = alternating_world();
        w.db.state.lock().unwrap().admins.insert(admin.into(), "is a superuser".into());
        if admin == "app_clone" {
            // An existing clone that this secret's pending password already logs in as (a crash's leftover).
            w.step(Step::Create).await.unwrap();
            let pending = w.store.state.lock().unwrap().versions["tok"].0.clone().unwrap();
            let pending = DbSecret::parse(&pending, &SecretDefaults::default()).unwrap();
            w.db.state.lock().unwrap().passwords.insert("app_clone".into(), pending.password().expose_secret().into());
        } else {
            w.step(Step::Create).await.unwrap();
        }
        let err = w.step(Step::Set).await.unwrap_err();
        assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
        assert!(err.to_string().contains(&format!(r#"user "{admin}": it is a superuser"#)), "{err}");
        assert!(w.db.state.lock().unwrap().twins.is_empty(), "nothing was synced");
        assert_eq!(w.db_password("app"), "pw-0");
    }
}

/// The secret proves it holds the current user's password before the master acts: an AWSCURRENT naming a user
/// with a guessed password is refused, and the master never logs in.
#[tokio::test]
async fn an_awscurrent_that_does_not_log_in_is_refused_before_the_master_acts() {
    let w = alternating_world();
    w.db.state.lock().unwrap().passwords.insert("victim".into(), "victims-own".into());
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("victim", "guessed", "db")).unwrap();
    secret["masterarn"] = MASTER.into();
    w.set_value("v0", secret.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(err.to_string().contains("AWSCURRENT does not log in as it"), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
    assert_eq!(w.db_password("victim"), "victims-own");
    assert!(!w.db.state.lock().unwrap().passwords.contains_key("victim_clone"));
}

/// History written by whoever writes the secret proves nothing: an AWSPREVIOUS naming an existing user with a
/// guessed password does not make that user this secret's to change.
#[tokio::test]
async fn a_forged_awsprevious_does_not_hand_over_its_user() {
    let w = alternating_world();
    // The writer's own user is called victim_clone and works; AWSPREVIOUS claims victim, with a guess.
    w.set_history(("victim_clone", "own-pw"), ("victim", "guessed"));
    {
        let mut state = w.db.state.lock().unwrap();
        state.passwords.insert("victim_clone".into(), "own-pw".into());
        state.passwords.insert("victim".into(), "victims-own".into());
    }
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict", "{err}");
    assert_eq!(w.db_password("victim"), "victims-own");
    assert!(w.db.state.lock().unwrap().twins.is_empty(), "nothing was synced");
}

/// Only the master secrets the operator lists may be used: a secret naming another readable secret as its master is
/// refused before that secret's value is used.
#[tokio::test]
async fn a_master_secret_the_operator_did_not_list_is_refused() {
    let w = alternating_world();
    let other = "arn:aws:secretsmanager:us-east-1:1:secret:team-b-app";
    let mut secret: serde_json::Value = serde_json::from_str(&secret_json("app", "pw-0", "db")).unwrap();
    secret["masterarn"] = other.into();
    w.set_value("v0", secret.to_string());
    let master = serde_json::json!({"engine": "postgres", "host": "db", "username": "admin", "password": "admin-pw"});
    w.store.state.lock().unwrap().others.insert(other.into(), master.to_string());
    w.step(Step::Create).await.unwrap();
    let err = w.step(Step::Set).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(err.to_string().contains("MASTER_SECRET_ARNS"), "{err}");
    assert!(!w.db.state.lock().unwrap().attempts.iter().any(|(user, _)| user == "admin"), "the master never logged in");
}

/// testSecret's master is AWSCURRENT's: a pending version naming another master secret is refused.
#[tokio::test]
async fn a_pending_version_cannot_name_another_master() {
    let w = alternating_world();
    w.step(Step::Create).await.unwrap();
    w.step(Step::Set).await.unwrap();
    let pending = w.store.state.lock().unwrap().versions["tok"].0.clone().unwrap();
    let mut pending: serde_json::Value = serde_json::from_str(&pending).unwrap();
    pending["masterarn"] = "arn:aws:secretsmanager:us-east-1:1:secret:another".into();
    w.set_value("tok", pending.to_string());
    let err = w.step(Step::Test).await.unwrap_err();
    assert_eq!(err.error_type(), "PendingMismatch", "{err}");
    assert!(err.to_string().contains("masterarn"), "{err}");
}
