//! The server certificate's dates, for `status --verify` and `check`: an expiring RDS CA has taken whole fleets down,
//! and the drivers do not show the certificates they verified. So this opens a connection of its own, as far as the
//! TLS handshake and no further — the request each engine's protocol makes for TLS (`TlsRequest`, in its folder) —
//! verifies the chain with the function's own verified-TLS configuration (the same trust as every login), reads the
//! dates, and hangs up. No credential is sent.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::CertificateDates;
use crate::domain::Target;
use crate::tls::{self, Tls};

/// How a connection of an engine's protocol asks for TLS before any credential; each engine's folder gives it
/// (`tls_request.rs`).
pub(super) trait TlsRequest {
    /// Asks the server on `stream` to start TLS (PostgreSQL's `SSLRequest`, the MySQL protocol's SSL request);
    /// `Err` when it offers none. Sends no credential.
    fn tls_request(stream: &mut TcpStream) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// The dates of the certificate `at` presents, and of the CA it chains to; `Err` says why they could not be read
/// (no TLS offered, a certificate that does not verify, no answer).
pub(super) async fn probe<D: TlsRequest>(
    at: &Target,
    tls: &Tls,
    timeout: Duration,
) -> Result<CertificateDates, String> {
    match tokio::time::timeout(timeout, handshake::<D>(at, tls)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no TLS handshake within {} ms (CONNECT_TIMEOUT_SECONDS)", timeout.as_millis())),
    }
}

async fn handshake<D: TlsRequest>(at: &Target, tls: &Tls) -> Result<CertificateDates, String> {
    let config = tls.client_config(true)?;
    let name = ServerName::try_from(at.server_name().to_owned())
        .map_err(|_| format!("{} is not a name a certificate can be checked against", at.server_name()))?;
    let mut stream = TcpStream::connect((at.host.as_str(), at.port))
        .await
        .map_err(|err| format!("cannot connect to {at}: {err}"))?;
    D::tls_request(&mut stream).await?;
    let connector = TlsConnector::from(Arc::<rustls::ClientConfig>::clone(&config));
    let mut stream = connector.connect(name, stream).await.map_err(|err| {
        tls::explain(&err, tls, at).unwrap_or_else(|| format!("the TLS handshake with {at} failed: {err}"))
    })?;
    let (_, connection) = stream.get_ref();
    let chain = connection.peer_certificates().unwrap_or_default();
    let dates = tls::chain_dates(chain, tls).ok_or_else(|| "the server's certificate has no readable dates".to_owned());
    let _ = stream.shutdown().await;
    dates
}
