//! Where a login goes: the database endpoint, and who decides how the login uses TLS.

use std::fmt;

use super::EngineKind;

/// Where the database is, and who decides how a login there uses TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub engine: EngineKind,
    pub host: String,
    pub port: u16,
    /// The database to connect to; `None` means the engine's default.
    pub dbname: Option<String>,
    /// An application login's TLS follows the secret's `ssl` key within the operator's floor; a master login's
    /// follows the operator's setting alone.
    pub tls: TlsChoice,
}

/// Who decides how one login uses TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsChoice {
    /// An application user's login: the rotated secret's `ssl` key (`None`: absent), raised to `DB_TLS_MINIMUM`.
    Secret(Option<bool>),
    /// The master user's login (alternating users): `MASTER_TLS_MODE`, which no secret can lower; the master
    /// secret's own `ssl: true` (here `verified`) can only raise it to verified TLS.
    Master { verified: bool },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
