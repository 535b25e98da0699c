//! After a change at the writer, the wait until the new password works where applications connect (a reader
//! endpoint, a replica) or a break-glass reset has taken effect: logins with exponential backoff, within one budget
//! per invocation (`PROPAGATION_TIMEOUT_SECONDS`, and the invocation's own deadline).

use std::time::Duration;

use tokio::time::Instant;

use tracing::info;

use super::{Located, Topology};
use crate::domain::Target;
use crate::engines::{DbEngine, DbSession, LoginOutcome};
use crate::rds::RdsApi;
use crate::rotation::{Error, ErrorKind};
use crate::secret::DbSecret;

impl<E: DbEngine, R: RdsApi> Topology<'_, E, R> {
    /// After a change at the writer: waits, with exponential backoff until `deadline`, until `secret` logs in where
    /// applications connect.
    pub(in crate::rotation) async fn await_propagation(
        &self,
        secret: &DbSecret,
        located: &Located,
        deadline: Instant,
    ) -> Result<(), Error> {
        let Some(readers) = &located.readers else { return Ok(()) };
        let waited = self.wait_for_login(secret, readers, deadline).await?;
        info!(at = %readers, waited_ms = waited.as_millis() as u64, "setSecret: the new password works where applications connect");
        Ok(())
    }

    /// When setSecret must be done waiting: `PROPAGATION_TIMEOUT_SECONDS` from now, or the invocation's own deadline
    /// (`until`) if that comes first. One budget for every wait of the invocation (a break-glass reset, then
    /// readers), so that the waits together stay within it.
    pub(in crate::rotation) fn wait_deadline(&self, until: Option<Instant>) -> Instant {
        let budget = Instant::now() + self.settings.propagation_timeout;
        until.map_or(budget, |until| until.min(budget))
    }

    /// Logs in as `secret` at `at` until it works, with backoff (0.25 s doubling to 4 s), until `deadline`.
    pub(in crate::rotation) async fn wait_for_login(
        &self,
        secret: &DbSecret,
        at: &Target,
        deadline: Instant,
    ) -> Result<Duration, Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let outcome = self.engine.login(at, secret.login()).await;
            match outcome {
                Ok(LoginOutcome::Accepted(session)) => {
                    session.close().await;
                    return Ok(started.elapsed());
                }
                Ok(LoginOutcome::Rejected) => {}
                Err(err) if err.is_transient() => {}
                Err(err) => return Err(err.into()),
            }
            if Instant::now() + pause > deadline {
                let (user, target) = (secret.username().clone(), at.clone());
                let waited = deadline.saturating_duration_since(started);
                return Err(ErrorKind::NotPropagated { user, target, waited }.into());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }
}
