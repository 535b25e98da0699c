//! MariaDB running with `NO_BACKSLASH_ESCAPES`, where a backslash in a string literal is a plain character. This
//! changes the server's global `sql_mode`, so it is its own test binary (cargo runs test binaries one at a time),
//! and the mode is restored whatever happens.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use rds_rotator::internal::mariadb_sql::{self as sql, MysqlQuoting};

async fn global_sql_mode() -> String {
    let mut admin = my_admin().await;
    let mode: String = admin.query_first("SELECT @@GLOBAL.sql_mode").await.unwrap().unwrap();
    admin.disconnect().await.unwrap();
    mode
}

/// Sets `password` as `user`, through the literal statement built for the session's own sql_mode, then proves it
/// by logging in: the literal was read back exactly.
async fn set_through_literal(user: &str, current: &str, password: &str) -> MysqlQuoting {
    let mut session = my_connect(user, current).await.unwrap();
    let mode: String = session.query_first("SELECT @@SESSION.sql_mode").await.unwrap().unwrap();
    let quoting = MysqlQuoting::from_sql_mode(&mode);
    let statement = sql::mariadb_set_password_literal(password, quoting).unwrap();
    session.query_drop(statement.as_str()).await.unwrap();
    session.disconnect().await.unwrap();
    assert!(my_logs_in(user, password).await, "{password:?} under {mode}");
    quoting
}

#[tokio::test]
async fn rotation_and_literals_work_with_and_without_no_backslash_escapes() {
    let original = global_sql_mode().await;
    assert!(!original.contains("NO_BACKSLASH_ESCAPES"), "the test starts from the default mode");
    let prefix = unique("nbe")[..12].to_owned();
    let names = [format!(r"{prefix}\back\\slash"), format!("{prefix}'quote"), format!(r"{prefix}\'both")];
    for name in &names {
        my_exec(&format!("CREATE USER {}@'%' IDENTIFIED BY 'initial-pw'", my_quote(name))).await;
    }
    let literal_user = format!("{prefix}lit");
    my_exec(&format!("CREATE USER {}@'%' IDENTIFIED BY 'initial-pw'", my_quote(&literal_user))).await;
    // Never generated (the generator leaves out quotes and backslashes), but the quoting must still be right.
    let awkward = r"it's\a'\\b";
    let quoting = set_through_literal(&literal_user, "initial-pw", awkward).await;
    assert!(!quoting.no_backslash_escapes);

    my_exec(&format!("SET GLOBAL sql_mode = {}", my_quote(&format!("{original},NO_BACKSLASH_ESCAPES")))).await;
    let body = tokio::spawn(async move {
        let sm = sm().await;
        let rotator = rotator().await;
        for name in &names {
            let secret_id = unique("nbe-secret");
            create_secret(&sm, &secret_id, &my_secret(name, "initial-pw")).await;
            let token = stage_rotation(&sm, &secret_id).await;
            run_rotation(&rotator, &secret_id, &token).await.unwrap_or_else(|err| panic!("{name:?}: {err}"));
            let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
            assert!(my_logs_in(name, &new).await, "{name:?}");
            assert!(!my_logs_in(name, "initial-pw").await, "{name:?}");
        }
        let quoting = set_through_literal(&literal_user, awkward, r"\'x'\\").await;
        assert!(quoting.no_backslash_escapes, "the sessions ran under NO_BACKSLASH_ESCAPES");
    })
    .await;
    my_exec(&format!("SET GLOBAL sql_mode = {}", my_quote(&original))).await;
    if let Err(err) = body {
        std::panic::resume_unwind(err.into_panic());
    }
}
