//! A master's password never goes to a MySQL-family server that is not verified and asks for it in a form it could
//! read.
//!
//! mysql_async answers `caching_sha2_password`'s "perform full authentication" with the password itself over any TLS,
//! verified or not, and over plaintext with the password encrypted to an RSA key the server sends — whoever answers
//! can read it either way (and a malformed key makes the driver panic). mysql_async offers no hook into its stream,
//! so a master login without verified TLS goes through a relay on loopback: the driver connects to the relay, the
//! relay to the server, and the relay reads the server's packets until authentication ends. A request for full
//! authentication, a public key, or a switch to any plugin but the challenge-response ones ends both connections
//! before the driver sees it. After the server's OK the relay only copies bytes.
//!
//! Only plaintext is relayed: over TLS the relay would see ciphertext. A master login over unverified TLS
//! (`MASTER_TLS_MODE=require`) is refused on this engine family, naming the setting.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Authentication plugins whose exchange proves the password without giving it away.
const SAFE_PLUGINS: [&[u8]; 4] = [b"mysql_native_password", b"caching_sha2_password", b"client_ed25519", b"parsec"];

/// The longest packet the authentication phase needs; anything longer is not a login.
const MAX_AUTH_PACKET: usize = 64 * 1024;

/// Why the relay ended a login, when it did.
#[derive(Clone, Default)]
pub struct Verdict(Arc<Mutex<Option<&'static str>>>);

impl Verdict {
    pub fn refusal(&self) -> Option<&'static str> {
        self.0.lock().map(|refusal| *refusal).unwrap_or(Some("the relay failed"))
    }

    fn refuse(&self, why: &'static str) {
        if let Ok(mut refusal) = self.0.lock() {
            *refusal = Some(why);
        }
    }
}

/// A relay for one login: the driver connects to `address`.
pub struct Relay {
    pub address: SocketAddr,
    pub verdict: Verdict,
}

/// Starts a relay to `server` (already connected). It takes the first connection to its loopback port within
/// `accept_within`, then ends with either side.
pub async fn start(server: TcpStream, accept_within: Duration) -> io::Result<Relay> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let verdict = Verdict::default();
    let relay_verdict = verdict.clone();
    tokio::spawn(async move {
        let Ok(Ok((client, _))) = tokio::time::timeout(accept_within, listener.accept()).await else { return };
        drop(listener);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, mut client_write) = client.into_split();
        let (server_read, mut server_write) = server.into_split();
        let mut client_read = client_read;
        let upstream = tokio::io::copy(&mut client_read, &mut server_write);
        let downstream = guard_then_copy(server_read, &mut client_write, &relay_verdict);
        // Whichever side ends first ends the other: dropping both halves closes both connections.
        tokio::select! {
            _ = upstream => {}
            _ = downstream => {}
        }
    });
    Ok(Relay { address, verdict })
}

/// Hands the server's authentication packets over one by one once each is known to be safe, then copies.
async fn guard_then_copy<R, W>(mut from: R, to: &mut W, verdict: &Verdict) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut first = true;
    loop {
        let mut header = [0u8; 4];
        from.read_exact(&mut header).await?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        if length > MAX_AUTH_PACKET {
            verdict.refuse("the server sent an oversized packet during authentication");
            return Ok(());
        }
        let mut payload = vec![0u8; length];
        from.read_exact(&mut payload).await?;
        match inspect(&payload, first) {
            Step::Refuse(why) => {
                verdict.refuse(why);
                return Ok(());
            }
            step => {
                to.write_all(&header).await?;
                to.write_all(&payload).await?;
                if step == Step::Done {
                    break;
                }
            }
        }
        first = false;
    }
    tokio::io::copy(&mut from, to).await.map(drop)
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Hand the packet over; authentication goes on.
    Pass,
    /// Hand it over; authentication has ended (OK or error), everything after is the session's.
    Done,
    Refuse(&'static str),
}

/// What to do with one packet the server sends while the login authenticates (`first`: the initial handshake).
fn inspect(payload: &[u8], first: bool) -> Step {
    match payload.first() {
        // The initial handshake (protocol 10): the driver answers it with a challenge response only.
        Some(10) if first => Step::Pass,
        Some(0x00) | Some(0xff) => Step::Done,
        Some(0xfe) => {
            let plugin = payload[1..].split(|b| *b == 0).next().unwrap_or_default();
            if SAFE_PLUGINS.contains(&plugin) {
                Step::Pass
            } else {
                Step::Refuse(
                    "the server asked to switch to an authentication plugin that sends the password itself \
                     (mysql_clear_password, sha256_password or another) over a connection whose certificate is not \
                     verified; it was not sent",
                )
            }
        }
        // caching_sha2_password: 3 is "fast authentication succeeded"; 4 asks for the password itself.
        Some(0x01) => match payload.get(1) {
            Some(0x03) => Step::Pass,
            Some(0x04) => Step::Refuse(
                "the server asked for caching_sha2_password full authentication, which sends the password itself (or \
                 encrypted to a key the server chooses), over a connection whose certificate is not verified; it was \
                 not sent (a master login answers that only to a verified server: MASTER_TLS_MODE=verify-full)",
            ),
            _ if payload[1..].starts_with(b"-----BEGIN") => {
                Step::Refuse("the server sent a public key nobody asked for during authentication")
            }
            _ => Step::Pass,
        },
        None if first => Step::Refuse("the server sent an empty handshake"),
        _ if first => Step::Refuse("the server's handshake is not MySQL protocol 10"),
        _ => Step::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_responses_pass_and_password_requests_are_refused() {
        assert_eq!(inspect(b"\x0a10.11.19-MariaDB\0", true), Step::Pass);
        assert_eq!(inspect(b"\x00\x00\x00\x02\x00", false), Step::Done);
        assert_eq!(inspect(b"\xff\x15\x04#28000Access denied", false), Step::Done);
        assert_eq!(inspect(b"\xfemysql_native_password\0nonce-nonce-nonce-no\0", false), Step::Pass);
        assert_eq!(inspect(b"\xfeclient_ed25519\0nonce", false), Step::Pass);
        assert_eq!(inspect(b"\x01\x03", false), Step::Pass);
        assert!(matches!(inspect(b"\x01\x04", false), Step::Refuse(why) if why.contains("full authentication")));
        assert!(matches!(inspect(b"\xfemysql_clear_password\0", false), Step::Refuse(_)));
        assert!(matches!(inspect(b"\xfesha256_password\0salt", false), Step::Refuse(_)));
        assert!(matches!(inspect(b"\xfe", false), Step::Refuse(_)), "no plugin named");
        assert!(matches!(inspect(b"\x01-----BEGIN PUBLIC KEY-----", false), Step::Refuse(_)));
        assert!(matches!(inspect(b"", true), Step::Refuse(_)));
        assert!(matches!(inspect(b"\x09old", true), Step::Refuse(_)));
        assert_eq!(inspect(b"", false), Step::Pass, "an empty packet is the driver's to judge");
    }

    /// The relay end to end, with a server that asks for full authentication: the driver's side sees the handshake
    /// and then nothing, and the verdict names the request.
    #[tokio::test]
    async fn a_full_authentication_request_never_reaches_the_driver() {
        let fake = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let fake_address = fake.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut peer, _) = fake.accept().await.unwrap();
            let packet = |seq: u8, payload: &[u8]| {
                let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
                out.push(seq);
                out.extend_from_slice(payload);
                out
            };
            peer.write_all(&packet(0, b"\x0a8.0.36\0handshake")).await.unwrap();
            let mut response = [0u8; 64];
            let _ = peer.read(&mut response).await;
            peer.write_all(&packet(2, b"\x01\x04")).await.unwrap();
            let mut rest = Vec::new();
            let _ = peer.read_to_end(&mut rest).await;
            rest
        });
        let relay = start(TcpStream::connect(fake_address).await.unwrap(), Duration::from_secs(5)).await.unwrap();
        let mut driver = TcpStream::connect(relay.address).await.unwrap();
        let mut handshake = [0u8; 4 + 17];
        driver.read_exact(&mut handshake).await.unwrap();
        driver.write_all(b"\x05\x00\x00\x01hello").await.unwrap();
        let mut after = Vec::new();
        driver.read_to_end(&mut after).await.unwrap();
        assert!(after.is_empty(), "the request was not handed over: {after:?}");
        assert!(relay.verdict.refusal().unwrap().contains("full authentication"));
        drop(driver);
        assert!(server.await.unwrap().is_empty(), "nothing more reached the server");
    }
}
