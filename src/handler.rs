//! From an invocation to a step and back: `RotationEvent` in, `Rotator::run`, `Error` out as a `Diagnostic`.
//! The Lambda runtime's types end here and in the start-up (`cli/mod.rs`); the local command line calls `handle` too,
//! so both share one path. Deadlines are on tokio's clock, so tests can pause it.

use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span};

use crate::domain::text;
use crate::engines::DbEngine;
use crate::event::RotationEvent;
use crate::metrics::{Metrics, StepReport};
use crate::rds::RdsApi;
use crate::rotation::{Error, Outcome, Rotator, StepFacts};
use crate::store::SecretStore;

/// Runs one step inside a span that carries the secret id, the step and the token (never the `RotationToken`),
/// and logs the outcome or the error — the one place an error is logged.
pub async fn handle<S: SecretStore, E: DbEngine, R: RdsApi>(
    rotator: &Rotator<S, E, R>,
    event: &RotationEvent,
) -> Result<Outcome, Error> {
    handle_measured(rotator, event, None).await.0
}

/// `handle`, with what the step learned and how long it took.
async fn handle_measured<S: SecretStore, E: DbEngine, R: RdsApi>(
    rotator: &Rotator<S, E, R>,
    event: &RotationEvent,
    deadline: Option<Instant>,
) -> (Result<Outcome, Error>, StepFacts, Duration) {
    let span =
        info_span!("rotation", secret_id = %text::shown(&event.secret_id), step = %event.step, token = %event.token);
    async {
        let started = Instant::now();
        let mut facts = StepFacts::default();
        // Boxed: the step's future nests the SDK's and the drivers' deeply, and inlined into lambda_runtime's
        // service future it overflows the compiler's layout depth in release builds.
        let result = Box::pin(rotator.run_until(event, &mut facts, deadline)).await;
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_millis() as u64;
        match &result {
            Ok(outcome) => info!(?outcome, elapsed_ms, "{}: done", event.step),
            Err(err) => error!(
                error_type = err.error_type(),
                transient = err.is_transient(),
                elapsed_ms,
                "{} failed: {err}",
                event.step
            ),
        }
        (result, facts, elapsed)
    }
    .instrument(span)
    .await
}

/// The Lambda entry: the payload is taken as raw JSON and parsed here, so a bad event gets the same clear error
/// as on the command line rather than a serde message. Each step writes one metrics line.
pub async fn lambda_handler<S: SecretStore, E: DbEngine, R: RdsApi>(
    rotator: &Rotator<S, E, R>,
    metrics: &Metrics,
    invocation: LambdaEvent<Value>,
) -> Result<(), Diagnostic> {
    let event = match RotationEvent::from_value(&invocation.payload) {
        Ok(event) => event,
        Err(err) => {
            let err = Error::from(err);
            error!(error_type = err.error_type(), "{err}");
            return Err(err.into());
        }
    };
    // Lambda always sets the deadline; a context without one (0, as local tools build it) sets none.
    let deadline = (invocation.context.deadline != 0).then(|| {
        let left = invocation.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
        Instant::now() + left
    });
    let (result, facts, duration) = handle_measured(rotator, &event, deadline).await;
    metrics.record(&StepReport {
        step: event.step,
        secret_id: &event.secret_id,
        outcome: result.as_ref().map_or_else(Error::error_type, |_| "ok"),
        engine: facts.engine,
        strategy: facts.strategy,
        duration,
    });
    result.map(drop).map_err(Diagnostic::from)
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Diagnostic {
        // The error's Display shows every outside string as data already; escaped whole once more here, because
        // the message goes on to the service and its console, where no writer of ours stands in between.
        let error_message = text::escaped(&err.to_string()).into_owned();
        Diagnostic { error_type: err.error_type().to_owned(), error_message }
    }
}
