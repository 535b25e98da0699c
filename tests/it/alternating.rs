//! Alternating users on real servers, through the emulated Secrets Manager: the secret moves between a user and its
//! `_clone` at each rotation, the master secret's user does the user management, and what the two users hold is
//! compared by queries independent of the code under test (`pg_has_role`, `pg_db_role_setting`, `SHOW GRANTS`).

use crate::common;

use std::collections::BTreeMap;

use common::*;
use mysql_async::prelude::Queryable;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rds_rotator::internal::Step;

on_both_engines!(
    ten_rotations_alternate_the_users_and_keep_them_twins,
    a_crash_after_the_alternate_is_created_is_repaired_by_the_retry,
    an_unrelated_user_with_the_clone_name_is_refused_and_untouched,
    a_user_named_like_a_clone_leaves_its_namesake_untouched,
    a_missing_or_refused_master_secret_is_named_and_changes_nothing,
    a_forged_history_does_not_hand_over_another_account,
    an_account_administrator_is_never_a_user_of_the_pair,
    the_master_user_is_never_a_user_of_the_pair,
    cancel_drops_a_pending_version_naming_another_user_without_a_login,
);

const INITIAL: &str = "initial-Passw0rd!";
const MASTER_PASSWORD: &str = "master-Passw0rd!";

/// A user with privileges on its own schema/database, a least-privilege master, and the alternating secret.
struct Pair {
    engine: Engine,
    base: String,
    clone: String,
    /// PostgreSQL: the schema the base user may use; MariaDB: the database.
    place: String,
    secret_id: String,
    /// The master's user.
    master: String,
}

/// The master's user, with exactly the RDS master's privileges (`create_rds_master`): on PostgreSQL a `CREATEROLE`
/// member of `rds_superuser`, no superuser; on MariaDB RDS's global grants WITH GRANT OPTION, without SUPER.
async fn create_master(engine: Engine) -> String {
    let master = unique("master");
    create_rds_master(engine, &master, MASTER_PASSWORD).await;
    master
}

/// A pair whose original user the master created, as on RDS where the master creates the application's roles
/// (PostgreSQL 16+ then gives it ADMIN OPTION on them); `postgres_a_role_another_role_created` covers the other case.
async fn pair_named(engine: Engine, base: &str) -> Pair {
    let master = create_master(engine).await;
    let masterarn = engine.master_secret(&master, MASTER_PASSWORD).await;
    let place = unique("place");
    match engine {
        Engine::Postgres => pg_create_role_as(&master, MASTER_PASSWORD, base, INITIAL).await,
        Engine::Mariadb => engine.create_user(base, INITIAL).await,
    }
    match engine {
        Engine::Postgres => {
            let (schema, user) = (escape_identifier(&place), escape_identifier(base));
            pg_admin()
                .await
                .batch_execute(&format!(
                    "CREATE SCHEMA {schema}; GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}; \
                     CREATE TABLE {schema}.shared (n int); GRANT SELECT, INSERT ON {schema}.shared TO {user}; \
                     ALTER ROLE {user} SET search_path = '$user', {}, 'public'; \
                     ALTER ROLE {user} SET statement_timeout = '7s'",
                    escape_literal(&place)
                ))
                .await
                .unwrap();
        }
        Engine::Mariadb => {
            my_exec(&format!("CREATE DATABASE `{place}`")).await;
            my_exec(&format!("CREATE TABLE `{place}`.shared (n int)")).await;
            my_exec(&format!("GRANT SELECT, INSERT, CREATE ON `{place}`.* TO {}@'%'", my_quote(base))).await;
        }
    }
    let secret = engine.alternating_secret(base, INITIAL, &masterarn);
    let secret_id = unique("secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    Pair { engine, base: base.to_owned(), clone: format!("{base}_clone"), place, secret_id, master }
}

async fn pair(engine: Engine) -> Pair {
    pair_named(engine, &unique("alt")).await
}

impl Pair {
    async fn login_of(&self, stage: &str) -> (String, String) {
        let secret = secret_value(&sm().await, &self.secret_id, stage).await.unwrap_or_else(|| panic!("no {stage}"));
        (secret["username"].as_str().unwrap().to_owned(), password_of(&secret))
    }

    async fn rotate(&self) -> Result<(), rds_rotator::internal::Error> {
        let token = stage_rotation(&sm().await, &self.secret_id).await;
        run_rotation(&rotator().await, &self.secret_id, &token).await
    }

    /// The two users hold the same, as the server reports it.
    async fn assert_twins(&self) {
        match self.engine {
            Engine::Postgres => {
                let admin = pg_admin().await;
                let row = admin.query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&self.clone, &self.base]).await;
                assert!(row.unwrap().get::<_, bool>(0), "{} is a member of {}", self.clone, self.base);
                let mut base = pg_settings(&self.base).await;
                let mut clone = pg_settings(&self.clone).await;
                assert_eq!(clone.remove("role"), Some(self.base.clone()), "the clone's sessions run as the original");
                base.remove("role");
                assert_eq!(clone, base, "the clone has the original's settings");
            }
            Engine::Mariadb => {
                let base = my_grants(&self.base, &self.base).await;
                let clone = my_grants(&self.clone, &self.base).await;
                assert!(!base.is_empty());
                assert_eq!(clone, base, "the clone's accounts hold what the original's hold");
            }
        }
    }

    /// Logs in as a stage's user and uses the shared table; on PostgreSQL also says who the session acts as.
    async fn works_as(&self, stage: &str) {
        let (user, password) = self.login_of(stage).await;
        assert!(self.engine.logs_in(&user, &password).await, "{stage} ({user}) logs in");
        match self.engine {
            Engine::Postgres => {
                let client = pg_connect(&user, &password).await.unwrap();
                let row = client.query_one("SELECT current_user::text", &[]).await.unwrap();
                assert_eq!(row.get::<_, String>(0), self.base, "{user}'s sessions act as the original");
                let table = format!("{}.shared", escape_identifier(&self.place));
                client.batch_execute(&format!("INSERT INTO {table} VALUES (1); SELECT * FROM {table}")).await.unwrap();
            }
            Engine::Mariadb => {
                let mut conn = my_connect(&user, &password).await.unwrap();
                let table = format!("`{}`.shared", self.place);
                conn.query_drop(format!("INSERT INTO {table} VALUES (1)")).await.unwrap();
                conn.query_drop(format!("SELECT * FROM {table}")).await.unwrap();
                conn.disconnect().await.unwrap();
            }
        }
    }
}

/// A PostgreSQL role's own settings, by name.
async fn pg_settings(role: &str) -> BTreeMap<String, String> {
    let rows = pg_admin()
        .await
        .query(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole \
             WHERE r.rolname = $1 AND s.setdatabase = 0",
            &[&role],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .map(|setting| {
            let (name, value) = setting.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// `SHOW GRANTS` for every account of `user`, by host, with the name written as `as_name` and the password part
/// left out, each account's lines sorted.
async fn my_grants(user: &str, as_name: &str) -> BTreeMap<String, Vec<String>> {
    let mut admin = my_admin().await;
    let hosts: Vec<String> = admin.exec("SELECT Host FROM mysql.user WHERE User = ?", (user,)).await.unwrap();
    let mut grants = BTreeMap::new();
    for host in hosts {
        let sql = format!("SHOW GRANTS FOR {}@{}", my_quote(user), my_quote(&host));
        let mut lines: Vec<String> = admin.query(sql).await.unwrap();
        for line in &mut lines {
            *line = line.replace(&format!("`{user}`@"), &format!("`{as_name}`@"));
            // "IDENTIFIED BY PASSWORD '*…'" / "IDENTIFIED VIA ed25519 USING '…'": the one part that must differ.
            if let Some(start) = line.find(" IDENTIFIED ") {
                let open = start + line[start..].find('\'').unwrap();
                let close = open + 1 + line[open + 1..].find('\'').unwrap();
                line.replace_range(start..=close, "");
            }
        }
        lines.sort();
        grants.insert(host, lines);
    }
    admin.disconnect().await.unwrap();
    grants
}

async fn ten_rotations_alternate_the_users_and_keep_them_twins(engine: Engine) {
    let p = pair(engine).await;
    for round in 0..10 {
        let (before, _) = p.login_of("AWSCURRENT").await;
        p.rotate().await.unwrap_or_else(|err| panic!("rotation {round}: {err}"));
        let expected = if round % 2 == 0 { &p.clone } else { &p.base };
        let (current, _) = p.login_of("AWSCURRENT").await;
        assert_eq!(&current, expected, "rotation {round}: the users alternate");
        assert_eq!(p.login_of("AWSPREVIOUS").await.0, before, "rotation {round}: the previous user is AWSPREVIOUS");
        p.works_as("AWSCURRENT").await;
        p.works_as("AWSPREVIOUS").await;
        p.assert_twins().await;
    }
}

/// A crash inside setSecret after the alternate was created (with the pending password, as the engines create it)
/// and before it got its privileges: the retry recognises its own work and completes it.
async fn a_crash_after_the_alternate_is_created_is_repaired_by_the_retry(engine: Engine) {
    let p = pair(engine).await;
    let sm = sm().await;
    let rotator = rotator().await;
    let token = stage_rotation(&sm, &p.secret_id).await;
    run_step(&rotator, &p.secret_id, &token, Step::Create).await.unwrap();
    let pending = password_of(&secret_value(&sm, &p.secret_id, "AWSPENDING").await.unwrap());
    // What the crash left: the alternate, made by the master on the pending password, with nothing (MariaDB:
    // something unwanted).
    match engine {
        Engine::Postgres => pg_create_role_as(&p.master, MASTER_PASSWORD, &p.clone, &pending).await,
        Engine::Mariadb => engine.create_user(&p.clone, &pending).await,
    }
    if engine == Engine::Mariadb {
        my_exec(&format!("GRANT DELETE ON `{}`.* TO {}@'%'", p.place, my_quote(&p.clone))).await;
    }

    for step in [Step::Set, Step::Test, Step::Finish] {
        run_step(&rotator, &p.secret_id, &token, step).await.unwrap_or_else(|err| panic!("{step:?}: {err}"));
    }
    assert_eq!(p.login_of("AWSCURRENT").await.0, p.clone);
    p.works_as("AWSCURRENT").await;
    p.assert_twins().await;
}

/// A user that happens to be called `<user>_clone`, not made by a rotation: setSecret refuses it and changes
/// nothing in the database; the secret stays on its current version.
async fn an_unrelated_user_with_the_clone_name_is_refused_and_untouched(engine: Engine) {
    let p = pair_named(engine, &unique("reporting")).await;
    engine.create_user(&p.clone, "someone-elses-Passw0rd").await;
    let users_before = engine.users(&p.base).await;
    let current_before = p.login_of("AWSCURRENT").await;

    let err = p.rotate().await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict", "{err}");
    assert!(err.to_string().contains(&format!("user \"{}\" exists but was not created", p.clone)), "{err}");
    assert_eq!(engine.users(&p.base).await, users_before, "nothing changed in the database");
    assert_eq!(p.login_of("AWSCURRENT").await, current_before);
    assert!(engine.logs_in(&p.clone, "someone-elses-Passw0rd").await);
    assert!(engine.logs_in(&p.base, INITIAL).await);
}

/// A user whose own name ends in `_clone` is an original: its alternate is `<name>_clone`, and the user with the
/// name minus the suffix is never touched (AWS's template changes that user's password).
async fn a_user_named_like_a_clone_leaves_its_namesake_untouched(engine: Engine) {
    let namesake = unique("reporting");
    engine.create_user(&namesake, "namesake-Passw0rd").await;
    let namesake_before = engine.users(&namesake).await.remove(&engine.user_key(&namesake));
    let p = pair_named(engine, &format!("{namesake}_clone")).await;

    p.rotate().await.unwrap();
    assert_eq!(p.login_of("AWSCURRENT").await.0, format!("{namesake}_clone_clone"));
    p.works_as("AWSCURRENT").await;
    assert_eq!(engine.users(&namesake).await.remove(&engine.user_key(&namesake)), namesake_before);
    assert!(engine.logs_in(&namesake, "namesake-Passw0rd").await);
}

async fn a_missing_or_refused_master_secret_is_named_and_changes_nothing(engine: Engine) {
    let sm = sm().await;
    for (masterarn, problem) in [
        (unique("no-such-master"), "does not exist"),
        (engine.master_secret("nobody_at_all", "wrong-Passw0rd").await, "does not log in"),
    ] {
        let base = unique("alt");
        engine.create_user(&base, INITIAL).await;
        let secret = engine.alternating_secret(&base, INITIAL, &masterarn);
        let secret_id = unique("secret");
        create_secret(&sm, &secret_id, &secret).await;
        let users_before = engine.users(&base).await;

        let token = stage_rotation(&sm, &secret_id).await;
        let err = run_rotation(&rotator().await, &secret_id, &token).await.unwrap_err();
        assert_eq!(err.error_type(), "MasterSecretError", "{err}");
        assert!(err.to_string().contains(&format!("master secret {masterarn} {problem}")), "{err}");
        assert!(!err.to_string().contains("wrong-Passw0rd"), "{err}");
        assert_eq!(engine.users(&base).await, users_before, "nothing changed in the database");
        assert!(engine.logs_in(&base, INITIAL).await);
    }
}

/// PostgreSQL: the users act as one owner. Tables either creates belong to the original, and both can read and
/// write them after any number of switches; settings changed on the original reach the clone at the next rotation.
#[tokio::test]
async fn postgres_tables_created_by_either_user_serve_both() {
    let p = pair(Engine::Postgres).await;
    let schema = escape_identifier(&p.place);
    let mut created = Vec::new();
    for round in 0..4 {
        p.rotate().await.unwrap_or_else(|err| panic!("rotation {round}: {err}"));
        // Each user in turn creates a table; every table so far is usable by both users.
        let (user, password) = p.login_of("AWSCURRENT").await;
        let table = format!("{schema}.{}", escape_identifier(&format!("made_by_{user}_{round}")));
        pg_connect(&user, &password)
            .await
            .unwrap()
            .batch_execute(&format!("CREATE TABLE {table} (n int); INSERT INTO {table} VALUES ({round})"))
            .await
            .unwrap();
        created.push(table);
        for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
            let (user, password) = p.login_of(stage).await;
            let client = pg_connect(&user, &password).await.unwrap();
            for table in &created {
                let sql =
                    format!("INSERT INTO {table} VALUES (-1); UPDATE {table} SET n = n + 1; SELECT * FROM {table}");
                client.batch_execute(&sql).await.unwrap_or_else(|err| panic!("{user} on {table}: {err}"));
            }
        }
    }
    let owners = pg_admin()
        .await
        .query(
            "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'made_by_%'",
            &[&p.place],
        )
        .await
        .unwrap();
    let owners: Vec<String> = owners.iter().map(|row| row.get(0)).collect();
    assert_eq!(owners, vec![p.base.clone()], "the original owns everything");

    // A setting added to and one removed from the original reach the clone at the next rotation.
    let base = escape_identifier(&p.base);
    let sql = format!("ALTER ROLE {base} SET work_mem = '8MB'; ALTER ROLE {base} RESET statement_timeout");
    pg_admin().await.batch_execute(&sql).await.unwrap();
    p.rotate().await.unwrap();
    p.assert_twins().await;
    assert_eq!(pg_settings(&p.clone).await.get("work_mem").map(String::as_str), Some("8MB"));
    assert!(!pg_settings(&p.clone).await.contains_key("statement_timeout"));
}

/// MariaDB: every account of the current user is mirrored — a non-`%` host with its TLS requirement and limits,
/// grants WITH GRANT OPTION, column and routine grants, a role with its admin option and the default role — and
/// what the current user loses, the other loses at the next rotation. No password reaches the general log.
#[tokio::test]
async fn mariadb_accounts_grants_and_roles_are_mirrored_and_revocations_follow() {
    let p = pair(Engine::Mariadb).await;
    let (db, base) = (format!("`{}`", p.place), my_quote(&p.base));
    let role = unique("role");
    let master = secret_value(&sm().await, &p.secret_id, "AWSCURRENT").await.unwrap()["masterarn"].clone();
    let master_user = secret_value(&sm().await, master.as_str().unwrap(), "AWSCURRENT").await.unwrap()["username"]
        .as_str()
        .unwrap()
        .to_owned();
    for sql in [
        format!("CREATE PROCEDURE {db}.refund() SELECT 1"),
        format!("CREATE ROLE `{role}`"),
        format!("GRANT SELECT ON {db}.shared TO `{role}`"),
        format!("GRANT `{role}` TO `{master_user}`@'%' WITH ADMIN OPTION"),
        format!("GRANT `{role}` TO {base}@'%' WITH ADMIN OPTION"),
        format!("SET DEFAULT ROLE `{role}` FOR {base}@'%'"),
        format!("GRANT SELECT, INSERT ON {db}.* TO {base}@'%' WITH GRANT OPTION"),
        format!("GRANT UPDATE (n) ON {db}.shared TO {base}@'%'"),
        format!("GRANT EXECUTE ON PROCEDURE {db}.refund TO {base}@'%'"),
        format!("GRANT PROCESS ON *.* TO {base}@'%'"),
        format!(
            "CREATE USER {base}@'10.9.8.%' IDENTIFIED BY {} REQUIRE SSL WITH MAX_USER_CONNECTIONS 3",
            my_quote(INITIAL)
        ),
        format!("GRANT SELECT ON {db}.shared TO {base}@'10.9.8.%'"),
    ] {
        my_exec(&sql).await;
    }

    p.rotate().await.unwrap();
    assert_eq!(p.login_of("AWSCURRENT").await.0, p.clone);
    p.assert_twins().await;
    let clone_grants = my_grants(&p.clone, &p.clone).await;
    let ssl_host = clone_grants["10.9.8.%"].join("\n");
    assert!(ssl_host.contains("REQUIRE SSL") && ssl_host.contains("MAX_USER_CONNECTIONS 3"), "{ssl_host}");
    let any_host = clone_grants["%"].join("\n");
    assert!(any_host.contains("WITH GRANT OPTION") && any_host.contains(&format!("`{role}`")), "{any_host}");
    p.works_as("AWSCURRENT").await;

    // Taken from the current user (now the clone): INSERT, the role, and the 10.9.8.% account.
    let clone = my_quote(&p.clone);
    my_exec(&format!("REVOKE INSERT ON {db}.* FROM {clone}@'%'")).await;
    my_exec(&format!("REVOKE `{role}` FROM {clone}@'%'")).await;
    my_exec(&format!("DROP USER {clone}@'10.9.8.%'")).await;
    p.rotate().await.unwrap();
    assert_eq!(p.login_of("AWSCURRENT").await.0, p.base);
    p.assert_twins().await;
    let base_grants = my_grants(&p.base, &p.base).await;
    assert_eq!(base_grants.keys().collect::<Vec<_>>(), vec!["%"], "the 10.9.8.% account went too");
    let lines = base_grants["%"].join("\n");
    // (MariaDB keeps a default role that is no longer granted, on both users alike.)
    assert!(!lines.contains("INSERT") && !lines.contains(&format!("GRANT `{role}`")), "{lines}");

    // Given to the current user (now the original again): the clone gets it at the next rotation.
    my_exec(&format!("GRANT DELETE ON {db}.shared TO {base}@'%'")).await;
    p.rotate().await.unwrap();
    p.assert_twins().await;
    assert!(my_grants(&p.clone, &p.clone).await["%"].join("\n").contains("DELETE"));

    let log = my_general_log();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        let (_, password) = p.login_of(stage).await;
        assert!(!log.contains(&password), "a password of {stage} is in the general log");
    }
}

// ---------------------------------------------------------------- trust boundaries (docs/threat-model.md, S4)

/// Writes a version of `secret_id` labelled `stage`, as anyone with PutSecretValue on the secret can.
async fn put_stage(secret_id: &str, stage: &str, value: &serde_json::Value) {
    let sm = sm().await;
    let request = sm.put_secret_value().secret_id(secret_id).secret_string(value.to_string()).version_stages(stage);
    request.send().await.expect("put a version");
}

/// The attack: whoever writes the secret writes its history too. Naming `victim` and `victim_clone` with
/// guessed passwords, or owning a user that happens to be called `victim_clone` and forging an AWSPREVIOUS that
/// names `victim`, gets `victim` neither dropped, nor rewritten, nor its password changed.
async fn a_forged_history_does_not_hand_over_another_account(engine: Engine) {
    let p = pair(engine).await;
    let victim = unique("victim");
    engine.create_user(&victim, "victims-own-Passw0rd").await;
    let victim_account = || async { engine.users(&victim).await.remove(&engine.user_key(&victim)) };
    let victim_before = victim_account().await;
    let masterarn = secret_value(&sm().await, &p.secret_id, "AWSCURRENT").await.unwrap()["masterarn"].clone();

    // Two PutSecretValue calls: AWSPREVIOUS victim, AWSCURRENT victim_clone, both with guesses.
    let forge = |user: &str, password: &str| {
        let mut value = engine.alternating_secret(user, password, masterarn.as_str().unwrap());
        value["host"] = tls_host().into();
        value
    };
    put_stage(&p.secret_id, "AWSCURRENT", &forge(&victim, "guess-1")).await;
    put_stage(&p.secret_id, "AWSCURRENT", &forge(&format!("{victim}_clone"), "guess-2")).await;
    let err = p.rotate().await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    assert!(err.to_string().contains("AWSCURRENT does not log in as it"), "{err}");
    assert_eq!(engine.users(&victim).await.len(), 1, "no victim_clone was made");
    assert_eq!(victim_account().await, victim_before, "victim untouched");

    // The writer's own user is called victim_clone (its password works); the forged AWSPREVIOUS names victim.
    let own = format!("{victim}_clone");
    engine.create_user(&own, "writers-own-Passw0rd").await;
    put_stage(&p.secret_id, "AWSCURRENT", &forge(&own, "writers-own-Passw0rd")).await;
    put_stage(&p.secret_id, "AWSPREVIOUS", &forge(&victim, "guess-3")).await;
    let err = p.rotate().await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict", "{err}");
    assert_eq!(victim_account().await, victim_before, "victim untouched");
    assert!(engine.logs_in(&victim, "victims-own-Passw0rd").await);
}

/// A user that could administer accounts — directly, or through a role — is never copied from or to.
async fn an_account_administrator_is_never_a_user_of_the_pair(engine: Engine) {
    for through_role in [false, true] {
        let p = pair(engine).await;
        let grantee = match engine {
            Engine::Postgres => escape_identifier(&p.base),
            Engine::Mariadb => format!("{}@'%'", my_quote(&p.base)),
        };
        let (sql, power) = match (engine, through_role) {
            (Engine::Postgres, false) => (vec![format!("ALTER ROLE {grantee} CREATEROLE")], "has CREATEROLE"),
            (Engine::Postgres, true) => {
                let role = escape_identifier(&unique("admins"));
                (vec![format!("CREATE ROLE {role} CREATEROLE"), format!("GRANT {role} TO {grantee}")], "CREATEROLE")
            }
            (Engine::Mariadb, false) => (vec![format!("GRANT CREATE USER ON *.* TO {grantee}")], "CREATE USER"),
            (Engine::Mariadb, true) => {
                let role = format!("`{}`", unique("admins"));
                let sql = vec![
                    format!("CREATE ROLE {role}"),
                    format!("GRANT INSERT ON mysql.* TO {role}"),
                    format!("GRANT {role} TO {grantee}"),
                ];
                (sql, "INSERT on `mysql`")
            }
        };
        for statement in sql {
            match engine {
                Engine::Postgres => pg_admin().await.batch_execute(&statement).await.unwrap(),
                Engine::Mariadb => my_exec(&statement).await,
            }
        }
        let users_before = engine.users(&p.base).await;
        let err = p.rotate().await.unwrap_err();
        assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
        assert!(err.to_string().contains(power) && err.to_string().contains("administer other accounts"), "{err}");
        if through_role {
            assert!(err.to_string().contains("role"), "{err}");
        }
        assert_eq!(engine.users(&p.base).await, users_before, "no clone was made");
        assert_eq!(p.login_of("AWSCURRENT").await.0, p.base);
    }
}

/// The master user itself, named by the secret with its own working password, is refused as a user of the pair.
async fn the_master_user_is_never_a_user_of_the_pair(engine: Engine) {
    let master = create_master(engine).await;
    let masterarn = engine.master_secret(&master, MASTER_PASSWORD).await;
    let secret_id = unique("secret");
    create_secret(&sm().await, &secret_id, &engine.alternating_secret(&master, MASTER_PASSWORD, &masterarn)).await;
    let users_before = engine.users(&master).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    let err = run_rotation(&rotator().await, &secret_id, &token).await.unwrap_err();
    assert_eq!(err.error_type(), "MasterSecretError", "{err}");
    assert!(err.to_string().contains("never rotate the master user"), "{err}");
    assert_eq!(engine.users(&master).await, users_before);
    assert!(engine.logs_in(&master, MASTER_PASSWORD).await);
}

/// MariaDB's split privileges have no column in mysql.user: SET USER (a definer of the holder's choosing) is found
/// all the same, through a role too.
#[tokio::test]
async fn mariadb_set_user_is_account_administration() {
    for through_role in [false, true] {
        let p = pair(Engine::Mariadb).await;
        let grantee = format!("{}@'%'", my_quote(&p.base));
        if through_role {
            let role = format!("`{}`", unique("definers"));
            my_exec(&format!("CREATE ROLE {role}")).await;
            my_exec(&format!("GRANT SET USER ON *.* TO {role}")).await;
            my_exec(&format!("GRANT {role} TO {grantee}")).await;
        } else {
            my_exec(&format!("GRANT SET USER ON *.* TO {grantee}")).await;
        }
        let err = p.rotate().await.unwrap_err();
        assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
        assert!(err.to_string().contains("SET USER on *.*"), "{err}");
        assert!(Engine::Mariadb.users(&p.clone).await.is_empty(), "no clone was made");
    }
}

/// MySQL family: a login proves only the account it matched. An account of the other user at another host that
/// holds a password no version of this secret has is not this rotation's: refused, and it stays as it was.
#[tokio::test]
async fn mariadb_an_unproven_host_account_of_the_other_user_is_left_alone() {
    let p = pair(Engine::Mariadb).await;
    p.rotate().await.unwrap();
    // The original user (the next rotation's) gains an account at another host, with another password.
    let base = my_quote(&p.base);
    my_exec(&format!("CREATE USER {base}@'10.7.7.%' IDENTIFIED BY {}", my_quote("someone-elses-Passw0rd"))).await;
    let before = Engine::Mariadb.users(&p.base).await;
    let err = p.rotate().await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserConflict", "{err}");
    assert_eq!(Engine::Mariadb.users(&p.base).await, before, "neither account of the original changed");
}

/// MySQL family, the current user: AWSCURRENT logging in proves the one account the server matched. The secret's
/// writer holds `base@127.0.0.1` (which a login from here matches); `base@'%'` is someone else's, with another password
/// and grants on data of its own. The rotation refuses before anything changes, naming that account; the other user
/// gets nothing of it — no account, no grant.
#[tokio::test]
async fn mariadb_an_account_of_the_current_user_it_cannot_prove_stops_the_rotation() {
    let p = pair(Engine::Mariadb).await;
    let base = my_quote(&p.base);
    let secret_data = unique("secret_data");
    my_exec(&format!("CREATE DATABASE `{secret_data}`")).await;
    my_exec(&format!("ALTER USER {base}@'%' IDENTIFIED BY {}", my_quote("someone-elses-Passw0rd"))).await;
    my_exec(&format!("GRANT SELECT ON `{secret_data}`.* TO {base}@'%'")).await;
    my_exec(&format!("CREATE USER {base}@'127.0.0.1' IDENTIFIED BY {}", my_quote(INITIAL))).await;
    my_exec(&format!("GRANT SELECT, INSERT ON `{}`.* TO {base}@'127.0.0.1'", p.place)).await;
    assert!(Engine::Mariadb.logs_in(&p.base, INITIAL).await, "AWSCURRENT logs in: the server matches 127.0.0.1");
    let before = Engine::Mariadb.users(&p.base).await;

    // The preflight says what the rotation then does.
    let report = rotator().await.preflight(&p.secret_id).await;
    let failure = report.failure.expect("the preflight refuses");
    assert_eq!(failure.error.error_type(), "AlternateUserRefused", "{}", failure.error);
    let err = p.rotate().await.unwrap_err();
    assert_eq!(err.error_type(), "AlternateUserRefused", "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("\"{}\"@\"%\"", p.base)) && message.contains("does not hold AWSCURRENT"),
        "{err}"
    );
    assert!(!message.contains("127.0.0.1\" ("), "the proven account is not named: {err}");
    assert!(Engine::Mariadb.users(&p.clone).await.is_empty(), "no account of the other user was made");
    assert_eq!(Engine::Mariadb.users(&p.base).await, before, "neither account of the current user changed");
}

/// Both host accounts of the current user hold AWSCURRENT's password: both are the secret's, and both are mirrored.
#[tokio::test]
async fn mariadb_every_proven_host_account_is_mirrored() {
    let p = pair(Engine::Mariadb).await;
    let base = my_quote(&p.base);
    my_exec(&format!("CREATE USER {base}@'127.0.0.1' IDENTIFIED BY {}", my_quote(INITIAL))).await;
    my_exec(&format!("GRANT SELECT ON `{}`.* TO {base}@'127.0.0.1'", p.place)).await;
    p.rotate().await.unwrap();
    let accounts: Vec<String> = Engine::Mariadb.users(&p.clone).await.into_keys().collect();
    assert_eq!(accounts, [format!("{}@%", p.clone), format!("{}@127.0.0.1", p.clone)]);
    p.assert_twins().await;
}

/// Alternating users: a pending version naming another user than the pair's other one (here the master user itself,
/// with a guessed password) is one setSecret refuses before any login. cancel removes its label and logs in nowhere:
/// the servers' logs show no login attempt as the master or as anyone this secret names.
async fn cancel_drops_a_pending_version_naming_another_user_without_a_login(engine: Engine) {
    let master = create_master(engine).await;
    let masterarn = engine.master_secret(&master, MASTER_PASSWORD).await;
    let base = unique("alt_cancel");
    engine.create_user(&base, INITIAL).await;
    let secret_id = unique("secret");
    create_secret(&sm().await, &secret_id, &engine.alternating_secret(&base, INITIAL, &masterarn)).await;
    let token = stage_rotation(&sm().await, &secret_id).await;
    let pending = engine.alternating_secret(&master, "a-guess-at-the-masters-Passw0rd", &masterarn);
    put_pending(&sm().await, &secret_id, &token, &pending).await;
    let log_before = engine.statement_log().len();

    let outcome = rotator().await.cancel(&secret_id).await.unwrap();
    let shown = outcome.to_string();
    assert!(shown.contains("removed AWSPENDING") && shown.contains("the other user of the pair"), "{shown}");
    let log = engine.statement_log();
    let since = &log[log_before..];
    for user in [master.as_str(), base.as_str()] {
        assert!(!since.contains(user), "{engine:?}: a login as {user} after the cancel began:\n{since}");
    }
    assert!(!versions(&sm().await, &secret_id).await.values().any(|labels| labels.contains(&"AWSPENDING".to_owned())));
    assert!(engine.logs_in(&master, MASTER_PASSWORD).await);
}

/// A user name holding `'@'` reads, in the privilege views' unescaped grantee strings, like a user name and a host:
/// `app'@'%` at `%` is `'app'@'%'@'%'`. Beside an account `app@'%'` that holds other grants (someone else's), the
/// pair's other user gets exactly the quoted user's own privileges — nothing of `app@'%'`'s.
#[tokio::test]
async fn mariadb_a_name_holding_a_grantee_quote_gets_only_its_own_privileges() {
    let plain = unique("grantee");
    let quoted = format!("{plain}'@'%");
    let p = pair_named(Engine::Mariadb, &quoted).await;
    let others = unique("others_data");
    my_exec(&format!("CREATE DATABASE `{others}`")).await;
    Engine::Mariadb.create_user(&plain, "someone-elses-Passw0rd").await;
    my_exec(&format!("GRANT SELECT, DELETE ON `{others}`.* TO {}@'%'", my_quote(&plain))).await;
    p.rotate().await.unwrap();
    p.assert_twins().await;
    let clone_grants = my_grants(&p.clone, &p.clone).await;
    assert!(!format!("{clone_grants:?}").contains(&others), "{clone_grants:?}");
    assert!(format!("{clone_grants:?}").contains(&p.place), "{clone_grants:?}");
}

/// PostgreSQL 16+ with the RDS master's privileges: an application role another role created (a migration user) is
/// one the master holds no ADMIN OPTION on. `check` and setSecret say so before anything changes, naming the grant to
/// run; once its creator runs it, the pair rotates and stays twins. On PostgreSQL 15, CREATEROLE administers every
/// role, and it rotates at once.
#[tokio::test]
async fn postgres_a_role_another_role_created_needs_admin_option_first() {
    let engine = Engine::Postgres;
    let master = create_master(engine).await;
    let masterarn = engine.master_secret(&master, MASTER_PASSWORD).await;
    let migrator = unique("migrator");
    let sql = format!(
        "CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}",
        escape_identifier(&migrator),
        escape_literal(&pg_verifier(MASTER_PASSWORD))
    );
    pg_admin().await.batch_execute(&sql).await.unwrap();
    let base = unique("alt_migrated");
    pg_create_role_as(&migrator, MASTER_PASSWORD, &base, INITIAL).await;
    let secret_id = unique("secret");
    create_secret(&sm().await, &secret_id, &engine.alternating_secret(&base, INITIAL, &masterarn)).await;
    let p = Pair {
        engine,
        base: base.clone(),
        clone: format!("{base}_clone"),
        place: String::new(),
        secret_id,
        master: master.clone(),
    };

    if pg_major_version().await >= 16 {
        let grant = format!(
            "GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE",
            escape_identifier(&base),
            escape_identifier(&master)
        );
        let report = rotator().await.preflight(&p.secret_id).await;
        let failure = report.failure.expect("check sees what setSecret would meet");
        assert_eq!(failure.error.error_type(), "DatabaseError", "{}", failure.error);
        let message = failure.error.to_string();
        assert!(message.contains(&grant) && message.contains(&format!("administered by {migrator}")), "{message}");
        assert!(!message.contains("rds_password"), "the wrong hint is gone: {message}");
        let err = p.rotate().await.unwrap_err();
        assert!(err.to_string().contains(&grant), "{err}");
        assert!(engine.users(&p.clone).await.is_empty(), "nothing was created");
        assert!(engine.logs_in(&base, INITIAL).await, "nothing was changed");
        pg_connect(&migrator, MASTER_PASSWORD).await.unwrap().batch_execute(&grant).await.unwrap();
    }
    assert!(rotator().await.preflight(&p.secret_id).await.passed());
    for _ in 0..2 {
        p.rotate().await.unwrap();
    }
    let (user, password) = p.login_of("AWSCURRENT").await;
    assert_eq!(user, base, "two rotations lead back to the original");
    assert!(engine.logs_in(&base, &password).await);
    assert!(engine.logs_in(&p.clone, &p.login_of("AWSPREVIOUS").await.1).await);
}

/// The privilege views compare grantees without case or accents (`utf8mb3_general_ci`): `'APP'@'%'` would read as
/// `'app'@'%'` there. Accounts whose names differ only so hold other grants (someone else's, SUPER and the grant
/// tables here); the pair's other user gets exactly the current user's own.
#[tokio::test]
async fn mariadb_a_name_differing_only_in_case_or_accents_lends_nothing() {
    let base = unique("casefold");
    let p = pair_named(Engine::Mariadb, &base).await;
    let upper = base.to_uppercase();
    let accented = base.replacen('a', "ä", 1);
    for (other, grant) in [(&upper, "SELECT ON `mysql`.*"), (&accented, "SUPER ON *.*")] {
        Engine::Mariadb.create_user(other, "someone-elses-Passw0rd").await;
        my_exec(&format!("GRANT {grant} TO {}@'%'", my_quote(other))).await;
    }
    p.rotate().await.unwrap();
    p.assert_twins().await;
    let grants = format!("{:?}", my_grants(&p.clone, &p.clone).await);
    assert!(!grants.contains("SUPER") && !grants.contains("`mysql`"), "{grants}");
}
