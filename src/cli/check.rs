//! `rds-rotator check SECRET_ID`: prints the preflight (`rotation/preflight.rs`), a dry run of the rotation's own
//! code that changes nothing, and stops at the first thing a rotation would fail on, saying what to fix.

use std::io::Write;

use super::CliError;
use super::out::Out;
use crate::app::Parts;
use crate::logging::{self, LogSettings};
use crate::rotation::preflight::Report;

/// Runs the preflight; `Ok(false)` when a rotation would fail (exit status 1), `Err` when the settings themselves
/// are unusable.
pub(super) async fn run(secret_id: &str) -> Result<bool, CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let rotator = Parts::new(&config).await?.rotator();
    let report = rotator.preflight(secret_id).await;
    let _ = print(&mut Out::stdout(), secret_id, &report);
    Ok(report.passed())
}

/// The report, one line per finding; a failure with its error type (the one the rotation would report) and a fix.
fn print(out: &mut Out<impl Write>, secret_id: &str, report: &Report) -> std::io::Result<()> {
    writeln!(out, "check {secret_id}")?;
    for finding in &report.findings {
        let status = if finding.note { "note" } else { "ok" };
        writeln!(out, "  {status:<5} {:<16} {}", finding.check.as_str(), finding.detail)?;
    }
    match &report.failure {
        None => writeln!(out, "passed: the secret can be rotated"),
        Some(failure) => {
            let (check, error) = (failure.check.as_str(), &failure.error);
            writeln!(out, "  FAIL  {check:<16} {} [{}]", error.message(), error.error_type())?;
            writeln!(out, "        {:<16} fix: {}", "", failure.fix())?;
            writeln!(out, "failed: fix the above, then check again")
        }
    }
}
