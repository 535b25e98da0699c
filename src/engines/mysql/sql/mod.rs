//! MySQL and MariaDB statements, the only place MySQL-family SQL text is built from data (account management in
//! `accounts.rs`, the checks of account power in `power.rs`). String literals are quoted for the session's `sql_mode`:
//! a quote is doubled (valid in every mode), a backslash is doubled only where backslashes escape (not under
//! `NO_BACKSLASH_ESCAPES`), and NUL is refused; identifiers with backticks, a backtick doubled. Every session is
//! pinned to utf8mb4 first, so no multi-byte character set can swallow a quote. Single-user statements name the
//! account as `CURRENT_USER()`, never by its name.

use std::borrow::Cow;

use super::auth::AuthPlugin;
use crate::engines::sql::Sql;

mod accounts;
mod power;

pub(crate) use accounts::*;
pub(crate) use power::*;

/// MySQL or MariaDB: MariaDB says so in `@@version`. Where their statements differ, the builders take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MysqlFlavor {
    Mysql,
    Mariadb,
}

/// How the session reads MySQL string literals (from `@@sql_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MysqlQuoting {
    pub no_backslash_escapes: bool,
}

/// A value that no literal may carry, or a plugin whose name is not a known constant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LiteralError {
    #[error("the value holds a NUL character, which is never sent in a MySQL string literal")]
    Nul,
    #[error("no hash form for the {0} plugin")]
    NoHashForm(String),
}

impl MysqlQuoting {
    pub fn from_sql_mode(sql_mode: &str) -> MysqlQuoting {
        let no_backslash_escapes =
            sql_mode.split(',').any(|mode| mode.trim().eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES"));
        MysqlQuoting { no_backslash_escapes }
    }

    pub(super) fn literal(self, value: &str) -> Result<String, LiteralError> {
        if value.contains('\0') {
            return Err(LiteralError::Nul);
        }
        let mut quoted = String::with_capacity(value.len() + 2);
        quoted.push('\'');
        for c in value.chars() {
            match c {
                '\'' => quoted.push_str("''"),
                '\\' if !self.no_backslash_escapes => quoted.push_str(r"\\"),
                c => quoted.push(c),
            }
        }
        quoted.push('\'');
        Ok(quoted)
    }
}

/// MySQL family: the session pinned before its first statement — the utf8mb4 character set, whatever the server's
/// default or `init_connect` chose, and bounds on every lock wait (`lock_wait_timeout` covers the metadata locks
/// account statements take, `innodb_lock_wait_timeout` row locks) and, on MariaDB, every statement
/// (`max_statement_time`, inside a `/*M! … */` comment that only MariaDB runs). MySQL's `max_execution_time` bounds
/// only SELECT; the client's own timeout covers the rest there.
pub(crate) fn mysql_pin_session(limit: std::time::Duration) -> Sql {
    let seconds = limit.as_secs_f64().ceil().max(1.0) as u64;
    let exact = limit.as_secs_f64().max(0.001);
    Sql(Cow::Owned(format!(
        "SET NAMES utf8mb4, SESSION lock_wait_timeout = {seconds}, SESSION innodb_lock_wait_timeout = {seconds} \
         /*M!, SESSION max_statement_time = {exact} */"
    )))
}

/// MySQL family: whether the server refuses writes (`read_only`: a replica; `innodb_read_only`: an Aurora MySQL
/// reader), each `0` or `1`.
pub(crate) fn mysql_read_only() -> Sql {
    Sql(Cow::Borrowed("SELECT @@global.read_only, @@global.innodb_read_only"))
}

/// MySQL family: the server's flavour (MariaDB says so in its version) and how literals are read.
pub(crate) fn mysql_server_facts() -> Sql {
    Sql(Cow::Borrowed("SELECT @@version, @@sql_mode"))
}

/// MySQL family: the logged-in account's authentication clause; allowed on one's own account without privileges.
pub(crate) fn mysql_show_create_current_user() -> Sql {
    Sql(Cow::Borrowed("SHOW CREATE USER CURRENT_USER()"))
}

/// MySQL family: the smoke test of testSecret.
pub(crate) fn mysql_check() -> Sql {
    Sql(Cow::Borrowed("SELECT 1"))
}

/// MariaDB: the logged-in account's password, as the stored string of the plugin it already uses. Any account may
/// do this to itself, where `ALTER USER` needs `CREATE USER`.
pub(crate) fn mariadb_set_password_hash(hash: &str, quoting: MysqlQuoting) -> Result<Sql, LiteralError> {
    Ok(Sql(Cow::Owned(format!("SET PASSWORD = {}", quoting.literal(hash)?))))
}

/// MariaDB, where no hash form applies: the password itself, hashed by the server with the account's plugin. It
/// appears verbatim in MariaDB's general log.
pub fn mariadb_set_password_literal(password: &str, quoting: MysqlQuoting) -> Result<Sql, LiteralError> {
    Ok(Sql(Cow::Owned(format!("SET PASSWORD = PASSWORD({})", quoting.literal(password)?))))
}

/// MySQL: the logged-in account's password as `plugin`'s stored string. MySQL requires `CREATE USER` (or `UPDATE` on
/// `mysql.*`) for `IDENTIFIED WITH … AS`, even on one's own account.
pub(crate) fn mysql_alter_current_user_hash(
    plugin: &AuthPlugin,
    hash: &str,
    quoting: MysqlQuoting,
) -> Result<Sql, LiteralError> {
    // Only plugin names that are known constants reach SQL.
    let plugin = match plugin {
        AuthPlugin::MysqlNative | AuthPlugin::CachingSha2 => plugin.name(),
        other => return Err(LiteralError::NoHashForm(other.name().to_owned())),
    };
    let hash = quoting.literal(hash)?;
    Ok(Sql(Cow::Owned(format!("ALTER USER CURRENT_USER() IDENTIFIED WITH {plugin} AS {hash}"))))
}

/// MySQL, without the privilege for the hash form: the password itself, which MySQL rewrites to `<secret>` in its
/// general, slow and binary logs. `replace` is the current password, for accounts that must give it
/// (`PASSWORD REQUIRE CURRENT`).
pub(crate) fn mysql_alter_current_user_literal(
    password: &str,
    replace: Option<&str>,
    quoting: MysqlQuoting,
) -> Result<Sql, LiteralError> {
    let mut sql = format!("ALTER USER CURRENT_USER() IDENTIFIED BY {}", quoting.literal(password)?);
    if let Some(current) = replace {
        sql.push_str(" REPLACE ");
        sql.push_str(&quoting.literal(current)?);
    }
    Ok(Sql(Cow::Owned(sql)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_literals_suit_the_sql_mode() {
        let default = MysqlQuoting::from_sql_mode("STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION");
        let nbe = MysqlQuoting::from_sql_mode("STRICT_TRANS_TABLES,no_backslash_escapes");
        assert!(!default.no_backslash_escapes && nbe.no_backslash_escapes);
        for (value, in_default, in_nbe) in [
            ("plain", "'plain'", "'plain'"),
            ("it's", "'it''s'", "'it''s'"),
            (r"a\b", r"'a\\b'", r"'a\b'"),
            (r"\'", r"'\\'''", r"'\'''"),
            ("$A$005$./x", "'$A$005$./x'", "'$A$005$./x'"),
        ] {
            assert_eq!(default.literal(value).unwrap(), in_default, "{value}");
            assert_eq!(nbe.literal(value).unwrap(), in_nbe, "{value}");
        }
        assert_eq!(default.literal("a\0b"), Err(LiteralError::Nul));
    }

    #[test]
    fn the_session_is_pinned_to_utf8mb4_with_bounds() {
        assert_eq!(
            mysql_pin_session(std::time::Duration::from_millis(2500)).as_str(),
            "SET NAMES utf8mb4, SESSION lock_wait_timeout = 3, SESSION innodb_lock_wait_timeout = 3 \
             /*M!, SESSION max_statement_time = 2.5 */"
        );
    }

    #[test]
    fn mysql_password_statements() {
        let q = MysqlQuoting { no_backslash_escapes: false };
        let check = |sql: Result<Sql, LiteralError>, expected: &str| assert_eq!(sql.unwrap().as_str(), expected);
        check(mariadb_set_password_hash("*2470C0", q), "SET PASSWORD = '*2470C0'");
        check(mariadb_set_password_literal("p'w", q), "SET PASSWORD = PASSWORD('p''w')");
        check(
            mysql_alter_current_user_hash(&AuthPlugin::CachingSha2, "$A$005$salt", q),
            "ALTER USER CURRENT_USER() IDENTIFIED WITH caching_sha2_password AS '$A$005$salt'",
        );
        check(
            mysql_alter_current_user_hash(&AuthPlugin::MysqlNative, "*AB", q),
            "ALTER USER CURRENT_USER() IDENTIFIED WITH mysql_native_password AS '*AB'",
        );
        let hostile = AuthPlugin::Other("x AS 'y'".into());
        assert!(matches!(mysql_alter_current_user_hash(&hostile, "h", q), Err(LiteralError::NoHashForm(_))));
        check(mysql_alter_current_user_literal("new", None, q), "ALTER USER CURRENT_USER() IDENTIFIED BY 'new'");
        check(
            mysql_alter_current_user_literal("new", Some("old"), q),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'new' REPLACE 'old'",
        );
    }
}
