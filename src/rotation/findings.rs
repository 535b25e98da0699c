//! What setSecret's plan finds and would change, in lines for an operator (`check` prints them): each about one
//! check a rotation meets, ok or worth a note.

use std::fmt;

/// What one line of the report is about, in the order a rotation meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    SecretsManager,
    Rotation,
    Secret,
    Passwords,
    Endpoint,
    MasterSecret,
    Database,
    PasswordChange,
    Alternate,
    Certificate,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::SecretsManager => "Secrets Manager",
            Check::Rotation => "rotation",
            Check::Secret => "secret",
            Check::Passwords => "passwords",
            Check::Endpoint => "endpoint",
            Check::MasterSecret => "master secret",
            Check::Database => "database",
            Check::PasswordChange => "password change",
            Check::Alternate => "alternate",
            Check::Certificate => "certificate",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the preflight found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    /// Worth knowing, not a failure (rotation not switched on yet, a rotation left pending).
    pub note: bool,
    pub detail: String,
}

impl Finding {
    pub(in crate::rotation) fn ok(check: Check, detail: impl Into<String>) -> Finding {
        Finding { check, note: false, detail: detail.into() }
    }

    pub(in crate::rotation) fn note(check: Check, detail: impl Into<String>) -> Finding {
        Finding { check, note: true, detail: detail.into() }
    }
}
