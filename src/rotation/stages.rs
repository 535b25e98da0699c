//! The checks Secrets Manager's protocol asks for before every step, on the labels `DescribeSecret` returned.
//! Pure: no I/O, so every case is a table row in the tests below.

use crate::domain::{AWSCURRENT, AWSPENDING, VersionId};
use crate::store::SecretMeta;
/// What the step should do, given the labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageCheck {
    /// The token is the pending version: run the step.
    Proceed,
    /// The token already is `AWSCURRENT`: the rotation is done; succeed without touching anything, except that
    /// `pending_left` says `AWSPENDING` still sits on it (a finishSecret that stopped half-way) and should go.
    AlreadyCurrent { pending_left: bool },
}

/// Why the step must not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum StageError {
    #[error("rotation is not enabled for this secret")]
    RotationDisabled,
    #[error("ClientRequestToken {0} is not a version of this secret")]
    UnknownVersion(VersionId),
    #[error("version {token} is not staged AWSPENDING (its labels: {labels}); another rotation may have replaced it")]
    NotPending { token: VersionId, labels: String },
}

/// The stage checks every step starts with, in the order of AWS's reference templates (docs/design.md, "How it
/// works").
pub(crate) fn check(meta: &SecretMeta, token: &VersionId) -> Result<StageCheck, StageError> {
    // Some emulators omit RotationEnabled until rotation is configured; only an explicit false stops us.
    if meta.rotation_enabled == Some(false) {
        return Err(StageError::RotationDisabled);
    }
    let Some(labels) = meta.versions.get(token.as_str()) else {
        return Err(StageError::UnknownVersion(token.clone()));
    };
    let has = |label: &str| labels.iter().any(|l| l == label);
    if has(AWSCURRENT) {
        return Ok(StageCheck::AlreadyCurrent { pending_left: has(AWSPENDING) });
    }
    if !has(AWSPENDING) {
        let labels = if labels.is_empty() { "none".to_owned() } else { labels.join(", ") };
        return Err(StageError::NotPending { token: token.clone(), labels });
    }
    Ok(StageCheck::Proceed)
}

/// The version that carries `AWSCURRENT`, if any.
pub(crate) fn current_version(meta: &SecretMeta) -> Option<&str> {
    meta.versions.iter().find(|(_, labels)| labels.iter().any(|l| l == AWSCURRENT)).map(|(id, _)| id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(enabled: Option<bool>, versions: &[(&str, &[&str])]) -> SecretMeta {
        SecretMeta {
            tags: Default::default(),
            rotation_enabled: enabled,
            versions: versions
                .iter()
                .map(|(id, labels)| (id.to_string(), labels.iter().map(|l| l.to_string()).collect()))
                .collect(),
        }
    }

    fn check_case(enabled: Option<bool>, versions: &[(&str, &[&str])], expected: Result<StageCheck, StageError>) {
        let token = VersionId::new("tok").unwrap();
        assert_eq!(check(&meta(enabled, versions), &token), expected, "{enabled:?} {versions:?}");
    }

    #[test]
    fn stage_checks() {
        let token = || VersionId::new("tok").unwrap();
        let staged: &[(&str, &[&str])] = &[("old", &["AWSCURRENT"]), ("tok", &["AWSPENDING"])];
        check_case(Some(true), staged, Ok(StageCheck::Proceed));
        check_case(None, staged, Ok(StageCheck::Proceed));
        check_case(Some(false), staged, Err(StageError::RotationDisabled));
        check_case(Some(true), &[("old", &["AWSCURRENT"])], Err(StageError::UnknownVersion(token())));
        check_case(
            Some(true),
            &[("old", &["AWSPREVIOUS"]), ("tok", &["AWSCURRENT"])],
            Ok(StageCheck::AlreadyCurrent { pending_left: false }),
        );
        check_case(
            Some(true),
            &[("old", &["AWSPREVIOUS"]), ("tok", &["AWSCURRENT", "AWSPENDING"])],
            Ok(StageCheck::AlreadyCurrent { pending_left: true }),
        );
        check_case(
            Some(true),
            &[("old", &["AWSCURRENT"]), ("tok", &[])],
            Err(StageError::NotPending { token: token(), labels: "none".into() }),
        );
        check_case(
            Some(true),
            &[("old", &["AWSCURRENT"]), ("tok", &["AWSPREVIOUS"])],
            Err(StageError::NotPending { token: token(), labels: "AWSPREVIOUS".into() }),
        );
    }

    #[test]
    fn finds_the_current_version() {
        let m = meta(None, &[("a", &["AWSPREVIOUS"]), ("b", &["AWSCURRENT"]), ("c", &["AWSPENDING"])]);
        assert_eq!(current_version(&m), Some("b"));
        assert_eq!(current_version(&meta(None, &[("c", &["AWSPENDING"])])), None);
    }
}
