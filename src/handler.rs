//! From an invocation to a step and back: `RotationEvent` in, `Rotator::run`, `Error` out as a `Diagnostic`.
//! The only file that uses lambda_runtime; the local command line calls `handle` too, so both share one path.

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::{Instrument, error, info, info_span};

use crate::config::Config;
use crate::engines::{DbEngine, Drivers};
use crate::error::Error;
use crate::event::RotationEvent;
use crate::rotation::{Outcome, Rotator};
use crate::secrets::{AwsSecretStore, SecretStore};

/// The rotator a deployed function uses: Secrets Manager through the AWS SDK, and the real database drivers.
pub type AwsRotator = Rotator<AwsSecretStore, Drivers>;

/// Builds the deployed rotator from a validated configuration.
pub async fn build(config: &Config) -> Result<AwsRotator, Error> {
    let store = AwsSecretStore::from_config(config).await?;
    Ok(Rotator::new(store, Drivers::new(config), config))
}

/// Runs one step inside a span that carries the secret id, the step and the token (never the `RotationToken`),
/// and logs the outcome or the error — the one place an error is logged.
pub async fn handle<S: SecretStore, E: DbEngine>(
    rotator: &Rotator<S, E>,
    event: &RotationEvent,
) -> Result<Outcome, Error> {
    let span = info_span!("rotation", secret_id = %event.secret_id, step = %event.step, token = %event.token);
    async {
        let started = Instant::now();
        // Boxed: the step's future nests the SDK's and the drivers' deeply, and inlined into lambda_runtime's
        // service future it overflows the compiler's layout depth in release builds.
        let result = Box::pin(rotator.run(event)).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
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
        result
    }
    .instrument(span)
    .await
}

/// The Lambda entry: the payload is taken as raw JSON and parsed here, so a bad event gets the same clear error
/// as on the command line rather than a serde message.
pub async fn lambda_handler<S: SecretStore, E: DbEngine>(
    rotator: &Rotator<S, E>,
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
    handle(rotator, &event).await.map(drop).map_err(Diagnostic::from)
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Diagnostic {
        Diagnostic { error_type: err.error_type().to_owned(), error_message: err.to_string() }
    }
}
