//! The only place where SQL text is built from data.
//!
//! Every statement a driver runs is an `Sql`, and an `Sql` can only be made here, so a `format!` string cannot
//! reach a database by accident. PostgreSQL names and values are quoted with libpq's escaping functions
//! (`PQescapeIdentifier` / `PQescapeLiteral`, as ported by postgres-protocol). MySQL-family string literals are
//! quoted for the session's `sql_mode`: a quote is doubled (valid in every mode), a backslash is doubled only where
//! backslashes escape (not under `NO_BACKSLASH_ESCAPES`), and NUL is refused; every MySQL-family session is pinned to
//! utf8mb4 first, so no multi-byte character set can swallow a quote. Single-user statements name the account as
//! `SESSION_USER` / `CURRENT_USER()`, never by its name.

use std::borrow::Cow;
use std::fmt;

use crate::credentials::UserName;

/// An audited SQL statement. `Debug` does not show it, since a password statement holds a verifier.
pub struct Sql(Cow<'static, str>);

/// Whose password a statement changes.
#[derive(Clone, Copy, Debug)]
pub enum Role<'a> {
    /// The logged-in user (single user): the statement names nobody, so no name can be misread. On PostgreSQL the
    /// session's own user (`SESSION_USER`), never `CURRENT_USER`, which `SET ROLE` and a role-level `role` setting
    /// redirect to another role.
    LoggedIn,
    /// Another user, changed by a privileged one (alternating users).
    Named(&'a UserName),
}

mod mysql;
mod mysql_accounts;
mod mysql_power;
mod postgres;

pub use mysql::*;
pub use mysql_accounts::*;
pub use mysql_power::*;
pub use postgres::*;

impl Sql {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sql(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_statement() {
        assert_eq!(format!("{:?}", pg_set_password(Role::LoggedIn, "md5secret")), "Sql(..)");
    }
}
