//! The database engines a secret can name (`engine` in the RDS secret format), and what each allows: its family
//! (wire protocol, driver and SQL dialect), default port, user name limits and password lengths — one row each in
//! `ENGINES`. These are facts of the secret format, needed to read a secret (layer 1) before any driver is chosen;
//! what an engine does with a connection is its folder's in `engines/` (ARCHITECTURE.md, "Adding an engine").

use std::fmt;
use std::ops::RangeInclusive;

/// The `engine` values of the RDS secret format this build rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Postgres,
    AuroraPostgres,
    Mysql,
    AuroraMysql,
    Mariadb,
}

/// Engines that share a wire protocol, a driver and SQL dialect: one driver each (`engines/drivers.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Postgres,
    Mysql,
}

/// What one engine of the secret format is and allows.
struct EngineSpec {
    kind: EngineKind,
    /// Its `engine` value in a secret (and the RDS API's engine name).
    name: &'static str,
    family: Family,
    default_port: u16,
    /// Lengths a generated password may have.
    password_lengths: RangeInclusive<usize>,
    /// The `EXCLUDE_CHARACTERS` default of AWS's template for it.
    default_exclude_characters: &'static str,
    /// The longest user name it stores.
    username_limit: UsernameLimit,
}

/// How an engine bounds a user name.
enum UsernameLimit {
    /// PostgreSQL: bytes (`NAMEDATALEN` - 1).
    Bytes(usize),
    /// The MySQL family: characters, unless `USERNAME_CHARACTER_LIMIT` says otherwise.
    Characters(usize),
}

/// Every engine this build rotates, one row each. RDS takes 8 to 41 characters for MySQL-family master passwords;
/// the function cannot tell a master user from another, so the bound applies to every MySQL-family user.
const ENGINES: [EngineSpec; 5] = [
    postgres(EngineKind::Postgres, "postgres"),
    postgres(EngineKind::AuroraPostgres, "aurora-postgresql"),
    mysql(EngineKind::Mysql, "mysql", 32),
    mysql(EngineKind::AuroraMysql, "aurora-mysql", 32),
    mysql(EngineKind::Mariadb, "mariadb", 80),
];

const fn postgres(kind: EngineKind, name: &'static str) -> EngineSpec {
    EngineSpec {
        kind,
        name,
        family: Family::Postgres,
        default_port: 5432,
        password_lengths: 1..=4096,
        default_exclude_characters: ":/@\"'\\",
        username_limit: UsernameLimit::Bytes(63),
    }
}

const fn mysql(kind: EngineKind, name: &'static str, username_characters: usize) -> EngineSpec {
    EngineSpec {
        kind,
        name,
        family: Family::Mysql,
        default_port: 3306,
        password_lengths: 8..=41,
        default_exclude_characters: "/@\"'\\",
        username_limit: UsernameLimit::Characters(username_characters),
    }
}

impl EngineKind {
    pub const ALL: [EngineKind; 5] = [
        EngineKind::Postgres,
        EngineKind::AuroraPostgres,
        EngineKind::Mysql,
        EngineKind::AuroraMysql,
        EngineKind::Mariadb,
    ];

    fn spec(self) -> &'static EngineSpec {
        // Every kind has its row: `ENGINES` lists them in `ALL`'s order, which a test checks.
        &ENGINES[self as usize]
    }

    /// Parses the secret's `engine` value (and the `DEFAULT_ENGINE` setting).
    pub fn parse(name: &str) -> Result<EngineKind, String> {
        match ENGINES.iter().find(|spec| spec.name == name) {
            Some(spec) => Ok(spec.kind),
            None => {
                let known: Vec<&str> = ENGINES.iter().map(|spec| spec.name).collect();
                let shown: String = name.chars().take(40).collect();
                Err(format!("is {shown:?}, which this build does not rotate (expected one of: {})", known.join(", ")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub fn family(self) -> Family {
        self.spec().family
    }

    pub fn default_port(self) -> u16 {
        self.spec().default_port
    }

    /// The `EXCLUDE_CHARACTERS` default of AWS's template for this engine.
    pub fn default_exclude_characters(self) -> &'static str {
        self.spec().default_exclude_characters
    }

    /// Lengths a generated password may have.
    pub fn password_lengths(self) -> RangeInclusive<usize> {
        self.spec().password_lengths.clone()
    }

    /// Why `name` cannot be a user name of this engine, if it cannot: PostgreSQL stores up to 63 bytes, MySQL
    /// 32 characters and MariaDB 80, unless `USERNAME_CHARACTER_LIMIT` (MySQL family only) says otherwise.
    pub fn username_problem(self, name: &str, mysql_limit: Option<usize>) -> Option<String> {
        match self.spec().username_limit {
            UsernameLimit::Bytes(limit) => {
                (name.len() > limit).then(|| format!("is longer than {self}'s limit of {limit} bytes"))
            }
            UsernameLimit::Characters(default) => {
                let limit = mysql_limit.unwrap_or(default);
                (name.chars().count() > limit).then(|| {
                    format!("is longer than {limit} characters, the limit for {self} (USERNAME_CHARACTER_LIMIT)")
                })
            }
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_has_its_row() {
        for kind in EngineKind::ALL {
            assert_eq!(kind.spec().kind, kind);
        }
    }

    #[test]
    fn parses_engine_names() {
        for kind in EngineKind::ALL {
            assert_eq!(EngineKind::parse(kind.as_str()), Ok(kind));
        }
        for bad in ["Postgres", "postgresql", "", "oracle-ee", "aurora", "MySQL"] {
            let err = EngineKind::parse(bad).unwrap_err();
            assert!(
                err.contains("expected one of: postgres, aurora-postgresql, mysql, aurora-mysql, mariadb"),
                "{err}"
            );
        }
    }

    #[test]
    fn username_limits() {
        let check = |kind: EngineKind, name: &str, limit: Option<usize>, ok: bool| {
            assert_eq!(kind.username_problem(name, limit).is_none(), ok, "{kind} {name:?} {limit:?}");
        };
        check(EngineKind::Postgres, &"u".repeat(63), None, true);
        check(EngineKind::Postgres, &"u".repeat(64), None, false);
        check(EngineKind::Postgres, &"é".repeat(32), None, false);
        check(EngineKind::Mysql, &"u".repeat(32), None, true);
        check(EngineKind::AuroraMysql, &"u".repeat(33), None, false);
        check(EngineKind::Mariadb, &"u".repeat(80), None, true);
        check(EngineKind::Mariadb, &"u".repeat(81), None, false);
        check(EngineKind::Mysql, &"u".repeat(17), Some(16), false);
        check(EngineKind::Mariadb, &"é".repeat(80), None, true);
        check(EngineKind::Postgres, &"u".repeat(63), Some(10), true);
    }
}
