//! Fault injection around the real adapters: the Secrets Manager store (on moto) and the database drivers (on the
//! local servers). Every external call — each Secrets Manager request, each login, each statement a session runs
//! for the rotation — is counted across both, and the Nth can be failed before it is made, or after it took effect
//! (a timeout that hides a commit).

use std::sync::Arc;
use std::sync::Mutex;

use rds_rotator::internal::{
    AccountAdmin, Alternate, AnySession, Around, AwsSecretStore, DbEngine, DbSession, Decorated, Decoration, Drivers,
    EngineError, EngineErrorKind, Login, LoginOutcome, Password, Preflight, RotationSession, StoreCall, StoreError,
    StoreErrorKind, Target, UserName,
};

/// When an armed fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// The call is not made.
    Before,
    /// The call is made and takes effect; the caller sees an error.
    After,
}

/// Counts external calls and fails the armed one.
#[derive(Default)]
pub struct Injector {
    state: Mutex<InjectorState>,
}

#[derive(Default)]
struct InjectorState {
    calls: usize,
    armed: Option<(usize, When)>,
    struck: Vec<String>,
}

impl Injector {
    /// Fails call `n` (1-based, counted from now).
    pub fn arm(&self, n: usize, when: When) {
        let mut state = self.state.lock().unwrap();
        state.calls = 0;
        state.armed = Some((n, when));
    }

    pub fn disarm(&self) {
        self.state.lock().unwrap().armed = None;
    }

    /// Calls counted since the last `arm` or `reset`.
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    pub fn reset(&self) {
        self.state.lock().unwrap().calls = 0;
    }

    /// The calls that were failed, by name.
    pub fn struck(&self) -> Vec<String> {
        self.state.lock().unwrap().struck.clone()
    }

    fn next(&self, call: &str) -> Option<When> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        match state.armed {
            Some((n, when)) if n == state.calls => {
                state.armed = None;
                state.struck.push(format!("{call} ({when:?})"));
                Some(when)
            }
            _ => None,
        }
    }
}

/// Secrets Manager with the injector's faults: the project's one store decorator (`Decorated`) with this decoration.
pub type FaultyStore = Decorated<AwsSecretStore, StoreFaults>;

/// The injector, as a decoration of the store.
pub struct StoreFaults(pub Arc<Injector>);

/// Secrets Manager with `injector`'s faults.
pub fn faulty_store(inner: AwsSecretStore, injector: Arc<Injector>) -> FaultyStore {
    Decorated { inner, decoration: StoreFaults(injector) }
}

impl Decoration for StoreFaults {
    fn around(&self, call: StoreCall, secret_id: &str) -> Around {
        match self.0.next(call.operation()) {
            Some(When::Before) => Around::FailBefore(store_fault(call.operation(), secret_id)),
            Some(When::After) => Around::FailAfter(store_fault(call.operation(), secret_id)),
            None => Around::Pass,
        }
    }
}

pub struct FaultyEngine {
    pub inner: Drivers,
    pub injector: Arc<Injector>,
}

pub struct FaultySession {
    inner: AnySession,
    injector: Arc<Injector>,
    target: Target,
}

fn store_fault(operation: &'static str, secret_id: &str) -> StoreError {
    let message = "injected fault: the connection dropped".to_owned();
    StoreError { operation, secret_id: secret_id.to_owned(), kind: StoreErrorKind::Unavailable, message }
}

fn engine_fault(at: &Target) -> EngineError {
    EngineError::new(EngineErrorKind::Timeout, at, "injected fault: no answer")
}

impl DbEngine for FaultyEngine {
    type Session = FaultySession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<FaultySession>, EngineError> {
        let wrap = |outcome| match outcome {
            LoginOutcome::Accepted(inner) => {
                let injector = self.injector.clone();
                LoginOutcome::Accepted(FaultySession { inner, injector, target: at.clone() })
            }
            LoginOutcome::Rejected => LoginOutcome::Rejected,
        };
        match self.injector.next("login") {
            Some(When::Before) => Err(engine_fault(at)),
            Some(When::After) => {
                if let Ok(LoginOutcome::Accepted(session)) = self.inner.login(at, login).await {
                    session.close().await;
                }
                Err(engine_fault(at))
            }
            None => self.inner.login(at, login).await.map(wrap),
        }
    }

    fn rejection_hint(&self, at: &Target) -> Option<&'static str> {
        self.inner.rejection_hint(at)
    }

    fn verifies_certificate(&self, at: &Target) -> bool {
        self.inner.verifies_certificate(at)
    }
}

impl DbSession for FaultySession {
    async fn close(self) {
        self.inner.close().await
    }
}

impl RotationSession for FaultySession {
    async fn set_password(&mut self, user: &UserName, new: &Password) -> Result<(), EngineError> {
        let call = self.inner.set_password(user, new);
        guard(&self.injector, &self.target, "set_password", call).await
    }

    async fn check(&mut self) -> Result<(), EngineError> {
        let call = self.inner.check();
        guard(&self.injector, &self.target, "check", call).await
    }
}

impl AccountAdmin for FaultySession {
    async fn user_exists(&mut self, user: &UserName) -> Result<bool, EngineError> {
        let call = self.inner.user_exists(user);
        guard(&self.injector, &self.target, "user_exists", call).await
    }

    async fn account_power(&mut self, user: &UserName) -> Result<Option<String>, EngineError> {
        let call = self.inner.account_power(user);
        guard(&self.injector, &self.target, "account_power", call).await
    }

    async fn unproven_accounts(&mut self, user: &UserName, password: &Password) -> Result<Vec<String>, EngineError> {
        let call = self.inner.unproven_accounts(user, password);
        guard(&self.injector, &self.target, "unproven_accounts", call).await
    }

    async fn master_authority(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        let call = self.inner.master_authority(pair);
        guard(&self.injector, &self.target, "master_authority", call).await
    }

    async fn sync_alternate(&mut self, pair: Alternate<'_>, password: &Password) -> Result<(), EngineError> {
        let call = self.inner.sync_alternate(pair, password);
        guard(&self.injector, &self.target, "sync_alternate", call).await
    }

    async fn verify_alternate(&mut self, pair: Alternate<'_>) -> Result<(), EngineError> {
        let call = self.inner.verify_alternate(pair);
        guard(&self.injector, &self.target, "verify_alternate", call).await
    }
}

impl Preflight for FaultySession {
    async fn describe_password_change(&mut self, user: &UserName) -> Result<String, EngineError> {
        self.inner.describe_password_change(user).await
    }
}

/// Fails `call` as the injector says; split from the session so that the call can borrow the inner session.
async fn guard<T, F>(injector: &Injector, target: &Target, name: &str, call: F) -> Result<T, EngineError>
where
    F: Future<Output = Result<T, EngineError>>,
{
    match injector.next(name) {
        Some(When::Before) => Err(engine_fault(target)),
        Some(When::After) => {
            let _ = call.await;
            Err(engine_fault(target))
        }
        None => call.await,
    }
}
