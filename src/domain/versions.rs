//! The rotation protocol's names: its steps, version ids and labels, the token that proves a call comes from a
//! rotation, and the two strategies.

use std::fmt;

/// The label of the version applications use.
pub(crate) const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the version a rotation is creating.
pub(crate) const AWSPENDING: &str = "AWSPENDING";
/// The label Secrets Manager moves to the version AWSCURRENT leaves.
pub(crate) const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// One of the four steps of the rotation protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

/// `ClientRequestToken`: the id of the secret version this rotation creates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionId(String);

/// `RotationToken`: proof that a call comes from this rotation. Sensitive: it has no `Display`, its `Debug` is
/// redacted, and it is only ever handed to `PutSecretValue`.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationToken(String);

/// How a secret is rotated: its user changes its own password, or (a `masterarn` key) the secret alternates between
/// two users that a master user manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    SingleUser,
    AlternatingUsers,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

    /// The name Secrets Manager uses in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }

    /// The step Secrets Manager names `name`; `None` for any other name.
    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VersionId {
    /// A version id: 1 to 64 printable ASCII characters, as Secrets Manager's are; `None` for anything else.
    pub fn new(id: &str) -> Option<VersionId> {
        let printable = id.bytes().all(|b| b.is_ascii_graphic());
        (!id.is_empty() && id.len() <= 64 && printable).then(|| VersionId(id.to_owned()))
    }

    /// A new random (version 4) UUID, the form Secrets Manager gives version ids.
    pub fn random() -> VersionId {
        let mut bytes: [u8; 16] = rand::random();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        VersionId(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RotationToken {
    pub fn new(token: String) -> RotationToken {
        RotationToken(token)
    }

    /// The token itself, for `PutSecretValue` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RotationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationToken([REDACTED])")
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_version_ids_look_like_uuids() {
        let id = VersionId::random();
        let text = id.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(VersionId::new(text).is_some());
        assert_ne!(id, VersionId::random());
    }
}
