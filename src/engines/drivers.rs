//! The drivers of this build, one per engine family, registered once (`registry!` below): `Drivers` logs in with
//! whichever the target's engine needs, and `AnySession` passes each call to the session of the driver that served
//! the login. An engine's folder gives its driver (`DbEngine` and the session traits) and the two things the
//! registry asks of it (`Driver`); adding an engine is its folder and one line here.

use std::sync::Arc;
use std::time::Duration;

use super::certificate::TlsRequest;
use super::{
    AccountAdmin, Alternate, CertificateDates, DbEngine, DbSession, EngineError, EngineSettings, LoginOutcome,
    Preflight, RotationSession,
};
use crate::domain::{Family, Login, Password, Target, UserName};
use crate::tls::{Tls, TlsMode, TlsSettings};

/// What an engine's folder gives the registry besides its driver: how the driver is made from the settings, and
/// the request that turns a connection of its protocol into TLS before any credential (`TlsRequest`, for the
/// certificate probe in `certificate.rs`).
pub(super) trait Driver: DbEngine + TlsRequest + Sized {
    fn new(connect_timeout: Duration, statement_timeout: Duration, tls: Arc<Tls>) -> Self;
}

/// The engines of this build: the family a secret's engine belongs to (`domain::Family`), and the driver in the
/// engine's folder. Everything below — the fields of `Drivers`, the variants of `AnySession`, the dispatch of every
/// call — follows from this one list.
macro_rules! registry {
    ($($family:ident => $driver:ty),+ $(,)?) => {
        /// The drivers of this build, one per engine family; dispatches on the target's engine.
        #[allow(non_snake_case)]
        pub struct Drivers {
            $($family: $driver,)+
            tls: Arc<Tls>,
            connect_timeout: Duration,
        }

        /// A session of whichever driver served the login. Outside the crate (tests, benches) it is only a type to
        /// hold: its variants are the registry's, and their sessions the drivers' own.
        #[allow(private_interfaces)]
        pub enum AnySession {
            $($family(<$driver as DbEngine>::Session),)+
        }

        impl Drivers {
            /// The drivers, with their timeouts, the TLS settings and the PEM of `DB_EXTRA_CA_BUNDLE`.
            pub fn new(settings: EngineSettings, tls: TlsSettings, extra_ca_pem: Option<Vec<u8>>) -> Drivers {
                let tls = Arc::new(Tls::new(tls, extra_ca_pem));
                let (connect, statements) = (settings.connect_timeout, settings.statement_timeout);
                Drivers {
                    $($family: <$driver as Driver>::new(connect, statements, tls.clone()),)+
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
                let (tls, timeout) = (&self.tls, self.connect_timeout);
                Some(match at.engine.family() {
                    $(Family::$family => super::certificate::probe::<$driver>(at, tls, timeout).await,)+
                })
            }

            fn rejection_hint(&self, at: &Target) -> Option<&'static str> {
                match at.engine.family() {
                    $(Family::$family => self.$family.rejection_hint(at),)+
                }
            }

            async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<AnySession>, EngineError> {
                Ok(match at.engine.family() {
                    $(Family::$family => match self.$family.login(at, login).await? {
                        LoginOutcome::Accepted(session) => LoginOutcome::Accepted(AnySession::$family(session)),
                        LoginOutcome::Rejected => LoginOutcome::Rejected,
                    },)+
                })
            }
        }

        impl DbSession for AnySession {
            async fn close(self) {
                match self { $(AnySession::$family(session) => session.close().await,)+ }
            }
        }

        impl RotationSession for AnySession {
            async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
                match self { $(AnySession::$family(session) => session.set_password(user, new).await,)+ }
            }

            async fn check(&mut self) -> Result<(), EngineError> {
                match self { $(AnySession::$family(session) => session.check().await,)+ }
            }
        }

        impl AccountAdmin for AnySession {
            async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
                match self { $(AnySession::$family(session) => session.user_exists(user).await,)+ }
            }

            async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
                match self { $(AnySession::$family(session) => session.account_power(user).await,)+ }
            }

            async fn unproven_accounts(
                &mut self,
                user: &UserName,
                password: &Password,
            ) -> Result<Vec<String>, EngineError> {
                match self { $(AnySession::$family(session) => session.unproven_accounts(user, password).await,)+ }
            }

            async fn master_authority(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
                match self { $(AnySession::$family(session) => session.master_authority(pair).await,)+ }
            }

            async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
                match self { $(AnySession::$family(session) => session.sync_alternate(pair, password).await,)+ }
            }

            async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
                match self { $(AnySession::$family(session) => session.verify_alternate(pair).await,)+ }
            }
        }

        impl Preflight for AnySession {
            async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
                match self { $(AnySession::$family(session) => session.describe_password_change(user).await,)+ }
            }
        }
    };
}

registry! {
    Postgres => super::postgres::PostgresEngine,
    Mysql => super::mysql::MysqlEngine,
}

impl Drivers {
    /// The TLS mode logins to `at` use.
    pub fn tls_mode_for(&self, at: &Target) -> TlsMode {
        self.tls.mode_for(at.tls)
    }
}
