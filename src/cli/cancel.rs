//! `rds-rotator cancel SECRET_ID [--force]`: ends a rotation left in progress (`rotation/cancel.rs`) and says which
//! way: the rotation completed, because the database already accepts the pending password, or `AWSPENDING` removed.
//! A pending version younger than `STUCK_AFTER` may belong to a step still running, which could set its password
//! after the label is gone: refused unless `--force`.

use super::CliError;
use super::out::Out;
use crate::app::Parts;
use crate::domain::Timestamp;
use crate::fleet::status::{STUCK_AFTER, pending_version};
use crate::logging::{self, LogSettings};
use crate::store::catalog::SecretCatalog;

pub(super) async fn run(secret_id: &str, force: bool) -> Result<(), CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let parts = Parts::new(&config).await?;
    let catalog = parts.catalog();
    if !force {
        let listed = catalog.describe_listed(secret_id).await?;
        if let Some(version) = pending_version(&listed) {
            let since = catalog.version_created(secret_id, version).await?;
            let now = Timestamp::now();
            if since.is_none_or(|since| since.plus(STUCK_AFTER) > now) {
                let age =
                    since.map_or("of unknown age".to_owned(), |t| format!("made {} s ago", now.unix() - t.unix()));
                return Err(CliError::Refused(
                    "RotationMayBeRunning",
                    format!(
                        "the pending version {version} is {age}: a rotation step may still be running, and could set its \
                     password after the label is gone. Wait {} minutes from its start, or give --force if no step \
                     is running (Secrets Manager's console or the function's logs say)",
                        STUCK_AFTER.as_secs() / 60
                    ),
                ));
            }
        }
    }
    let outcome = parts.rotator().cancel(secret_id).await?;
    let _ = writeln!(Out::stdout(), "cancel {secret_id}: {outcome}");
    Ok(())
}
