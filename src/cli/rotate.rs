//! `rds-rotator rotate SECRET_ID`: a whole rotation without Lambda, this binary playing Secrets Manager.
//!
//! Secrets Manager's `RotateSecret` stages a new, empty version labelled `AWSPENDING`, then invokes the function once
//! per step. No public API creates an empty version, so `Staged` shows the protocol core that version until
//! createSecret's `PutSecretValue` creates it for real; every other call goes to Secrets Manager unchanged, and the
//! four steps run through the same `handler::handle` as in Lambda. Like `RotateSecret`, it rotates a secret whose
//! rotation is not switched on, and it resumes a rotation left pending rather than starting a second one. Where the
//! service refuses to let it fill a version the service staged (that write may take the rotation's `RotationToken`,
//! which only the function receives), it says to `cancel` that version, from which nothing was set.

use std::io::Write;

use secrecy::ExposeSecret;

use super::CliError;
use super::out::Out;
use crate::app::Parts;
use crate::domain::{AWSPENDING, Step, VersionId};
use crate::event::{EventError, RotationEvent};
use crate::handler;
use crate::logging::{self, LogSettings};
use crate::rotation::{Error, ErrorKind};
use crate::secret::DbSecret;
use crate::store::{Decorated, Decoration, Fetched, SecretMeta, SecretStore, StoreErrorKind, Version, in_progress};

/// Shows `token` as staged `AWSPENDING` until the version exists, and rotation switched on, as `RotateSecret` leaves
/// a secret; every call goes to Secrets Manager unchanged.
struct Staged {
    token: VersionId,
}

impl Decoration for Staged {
    fn described(&self, mut meta: SecretMeta) -> SecretMeta {
        if !meta.versions.contains_key(self.token.as_str()) {
            meta.versions.insert(self.token.to_string(), vec![AWSPENDING.to_owned()]);
        }
        // RotateSecret switches rotation on; so does this stand-in for it.
        meta.rotation_enabled = Some(true);
        meta
    }
}

pub(super) async fn run(secret_id: &str) -> Result<(), CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let parts = Parts::new(&config).await?;
    let store = &parts.store;
    let mut out = Out::stdout();
    let before = store.describe(secret_id).await?;
    // A version RotateSecret staged and createSecret never filled is the service's rotation's: writing it may take
    // the RotationToken the service gave that rotation, which only its function receives.
    let mut unfilled = false;
    let token = match in_progress(&before.versions) {
        Some(pending) => {
            let token = VersionId::new(pending).ok_or_else(|| EventError::BadToken(pending.to_owned()))?;
            unfilled = matches!(store.get(secret_id, Version::Pending(&token)).await?, Fetched::Missing);
            let _ = writeln!(out, "resuming the rotation of pending version {pending}");
            token
        }
        None => VersionId::random(),
    };
    if let Fetched::Text(text, _) = store.get(secret_id, Version::Current).await? {
        // Best effort, for the header only: a malformed secret is reported by createSecret with its reason.
        if let Ok(current) = DbSecret::parse(text.expose_secret(), &config.rotation.secrets) {
            let (target, user) = (current.target(), current.username());
            let _ = writeln!(out, "secret {secret_id}: {} user {user} at {target}", target.engine);
        }
    }
    write_versions(&mut out, "before", &before);
    // The deployed rotator (app.rs), on the staging store.
    let rotator = parts.rotator_on(|store| Decorated { inner: store, decoration: Staged { token: token.clone() } });
    for step in Step::ALL {
        let event = RotationEvent { step, secret_id: secret_id.to_owned(), token: token.clone(), rotation_token: None };
        let outcome = match handler::handle(&rotator, &event).await {
            Ok(outcome) => outcome,
            Err(err) if unfilled && step == Step::Create && access_denied(&err) => {
                return Err(CliError::Refused(
                    "RotationInProgress",
                    format!(
                        "secret {secret_id}: the pending version {token} is a rotation Secrets Manager started, and \
                         the service refused this binary's write to it ({err}): writing it takes the rotation's \
                         RotationToken, which only its function receives. Nothing was set from it: run `rds-rotator \
                         cancel {secret_id}` to remove it, then rotate again"
                    ),
                ));
            }
            Err(err) => return Err(err.into()),
        };
        let _ = writeln!(out, "  {:<13} {outcome}", step.as_str());
    }
    let after = rotator.store().inner.describe(secret_id).await?;
    write_versions(&mut out, "after", &after);
    Ok(())
}

/// Whether the service refused a write for want of access (the rotation's RotationToken, for a version it staged).
fn access_denied(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Store(err) if err.kind == StoreErrorKind::AccessDenied)
}

fn write_versions(out: &mut Out<impl Write>, when: &str, meta: &SecretMeta) {
    let _ = writeln!(out, "versions {when}:");
    let mut labelled: Vec<_> = meta.versions.iter().filter(|(_, labels)| !labels.is_empty()).collect();
    labelled.sort_by_key(|(_, labels)| labels.iter().map(|l| l.as_str()).min().unwrap_or_default().to_owned());
    for (id, labels) in labelled {
        let _ = writeln!(out, "  {id}  {}", labels.join(", "));
    }
}
