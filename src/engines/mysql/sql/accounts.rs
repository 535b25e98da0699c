//! MySQL and MariaDB statements that read and manage other accounts (alternating users, run by the master).
//! Reads take the user and host as bind parameters. Statements name accounts, schemas, tables, columns and roles as
//! backtick-quoted identifiers (a backtick doubled; valid under every `sql_mode`); privilege names and routine kinds
//! reach them only as the checked types of `grants`, plugin names only when plain; values are string literals quoted
//! for the session's `sql_mode`.

use std::borrow::Cow;

use super::{LiteralError, MysqlFlavor, MysqlQuoting};
use crate::engines::mysql::grants::{Level, Limits, Privilege, PrivilegeName, RoleRef, TlsRequirement};
use crate::engines::{mysql::auth::AuthPlugin, sql::Sql};

/// A `user@host` account.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Account<'a> {
    pub user: &'a str,
    pub host: &'a str,
}

/// How a statement gives an account its password.
#[derive(Clone, Copy)]
pub(crate) enum Credential<'a> {
    /// The plugin's stored string, computed here.
    Hash { plugin: &'a AuthPlugin, hash: &'a str },
    /// The password itself, for a plugin with no hash form here; the server hashes it.
    Password { plugin: &'a AuthPlugin, password: &'a str },
}

/// The number of user rows with this name, any host, roles included (param: user).
pub(crate) fn mysql_user_exists() -> Sql {
    Sql(Cow::Borrowed("SELECT COUNT(*) FROM mysql.user WHERE User = ?"))
}

/// Each account of a user with what it stores (param: user): host, plugin, `authentication_string`. Roles are
/// left out on MariaDB.
pub(crate) fn mysql_account_credentials(flavor: MysqlFlavor) -> Sql {
    Sql(Cow::Borrowed(match flavor {
        MysqlFlavor::Mariadb => {
            "SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = ? AND is_role = 'N'"
        }
        MysqlFlavor::Mysql => "SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = ?",
    }))
}

/// Each host row of a user (param: user): host, plugin, TLS requirement columns, resource limits, and on MariaDB its
/// `max_statement_time` and default role (NULL on MySQL). Roles are left out on MariaDB, which lists them here too.
pub(crate) fn mysql_account_rows(flavor: MysqlFlavor) -> Sql {
    Sql(Cow::Borrowed(match flavor {
        MysqlFlavor::Mariadb => {
            "SELECT Host, plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, \
             max_connections, max_user_connections, CAST(max_statement_time AS CHAR), default_role \
             FROM mysql.user WHERE User = ? AND is_role = 'N'"
        }
        MysqlFlavor::Mysql => {
            "SELECT Host, plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, \
             max_connections, max_user_connections, NULL, NULL FROM mysql.user WHERE User = ?"
        }
    }))
}

/// Every privilege row of one account, from the standard `information_schema` views (params: the grantee, as the
/// server writes it — `'user'@'host'`, unescaped — four times): level tag (`G`lobal, `S`chema, `T`able, `C`olumn),
/// schema, table, column, privilege, `YES` when grantable. `GRANTEE` is compared byte for byte: the views' column is
/// case- and accent-insensitive (`utf8mb3_general_ci`), and `'APP'@'%'` or `'äpp'@'%'` are other accounts.
pub(crate) fn mysql_privilege_rows() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT 'G', '', '', '', PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES \
         WHERE CAST(GRANTEE AS BINARY) = CAST(? AS BINARY) \
         UNION ALL SELECT 'S', TABLE_SCHEMA, '', '', PRIVILEGE_TYPE, IS_GRANTABLE \
         FROM information_schema.SCHEMA_PRIVILEGES WHERE CAST(GRANTEE AS BINARY) = CAST(? AS BINARY) \
         UNION ALL SELECT 'T', TABLE_SCHEMA, TABLE_NAME, '', PRIVILEGE_TYPE, IS_GRANTABLE \
         FROM information_schema.TABLE_PRIVILEGES WHERE CAST(GRANTEE AS BINARY) = CAST(? AS BINARY) \
         UNION ALL SELECT 'C', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE, IS_GRANTABLE \
         FROM information_schema.COLUMN_PRIVILEGES WHERE CAST(GRANTEE AS BINARY) = CAST(? AS BINARY)",
    ))
}

/// The other accounts whose grantee string, as the privilege views write it (`'user'@'host'`, unescaped), is the one
/// given (params: the grantee, user, host): a name holding `'@'` can read as another account there. Compared byte
/// for byte.
pub(crate) fn mysql_grantee_twins() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT User, Host FROM mysql.user WHERE CAST(CONCAT('''', User, '''@''', Host, '''') AS BINARY) = \
         CAST(? AS BINARY) AND NOT (User = ? AND Host = ?)",
    ))
}

/// Routine privileges of one account, which `information_schema` does not show (params: user, host): schema,
/// routine, kind, and the privilege set (`Execute,Alter Routine,Grant`).
pub(crate) fn mysql_routine_privilege_rows() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT Db, Routine_name, CAST(Routine_type AS CHAR), CAST(Proc_priv AS CHAR) FROM mysql.procs_priv \
         WHERE User = ? AND Host = ?",
    ))
}

/// Roles granted to one account (params: user, host): role name, role host ('' on MariaDB), `Y` with admin option.
pub(crate) fn mysql_role_rows(flavor: MysqlFlavor) -> Sql {
    Sql(Cow::Borrowed(match flavor {
        MysqlFlavor::Mariadb => {
            "SELECT Role, '', CAST(Admin_option AS CHAR) FROM mysql.roles_mapping WHERE User = ? AND Host = ?"
        }
        MysqlFlavor::Mysql => {
            "SELECT FROM_USER, FROM_HOST, CAST(WITH_ADMIN_OPTION AS CHAR) FROM mysql.role_edges \
             WHERE TO_USER = ? AND TO_HOST = ?"
        }
    }))
}

/// MySQL 8.0.16+: one account's `User_attributes` as JSON text, which holds its partial revokes (params: user, host).
/// MySQL 5.7 has no such column (error 1054), and MariaDB has none either.
pub(crate) fn mysql_user_attributes() -> Sql {
    Sql(Cow::Borrowed("SELECT CAST(User_attributes AS CHAR) FROM mysql.user WHERE User = ? AND Host = ?"))
}

/// MySQL 8: the default roles of one account (params: user, host). MariaDB keeps its one in `mysql.user`.
pub(crate) fn mysql_default_role_rows() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles WHERE USER = ? AND HOST = ?",
    ))
}

/// A new account that logs in with `credential` from its first statement.
pub(crate) fn mysql_create_account(
    flavor: MysqlFlavor,
    account: Account<'_>,
    credential: Credential<'_>,
    quoting: MysqlQuoting,
) -> Result<Sql, LiteralError> {
    let identified = identified(flavor, credential, quoting)?;
    Ok(Sql(Cow::Owned(format!("CREATE USER {} {identified}", account_sql(account)?))))
}

/// An account's password (and plugin) by `credential`.
pub(crate) fn mysql_set_account_credential(
    flavor: MysqlFlavor,
    account: Account<'_>,
    credential: Credential<'_>,
    quoting: MysqlQuoting,
) -> Result<Sql, LiteralError> {
    let identified = identified(flavor, credential, quoting)?;
    Ok(Sql(Cow::Owned(format!("ALTER USER {} {identified}", account_sql(account)?))))
}

/// An account's TLS requirement and resource limits, all of them, so nothing of an earlier value stays.
pub(crate) fn mysql_set_account_attributes(
    flavor: MysqlFlavor,
    account: Account<'_>,
    tls: &TlsRequirement,
    limits: &Limits,
    quoting: MysqlQuoting,
) -> Result<Sql, LiteralError> {
    let require = match tls {
        TlsRequirement::None => "NONE".to_owned(),
        TlsRequirement::Ssl => "SSL".to_owned(),
        TlsRequirement::X509 => "X509".to_owned(),
        TlsRequirement::Specified { issuer, subject, cipher } => {
            let mut parts = Vec::new();
            for (keyword, value) in [("ISSUER", issuer), ("SUBJECT", subject), ("CIPHER", cipher)] {
                if !value.is_empty() {
                    parts.push(format!("{keyword} {}", quoting.literal(value)?));
                }
            }
            // SPECIFIED with nothing specified does not occur; SSL is its nearest meaning.
            if parts.is_empty() { "SSL".to_owned() } else { parts.join(" AND ") }
        }
    };
    let mut sql = format!(
        "ALTER USER {} REQUIRE {require} WITH MAX_QUERIES_PER_HOUR {} MAX_UPDATES_PER_HOUR {} \
         MAX_CONNECTIONS_PER_HOUR {} MAX_USER_CONNECTIONS {}",
        account_sql(account)?,
        limits.max_queries_per_hour,
        limits.max_updates_per_hour,
        limits.max_connections_per_hour,
        limits.max_user_connections,
    );
    if flavor == MysqlFlavor::Mariadb {
        sql.push_str(" MAX_STATEMENT_TIME ");
        sql.push_str(limits.max_statement_time.as_ref().map_or("0", |time| time.as_str()));
    }
    Ok(Sql(Cow::Owned(sql)))
}

/// `GRANT … ON level TO account`; with no privileges, only the grant option (`USAGE … WITH GRANT OPTION`).
pub(crate) fn mysql_grant(
    level: &Level,
    privileges: &[Privilege],
    account: Account<'_>,
    grant_option: bool,
) -> Result<Sql, LiteralError> {
    let what = if privileges.is_empty() { "USAGE".to_owned() } else { privilege_list(privileges)? };
    let option = if grant_option { " WITH GRANT OPTION" } else { "" };
    Ok(Sql(Cow::Owned(format!("GRANT {what} ON {} TO {}{option}", level_sql(level)?, account_sql(account)?))))
}

/// `REVOKE … ON level FROM account`.
pub(crate) fn mysql_revoke(level: &Level, privileges: &[Privilege], account: Account<'_>) -> Result<Sql, LiteralError> {
    let what = privilege_list(privileges)?;
    Ok(Sql(Cow::Owned(format!("REVOKE {what} ON {} FROM {}", level_sql(level)?, account_sql(account)?))))
}

/// A partial revoke (MySQL 8, `partial_revokes=ON`): `REVOKE … ON schema.* FROM account`, for privileges the
/// account holds globally.
pub(crate) fn mysql_partial_revoke(
    schema: &str,
    privileges: &[PrivilegeName],
    account: Account<'_>,
) -> Result<Sql, LiteralError> {
    mysql_revoke(&Level::Schema(schema.to_owned()), &plain(privileges), account)
}

/// A partial revoke lifted: `GRANT … ON schema.* TO account`, which removes the restriction of a privilege the
/// account holds globally.
pub(crate) fn mysql_lift_partial_revoke(
    schema: &str,
    privileges: &[PrivilegeName],
    account: Account<'_>,
) -> Result<Sql, LiteralError> {
    mysql_grant(&Level::Schema(schema.to_owned()), &plain(privileges), account, false)
}

/// `ACCOUNT LOCK` (no new session opens as the account) or `ACCOUNT UNLOCK`.
pub(crate) fn mysql_account_lock(account: Account<'_>, locked: bool) -> Result<Sql, LiteralError> {
    let state = if locked { "LOCK" } else { "UNLOCK" };
    Ok(Sql(Cow::Owned(format!("ALTER USER {} ACCOUNT {state}", account_sql(account)?))))
}

fn plain(privileges: &[PrivilegeName]) -> Vec<Privilege> {
    privileges.iter().map(|name| Privilege { name: name.clone(), column: None }).collect()
}

pub(crate) fn mysql_revoke_grant_option(level: &Level, account: Account<'_>) -> Result<Sql, LiteralError> {
    Ok(Sql(Cow::Owned(format!("REVOKE GRANT OPTION ON {} FROM {}", level_sql(level)?, account_sql(account)?))))
}

pub(crate) fn mysql_grant_role(role: &RoleRef, account: Account<'_>, admin: bool) -> Result<Sql, LiteralError> {
    let option = if admin { " WITH ADMIN OPTION" } else { "" };
    Ok(Sql(Cow::Owned(format!("GRANT {} TO {}{option}", role_sql(role)?, account_sql(account)?))))
}

pub(crate) fn mysql_revoke_role(role: &RoleRef, account: Account<'_>) -> Result<Sql, LiteralError> {
    Ok(Sql(Cow::Owned(format!("REVOKE {} FROM {}", role_sql(role)?, account_sql(account)?))))
}

/// The account's default roles (MariaDB has at most one, and says `FOR`; MySQL says `TO`).
pub(crate) fn mysql_set_default_roles(
    flavor: MysqlFlavor,
    roles: &[RoleRef],
    account: Account<'_>,
) -> Result<Sql, LiteralError> {
    let roles = if roles.is_empty() {
        "NONE".to_owned()
    } else {
        roles.iter().map(role_sql).collect::<Result<Vec<_>, _>>()?.join(", ")
    };
    let keyword = if flavor == MysqlFlavor::Mariadb { "FOR" } else { "TO" };
    Ok(Sql(Cow::Owned(format!("SET DEFAULT ROLE {roles} {keyword} {}", account_sql(account)?))))
}

pub(crate) fn mysql_drop_account(account: Account<'_>) -> Result<Sql, LiteralError> {
    Ok(Sql(Cow::Owned(format!("DROP USER {}", account_sql(account)?))))
}

/// A backtick-quoted identifier.
fn ident(name: &str) -> Result<String, LiteralError> {
    if name.contains('\0') {
        return Err(LiteralError::Nul);
    }
    Ok(format!("`{}`", name.replace('`', "``")))
}

fn account_sql(account: Account<'_>) -> Result<String, LiteralError> {
    Ok(format!("{}@{}", ident(account.user)?, ident(account.host)?))
}

fn role_sql(role: &RoleRef) -> Result<String, LiteralError> {
    if role.host.is_empty() { ident(&role.name) } else { Ok(format!("{}@{}", ident(&role.name)?, ident(&role.host)?)) }
}

fn level_sql(level: &Level) -> Result<String, LiteralError> {
    Ok(match level {
        Level::Global => "*.*".to_owned(),
        Level::Schema(db) => format!("{}.*", ident(db)?),
        Level::Table(db, table) => format!("{}.{}", ident(db)?, ident(table)?),
        Level::Routine(db, name, kind) => format!("{} {}.{}", kind.as_sql(), ident(db)?, ident(name)?),
    })
}

/// `SELECT, UPDATE (`a`, `b`)`: privileges sorted by name, one entry per name with its columns together.
fn privilege_list(privileges: &[Privilege]) -> Result<String, LiteralError> {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    for privilege in privileges {
        let name = privilege.name.as_str();
        let column = privilege.column.as_deref().map(ident).transpose()?;
        match (entries.iter_mut().find(|(n, columns)| n == name && !columns.is_empty()), column) {
            (Some((_, columns)), Some(column)) => columns.push(column),
            (_, column) => entries.push((name.to_owned(), column.into_iter().collect())),
        }
    }
    let rendered: Vec<String> = entries
        .into_iter()
        .map(|(name, columns)| if columns.is_empty() { name } else { format!("{name} ({})", columns.join(", ")) })
        .collect();
    Ok(rendered.join(", "))
}

/// `IDENTIFIED …` for the flavour. Only known plugins take the hash form; another plugin's name must be plain.
fn identified(flavor: MysqlFlavor, credential: Credential<'_>, quoting: MysqlQuoting) -> Result<String, LiteralError> {
    let plain = |plugin: &AuthPlugin| {
        let name = plugin.name();
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok { Ok(name.to_owned()) } else { Err(LiteralError::NoHashForm(name.to_owned())) }
    };
    Ok(match (flavor, credential) {
        (
            MysqlFlavor::Mysql,
            Credential::Hash { plugin: plugin @ (AuthPlugin::MysqlNative | AuthPlugin::CachingSha2), hash },
        ) => {
            format!("IDENTIFIED WITH {} AS {}", plugin.name(), quoting.literal(hash)?)
        }
        (
            MysqlFlavor::Mariadb,
            Credential::Hash { plugin: plugin @ (AuthPlugin::MysqlNative | AuthPlugin::Ed25519), hash },
        ) => {
            format!("IDENTIFIED VIA {} USING {}", plugin.name(), quoting.literal(hash)?)
        }
        (_, Credential::Hash { plugin, .. }) => return Err(LiteralError::NoHashForm(plugin.name().to_owned())),
        (MysqlFlavor::Mysql, Credential::Password { plugin, password }) => {
            format!("IDENTIFIED WITH {} BY {}", plain(plugin)?, quoting.literal(password)?)
        }
        (MysqlFlavor::Mariadb, Credential::Password { plugin, password }) => {
            format!("IDENTIFIED VIA {} USING PASSWORD({})", plain(plugin)?, quoting.literal(password)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::mysql::grants::{PrivilegeName, RoutineKind, StatementTime};

    const Q: MysqlQuoting = MysqlQuoting { no_backslash_escapes: false };

    fn account<'a>(user: &'a str, host: &'a str) -> Account<'a> {
        Account { user, host }
    }

    fn privilege(name: &str, column: Option<&str>) -> Privilege {
        Privilege { name: PrivilegeName::new(name).unwrap(), column: column.map(str::to_owned) }
    }

    #[test]
    fn names_are_backtick_quoted() {
        let hostile = account("a`b'; DROP USER root; --", "10.0.%");
        let sql = mysql_drop_account(hostile).unwrap();
        assert_eq!(sql.as_str(), "DROP USER `a``b'; DROP USER root; --`@`10.0.%`");
        assert_eq!(mysql_drop_account(account("a\0", "%")).err(), Some(LiteralError::Nul));
    }

    #[test]
    fn grants_render_every_level() {
        let to = account("app_clone", "%");
        let privileges = [privilege("SELECT", None), privilege("UPDATE", Some("a")), privilege("UPDATE", Some("b"))];
        let table = Level::Table("shop".into(), "orders".into());
        assert_eq!(
            mysql_grant(&table, &privileges, to, true).unwrap().as_str(),
            "GRANT SELECT, UPDATE (`a`, `b`) ON `shop`.`orders` TO `app_clone`@`%` WITH GRANT OPTION"
        );
        assert_eq!(
            mysql_grant(&Level::Schema(r"shop\_%".into()), &[], to, true).unwrap().as_str(),
            r"GRANT USAGE ON `shop\_%`.* TO `app_clone`@`%` WITH GRANT OPTION"
        );
        let routine = Level::Routine("shop".into(), "refund".into(), RoutineKind::Procedure);
        assert_eq!(
            mysql_revoke(&routine, &[privilege("EXECUTE", None)], to).unwrap().as_str(),
            "REVOKE EXECUTE ON PROCEDURE `shop`.`refund` FROM `app_clone`@`%`"
        );
        assert_eq!(
            mysql_revoke_grant_option(&Level::Global, to).unwrap().as_str(),
            "REVOKE GRANT OPTION ON *.* FROM `app_clone`@`%`"
        );

        // MySQL 8's partial revokes: a schema-level REVOKE of a globally held privilege records the restriction, a
        // schema-level GRANT lifts it. The schema name is one identifier, never a pattern.
        let names = [PrivilegeName::new("SELECT").unwrap(), PrivilegeName::new("INSERT").unwrap()];
        assert_eq!(
            mysql_partial_revoke("mysql", &names, to).unwrap().as_str(),
            "REVOKE SELECT, INSERT ON `mysql`.* FROM `app_clone`@`%`"
        );
        assert_eq!(
            mysql_lift_partial_revoke("we`ird", &names[..1], to).unwrap().as_str(),
            "GRANT SELECT ON `we``ird`.* TO `app_clone`@`%`"
        );
        assert_eq!(mysql_account_lock(to, true).unwrap().as_str(), "ALTER USER `app_clone`@`%` ACCOUNT LOCK");
        assert_eq!(mysql_account_lock(to, false).unwrap().as_str(), "ALTER USER `app_clone`@`%` ACCOUNT UNLOCK");
        assert_eq!(
            mysql_user_attributes().as_str(),
            "SELECT CAST(User_attributes AS CHAR) FROM mysql.user WHERE User = ? AND Host = ?"
        );
    }

    #[test]
    fn roles_per_flavor() {
        let to = account("app", "10.%");
        let mariadb_role = RoleRef { name: "reader".into(), host: String::new() };
        let mysql_role = RoleRef { name: "reader".into(), host: "%".into() };
        assert_eq!(
            mysql_grant_role(&mariadb_role, to, true).unwrap().as_str(),
            "GRANT `reader` TO `app`@`10.%` WITH ADMIN OPTION"
        );
        assert_eq!(mysql_revoke_role(&mysql_role, to).unwrap().as_str(), "REVOKE `reader`@`%` FROM `app`@`10.%`");
        assert_eq!(
            mysql_set_default_roles(MysqlFlavor::Mariadb, &[mariadb_role], to).unwrap().as_str(),
            "SET DEFAULT ROLE `reader` FOR `app`@`10.%`"
        );
        assert_eq!(
            mysql_set_default_roles(MysqlFlavor::Mysql, &[], to).unwrap().as_str(),
            "SET DEFAULT ROLE NONE TO `app`@`10.%`"
        );
    }

    #[test]
    fn attributes_state_everything() {
        let tls = TlsRequirement::Specified { issuer: "/CN=it's".into(), subject: String::new(), cipher: "X".into() };
        let limits = Limits {
            max_queries_per_hour: 5,
            max_statement_time: StatementTime::new("1.5").unwrap(),
            ..Limits::default()
        };
        assert_eq!(
            mysql_set_account_attributes(MysqlFlavor::Mariadb, account("u", "%"), &tls, &limits, Q).unwrap().as_str(),
            "ALTER USER `u`@`%` REQUIRE ISSUER '/CN=it''s' AND CIPHER 'X' WITH MAX_QUERIES_PER_HOUR 5 \
             MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0 MAX_STATEMENT_TIME 1.5"
        );
        assert_eq!(
            mysql_set_account_attributes(
                MysqlFlavor::Mysql,
                account("u", "%"),
                &TlsRequirement::None,
                &Limits::default(),
                Q
            )
            .unwrap()
            .as_str(),
            "ALTER USER `u`@`%` REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 \
             MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0"
        );
    }

    #[test]
    fn credentials_per_flavor_and_plugin() {
        let to = account("u", "%");
        let render =
            |flavor, credential| mysql_create_account(flavor, to, credential, Q).map(|sql| sql.as_str().to_owned());
        let native = AuthPlugin::MysqlNative;
        let ed = AuthPlugin::Ed25519;
        let sha2 = AuthPlugin::CachingSha2;
        assert_eq!(
            render(MysqlFlavor::Mariadb, Credential::Hash { plugin: &ed, hash: "abc" }).unwrap(),
            "CREATE USER `u`@`%` IDENTIFIED VIA ed25519 USING 'abc'"
        );
        assert_eq!(
            render(MysqlFlavor::Mysql, Credential::Hash { plugin: &sha2, hash: "$A$005$s" }).unwrap(),
            "CREATE USER `u`@`%` IDENTIFIED WITH caching_sha2_password AS '$A$005$s'"
        );
        assert_eq!(
            render(MysqlFlavor::Mysql, Credential::Hash { plugin: &native, hash: "*AB" }).unwrap(),
            "CREATE USER `u`@`%` IDENTIFIED WITH mysql_native_password AS '*AB'"
        );
        assert!(render(MysqlFlavor::Mariadb, Credential::Hash { plugin: &sha2, hash: "x" }).is_err());
        let other = AuthPlugin::Other("sha256_password".into());
        assert_eq!(
            render(MysqlFlavor::Mysql, Credential::Password { plugin: &other, password: "p'w" }).unwrap(),
            "CREATE USER `u`@`%` IDENTIFIED WITH sha256_password BY 'p''w'"
        );
        let hostile = AuthPlugin::Other("x BY 'y' --".into());
        assert!(render(MysqlFlavor::Mariadb, Credential::Password { plugin: &hostile, password: "p" }).is_err());
    }
}
