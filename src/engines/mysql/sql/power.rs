//! MySQL and MariaDB reads that tell whether an account could administer other accounts (alternating users refuse
//! such a user). Every read takes the user and host as bind parameters and returns the powers as text, so nothing
//! here is built from data.

use std::borrow::Cow;

use crate::engines::sql::Sql;

/// What a row of `mysql.user` (or `mysql.db`) grants that administers accounts: creating and changing users,
/// SUPER, granting, and writing to the grant tables (a global privilege covers the `mysql` schema).
const POWER_COLUMNS: &str = "CONCAT_WS(',', IF(Create_user_priv = 'Y', 'CREATE USER', NULL), \
     IF(Super_priv = 'Y', 'SUPER', NULL), IF(Grant_priv = 'Y', 'GRANT OPTION', NULL), \
     IF(Insert_priv = 'Y', 'INSERT', NULL), IF(Update_priv = 'Y', 'UPDATE', NULL), \
     IF(Delete_priv = 'Y', 'DELETE', NULL), IF(Create_priv = 'Y', 'CREATE', NULL), \
     IF(Drop_priv = 'Y', 'DROP', NULL), IF(Alter_priv = 'Y', 'ALTER', NULL))";

/// The host parts of a user's accounts (param: user); roles are not accounts.
pub(crate) fn mysql_account_hosts(flavor: super::MysqlFlavor) -> Sql {
    Sql(Cow::Borrowed(match flavor {
        super::MysqlFlavor::Mariadb => "SELECT Host FROM mysql.user WHERE User = ? AND is_role = 'N'",
        super::MysqlFlavor::Mysql => "SELECT Host FROM mysql.user WHERE User = ?",
    }))
}

/// The global powers of one account or role (params: user, host): one row, a comma-separated list, empty for none.
pub(crate) fn mysql_global_powers() -> Sql {
    Sql(Cow::Owned(format!("SELECT {POWER_COLUMNS} FROM mysql.user WHERE User = ? AND Host = ?")))
}

/// MySQL 8's dynamic privileges that administer accounts (params: user, host).
pub(crate) fn mysql_dynamic_powers() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT PRIV FROM mysql.global_grants WHERE USER = ? AND HOST = ? \
         AND PRIV IN ('ROLE_ADMIN', 'SYSTEM_USER', 'SET_USER_ID', 'SET_ANY_DEFINER')",
    ))
}

/// Schema-level powers (params: user, host): the schema pattern and the powers, for the caller to match the pattern
/// against `mysql` (`%` and `_` are wildcards in these grants).
pub(crate) fn mysql_schema_powers() -> Sql {
    Sql(Cow::Owned(format!(
        "SELECT Db, {} FROM mysql.db WHERE User = ? AND Host = ?",
        POWER_COLUMNS
            .replace("IF(Create_user_priv = 'Y', 'CREATE USER', NULL), ", "")
            .replace("IF(Super_priv = 'Y', 'SUPER', NULL), ", "")
    )))
}

/// Table-level write grants on the `mysql` schema's tables (params: user, host): table and privilege set.
pub(crate) fn mysql_grant_table_powers() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT Table_name, CAST(Table_priv AS CHAR) FROM mysql.tables_priv WHERE User = ? AND Host = ? \
         AND Db = 'mysql' AND Table_priv <> ''",
    ))
}

/// `SHOW GRANTS` for one account, or for a MariaDB role (an empty host): the only list of every global privilege on
/// both servers, MariaDB's split ones (`SET USER`, …) and MySQL 8's dynamic ones included.
pub(crate) fn mysql_show_grants(name: &str, host: &str) -> Result<Sql, super::LiteralError> {
    let ident = |part: &str| -> Result<String, super::LiteralError> {
        if part.contains('\0') {
            return Err(super::LiteralError::Nul);
        }
        Ok(format!("`{}`", part.replace('`', "``")))
    };
    Ok(Sql(Cow::Owned(if host.is_empty() {
        format!("SHOW GRANTS FOR {}", ident(name)?)
    } else {
        format!("SHOW GRANTS FOR {}@{}", ident(name)?, ident(host)?)
    })))
}

/// The global privileges in one line of `SHOW GRANTS` that administer accounts, in upper case (`GRANT OPTION` for a
/// global grant option); empty for a line that grants none, or is not about `*.*`.
pub(crate) fn global_powers_in(line: &str) -> Vec<String> {
    const POWERS: [&str; 16] = [
        "ALL",
        "ALL PRIVILEGES",
        "CREATE USER",
        "SUPER",
        "SET USER",
        "ROLE_ADMIN",
        "SYSTEM_USER",
        "SET_USER_ID",
        "SET_ANY_DEFINER",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "ALTER",
        "GRANT OPTION",
    ];
    let Some(rest) = line.strip_prefix("GRANT ") else { return Vec::new() };
    let Some((privileges, after)) = rest.split_once(" ON *.* TO ") else { return Vec::new() };
    let mut found: Vec<String> = privileges
        .split(',')
        .map(|privilege| privilege.trim().to_ascii_uppercase())
        .filter(|privilege| POWERS.contains(&privilege.as_str()))
        .collect();
    if after.contains(" WITH GRANT OPTION") {
        found.push("GRANT OPTION".to_owned());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_powers_are_read_from_grant_lines() {
        assert_eq!(global_powers_in("GRANT SELECT, SET USER ON *.* TO `su1`@`%`"), ["SET USER"]);
        assert_eq!(
            global_powers_in("GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'"),
            Vec::<String>::new()
        );
        assert_eq!(global_powers_in("GRANT ROLE_ADMIN,SYSTEM_USER ON *.* TO `m`@`%`"), ["ROLE_ADMIN", "SYSTEM_USER"]);
        assert_eq!(global_powers_in("GRANT SELECT ON *.* TO `r9` WITH GRANT OPTION"), ["GRANT OPTION"]);
        assert_eq!(global_powers_in("GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"), ["ALL PRIVILEGES"]);
        assert!(global_powers_in("GRANT INSERT ON `mysql`.* TO `su1`@`%`").is_empty(), "not *.*: read elsewhere");
        assert!(global_powers_in("GRANT `role` TO `app`@`%`").is_empty());
        assert_eq!(mysql_show_grants("a`b", "%").unwrap().as_str(), "SHOW GRANTS FOR `a``b`@`%`");
        assert_eq!(mysql_show_grants("r9", "").unwrap().as_str(), "SHOW GRANTS FOR `r9`");
    }
}
