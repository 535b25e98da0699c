//! PostgreSQL statements, the only place PostgreSQL SQL text is built from data. `ALTER ROLE` and its kin take no
//! bind parameters: names are quoted with libpq's `PQescapeIdentifier`, values with `PQescapeLiteral`, as ported by
//! postgres-protocol. Single-user statements name the account as `SESSION_USER`, never by its name.

use std::borrow::Cow;

use postgres_protocol::escape::{escape_identifier, escape_literal};

use crate::domain::UserName;
use crate::engines::sql::Sql;

/// Whose password a statement changes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Role<'a> {
    /// The logged-in user (single user): the statement names nobody, so no name can be misread. On PostgreSQL the
    /// session's own user (`SESSION_USER`), never `CURRENT_USER`, which `SET ROLE` and a role-level `role` setting
    /// redirect to another role.
    LoggedIn,
    /// Another user, changed by a privileged one (alternating users).
    Named(&'a UserName),
}

/// PostgreSQL: what every session sets before its first query. Bounds on every statement and on every wait for a
/// lock, so that a statement blocked behind another session's lock fails with SQLSTATE 55P03 (or 57014) instead of
/// waiting until Lambda stops the function. And the search path pinned to the system catalog (temporary objects
/// last): a database or role setting of `search_path`, which the owner of the database the session opened may have
/// written, could otherwise put a function or table of theirs in front of the catalog's in the master's queries.
/// (The queries name the catalog's objects `pg_catalog.…` too.) These statements call nothing a schema could
/// shadow.
pub(super) fn pg_bound_session(limit: std::time::Duration) -> Sql {
    let ms = limit.as_millis().max(1);
    Sql(Cow::Owned(format!(
        "SET search_path = pg_catalog, pg_temp; SET statement_timeout = {ms}; SET lock_timeout = {ms}"
    )))
}

/// PostgreSQL: why the role $1 could administer other accounts, if it could: a superuser, `CREATEROLE`, or membership
/// (which `SET ROLE` turns into the role's attributes) in a role that has either, in `rds_superuser`, or in a role
/// as good as a superuser on a self-managed server (`pg_execute_server_program`, `pg_write_server_files`). One row
/// per role that gives it, the role itself first.
pub(super) fn pg_account_power() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT r.rolname::text, r.rolsuper, r.rolcreaterole FROM pg_catalog.pg_roles r \
         WHERE (r.rolsuper OR r.rolcreaterole \
         OR r.rolname IN ('rds_superuser', 'pg_execute_server_program', 'pg_write_server_files')) \
         AND pg_catalog.pg_has_role($1, r.oid, 'MEMBER') ORDER BY r.rolname <> $1",
    ))
}

/// PostgreSQL: whether the server is a hot standby (a read replica, an Aurora reader), where a password change
/// fails as read-only: `true` or `false`.
pub(super) fn pg_in_recovery() -> Sql {
    Sql(Cow::Borrowed("SELECT pg_is_in_recovery()::text"))
}

/// PostgreSQL: the setting that decides which verifier the server would compute itself.
pub(super) fn pg_show_password_encryption() -> Sql {
    Sql(Cow::Borrowed("SHOW password_encryption"))
}

/// PostgreSQL: whether RDS restricts password changes (`rds.restrict_password_commands`) and, if it does, whether
/// the session's user may make them (membership in `rds_password`). Elsewhere the setting does not exist: "off".
pub(super) fn pg_password_commands_allowed() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT coalesce(pg_catalog.current_setting('rds.restrict_password_commands', true), 'off'), \
         EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'rds_password' \
         AND pg_catalog.pg_has_role(current_user, r.oid, 'member'))",
    ))
}

/// PostgreSQL: whether the ADMIN OPTION rules of PostgreSQL 16+ bind the session's user: the server is 16 or later
/// and the user is no superuser (a superuser administers every role; before 16 `CREATEROLE` did too).
pub(super) fn pg_admin_option_rules_apply() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT (pg_catalog.current_setting('server_version_num')::int >= 160000 AND NOT r.rolsuper)::text \
         FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER",
    ))
}

/// PostgreSQL 16+: of the roles $1 and $2 that exist, each with whether the session's user holds ADMIN OPTION on it
/// (directly or through a role it is a member of, as GRANT and ALTER ROLE check), and the roles that hold it.
pub(super) fn pg_admin_option_on() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT r.rolname::text, pg_catalog.pg_has_role(SESSION_USER, r.oid, 'USAGE WITH ADMIN OPTION'), \
         coalesce((SELECT pg_catalog.string_agg(m.rolname::text, ', ' ORDER BY m.rolname) \
         FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles m ON m.oid = a.member \
         WHERE a.roleid = r.oid AND a.admin_option), '') \
         FROM pg_catalog.pg_roles r WHERE r.rolname IN ($1, $2) ORDER BY r.rolname",
    ))
}

/// PostgreSQL 16+: what an operator runs so that `master` may administer `role` without holding its privileges.
pub(super) fn pg_grant_admin_option_text(role: &str, master: &str) -> String {
    format!(
        "GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE",
        escape_identifier(role),
        escape_identifier(master)
    )
}

/// PostgreSQL: whether a role exists ($1: its name).
pub(super) fn pg_role_exists() -> Sql {
    Sql(Cow::Borrowed("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1"))
}

/// PostgreSQL: a login role with its password's verifier, in one statement.
pub(super) fn pg_create_login_role(role: &UserName, verifier: &str) -> Sql {
    let (role, verifier) = (escape_identifier(role.as_str()), escape_literal(verifier));
    Sql(Cow::Owned(format!("CREATE ROLE {role} LOGIN PASSWORD {verifier}")))
}

/// PostgreSQL: `member` becomes a member of `role` (a no-op with a notice when it is one already).
pub(super) fn pg_grant_role(role: &UserName, member: &UserName) -> Sql {
    let (role, member) = (escape_identifier(role.as_str()), escape_identifier(member.as_str()));
    Sql(Cow::Owned(format!("GRANT {role} TO {member}")))
}

/// PostgreSQL: `member`'s sessions start as `role` (`SET ROLE` at login), so what they create `role` owns.
pub(super) fn pg_sessions_run_as(member: &UserName, role: &UserName) -> Sql {
    let (member, role) = (escape_identifier(member.as_str()), escape_literal(role.as_str()));
    Sql(Cow::Owned(format!("ALTER ROLE {member} SET role = {role}")))
}

/// PostgreSQL: a role's own settings, as `name=value` ($1: its name).
pub(super) fn pg_role_settings() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT pg_catalog.unnest(s.setconfig) FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole \
         WHERE r.rolname = $1 AND s.setdatabase = 0",
    ))
}

/// PostgreSQL: one setting of a role, as `pg_db_role_setting` stores it (`name=value`); `None` when the name is
/// not a setting's name. A list setting whose elements the server quotes as identifiers (`search_path` and kin) is
/// given element by element — one literal would become one element — so the stored value comes out the same.
pub(super) fn pg_set_role_setting(role: &UserName, name: &str, stored: &str) -> Option<Sql> {
    let role = escape_identifier(role.as_str());
    let name = setting_name(name)?;
    let values: Vec<String> = if LIST_QUOTE_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
        list_elements(stored).iter().map(|element| escape_literal(element)).collect()
    } else {
        vec![escape_literal(stored)]
    };
    Some(Sql(Cow::Owned(format!("ALTER ROLE {role} SET {name} = {}", values.join(", ")))))
}

/// PostgreSQL: removes one setting of a role.
pub(super) fn pg_reset_role_setting(role: &UserName, name: &str) -> Option<Sql> {
    let role = escape_identifier(role.as_str());
    Some(Sql(Cow::Owned(format!("ALTER ROLE {role} RESET {}", setting_name(name)?))))
}

/// Settings flagged `GUC_LIST_QUOTE` in the server: each element is stored as a quoted identifier.
const LIST_QUOTE_SETTINGS: [&str; 5] = [
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "local_preload_libraries",
    "shared_preload_libraries",
];

/// Setting names are identifiers, possibly qualified (`app.tenant`); anything else is refused, not quoted.
fn setting_name(name: &str) -> Option<&str> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    valid.then_some(name)
}

/// The elements of a stored list value: `"$user", public, "a ""b"""` → `$user`, `public`, `a "b"`.
fn list_elements(stored: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut chars = stored.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut element = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                // A doubled quote is a quote; a single one ends the element.
                if c == '"' && chars.next_if_eq(&'"').is_none() {
                    break;
                }
                element.push(c);
            }
            while chars.next_if(|c| *c != ',').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                element.push(c);
            }
            element.truncate(element.trim_end().len());
        }
        elements.push(element);
        if chars.next().is_none() {
            break;
        }
    }
    elements.retain(|element| !element.is_empty());
    elements
}

/// PostgreSQL: whether $1 is a member of $2 and its sessions run as $2 ($3: `role=` and $2's name).
pub(super) fn pg_verify_pair() -> Sql {
    Sql(Cow::Borrowed(
        "SELECT pg_catalog.pg_has_role($1, $2, 'MEMBER'), coalesce((SELECT $3 = ANY(s.setconfig) FROM pg_catalog.pg_db_role_setting s \
         JOIN pg_catalog.pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1 AND s.setdatabase = 0), false)",
    ))
}

/// PostgreSQL: the smoke test of testSecret.
pub(super) fn pg_check() -> Sql {
    Sql(Cow::Borrowed("SELECT 1"))
}

/// PostgreSQL: set a role's password to a verifier computed on the client (`SCRAM-SHA-256$…` or `md5…`). The
/// server recognises the form and stores it as is, so only the verifier appears in statement logs. `ALTER ROLE`
/// takes no bind parameters, hence the quoting. The logged-in user's own change first leaves any role the session
/// was switched to (`SET ROLE NONE`, which unlike `RESET ROLE` ignores a role-level `role` setting): PostgreSQL lets
/// a user change only its own password, and "own" means the current user.
pub(super) fn pg_set_password(role: Role<'_>, verifier: &str) -> Sql {
    let verifier = escape_literal(verifier);
    Sql(Cow::Owned(match role {
        Role::LoggedIn => format!("SET ROLE NONE; ALTER ROLE SESSION_USER PASSWORD {verifier}"),
        Role::Named(user) => format!("ALTER ROLE {} PASSWORD {verifier}", escape_identifier(user.as_str())),
    }))
}

/// PostgreSQL: the session's own user and the role it acts as (after `SET ROLE NONE`, the same).
pub(super) fn pg_session_user() -> Sql {
    Sql(Cow::Borrowed("SELECT session_user::text, current_user::text"))
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
            Role::LoggedIn,
            "SCRAM-SHA-256$4096:abc$def:ghi",
            "SET ROLE NONE; ALTER ROLE SESSION_USER PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'",
        );
        check(Role::Named(&user("app")), "md5abc", r#"ALTER ROLE "app" PASSWORD 'md5abc'"#);
        check(Role::Named(&user("Mixed Case")), "v", r#"ALTER ROLE "Mixed Case" PASSWORD 'v'"#);
        check(Role::Named(&user(r#"a"; DROP ROLE x; --"#)), "v", r#"ALTER ROLE "a""; DROP ROLE x; --" PASSWORD 'v'"#);
        check(Role::Named(&user("it's")), "v", r#"ALTER ROLE "it's" PASSWORD 'v'"#);
        check(Role::Named(&user(r"back\slash")), "v", r#"ALTER ROLE "back\slash" PASSWORD 'v'"#);
        check(Role::LoggedIn, "it's", "SET ROLE NONE; ALTER ROLE SESSION_USER PASSWORD 'it''s'");
        // libpq's escaping switches to E'' (with a leading space) when the value holds a backslash.
        check(Role::LoggedIn, r"a\b", r"SET ROLE NONE; ALTER ROLE SESSION_USER PASSWORD  E'a\\b'");
        assert_eq!(
            pg_bound_session(std::time::Duration::from_millis(2500)).as_str(),
            "SET search_path = pg_catalog, pg_temp; SET statement_timeout = 2500; SET lock_timeout = 2500"
        );
    }

    #[test]
    fn role_settings_come_out_as_stored() {
        let clone = UserName::new("app_clone").unwrap();
        let set =
            |name: &str, stored: &str| pg_set_role_setting(&clone, name, stored).map(|sql| sql.as_str().to_owned());
        assert_eq!(
            set("search_path", r#""$user", public, "Mixed ""q""", x"#).unwrap(),
            r#"ALTER ROLE "app_clone" SET search_path = '$user', 'public', 'Mixed "q"', 'x'"#
        );
        assert_eq!(set("statement_timeout", "5s").unwrap(), r#"ALTER ROLE "app_clone" SET statement_timeout = '5s'"#);
        assert_eq!(set("DateStyle", "ISO, MDY").unwrap(), r#"ALTER ROLE "app_clone" SET DateStyle = 'ISO, MDY'"#);
        assert_eq!(set("app.tenant", "it's").unwrap(), r#"ALTER ROLE "app_clone" SET app.tenant = 'it''s'"#);
        assert_eq!(set("x; DROP ROLE y", "v"), None);
        assert_eq!(
            pg_reset_role_setting(&clone, "work_mem").unwrap().as_str(),
            r#"ALTER ROLE "app_clone" RESET work_mem"#
        );
        assert_eq!(list_elements(""), Vec::<String>::new());
        assert_eq!(list_elements(r#""a,b", c"#), vec!["a,b".to_owned(), "c".to_owned()]);
    }
}
