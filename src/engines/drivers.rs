//! The drivers of this build, one per engine family: `Drivers` logs in with whichever the target's engine needs.

use std::sync::Arc;

use super::mysql::{MySession, MysqlEngine};
use super::postgres::{PgSession, PostgresEngine};
use super::{
    AccountAdmin, Alternate, CertificateDates, DbEngine, DbSession, EngineError, EngineSettings, LoginOutcome,
    Preflight, RotationSession,
};
use crate::domain::{Family, Login, Password, Target, UserName};
use crate::tls::{Tls, TlsMode, TlsSettings};

/// The drivers of this build, one per engine family; dispatches on the target's engine.
pub struct Drivers {
    postgres: PostgresEngine,
    mysql: MysqlEngine,
    tls: Arc<Tls>,
    connect_timeout: std::time::Duration,
}

/// A session of whichever driver served the login.
pub enum AnySession {
    Postgres(PgSession),
    Mysql(MySession),
}

impl Drivers {
    /// The TLS mode logins to `at` use.
    pub fn tls_mode_for(&self, at: &Target) -> TlsMode {
        self.tls.mode_for(at.tls)
    }

    /// The drivers, with their timeouts, the TLS settings and the PEM of `DB_EXTRA_CA_BUNDLE`.
    pub fn new(settings: EngineSettings, tls: TlsSettings, extra_ca_pem: Option<Vec<u8>>) -> Drivers {
        let tls = Arc::new(Tls::new(tls, extra_ca_pem));
        let (connect, statements) = (settings.connect_timeout, settings.statement_timeout);
        Drivers {
            postgres: PostgresEngine::new(connect, statements, tls.clone()),
            mysql: MysqlEngine::new(connect, statements, tls.clone()),
            tls,
            connect_timeout: connect,
        }
    }
}

impl DbEngine for Drivers {
    type Session = AnySession;

    fn transport(&self, at: &Target) -> Option<String> {
        Some(format!("TLS mode {}", self.tls_mode_for(at)))
    }

    fn verifies_certificate(&self, at: &Target) -> bool {
        self.tls_mode_for(at) == TlsMode::VerifyFull
    }

    async fn certificate(&self, at: &Target) -> Option<Result<CertificateDates, String>> {
        if !matches!(self.tls_mode_for(at), TlsMode::VerifyFull | TlsMode::Prefer) {
            return None;
        }
        Some(super::certificate::probe(at, &self.tls, self.connect_timeout).await)
    }

    fn rejection_hint(&self, at: &Target) -> Option<&'static str> {
        match at.engine.family() {
            Family::Postgres => self.postgres.rejection_hint(at),
            Family::Mysql => self.mysql.rejection_hint(at),
        }
    }

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<AnySession>, EngineError> {
        Ok(match at.engine.family() {
            Family::Postgres => match self.postgres.login(at, login).await? {
                LoginOutcome::Accepted(session) => LoginOutcome::Accepted(AnySession::Postgres(session)),
                LoginOutcome::Rejected => LoginOutcome::Rejected,
            },
            Family::Mysql => match self.mysql.login(at, login).await? {
                LoginOutcome::Accepted(session) => LoginOutcome::Accepted(AnySession::Mysql(session)),
                LoginOutcome::Rejected => LoginOutcome::Rejected,
            },
        })
    }
}

impl DbSession for AnySession {
    async fn close(self) {
        match self {
            AnySession::Postgres(session) => session.close().await,
            AnySession::Mysql(session) => session.close().await,
        }
    }
}

impl RotationSession for AnySession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.set_password(user, new).await,
            AnySession::Mysql(session) => session.set_password(user, new).await,
        }
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.check().await,
            AnySession::Mysql(session) => session.check().await,
        }
    }
}

impl AccountAdmin for AnySession {
    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        match self {
            AnySession::Postgres(session) => session.user_exists(user).await,
            AnySession::Mysql(session) => session.user_exists(user).await,
        }
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        match self {
            AnySession::Postgres(session) => session.account_power(user).await,
            AnySession::Mysql(session) => session.account_power(user).await,
        }
    }

    async fn unproven_accounts(&mut self, user: &UserName, password: &Password) -> Result<Vec<String>, EngineError> {
        match self {
            AnySession::Postgres(session) => session.unproven_accounts(user, password).await,
            AnySession::Mysql(session) => session.unproven_accounts(user, password).await,
        }
    }

    async fn master_authority(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.master_authority(pair).await,
            AnySession::Mysql(session) => session.master_authority(pair).await,
        }
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.sync_alternate(pair, password).await,
            AnySession::Mysql(session) => session.sync_alternate(pair, password).await,
        }
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        match self {
            AnySession::Postgres(session) => session.verify_alternate(pair).await,
            AnySession::Mysql(session) => session.verify_alternate(pair).await,
        }
    }
}

impl Preflight for AnySession {
    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        match self {
            AnySession::Postgres(session) => session.describe_password_change(user).await,
            AnySession::Mysql(session) => session.describe_password_change(user).await,
        }
    }
}
