//! The server certificate's dates, for `status --verify` and `check`: an expiring RDS CA has taken whole fleets down,
//! and the drivers do not show the certificates they verified. So this opens a connection of its own, as far as the
//! TLS handshake and no further — PostgreSQL's `SSLRequest`, or the MySQL protocol's greeting and SSL request —
//! verifies the chain with the function's own verified-TLS configuration (the same trust as every login), reads the
//! dates, and hangs up. No credential is sent.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::CertificateDates;
use crate::domain::{Family, Target};
use crate::tls::{self, Tls};

/// The dates of the certificate `at` presents, and of the CA it chains to; `Err` says why they could not be read
/// (no TLS offered, a certificate that does not verify, no answer).
pub(super) async fn probe(at: &Target, tls: &Tls, timeout: Duration) -> Result<CertificateDates, String> {
    match tokio::time::timeout(timeout, handshake(at, tls)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no TLS handshake within {} ms (CONNECT_TIMEOUT_SECONDS)", timeout.as_millis())),
    }
}

async fn handshake(at: &Target, tls: &Tls) -> Result<CertificateDates, String> {
    let config = tls.client_config(true)?;
    let name = ServerName::try_from(at.server_name().to_owned())
        .map_err(|_| format!("{} is not a name a certificate can be checked against", at.server_name()))?;
    let mut stream = TcpStream::connect((at.host.as_str(), at.port))
        .await
        .map_err(|err| format!("cannot connect to {at}: {err}"))?;
    match at.engine.family() {
        Family::Postgres => postgres_ssl_request(&mut stream).await?,
        Family::Mysql => mysql_ssl_request(&mut stream).await?,
    }
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

/// PostgreSQL: `SSLRequest`, answered `S` when the server speaks TLS.
async fn postgres_ssl_request(stream: &mut TcpStream) -> Result<(), String> {
    stream.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await.map_err(|err| err.to_string())?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).await.map_err(|err| err.to_string())?;
    match answer[0] {
        b'S' => Ok(()),
        _ => Err("the server offers no TLS".to_owned()),
    }
}

/// The MySQL protocol: the server's greeting, then an SSL request packet (capabilities with CLIENT_SSL) as the
/// client's second packet; the handshake follows at once.
async fn mysql_ssl_request(stream: &mut TcpStream) -> Result<(), String> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.map_err(|err| err.to_string())?;
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut greeting = vec![0u8; length];
    stream.read_exact(&mut greeting).await.map_err(|err| err.to_string())?;
    if greeting.first() == Some(&0xff) {
        return Err("the server refused the connection (an error packet instead of its greeting)".to_owned());
    }
    // The lower capability flags follow the protocol version, the version string, the thread id, 8 bytes of
    // scramble and a filler byte.
    let version_end = greeting.iter().skip(1).position(|b| *b == 0).map(|i| i + 2);
    let capabilities =
        version_end.and_then(|at| greeting.get(at + 13..at + 15)).map(|flags| u16::from_le_bytes([flags[0], flags[1]]));
    const CLIENT_SSL: u16 = 0x0800;
    if capabilities.is_none_or(|flags| flags & CLIENT_SSL == 0) {
        return Err("the server offers no TLS".to_owned());
    }
    // CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION; 16 MB packets; utf8mb4.
    let flags: u32 = 0x0001 | 0x0200 | 0x0800 | 0x8000;
    let mut packet = vec![32, 0, 0, 1];
    packet.extend_from_slice(&flags.to_le_bytes());
    packet.extend_from_slice(&(16u32 << 20).to_le_bytes());
    packet.push(45);
    packet.extend_from_slice(&[0; 23]);
    stream.write_all(&packet).await.map_err(|err| err.to_string())
}
