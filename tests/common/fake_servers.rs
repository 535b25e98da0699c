//! Database servers that play the attacker, where a real server cannot misbehave the way a hostile one would: they
//! take one connection on loopback, speak just enough of the protocol to ask for what an attacker wants, and keep
//! every byte the client sent, for the test to look for a password in.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fake server: where it listens, and what its client sent.
pub struct Fake {
    pub port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    /// Everything the client sent, once the server is done with it.
    pub fn received(mut self) -> Vec<u8> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.received.lock().unwrap().clone()
    }
}

fn serve(play: impl FnOnce(TcpStream, &Mutex<Vec<u8>>) + Send + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Arc<Mutex<Vec<u8>>> = Arc::default();
    let kept = received.clone();
    // A client that never connects (refused before it did) leaves the server waiting 10 s at most.
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                    play(stream, &kept);
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    Fake { port, received, thread: Some(thread) }
}

/// Reads whatever arrives until the client stops sending for a moment or closes.
fn drain(stream: &mut impl Read, into: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
        }
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A PostgreSQL server that asks for the password in cleartext (`AuthenticationCleartextPassword`), over TLS with
/// `tls` (a certificate the client cannot verify, for unverified TLS) or in plaintext.
pub fn pg_asking_cleartext(tls: Option<Arc<rustls::ServerConfig>>) -> Fake {
    serve(move |mut stream, received| {
        let mut startup = read_startup(&mut stream);
        if is_ssl_request(&startup) {
            match tls {
                Some(config) => {
                    stream.write_all(b"S").unwrap();
                    let connection = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    let _ = read_startup(&mut tls);
                    tls.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).unwrap();
                    tls.flush().unwrap();
                    drain(&mut tls, received);
                    return;
                }
                None => {
                    stream.write_all(b"N").unwrap();
                    startup = read_startup(&mut stream);
                }
            }
        }
        received.lock().unwrap().extend_from_slice(&startup);
        stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).unwrap();
        drain(&mut stream, received);
    })
}

fn read_startup(stream: &mut impl Read) -> Vec<u8> {
    let mut length = [0u8; 4];
    if stream.read_exact(&mut length).is_err() {
        return Vec::new();
    }
    let length = u32::from_be_bytes(length) as usize;
    let mut body = vec![0u8; length.saturating_sub(4).min(10_000)];
    let _ = stream.read_exact(&mut body);
    body
}

fn is_ssl_request(startup: &[u8]) -> bool {
    startup == 80877103u32.to_be_bytes()
}

/// A rustls server configuration with the local servers' certificate: valid for "localhost", from the local CA.
pub fn local_tls() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = format!("{}/tls", super::env("LOCAL_SERVERS_DIR"));
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/server.pem")).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// A server that takes a TLS handshake as a PostgreSQL server (after `SSLRequest`) or a MySQL one (after a
/// greeting that offers TLS and the client's `SSLRequest` packet) does, with the local servers' certificate, and
/// keeps the name the client's hello sent (SNI) as what it received — nothing when it sent none. Then it hangs up.
pub fn tls_hello(mysql: bool) -> Fake {
    serve(move |mut stream, received| {
        if mysql {
            // The lower capability flags follow the protocol byte, the version, the thread id and the first scramble.
            let mut greeting = handshake();
            let at = 1 + b"8.0.36-fake\0".len() + 4 + b"abcdefgh\0".len();
            let capabilities = u16::from_le_bytes([greeting[at], greeting[at + 1]]) | 0x0800;
            greeting[at..at + 2].copy_from_slice(&capabilities.to_le_bytes());
            write_packet(&mut stream, 0, &greeting);
            if read_packet(&mut stream).is_none() {
                return;
            }
        } else {
            if !is_ssl_request(&read_startup(&mut stream)) {
                return;
            }
            stream.write_all(b"S").unwrap();
        }
        let mut connection = rustls::ServerConnection::new(local_tls()).unwrap();
        while connection.is_handshaking() {
            if connection.complete_io(&mut stream).is_err() {
                break;
            }
        }
        received.lock().unwrap().extend_from_slice(connection.server_name().unwrap_or_default().as_bytes());
    })
}

// ---------------------------------------------------------------- MySQL

/// What the fake MySQL server does after the client's handshake response.
#[derive(Clone, Copy)]
pub enum MyScript {
    /// caching_sha2_password's "perform full authentication": the password itself, or encrypted to a key the server
    /// sends (this one sends a key that is no key, which makes mysql_async panic where it reaches it).
    FullAuthentication,
    /// Authentication succeeds; every query is answered with a one-column row, whatever it asked for.
    OddRows,
    /// As `FullAuthentication`, after a handshake whose protocol byte is 0 (mysql_async does not check it).
    ProtocolZero,
}

/// A MySQL 8 server offering caching_sha2_password, playing `script`.
pub fn mysql(script: MyScript) -> Fake {
    serve(move |mut stream, received| {
        let mut greeting = handshake();
        if matches!(script, MyScript::ProtocolZero) {
            greeting[0] = 0;
        }
        write_packet(&mut stream, 0, &greeting);
        let Some((_, response)) = read_packet(&mut stream) else { return };
        received.lock().unwrap().extend_from_slice(&response);
        match script {
            MyScript::FullAuthentication | MyScript::ProtocolZero => {
                write_packet(&mut stream, 2, &[0x01, 0x04]);
                // A client that answered (the password, or 0x02 for the key) gets a key that is no key.
                if let Some((_, answer)) = read_packet(&mut stream) {
                    received.lock().unwrap().extend_from_slice(&answer);
                    write_packet(
                        &mut stream,
                        4,
                        b"\x01-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
                    );
                }
                drain(&mut stream, received);
            }
            MyScript::OddRows => {
                write_packet(&mut stream, 2, &ok_packet());
                while let Some((_, command)) = read_packet(&mut stream) {
                    received.lock().unwrap().extend_from_slice(&command);
                    match command.first() {
                        Some(0x03) if command[1..].starts_with(b"SET") => write_packet(&mut stream, 1, &ok_packet()),
                        Some(0x03) => write_one_column_row(&mut stream),
                        Some(0x01) | None => return,
                        Some(_) => write_packet(&mut stream, 1, &ok_packet()),
                    }
                }
            }
        }
    })
}

fn handshake() -> Vec<u8> {
    // Everything mysql_async may want but TLS, compression and the end-of-result OK packet.
    let capabilities: u32 = 0x00ff_ffff & !0x0800 & !0x0020;
    let mut packet = vec![10];
    packet.extend_from_slice(b"8.0.36-fake\0");
    packet.extend_from_slice(&7u32.to_le_bytes());
    packet.extend_from_slice(b"abcdefgh\0");
    packet.extend_from_slice(&(capabilities as u16).to_le_bytes());
    packet.push(0xff);
    packet.extend_from_slice(&2u16.to_le_bytes());
    packet.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    packet.push(21);
    packet.extend_from_slice(&[0; 10]);
    packet.extend_from_slice(b"ijklmnopqrst\0");
    packet.extend_from_slice(b"caching_sha2_password\0");
    packet
}

fn ok_packet() -> Vec<u8> {
    vec![0x00, 0, 0, 2, 0, 0, 0]
}

fn eof_packet() -> Vec<u8> {
    vec![0xfe, 0, 0, 2, 0]
}

fn write_one_column_row(stream: &mut TcpStream) {
    let lenenc = |text: &[u8]| {
        let mut out = vec![text.len() as u8];
        out.extend_from_slice(text);
        out
    };
    let mut column = Vec::new();
    for part in [&b"def"[..], b"", b"", b"", b"x", b""] {
        column.extend(lenenc(part));
    }
    column.extend_from_slice(&[0x0c, 0x21, 0x00, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
    write_packet(stream, 1, &[1]);
    write_packet(stream, 2, &column);
    write_packet(stream, 3, &eof_packet());
    write_packet(stream, 4, &lenenc(b"8.0.36"));
    write_packet(stream, 5, &eof_packet());
}

fn write_packet(stream: &mut TcpStream, sequence: u8, payload: &[u8]) {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(sequence);
    out.extend_from_slice(payload);
    let _ = stream.write_all(&out);
}

fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).ok()?;
    Some((header[3], payload))
}
