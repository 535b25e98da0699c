//! Where a login goes: the database endpoint, the name its certificate must carry, and who decides how the login uses
//! TLS.

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
    /// The DNS name the server's certificate must carry, when `host` is an alias (a CNAME) of the endpoint the
    /// certificate was issued for: the secret's own `tlsServerName`. `None`: the host itself. It belongs to the host
    /// it was given with, so a target moved to another endpoint (one the RDS API names, or the master's) takes that
    /// endpoint's name, never this one. It changes only which name a TLS handshake sends and verified TLS checks;
    /// whether a login uses TLS, and whether it verifies, stays `tls`'s.
    pub tls_server_name: Option<String>,
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

impl Target {
    /// The name a TLS handshake with this target sends (SNI) and, under verified TLS, checks the server's
    /// certificate against: `tls_server_name`, else the host.
    pub fn server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.host)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The host may come from the RDS API or a server as well as from a secret: shown as data.
        write!(f, "{}:{}", super::shown(&self.host), self.port)
    }
}
