//! The only place where SQL text is built from data.
//!
//! Every statement a driver runs is an `Sql`, and an `Sql` can only be made here, so a `format!` string cannot
//! reach a database by accident. Names are quoted as identifiers, values as literals, with the escaping functions
//! of the server's own client library (libpq's `PQescapeIdentifier` / `PQescapeLiteral`, as ported by
//! postgres-protocol), never by hand.

use std::borrow::Cow;
use std::fmt;

use postgres_protocol::escape::{escape_identifier, escape_literal};

use crate::credentials::UserName;

/// An audited SQL statement. `Debug` does not show it, since a password statement holds a verifier.
pub struct Sql(Cow<'static, str>);

/// Whose password a statement changes.
#[derive(Clone, Copy, Debug)]
pub enum Role<'a> {
    /// The logged-in user (single user): the statement names nobody, so no name can be misread.
    CurrentUser,
    /// Another user, changed by a privileged one (alternating users).
    Named(&'a UserName),
}

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

/// PostgreSQL: the setting that decides which verifier the server would compute itself.
pub fn pg_show_password_encryption() -> Sql {
    Sql(Cow::Borrowed("SHOW password_encryption"))
}

/// PostgreSQL: the smoke test of testSecret.
pub fn pg_check() -> Sql {
    Sql(Cow::Borrowed("SELECT 1"))
}

/// PostgreSQL: set a role's password to a verifier computed on the client (`SCRAM-SHA-256$…` or `md5…`). The
/// server recognises the form and stores it as is, so only the verifier appears in statement logs. `ALTER ROLE`
/// takes no bind parameters, hence the quoting.
pub fn pg_set_password(role: Role<'_>, verifier: &str) -> Sql {
    let role = match role {
        Role::CurrentUser => Cow::Borrowed("CURRENT_USER"),
        Role::Named(user) => Cow::Owned(escape_identifier(user.as_str())),
    };
    Sql(Cow::Owned(format!("ALTER ROLE {role} PASSWORD {}", escape_literal(verifier))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(role: Role<'_>, verifier: &str, expected: &str) {
        assert_eq!(pg_set_password(role, verifier).as_str(), expected);
    }

    #[test]
    fn pg_set_password_quotes_names_and_values() {
        let user = |name: &str| UserName::new(name).unwrap();
        check(
            Role::CurrentUser,
            "SCRAM-SHA-256$4096:abc$def:ghi",
            "ALTER ROLE CURRENT_USER PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'",
        );
        check(Role::Named(&user("app")), "md5abc", r#"ALTER ROLE "app" PASSWORD 'md5abc'"#);
        check(Role::Named(&user("Mixed Case")), "v", r#"ALTER ROLE "Mixed Case" PASSWORD 'v'"#);
        check(Role::Named(&user(r#"a"; DROP ROLE x; --"#)), "v", r#"ALTER ROLE "a""; DROP ROLE x; --" PASSWORD 'v'"#);
        check(Role::Named(&user("it's")), "v", r#"ALTER ROLE "it's" PASSWORD 'v'"#);
        check(Role::Named(&user(r"back\slash")), "v", r#"ALTER ROLE "back\slash" PASSWORD 'v'"#);
        check(Role::CurrentUser, "it's", "ALTER ROLE CURRENT_USER PASSWORD 'it''s'");
        // libpq's escaping switches to E'' (with a leading space) when the value holds a backslash.
        check(Role::CurrentUser, r"a\b", r"ALTER ROLE CURRENT_USER PASSWORD  E'a\\b'");
    }

    #[test]
    fn debug_hides_the_statement() {
        assert_eq!(format!("{:?}", pg_set_password(Role::CurrentUser, "md5secret")), "Sql(..)");
    }
}
