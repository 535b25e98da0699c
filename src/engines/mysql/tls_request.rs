//! How a MySQL-protocol connection asks for TLS before any credential (the greeting, then an SSL request), for the
//! certificate probe, and the driver's registration (`engines/drivers.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::MysqlEngine;
use crate::engines::certificate::TlsRequest;
use crate::engines::drivers::Driver;
use crate::tls::Tls;

impl Driver for MysqlEngine {
    fn new(connect_timeout: Duration, statement_timeout: Duration, tls: Arc<Tls>) -> MysqlEngine {
        MysqlEngine { connect_timeout, statement_timeout, tls }
    }
}

impl TlsRequest for MysqlEngine {
    async fn tls_request(stream: &mut TcpStream) -> Result<(), String> {
        ssl_request(stream).await
    }
}

/// The MySQL protocol: the server's greeting, then an SSL request packet (capabilities with CLIENT_SSL) as the
/// client's second packet; the handshake follows at once.
pub(super) async fn ssl_request(stream: &mut TcpStream) -> Result<(), String> {
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
