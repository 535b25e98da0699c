//! Whether a MySQL-family account could administer other accounts — the users an alternating rotation must never
//! copy privileges from or to. What it holds directly and through its roles (followed transitively) is read from
//! the grant tables: global CREATE USER, SUPER, the grant option or a write privilege (which covers the `mysql`
//! schema), MySQL 8's ROLE_ADMIN and kin, or a write privilege on the `mysql` schema or one of its tables.

use std::collections::BTreeSet;

use mysql_async::Params;

use super::MySession;
use super::sql;
use crate::domain::UserName;
use crate::engines::EngineError;

/// How many accounts and roles are followed at most: role graphs are small, and a cycle must end.
const MAX_GRANTEES: usize = 64;

/// MySQL's "table doesn't exist": MariaDB and MySQL 5.7 have no `mysql.global_grants`.
const NO_SUCH_TABLE: u16 = 1146;

impl MySession {
    pub(super) async fn admin_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        let (flavor, _) = self.facts().await?;
        let hosts: Vec<String> =
            self.exec_rows(sql::mysql_account_hosts(flavor), (user.as_str(),), "reading the user's accounts").await?;
        let mut queue: Vec<(String, String, Option<String>)> =
            hosts.into_iter().map(|host| (user.as_str().to_owned(), host, None)).collect();
        let mut seen = BTreeSet::new();
        while let Some((name, host, via)) = queue.pop() {
            if !seen.insert((name.clone(), host.clone())) {
                continue;
            }
            if seen.len() > MAX_GRANTEES {
                let detail = format!("{user} holds more than {MAX_GRANTEES} roles; refusing to guess what it can do");
                return Err(self.read_error(detail));
            }
            let through = via.as_deref().map(|role| format!(" through role {role:?}")).unwrap_or_default();
            if let Some(power) = self.powers_of(&name, &host).await? {
                return Ok(Some(format!("holds {power}{through}")));
            }
            let roles: Vec<(String, String, String)> = self
                .exec_rows_if_table(sql::mysql_role_rows(flavor), (name.as_str(), host.as_str()), "reading roles")
                .await?;
            // A role held WITH ADMIN OPTION lets its holder grant that role, not administer accounts: it is
            // followed like any other.
            for (role, role_host, _admin) in roles {
                queue.push((role.clone(), role_host, Some(via.clone().unwrap_or(role))));
            }
        }
        Ok(None)
    }

    /// What one account or role holds that administers accounts, in words; `None` when nothing.
    async fn powers_of(&mut self, name: &str, host: &str) -> Result<Option<String>, EngineError> {
        // SHOW GRANTS lists every global privilege, those without a column in mysql.user too (MariaDB's SET USER,
        // MySQL 8's dynamic privileges).
        let statement = sql::mysql_show_grants(name, host).map_err(|err| self.read_error(err.to_string()))?;
        let lines: Vec<(String,)> = self.exec_rows(statement, Params::Empty, "reading SHOW GRANTS").await?;
        let global: Vec<String> = lines.iter().flat_map(|(line,)| sql::global_powers_in(line)).collect();
        if !global.is_empty() {
            return Ok(Some(format!("{} on *.*", global.join(", "))));
        }
        let params = || Params::from((name, host));
        let global: Vec<(Option<String>,)> =
            self.exec_rows(sql::mysql_global_powers(), params(), "reading global privileges").await?;
        if let Some(powers) = global.into_iter().filter_map(|(powers,)| powers).find(|p| !p.is_empty()) {
            return Ok(Some(format!("{powers} on *.*")));
        }
        match self.fetch_raw(&sql::mysql_dynamic_powers(), params()).await? {
            Ok(rows) => {
                let dynamic: Vec<(String,)> = self.convert(rows, "reading dynamic privileges")?;
                if let Some((privilege,)) = dynamic.into_iter().next() {
                    return Ok(Some(privilege));
                }
            }
            Err(mysql_async::Error::Server(err)) if err.code == NO_SUCH_TABLE => {}
            Err(err) => return Err(self.read_failure(&err, "reading dynamic privileges")),
        }
        let schemas: Vec<(String, Option<String>)> =
            self.exec_rows(sql::mysql_schema_powers(), params(), "reading schema privileges").await?;
        for (pattern, powers) in schemas {
            if let Some(powers) = powers.filter(|p| !p.is_empty())
                && schema_pattern_matches(&pattern, "mysql")
            {
                return Ok(Some(format!("{powers} on `{pattern}`.* (the grant tables)")));
            }
        }
        let tables: Vec<(String, String)> =
            self.exec_rows(sql::mysql_grant_table_powers(), params(), "reading table privileges").await?;
        for (table, privileges) in tables {
            let writes: Vec<&str> = privileges
                .split(',')
                .filter(|p| ["Insert", "Update", "Delete", "Create", "Drop", "Alter"].contains(p))
                .collect();
            if !writes.is_empty() {
                return Ok(Some(format!("{} on mysql.{table}", writes.join(",").to_uppercase())));
            }
        }
        Ok(None)
    }
}

/// Whether a schema-level grant's pattern covers `schema`: `%` is any run of characters, `_` any one, `\` makes the
/// next character literal. Compared without case, so that a server with case-insensitive names is never
/// under-counted.
fn schema_pattern_matches(pattern: &str, schema: &str) -> bool {
    // The pattern as tokens: Some(c) a literal character, None a `%`, and `_` kept apart.
    #[derive(Clone, Copy)]
    enum Token {
        Literal(char),
        One,
        Any,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            c => Token::Literal(c),
        });
    }
    let schema: Vec<char> = schema.chars().collect();
    // reachable[j]: the tokens read so far can match the first j characters of the schema.
    let mut reachable = vec![false; schema.len() + 1];
    reachable[0] = true;
    for token in tokens {
        let mut next = vec![false; schema.len() + 1];
        for j in 0..=schema.len() {
            next[j] = match token {
                Token::Any => reachable[j] || (j > 0 && next[j - 1]),
                Token::One => j > 0 && reachable[j - 1],
                Token::Literal(c) => j > 0 && reachable[j - 1] && schema[j - 1].eq_ignore_ascii_case(&c),
            };
        }
        reachable = next;
    }
    reachable[schema.len()]
}

#[cfg(test)]
mod tests {
    use super::schema_pattern_matches;

    #[test]
    fn schema_patterns() {
        for (pattern, covers) in [
            ("mysql", true),
            ("MySQL", true),
            ("%", true),
            ("my%", true),
            ("m_sql", true),
            ("mysql\\_x", false),
            ("my\\%", false),
            ("app", false),
            ("mysql_schema", false),
            ("", false),
            ("%%%%%%%%%%%%%%%%%%%%%%x", false),
            ("%%%%%%%%%%%%%%%%%%%%%%l", true),
            ("\\", false),
        ] {
            assert_eq!(schema_pattern_matches(pattern, "mysql"), covers, "{pattern}");
        }
    }
}
