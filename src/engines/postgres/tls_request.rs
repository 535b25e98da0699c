//! How a PostgreSQL connection asks for TLS before anything else (`SSLRequest`), for the certificate probe, and the
//! driver's registration (`engines/drivers.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::PostgresEngine;
use crate::engines::certificate::TlsRequest;
use crate::engines::drivers::Driver;
use crate::tls::Tls;

impl Driver for PostgresEngine {
    fn new(connect_timeout: Duration, statement_timeout: Duration, tls: Arc<Tls>) -> PostgresEngine {
        PostgresEngine { connect_timeout, statement_timeout, tls }
    }
}

impl TlsRequest for PostgresEngine {
    async fn tls_request(stream: &mut TcpStream) -> Result<(), String> {
        ssl_request(stream).await
    }
}

/// PostgreSQL: `SSLRequest`, answered `S` when the server speaks TLS.
pub(super) async fn ssl_request(stream: &mut TcpStream) -> Result<(), String> {
    stream.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await.map_err(|err| err.to_string())?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).await.map_err(|err| err.to_string())?;
    match answer[0] {
        b'S' => Ok(()),
        _ => Err("the server offers no TLS".to_owned()),
    }
}
