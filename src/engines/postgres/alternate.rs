//! Alternating users on PostgreSQL, in the master's session. The clone is a member of the original role and its
//! sessions run as it (`ALTER ROLE clone SET role = 'base'`): whatever either user creates, the original owns, and
//! both use it after any number of switches; the clone has no privileges of its own to drift. The original's role
//! settings are copied to the clone at every rotation.

use std::collections::BTreeMap;

use super::PgSession;
use super::sql::{self, Role};
use crate::domain::{Password, UserName};
use crate::engines::{Alternate, EngineError, EngineErrorKind};

impl PgSession {
    pub(super) async fn role_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        let rows = self.rows(sql::pg_role_exists(), &[&user.as_str()], "looking the role up").await?;
        Ok(!rows.is_empty())
    }

    pub(super) async fn sync_pair(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        let verifier = self.verifier(pair.next, password).await?;
        if !self.role_exists(pair.next).await? {
            // Created with the pending password's verifier: a retry recognises the role as this rotation's.
            self.execute(sql::pg_create_login_role(pair.next, &verifier), "CREATE ROLE").await?;
        }
        self.execute(sql::pg_grant_role(pair.base, pair.clone), "GRANT (membership)").await?;
        self.execute(sql::pg_sessions_run_as(pair.clone, pair.base), "ALTER ROLE … SET role").await?;
        // The original's settings, and no others, besides `role`.
        let wanted = self.settings_of(pair.base).await?;
        let held = self.settings_of(pair.clone).await?;
        for (name, value) in &wanted {
            if name != "role"
                && held.get(name) != Some(value)
                && let Some(statement) = sql::pg_set_role_setting(pair.clone, name, value)
            {
                self.execute(statement, "ALTER ROLE … SET").await?;
            }
        }
        for name in held.keys().filter(|name| *name != "role" && !wanted.contains_key(*name)) {
            if let Some(statement) = sql::pg_reset_role_setting(pair.clone, name) {
                self.execute(statement, "ALTER ROLE … RESET").await?;
            }
        }
        self.execute(sql::pg_set_password(Role::Named(pair.next), &verifier), "ALTER ROLE … PASSWORD").await
    }

    /// PostgreSQL 16+: a `CREATEROLE` role such as the RDS master administers only roles it holds ADMIN OPTION on —
    /// those it created, or was granted so. The pair needs it on both users: on the original to grant its membership
    /// to the clone and to change its password, on an existing clone to change it. Where it lacks it, the error names
    /// the grant to run, before anything changes.
    pub(super) async fn master_authority(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        if self.query_value(sql::pg_admin_option_rules_apply()).await? != "true" {
            return Ok(());
        }
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&pair.base.as_str(), &pair.clone.as_str()];
        let rows = self.rows(sql::pg_admin_option_on(), &params, "reading ADMIN OPTION").await?;
        let mut lacking = Vec::new();
        for row in &rows {
            let (role, admin, holders) = (self.text(row, 0)?, self.flag(row, 1)?, self.text(row, 2)?);
            if !admin {
                lacking.push((role, holders));
            }
        }
        if lacking.is_empty() {
            return Ok(());
        }
        let master = self.user.as_str().to_owned();
        let grants: Vec<String> =
            lacking.iter().map(|(role, _)| sql::pg_grant_admin_option_text(role, &master)).collect();
        let holders: Vec<String> = lacking
            .iter()
            .map(|(role, holders)| {
                let by = if holders.is_empty() { "no role but a superuser".to_owned() } else { holders.clone() };
                format!("{role:?} is administered by {by}")
            })
            .collect();
        let detail = format!(
            "the master {:?} lacks ADMIN OPTION on {} (PostgreSQL 16+: a CREATEROLE role administers only the roles it \
             created or was granted WITH ADMIN OPTION; {}); nothing was changed. As a role that holds it, or a \
             superuser, run: {}",
            master,
            lacking.iter().map(|(role, _)| format!("{role:?}")).collect::<Vec<_>>().join(" and "),
            holders.join("; "),
            grants.join("; ")
        );
        Err(EngineError::new(EngineErrorKind::MissingPrivilege, &self.target, detail))
    }

    pub(super) async fn verify_pair(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        let runs_as = format!("role={}", pair.base.as_str());
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&pair.clone.as_str(), &pair.base.as_str(), &runs_as];
        let rows = self.rows(sql::pg_verify_pair(), &params, "checking the pair").await?;
        let Some(row) = rows.first() else {
            let detail = "checking the pair returned no row";
            return Err(EngineError::new(EngineErrorKind::Statement, &self.target, detail));
        };
        let (member, runs_as_base) = (self.flag(row, 0)?, self.flag(row, 1)?);
        let problem = match (member, runs_as_base) {
            (true, true) => {
                let (mut wanted, mut held) = (self.settings_of(pair.base).await?, self.settings_of(pair.clone).await?);
                wanted.remove("role");
                held.remove("role");
                match wanted.iter().find(|(name, value)| held.get(*name) != Some(value)) {
                    None if wanted.len() == held.len() => return Ok(()),
                    Some((name, _)) => format!("{} has another {name} setting than {}", pair.clone, pair.base),
                    None => format!("{} has settings that {} does not", pair.clone, pair.base),
                }
            }
            (false, _) => format!("{} is not a member of {}", pair.clone, pair.base),
            (true, false) => format!("the sessions of {} do not run as {}", pair.clone, pair.base),
        };
        Err(EngineError::new(EngineErrorKind::Statement, &self.target, format!("the pair is incomplete: {problem}")))
    }

    /// A role's own settings (in every database), by name.
    async fn settings_of(&mut self, role: &UserName) -> Result<BTreeMap<String, String>, EngineError> {
        let rows = self.rows(sql::pg_role_settings(), &[&role.as_str()], "reading role settings").await?;
        let mut settings = BTreeMap::new();
        for row in &rows {
            let setting = self.text(row, 0)?;
            if let Some((name, value)) = setting.split_once('=') {
                settings.insert(name.to_owned(), value.to_owned());
            }
        }
        Ok(settings)
    }
}
