//! `rds-rotator attach SECRET… --function ARN --schedule EXPR`: switches rotation on for the secrets whose preflight
//! passes (`fleet/attach.rs`), lists the others with the first problem found and what to fix, and ends with a
//! summary. Exit status 1 unless every secret was attached.

use futures_util::StreamExt;

use super::CliError;
use super::out::Out;
use crate::app::Parts;
use crate::fleet::Fleet;
use crate::fleet::attach::AttachOutcome;
use crate::logging::{self, LogSettings};
use crate::store::catalog::Attach;

/// `Ok(true)`: every secret was attached.
pub(super) async fn run(secrets: &[String], attach: &Attach) -> Result<bool, CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let parts = Parts::new(&config).await?;
    let catalog = parts.catalog();
    let rotator = parts.rotator();
    let fleet = Fleet { catalog: &catalog, rotator: &rotator };
    let mut out = Out::stdout();
    let schedule = attach.rules.describe().unwrap_or_default();
    let now = if attach.rotate_now { "rotating now" } else { "first rotation on schedule" };
    let _ = writeln!(out, "attach {} secret(s) to {} ({schedule}, {now})", secrets.len(), attach.function);
    let (mut attached, mut repeated) = (0, 0);
    let mut outcomes = std::pin::pin!(fleet.attach_each(secrets, attach));
    while let Some((secret, outcome)) = outcomes.next().await {
        let _ = match &outcome {
            AttachOutcome::Attached { replaced: None } => writeln!(out, "  attached  {secret}"),
            AttachOutcome::Attached { replaced: Some(previous) } => {
                writeln!(out, "  attached  {secret} (it was rotated by {previous} until now)")
            }
            AttachOutcome::Refused(failure) => {
                let (check, error, error_type) = (failure.check, failure.error.message(), failure.error.error_type());
                let _ = writeln!(out, "  refused   {secret}: {check}: {error} [{error_type}]");
                writeln!(out, "            fix: {}", failure.fix())
            }
            AttachOutcome::InProgress { version } => {
                let _ =
                    writeln!(out, "  refused   {secret}: a rotation is in progress (version {version} is AWSPENDING)");
                writeln!(out, "            fix: let it finish, or end it with rds-rotator cancel {secret}")
            }
            AttachOutcome::Repeated => {
                writeln!(out, "  repeated  {secret}: the same secret as another operand, handled there")
            }
            AttachOutcome::Failed(err) => writeln!(out, "  failed    {secret}: {err}"),
        };
        attached += usize::from(outcome.attached());
        repeated += usize::from(matches!(outcome, AttachOutcome::Repeated));
    }
    let left = secrets.len() - repeated - attached;
    let _ = if left == 0 {
        writeln!(out, "attached all {attached}")
    } else {
        writeln!(
            out,
            "attached {attached} of {}; {left} left as they were: fix them and attach again",
            secrets.len() - repeated
        )
    };
    Ok(left == 0)
}
