//! The database engines a secret can name (`engine` in the RDS secret format), and what each allows: its family
//! (wire protocol and SQL dialect), default port, user name limits and password lengths.

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

/// Engines that share a wire protocol, a driver and SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Postgres,
    Mysql,
}

impl EngineKind {
    pub const ALL: [EngineKind; 5] = [
        EngineKind::Postgres,
        EngineKind::AuroraPostgres,
        EngineKind::Mysql,
        EngineKind::AuroraMysql,
        EngineKind::Mariadb,
    ];

    /// Parses the secret's `engine` value (and the `DEFAULT_ENGINE` setting).
    pub fn parse(name: &str) -> Result<EngineKind, String> {
        match Self::ALL.into_iter().find(|kind| kind.as_str() == name) {
            Some(kind) => Ok(kind),
            None => {
                let known: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                let shown: String = name.chars().take(40).collect();
                Err(format!("is {shown:?}, which this build does not rotate (expected one of: {})", known.join(", ")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgres",
            EngineKind::AuroraPostgres => "aurora-postgresql",
            EngineKind::Mysql => "mysql",
            EngineKind::AuroraMysql => "aurora-mysql",
            EngineKind::Mariadb => "mariadb",
        }
    }

    pub fn family(self) -> Family {
        match self {
            EngineKind::Postgres | EngineKind::AuroraPostgres => Family::Postgres,
            EngineKind::Mysql | EngineKind::AuroraMysql | EngineKind::Mariadb => Family::Mysql,
        }
    }

    pub fn default_port(self) -> u16 {
        match self.family() {
            Family::Postgres => 5432,
            Family::Mysql => 3306,
        }
    }

    /// The `EXCLUDE_CHARACTERS` default of AWS's template for this engine.
    pub fn default_exclude_characters(self) -> &'static str {
        match self.family() {
            Family::Postgres => ":/@\"'\\",
            Family::Mysql => "/@\"'\\",
        }
    }

    /// Lengths a generated password may have. RDS takes 8 to 41 characters for MySQL-family master passwords; the
    /// function cannot tell a master user from another, so the bound applies to every MySQL-family user.
    pub fn password_lengths(self) -> RangeInclusive<usize> {
        match self.family() {
            Family::Postgres => 1..=4096,
            Family::Mysql => 8..=41,
        }
    }

    /// Why `name` cannot be a user name of this engine, if it cannot: PostgreSQL stores up to 63 bytes, MySQL
    /// 32 characters and MariaDB 80, unless `USERNAME_CHARACTER_LIMIT` (MySQL family only) says otherwise.
    pub fn username_problem(self, name: &str, mysql_limit: Option<usize>) -> Option<String> {
        match self {
            EngineKind::Postgres | EngineKind::AuroraPostgres => {
                (name.len() > 63).then(|| format!("is longer than {self}'s limit of 63 bytes"))
            }
            EngineKind::Mysql | EngineKind::AuroraMysql | EngineKind::Mariadb => {
                let default = if self == EngineKind::Mariadb { 80 } else { 32 };
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
