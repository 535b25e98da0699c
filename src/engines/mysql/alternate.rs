//! Alternating users on MySQL and MariaDB, in the master's session. Every `user@host` account of the current user
//! is mirrored for the other user: privileges at every level with their grant option, roles with their admin
//! option and the default roles, the TLS requirement and the resource limits — read from `mysql.user`,
//! `information_schema`'s privilege views, `mysql.procs_priv` and the role tables, compared as sets
//! (`grants::changes`), and brought in line with GRANT before REVOKE, so the other user never loses what it should
//! keep. Accounts of the other user at hosts the current user does not have are dropped. The password comes last, in
//! the hash form of each host's plugin.

use std::collections::BTreeMap;

use mysql_async::Params;
use mysql_async::prelude::FromRow;
use tracing::{info, warn};

use super::auth::{self, AuthPlugin};
use super::grants::{
    self, Change, Holdings, Level, Limits, Privilege, PrivilegeName, RoleRef, RoutineKind, StatementTime,
    TlsRequirement,
};
use super::sql::{self, Account, Credential, LiteralError, MysqlQuoting};
use super::{Flavor, MySession};
use crate::domain::{Password, UserName};
use crate::engines::{Alternate, EngineError, EngineErrorKind, sql::Sql};

/// One `user@host` row of `mysql.user`.
struct AccountRow {
    plugin: AuthPlugin,
    tls: TlsRequirement,
    limits: Limits,
    /// MariaDB's one default role ('' for none); MySQL keeps them in `mysql.default_roles`.
    default_role: Option<String>,
}

type AccountColumns =
    (String, String, String, Vec<u8>, Vec<u8>, Vec<u8>, u64, u64, u64, i64, Option<String>, Option<String>);

/// MySQL's "table doesn't exist": MySQL 5.7 has no role tables.
const NO_SUCH_TABLE: u16 = 1146;
/// MySQL's "unknown column": MySQL 5.7 has no `User_attributes`.
const NO_SUCH_COLUMN: u16 = 1054;

impl MySession {
    pub(super) async fn user_rows_exist(&mut self, user: &UserName) -> Result<bool, EngineError> {
        let count: Vec<u64> = self.exec_rows(sql::mysql_user_exists(), (user.as_str(),), "looking the user up").await?;
        Ok(count.first().copied().unwrap_or(0) > 0)
    }

    pub(super) async fn sync_pair(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        let (flavor, quoting) = self.facts().await?;
        let current = self.accounts(flavor, pair.current).await?;
        let mut next = self.accounts(flavor, pair.next).await?;

        // 0. Every existing account of the other user must hold a password this secret holds: a login proves only
        //    the account it matched, and the others are rewritten or dropped below. (The current user's accounts the
        //    core has checked likewise, against AWSCURRENT's password: `unproven_accounts`.)
        if let Some(account) = self.accounts_not_holding(pair.next, pair.known).await?.first() {
            let detail = format!(
                "{account} holds a password no version of this secret has: it is not this rotation's to change"
            );
            return Err(EngineError::new(EngineErrorKind::NotOurs, &self.target, detail));
        }

        // 1. Missing accounts, created with the pending password so that a retry recognises them.
        let missing: Vec<&String> = current.keys().filter(|host| !next.contains_key(*host)).collect();
        for host in &missing {
            let account = Account { user: pair.next.as_str(), host: host.as_str() };
            let plugin = &current[*host].plugin;
            let stored = self.stored_form(flavor, plugin, password)?;
            let statement = sql::mysql_create_account(flavor, account, credential(plugin, &stored, password), quoting);
            self.run_built(statement, &format!("creating {}@{host:?}", pair.next)).await?;
            info!(user = %pair.next, host = %host, "setSecret: created the alternate user's account at this host");
        }
        if !missing.is_empty() {
            next = self.accounts(flavor, pair.next).await?;
        }

        // 2. Privileges, roles and attributes, host by host: grants first, revocations last.
        for (host, row) in &current {
            let Some(created) = next.get(host) else {
                let detail = format!("{}@{host:?} was created but the server does not list it", pair.next);
                return Err(self.read_error(detail));
            };
            let want = self.holdings(flavor, pair.current, host, row).await?;
            let have = self.holdings(flavor, pair.next, host, created).await?;
            let account = Account { user: pair.next.as_str(), host: host.as_str() };
            let changes = grants::changes(&want, &have);
            // A partial revoke is a second statement after the global grant it restricts, and a session opened in
            // between would keep the unrestricted global privilege for its lifetime: no session opens as the account
            // while they run (a retry after a crash here locks and unlocks again).
            let restricting = changes.iter().any(|change| matches!(change, Change::Restrict { .. }));
            if restricting {
                self.run_built(sql::mysql_account_lock(account, true), &format!("locking {}@{host:?}", pair.next))
                    .await?;
            }
            for change in changes {
                let statement = change_sql(flavor, quoting, account, &change);
                self.run_built(statement, &format!("bringing {}@{host:?} in line (it {change})", pair.next)).await?;
            }
            if restricting {
                let what = format!("unlocking {}@{host:?}", pair.next);
                self.run_built(sql::mysql_account_lock(account, false), &what).await?;
            }
        }

        // 3. Accounts the current user does not have.
        for host in next.keys().filter(|host| !current.contains_key(*host)) {
            let account = Account { user: pair.next.as_str(), host: host.as_str() };
            self.run_built(sql::mysql_drop_account(account), &format!("dropping {}@{host:?}", pair.next)).await?;
            info!(user = %pair.next, host = %host, "setSecret: dropped an account the current user does not have");
        }

        // 4. The password, in each host's plugin.
        for (host, row) in &current {
            let account = Account { user: pair.next.as_str(), host: host.as_str() };
            let stored = self.stored_form(flavor, &row.plugin, password)?;
            let statement =
                sql::mysql_set_account_credential(flavor, account, credential(&row.plugin, &stored, password), quoting);
            self.run_built(statement, &format!("the password change of {}@{host:?}", pair.next)).await?;
        }
        Ok(())
    }

    /// The accounts of `user` whose stored password is none of `passwords` (compared with what each account's plugin
    /// stores; a plugin whose stored form this build cannot read holds none of them), as `"user"@"host" (plugin)`.
    pub(super) async fn accounts_not_holding(
        &mut self,
        user: &UserName,
        passwords: &[&Password],
    ) -> Result<Vec<String>, EngineError> {
        let (flavor, _) = self.facts().await?;
        let credentials: Vec<(String, String, Vec<u8>)> =
            self.exec_rows(sql::mysql_account_credentials(flavor), (user.as_str(),), "reading mysql.user").await?;
        let mut unproven = Vec::new();
        for (host, plugin, stored) in credentials {
            let plugin = AuthPlugin::from_name(&plugin);
            let holds = passwords.iter().any(|password| {
                auth::stored_form_matches(&plugin, &stored, password.expose_secret().as_bytes()) == Some(true)
            });
            if !holds {
                unproven.push(format!("{user}@{host:?} ({plugin})"));
            }
        }
        Ok(unproven)
    }

    pub(super) async fn verify_pair(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        let (flavor, _) = self.facts().await?;
        let current = self.accounts(flavor, pair.current).await?;
        let next = self.accounts(flavor, pair.next).await?;
        let target = self.target.clone();
        let mismatch = |problem: String| {
            let detail = format!("{} does not match {}: {problem}", pair.next, pair.current);
            Err(EngineError::new(EngineErrorKind::Statement, &target, detail))
        };
        if let Some(host) = current.keys().find(|host| !next.contains_key(*host)) {
            return mismatch(format!("it has no account at host {host:?}"));
        }
        if let Some(host) = next.keys().find(|host| !current.contains_key(*host)) {
            return mismatch(format!("it has an account at host {host:?}, which {} does not", pair.current));
        }
        for (host, row) in &current {
            if next[host].plugin != row.plugin {
                return mismatch(format!(
                    "at host {host:?} it authenticates with {}, not {}",
                    next[host].plugin, row.plugin
                ));
            }
            let want = self.holdings(flavor, pair.current, host, row).await?;
            let have = self.holdings(flavor, pair.next, host, &next[host]).await?;
            if let Some(change) = grants::changes(&want, &have).first() {
                return mismatch(format!("at host {host:?} it {change}"));
            }
        }
        Ok(())
    }

    pub(super) async fn facts(&mut self) -> Result<(Flavor, MysqlQuoting), EngineError> {
        let (version, sql_mode): (String, String) = self.query_row(sql::mysql_server_facts()).await?;
        let flavor = if version.contains("MariaDB") { Flavor::Mariadb } else { Flavor::Mysql };
        Ok((flavor, MysqlQuoting::from_sql_mode(&sql_mode)))
    }

    /// The accounts of `user`, by host. An unknown column value is an error, never a guess.
    async fn accounts(&mut self, flavor: Flavor, user: &UserName) -> Result<BTreeMap<String, AccountRow>, EngineError> {
        let rows: Vec<AccountColumns> =
            self.exec_rows(sql::mysql_account_rows(flavor), (user.as_str(),), "reading mysql.user").await?;
        let mut accounts = BTreeMap::new();
        for row in rows {
            let (
                host,
                plugin,
                ssl_type,
                cipher,
                issuer,
                subject,
                questions,
                updates,
                connections,
                user_connections,
                time,
                role,
            ) = row;
            let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
            let max_statement_time = match time {
                Some(time) => StatementTime::new(&time).map_err(|problem| self.read_error(problem))?,
                None => None,
            };
            let account = AccountRow {
                plugin: AuthPlugin::from_name(&plugin),
                tls: TlsRequirement::from_columns(&ssl_type, text(cipher), text(issuer), text(subject)),
                limits: Limits {
                    max_queries_per_hour: questions,
                    max_updates_per_hour: updates,
                    max_connections_per_hour: connections,
                    max_user_connections: user_connections,
                    max_statement_time,
                },
                default_role: role,
            };
            accounts.insert(host, account);
        }
        Ok(accounts)
    }

    /// What `user@host` holds besides its password.
    async fn holdings(
        &mut self,
        flavor: Flavor,
        user: &UserName,
        host: &str,
        account: &AccountRow,
    ) -> Result<Holdings, EngineError> {
        let mut holdings = Holdings { tls: account.tls.clone(), limits: account.limits.clone(), ..Holdings::default() };
        // information_schema writes the grantee unescaped, whatever the name holds: where a quote in the name or the
        // host lets that string read as another account too (`'a'@'b'@'c'` is a'@'b at c, and a at b'@'c), its rows
        // cannot be told apart from the other's. Without a quote in either, the string names one account only.
        let grantee = format!("'{}'@'{host}'", user.as_str());
        let g = grantee.as_str();
        if user.as_str().contains('\'') || host.contains('\'') {
            let twins: Vec<(String, String)> =
                self.exec_rows(sql::mysql_grantee_twins(), (g, user.as_str(), host), "reading mysql.user").await?;
            if !twins.is_empty() {
                let named: Vec<String> = twins.iter().map(|(u, h)| format!("{u:?}@{h:?}")).collect();
                let detail = format!(
                    "the privilege views name {user}@{host:?} as {grantee:?}, which also names {}: their privileges \
                     cannot be told apart; rename one of the accounts",
                    named.join(", ")
                );
                return Err(self.read_error(detail));
            }
        }
        let rows: Vec<(String, String, String, String, String, String)> =
            self.exec_rows(sql::mysql_privilege_rows(), (g, g, g, g), "reading information_schema privileges").await?;
        for (tag, schema, table, column, privilege, grantable) in rows {
            let level = match tag.as_str() {
                "G" => Level::Global,
                "S" => Level::Schema(schema),
                _ => Level::Table(schema, table),
            };
            let name = PrivilegeName::new(&privilege).map_err(|problem| self.read_error(problem))?;
            let column = (tag == "C").then_some(column);
            holdings.add(level, Privilege { name, column }, grantable.eq_ignore_ascii_case("YES"));
        }

        let params = (user.as_str(), host);
        let routines: Vec<(String, String, String, String)> =
            self.exec_rows(sql::mysql_routine_privilege_rows(), params, "reading mysql.procs_priv").await?;
        for (db, name, kind, privileges) in routines {
            let kind = RoutineKind::from_server(&kind).map_err(|problem| self.read_error(problem))?;
            let level = Level::Routine(db, name, kind);
            for privilege in privileges.split(',').filter(|p| !p.is_empty()) {
                if privilege.eq_ignore_ascii_case("Grant") {
                    holdings.grants.entry(level.clone()).or_default().grant_option = true;
                    continue;
                }
                let name = PrivilegeName::new(privilege).map_err(|problem| self.read_error(problem))?;
                holdings.add(level.clone(), Privilege { name, column: None }, false);
            }
        }

        let roles: Vec<(String, String, String)> =
            self.exec_rows_if_table(sql::mysql_role_rows(flavor), params, "reading the roles granted").await?;
        for (name, role_host, admin) in roles {
            holdings.roles.insert(RoleRef { name, host: role_host }, admin.eq_ignore_ascii_case("Y"));
        }
        if flavor == Flavor::Mysql {
            match self.fetch_raw(&sql::mysql_user_attributes(), Params::from(params)).await? {
                Ok(rows) => {
                    let attributes: Vec<(Option<String>,)> = self.convert(rows, "reading User_attributes")?;
                    if let Some((Some(text),)) = attributes.into_iter().next() {
                        holdings.restrictions = grants::restrictions_from(&text)
                            .map_err(|problem| self.read_error(format!("{user}@{host:?}: {problem}")))?;
                    }
                }
                Err(mysql_async::Error::Server(err)) if err.code == NO_SUCH_COLUMN => {}
                Err(err) => return Err(self.read_failure(&err, "reading User_attributes")),
            }
        }
        match (&account.default_role, flavor) {
            (Some(role), Flavor::Mariadb) if !role.is_empty() => {
                holdings.default_roles.insert(RoleRef { name: role.clone(), host: String::new() });
            }
            (_, Flavor::Mysql) => {
                let defaults: Vec<(String, String)> = self
                    .exec_rows_if_table(sql::mysql_default_role_rows(), params, "reading the default roles")
                    .await?;
                holdings.default_roles.extend(defaults.into_iter().map(|(name, host)| RoleRef { name, host }));
            }
            _ => {}
        }
        Ok(holdings)
    }

    /// The stored string of `password` for `plugin` on this server, or `None` where it has no hash form here.
    fn stored_form(
        &self,
        flavor: Flavor,
        plugin: &AuthPlugin,
        password: &Password,
    ) -> Result<Option<String>, EngineError> {
        let hash = self.stored_string(flavor, plugin, password.expose_secret())?;
        if hash.is_none() {
            warn!(%plugin, "setSecret: the {plugin} plugin has no hash form here; the alternate user's password goes as a string literal");
        }
        Ok(hash)
    }

    /// Rows of a read with bind parameters; the statement's text is safe to name in errors.
    pub(super) async fn exec_rows<T, P>(&mut self, statement: Sql, params: P, what: &str) -> Result<Vec<T>, EngineError>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send,
    {
        self.fetch(&statement, params.into(), what).await
    }

    /// As `exec_rows`, with no rows where the table does not exist (MySQL 5.7 has no roles).
    pub(super) async fn exec_rows_if_table<T, P>(
        &mut self,
        statement: Sql,
        params: P,
        what: &str,
    ) -> Result<Vec<T>, EngineError>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send,
    {
        match self.fetch_raw(&statement, params.into()).await? {
            Ok(rows) => self.convert(rows, what),
            Err(mysql_async::Error::Server(err)) if err.code == NO_SUCH_TABLE => Ok(Vec::new()),
            Err(err) => Err(self.read_failure(&err, what)),
        }
    }

    /// A statement built from data, which may hold a password or hash: errors keep only the error number.
    async fn run_built(&mut self, statement: Result<Sql, LiteralError>, what: &str) -> Result<(), EngineError> {
        let statement = statement.map_err(|err| self.read_error(format!("{what}: {err}")))?;
        match self.run(&statement).await? {
            Ok(()) => Ok(()),
            Err(err) => Err(self.statement_error(&err, what)),
        }
    }
}

fn credential<'a>(plugin: &'a AuthPlugin, stored: &'a Option<String>, password: &'a Password) -> Credential<'a> {
    match stored {
        Some(hash) => Credential::Hash { plugin, hash },
        None => Credential::Password { plugin, password: password.expose_secret() },
    }
}

fn change_sql(
    flavor: Flavor,
    quoting: MysqlQuoting,
    account: Account<'_>,
    change: &Change,
) -> Result<Sql, LiteralError> {
    match change {
        Change::Grant { level, privileges, grant_option } => {
            sql::mysql_grant(level, privileges, account, *grant_option)
        }
        Change::GrantRole { role, admin } => sql::mysql_grant_role(role, account, *admin),
        Change::DefaultRoles(roles) => sql::mysql_set_default_roles(flavor, roles, account),
        Change::Attributes { tls, limits } => sql::mysql_set_account_attributes(flavor, account, tls, limits, quoting),
        Change::RevokeRole(role) => sql::mysql_revoke_role(role, account),
        Change::Revoke { level, privileges } => sql::mysql_revoke(level, privileges, account),
        Change::RevokeGrantOption(level) => sql::mysql_revoke_grant_option(level, account),
        Change::Restrict { schema, privileges } => sql::mysql_partial_revoke(schema, privileges, account),
        Change::Unrestrict { schema, privileges } => sql::mysql_lift_partial_revoke(schema, privileges, account),
    }
}
