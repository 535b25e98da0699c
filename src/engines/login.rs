//! How one login uses TLS, whichever the engine: the transport each mode allows, and the one fallback `prefer` has.

use std::future::Future;

use tracing::warn;

use super::{EngineError, EngineErrorKind, LoginOutcome};
use crate::domain::Target;
use crate::tls::TlsMode;

/// How one login attempt reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Plain,
    /// TLS with the certificate verified against the trusted CAs and the host name.
    Verified,
    /// TLS without certificate checks (`DB_TLS_MODE=require`).
    EncryptOnly,
}

/// Logs in as the TLS mode says, through `connect`. Only `prefer` ever falls back to plaintext, only when the
/// server offers no TLS, and never without a warning; a certificate that fails is an error in every mode.
pub(super) async fn login_per_mode<S, F, Fut>(
    mode: TlsMode,
    at: &Target,
    connect: F,
) -> Result<LoginOutcome<S>, EngineError>
where
    F: Fn(Transport) -> Fut,
    Fut: Future<Output = Result<LoginOutcome<S>, EngineError>>,
{
    match mode {
        TlsMode::VerifyFull => connect(Transport::Verified).await,
        TlsMode::Require => connect(Transport::EncryptOnly).await,
        TlsMode::Disable => connect(Transport::Plain).await,
        TlsMode::Prefer => match connect(Transport::Verified).await {
            Err(err) if err.kind == EngineErrorKind::TlsNotOffered => {
                warn!(host = %at, "the server offers no TLS; DB_TLS_MODE=prefer allows plaintext, so this login goes without it");
                connect(Transport::Plain).await
            }
            other => other,
        },
    }
}

/// The message for a plaintext login the server refuses because it demands TLS.
pub(super) const TLS_DEMANDED: &str = "the server requires TLS for this login, and TLS is off here \
                            (the secret's \"ssl\" is false, or DB_TLS_MODE or MASTER_TLS_MODE is disable)";
