//! `rds-rotator cancel SECRET_ID`: ends a rotation left in progress (`rotation/cancel.rs`) and says which way: the
//! rotation completed, because the database already accepts the pending password, or `AWSPENDING` removed.

use std::io::Write;

use super::CliError;
use crate::app::Parts;
use crate::logging::{self, LogSettings};

pub(super) async fn run(secret_id: &str) -> Result<(), CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let rotator = Parts::new(&config).await?.rotator();
    let outcome = rotator.cancel(secret_id).await?;
    let _ = writeln!(std::io::stdout().lock(), "cancel {secret_id}: {outcome}");
    Ok(())
}
