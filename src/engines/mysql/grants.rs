//! What a MySQL-family account holds, read from the server's tables (never parsed out of `SHOW GRANTS`), and the
//! changes that make one account hold what another holds. No I/O: the alternating-users code reads both accounts,
//! asks `changes` for the difference, and runs it; testSecret asks for the same difference and wants none.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a privilege applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Global,
    Schema(String),
    Table(String, String),
    /// A stored routine: schema, name, and its kind (`PROCEDURE`, `FUNCTION`, MariaDB's `PACKAGE`, `PACKAGE BODY`).
    Routine(String, String, RoutineKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RoutineKind {
    Procedure,
    Function,
    Package,
    PackageBody,
}

/// A privilege name as the server spells it (`SELECT`, `ALTER ROUTINE`, `XA_RECOVER_ADMIN`), on a whole level or on
/// one column of a table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Privilege {
    pub name: PrivilegeName,
    pub column: Option<String>,
}

/// Upper-case letters, digits, `_` and single spaces: the only text of a grant that reaches SQL unquoted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PrivilegeName(String);

/// The privileges of one level, and whether they may be passed on (`WITH GRANT OPTION`, which MySQL keeps per level).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LevelGrants {
    pub privileges: BTreeSet<Privilege>,
    pub grant_option: bool,
}

/// A role: MariaDB names it alone (`host` empty), MySQL 8 as an account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RoleRef {
    pub name: String,
    pub host: String,
}

/// `REQUIRE …`, from `mysql.user`'s `ssl_type`, `ssl_cipher`, `x509_issuer`, `x509_subject`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum TlsRequirement {
    #[default]
    None,
    Ssl,
    X509,
    Specified {
        issuer: String,
        subject: String,
        cipher: String,
    },
}

/// `WITH MAX_…` resource limits; 0 is "no limit". `max_statement_time` is MariaDB's, as the server prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_queries_per_hour: u64,
    pub max_updates_per_hour: u64,
    pub max_connections_per_hour: u64,
    pub max_user_connections: i64,
    pub max_statement_time: Option<StatementTime>,
}

/// MariaDB's `max_statement_time` in seconds, digits and one dot only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatementTime(String);

/// What one `user@host` account holds, its password aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Holdings {
    pub grants: BTreeMap<Level, LevelGrants>,
    /// Roles granted, and whether `WITH ADMIN OPTION`.
    pub roles: BTreeMap<RoleRef, bool>,
    pub default_roles: BTreeSet<RoleRef>,
    pub tls: TlsRequirement,
    pub limits: Limits,
    /// MySQL 8's partial revokes (`partial_revokes=ON`): privileges held globally but revoked on one schema, kept in
    /// `mysql.user`'s `User_attributes` and shown by no privilege view. Schema name to the privileges revoked there.
    pub restrictions: BTreeMap<String, BTreeSet<PrivilegeName>>,
}

/// One step towards making an account hold what another holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Grant {
        level: Level,
        privileges: Vec<Privilege>,
        grant_option: bool,
    },
    GrantRole {
        role: RoleRef,
        admin: bool,
    },
    DefaultRoles(Vec<RoleRef>),
    Attributes {
        tls: TlsRequirement,
        limits: Limits,
    },
    RevokeRole(RoleRef),
    Revoke {
        level: Level,
        privileges: Vec<Privilege>,
    },
    RevokeGrantOption(Level),
    /// A partial revoke: `REVOKE … ON schema.*` from an account that holds the privileges globally, which under
    /// `partial_revokes=ON` records the restriction.
    Restrict {
        schema: String,
        privileges: Vec<PrivilegeName>,
    },
    /// A partial revoke lifted: `GRANT … ON schema.*` to an account holding the privileges globally but restricted
    /// there, which removes the restriction.
    Unrestrict {
        schema: String,
        privileges: Vec<PrivilegeName>,
    },
}

impl PrivilegeName {
    pub(crate) fn new(name: &str) -> Result<PrivilegeName, String> {
        let name = name.trim().to_ascii_uppercase();
        let plain = name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ');
        if name.is_empty() || !plain || name.contains("  ") {
            return Err(format!("the server named a privilege {name:?}, which is not a plain privilege name"));
        }
        Ok(PrivilegeName(name))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl RoutineKind {
    pub(crate) fn from_server(kind: &str) -> Result<RoutineKind, String> {
        match kind.to_ascii_uppercase().as_str() {
            "PROCEDURE" => Ok(RoutineKind::Procedure),
            "FUNCTION" => Ok(RoutineKind::Function),
            "PACKAGE" => Ok(RoutineKind::Package),
            "PACKAGE BODY" => Ok(RoutineKind::PackageBody),
            other => Err(format!("the server named a routine kind {other:?}, which this build does not know")),
        }
    }

    pub(crate) fn as_sql(self) -> &'static str {
        match self {
            RoutineKind::Procedure => "PROCEDURE",
            RoutineKind::Function => "FUNCTION",
            RoutineKind::Package => "PACKAGE",
            RoutineKind::PackageBody => "PACKAGE BODY",
        }
    }
}

impl TlsRequirement {
    /// From `mysql.user`'s columns (`ssl_type` is '', `ANY`, `X509` or `SPECIFIED`).
    pub(crate) fn from_columns(ssl_type: &str, cipher: String, issuer: String, subject: String) -> TlsRequirement {
        match ssl_type.to_ascii_uppercase().as_str() {
            "ANY" => TlsRequirement::Ssl,
            "X509" => TlsRequirement::X509,
            "SPECIFIED" => TlsRequirement::Specified { issuer, subject, cipher },
            _ => TlsRequirement::None,
        }
    }
}

impl StatementTime {
    pub(crate) fn new(seconds: &str) -> Result<Option<StatementTime>, String> {
        let seconds = seconds.trim();
        let numeric = !seconds.is_empty()
            && seconds.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && seconds.bytes().filter(|b| *b == b'.').count() <= 1;
        if !numeric {
            return Err(format!("the server gave max_statement_time as {seconds:?}, which is not a number"));
        }
        let zero = seconds.bytes().all(|b| b == b'0' || b == b'.');
        Ok((!zero).then(|| StatementTime(seconds.to_owned())))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Holdings {
    /// Adds the privilege rows of one level, as the server lists them; `USAGE` ("no privilege") only carries the
    /// grant option.
    pub(crate) fn add(&mut self, level: Level, privilege: Privilege, grantable: bool) {
        let grants = self.grants.entry(level).or_default();
        // Column rows repeat their table's grant option, which the table's own rows carry.
        if privilege.column.is_none() {
            grants.grant_option |= grantable;
        }
        if privilege.name.as_str() != "USAGE" {
            grants.privileges.insert(privilege);
        }
    }
}

/// `User_attributes`' partial revokes (MySQL 8.0.16+), from its JSON text: `{"Restrictions": [{"Database": "mysql",
/// "Privileges": ["SELECT"]}], …}`. Other attributes are not privileges and are left out. A shape this build does
/// not know is an error naming it: a restriction misread would be a grant wider than the current user's.
pub(crate) fn restrictions_from(attributes: &str) -> Result<BTreeMap<String, BTreeSet<PrivilegeName>>, String> {
    let unknown = |what: &str| format!("mysql.user's User_attributes holds {what}, which this build does not read");
    let value: serde_json::Value = serde_json::from_str(attributes).map_err(|_| unknown("text that is not JSON"))?;
    let mut restrictions: BTreeMap<String, BTreeSet<PrivilegeName>> = BTreeMap::new();
    let Some(list) = value.get("Restrictions") else { return Ok(restrictions) };
    let list = list.as_array().ok_or_else(|| unknown("Restrictions that are not a list"))?;
    for entry in list {
        let schema = entry.get("Database").and_then(|db| db.as_str());
        let privileges = entry.get("Privileges").and_then(|p| p.as_array());
        let (Some(schema), Some(privileges)) = (schema, privileges) else {
            return Err(unknown("a restriction without a Database and a list of Privileges"));
        };
        let set = restrictions.entry(schema.to_owned()).or_default();
        for privilege in privileges {
            let name = privilege.as_str().ok_or_else(|| unknown("a restricted privilege that is not a name"))?;
            set.insert(PrivilegeName::new(name)?);
        }
    }
    Ok(restrictions)
}

/// What turns `have` into `want`, in an order that never takes away before it gives: grants and roles first, then
/// the account's attributes, then revocations — except a partial revoke, which comes right after the global grant it
/// restricts (the caller locks the account while they run: a session opened between the two would keep the global
/// privilege unrestricted). Empty when they already hold the same.
pub(crate) fn changes(want: &Holdings, have: &Holdings) -> Vec<Change> {
    let empty = LevelGrants::default();
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    let mut revoke_options = Vec::new();
    let levels: BTreeSet<&Level> = want.grants.keys().chain(have.grants.keys()).collect();
    for level in levels {
        let wanted = want.grants.get(level).unwrap_or(&empty);
        let held = have.grants.get(level).unwrap_or(&empty);
        let missing: Vec<Privilege> = wanted.privileges.difference(&held.privileges).cloned().collect();
        let gain_option = wanted.grant_option && !held.grant_option;
        if !missing.is_empty() || gain_option {
            grants.push(Change::Grant { level: level.clone(), privileges: missing, grant_option: wanted.grant_option });
        }
        let extra: Vec<Privilege> = held.privileges.difference(&wanted.privileges).cloned().collect();
        if !extra.is_empty() {
            revokes.push(Change::Revoke { level: level.clone(), privileges: extra });
        }
        if held.grant_option && !wanted.grant_option {
            revoke_options.push(Change::RevokeGrantOption(level.clone()));
        }
    }

    let mut roles = Vec::new();
    let mut role_revokes = Vec::new();
    for (role, admin) in &want.roles {
        match have.roles.get(role) {
            Some(held) if held == admin => {}
            // Holding ADMIN OPTION that is not wanted: revoke the role, then grant it plainly.
            Some(true) => {
                role_revokes.push(Change::RevokeRole(role.clone()));
                roles.push(Change::GrantRole { role: role.clone(), admin: false });
            }
            _ => roles.push(Change::GrantRole { role: role.clone(), admin: *admin }),
        }
    }
    for role in have.roles.keys().filter(|role| !want.roles.contains_key(*role)) {
        role_revokes.push(Change::RevokeRole(role.clone()));
    }

    let mut all = grants;
    // Partial revokes: right after the global grant (the first, when there is one: `Level::Global` sorts first).
    let after_global = usize::from(matches!(all.first(), Some(Change::Grant { level: Level::Global, .. })));
    let restricting = restriction_changes(want, have);
    all.splice(after_global..after_global, restricting);
    // A role whose admin option goes is revoked and granted again: it must be revoked before the grant.
    let (readmitted, revoked): (Vec<Change>, Vec<Change>) = role_revokes
        .into_iter()
        .partition(|change| matches!(change, Change::RevokeRole(role) if want.roles.contains_key(role)));
    all.extend(readmitted);
    all.extend(roles);
    if want.default_roles != have.default_roles {
        all.push(Change::DefaultRoles(want.default_roles.iter().cloned().collect()));
    }
    if want.tls != have.tls || want.limits != have.limits {
        all.push(Change::Attributes { tls: want.tls.clone(), limits: want.limits.clone() });
    }
    all.extend(revoked);
    all.extend(revokes);
    all.extend(revoke_options);
    all
}

/// The partial revokes `have` lacks (to make), and those it has that `want` does not (to lift, where `want` holds
/// the privilege globally; where it does not, the global revocation takes the restriction with it).
fn restriction_changes(want: &Holdings, have: &Holdings) -> Vec<Change> {
    let none = BTreeSet::new();
    let global = want.grants.get(&Level::Global);
    let held_globally = |name: &PrivilegeName| {
        global.is_some_and(|grants| grants.privileges.iter().any(|p| p.column.is_none() && &p.name == name))
    };
    let mut changes = Vec::new();
    for (schema, wanted) in &want.restrictions {
        let held = have.restrictions.get(schema).unwrap_or(&none);
        let missing: Vec<PrivilegeName> = wanted.difference(held).cloned().collect();
        if !missing.is_empty() {
            changes.push(Change::Restrict { schema: schema.clone(), privileges: missing });
        }
    }
    for (schema, held) in &have.restrictions {
        let wanted = want.restrictions.get(schema).unwrap_or(&none);
        let lift: Vec<PrivilegeName> = held.difference(wanted).filter(|name| held_globally(name)).cloned().collect();
        if !lift.is_empty() {
            changes.push(Change::Unrestrict { schema: schema.clone(), privileges: lift });
        }
    }
    changes
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Global => f.write_str("*.*"),
            Level::Schema(db) => write!(f, "{db:?}.*"),
            Level::Table(db, table) => write!(f, "{db:?}.{table:?}"),
            Level::Routine(db, name, kind) => write!(f, "{} {db:?}.{name:?}", kind.as_sql()),
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            None => f.write_str(self.name.as_str()),
            Some(column) => write!(f, "{} ({column:?})", self.name.as_str()),
        }
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_empty() {
            write!(f, "role {:?}", self.name)
        } else {
            write!(f, "role {:?}@{:?}", self.name, self.host)
        }
    }
}

/// Describes a change as a difference the other account shows ("lacks …", "has … too"), for testSecret's error.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |privileges: &[Privilege]| privileges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        match self {
            Change::Grant { level, privileges, .. } if privileges.is_empty() => {
                write!(f, "lacks the grant option on {level}")
            }
            Change::Grant { level, privileges, .. } => write!(f, "lacks {} on {level}", list(privileges)),
            Change::GrantRole { role, admin: true } => write!(f, "lacks {role} with admin option"),
            Change::GrantRole { role, .. } => write!(f, "lacks {role}"),
            Change::DefaultRoles(_) => f.write_str("has other default roles"),
            Change::Attributes { .. } => f.write_str("has another TLS requirement or other resource limits"),
            Change::RevokeRole(role) => write!(f, "holds {role}, which it should not (or with admin option)"),
            Change::Revoke { level, privileges } => write!(f, "holds {} on {level} too", list(privileges)),
            Change::RevokeGrantOption(level) => write!(f, "holds the grant option on {level} too"),
            Change::Restrict { schema, privileges } => {
                write!(f, "lacks the partial revoke of {} on {schema:?}.*", names(privileges))
            }
            Change::Unrestrict { schema, privileges } => {
                write!(f, "has a partial revoke of {} on {schema:?}.* too", names(privileges))
            }
        }
    }
}

fn names(privileges: &[PrivilegeName]) -> String {
    privileges.iter().map(PrivilegeName::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privilege(name: &str) -> Privilege {
        Privilege { name: PrivilegeName::new(name).unwrap(), column: None }
    }

    fn role(name: &str) -> RoleRef {
        RoleRef { name: name.to_owned(), host: String::new() }
    }

    fn schema(db: &str) -> Level {
        Level::Schema(db.to_owned())
    }

    #[test]
    fn privilege_names_are_plain_words() {
        assert_eq!(PrivilegeName::new("alter routine").unwrap().as_str(), "ALTER ROUTINE");
        assert_eq!(PrivilegeName::new("XA_RECOVER_ADMIN").unwrap().as_str(), "XA_RECOVER_ADMIN");
        for hostile in ["", "SELECT; DROP", "SELECT ON *.* TO x", "A`B", "SEL\nECT", "A  B", "SELECT,INSERT"] {
            assert!(PrivilegeName::new(hostile).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn the_same_holdings_need_no_change() {
        let mut a = Holdings::default();
        a.add(schema("app"), privilege("SELECT"), true);
        a.roles.insert(role("r"), false);
        assert_eq!(changes(&a, &a.clone()), vec![]);
    }

    #[test]
    fn missing_grants_come_first_and_extra_ones_go_last() {
        let mut want = Holdings::default();
        want.add(schema("app"), privilege("SELECT"), true);
        want.add(schema("app"), privilege("INSERT"), true);
        want.add(Level::Global, privilege("USAGE"), false);
        want.roles.insert(role("reader"), true);
        want.default_roles.insert(role("reader"));
        want.tls = TlsRequirement::Ssl;
        let mut have = Holdings::default();
        have.add(schema("app"), privilege("SELECT"), false);
        have.add(schema("old"), privilege("DELETE"), false);
        have.roles.insert(role("stale"), false);
        let got = changes(&want, &have);
        assert_eq!(
            got,
            vec![
                Change::Grant { level: schema("app"), privileges: vec![privilege("INSERT")], grant_option: true },
                Change::GrantRole { role: role("reader"), admin: true },
                Change::DefaultRoles(vec![role("reader")]),
                Change::Attributes { tls: TlsRequirement::Ssl, limits: Limits::default() },
                Change::RevokeRole(role("stale")),
                Change::Revoke { level: schema("old"), privileges: vec![privilege("DELETE")] },
            ]
        );
        assert_eq!(got[0].to_string(), r#"lacks INSERT on "app".*"#);
    }

    #[test]
    fn the_grant_option_is_given_and_taken_per_level() {
        let mut want = Holdings::default();
        want.add(schema("a"), privilege("SELECT"), true);
        want.add(schema("b"), privilege("SELECT"), false);
        let mut have = Holdings::default();
        have.add(schema("a"), privilege("SELECT"), false);
        have.add(schema("b"), privilege("SELECT"), true);
        assert_eq!(
            changes(&want, &have),
            vec![
                Change::Grant { level: schema("a"), privileges: vec![], grant_option: true },
                Change::RevokeGrantOption(schema("b")),
            ]
        );
    }

    #[test]
    fn an_unwanted_admin_option_is_revoked_before_the_plain_grant() {
        let mut want = Holdings::default();
        want.roles.insert(role("r"), false);
        let mut have = Holdings::default();
        have.roles.insert(role("r"), true);
        assert_eq!(
            changes(&want, &have),
            vec![Change::RevokeRole(role("r")), Change::GrantRole { role: role("r"), admin: false }]
        );
    }

    #[test]
    fn column_rows_do_not_carry_the_grant_option() {
        let mut holdings = Holdings::default();
        let column = Privilege { name: PrivilegeName::new("UPDATE").unwrap(), column: Some("a".into()) };
        holdings.add(Level::Table("d".into(), "t".into()), column, true);
        assert!(!holdings.grants[&Level::Table("d".into(), "t".into())].grant_option);
    }

    fn names(list: &[&str]) -> BTreeSet<PrivilegeName> {
        list.iter().map(|name| PrivilegeName::new(name).unwrap()).collect()
    }

    /// `User_attributes` as MySQL 8.0.16+ writes it (the reference manual's "Privilege Restriction Using Partial
    /// Revokes"); anything else is an error, never an empty set of restrictions.
    #[test]
    fn partial_revokes_are_read_from_user_attributes() {
        let vectors = [
            (r#"{"Restrictions": [{"Database": "mysql", "Privileges": ["SELECT"]}]}"#, vec![("mysql", vec!["SELECT"])]),
            (
                r#"{"Restrictions": [{"Database": "world", "Privileges": ["INSERT", "UPDATE"]}, {"Database": "mysql", "Privileges": ["SELECT", "INSERT"]}], "Password_locking": {"failed_login_attempts": 3, "password_lock_time_days": 2}}"#,
                vec![("mysql", vec!["INSERT", "SELECT"]), ("world", vec!["INSERT", "UPDATE"])],
            ),
            (r#"{"Password_locking": {"failed_login_attempts": 0}}"#, vec![]),
            ("{}", vec![]),
            (r#"{"Restrictions": []}"#, vec![]),
        ];
        for (text, expected) in vectors {
            let expected: BTreeMap<String, BTreeSet<PrivilegeName>> =
                expected.into_iter().map(|(db, privileges)| (db.to_owned(), names(&privileges))).collect();
            assert_eq!(restrictions_from(text).unwrap(), expected, "{text}");
        }
        for bad in [
            "not json",
            r#"{"Restrictions": {"Database": "mysql"}}"#,
            r#"{"Restrictions": [{"Database": "mysql"}]}"#,
            r#"{"Restrictions": [{"Database": "mysql", "Privileges": [7]}]}"#,
            r#"{"Restrictions": [{"Database": "mysql", "Privileges": ["SELECT ON *.* TO x"]}]}"#,
        ] {
            assert!(restrictions_from(bad).is_err(), "{bad}");
        }
    }

    /// A partial revoke of the current user's comes right after the global grant it restricts, so the other user
    /// never holds the global privilege unrestricted longer than one statement; one the other user has and the
    /// current user does not is lifted where the privilege stays global, and goes with the global revocation where
    /// it does not.
    #[test]
    fn partial_revokes_follow_their_global_grant() {
        let mut want = Holdings::default();
        want.add(Level::Global, privilege("SELECT"), false);
        want.add(Level::Global, privilege("INSERT"), false);
        want.add(schema("app"), privilege("DELETE"), false);
        want.restrictions.insert("mysql".into(), names(&["SELECT", "INSERT"]));
        let have = Holdings::default();
        let got = changes(&want, &have);
        assert_eq!(
            got,
            vec![
                Change::Grant {
                    level: Level::Global,
                    privileges: vec![privilege("INSERT"), privilege("SELECT")],
                    grant_option: false
                },
                Change::Restrict {
                    schema: "mysql".into(),
                    privileges: names(&["INSERT", "SELECT"]).into_iter().collect()
                },
                Change::Grant { level: schema("app"), privileges: vec![privilege("DELETE")], grant_option: false },
            ]
        );
        assert_eq!(got[1].to_string(), r#"lacks the partial revoke of INSERT, SELECT on "mysql".*"#);

        let mut have = want.clone();
        have.add(Level::Global, privilege("UPDATE"), false);
        have.restrictions.insert("world".into(), names(&["SELECT", "UPDATE"]));
        assert_eq!(
            changes(&want, &have),
            vec![
                Change::Unrestrict { schema: "world".into(), privileges: names(&["SELECT"]).into_iter().collect() },
                Change::Revoke { level: Level::Global, privileges: vec![privilege("UPDATE")] },
            ]
        );
        assert_eq!(changes(&want, &want.clone()), vec![]);
    }

    #[test]
    fn statement_time_is_a_number_or_refused() {
        assert_eq!(StatementTime::new("0.000000").unwrap(), None);
        assert_eq!(StatementTime::new("1.500000").unwrap().unwrap().as_str(), "1.500000");
        assert!(StatementTime::new("1; DROP").is_err());
        assert!(StatementTime::new("1.2.3").is_err());
    }
}
