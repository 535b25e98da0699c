//! What a MySQL-family server may ask of a login that is not over verified TLS, enforced before mysql_async sees it.
//!
//! mysql_async answers `caching_sha2_password`'s "perform full authentication" with the password itself over any TLS,
//! verified or not, and over plaintext with the password encrypted to an RSA key the server sends — whoever answers
//! can read it either way. It also trusts the server's packets in ways that panic (a malformed key, an empty nonce, a
//! second plugin switch, a handshake of another protocol). mysql_async offers no hook into its stream, so a plaintext
//! login goes through a relay on loopback: the driver connects to the relay, the relay to the server, and the relay
//! follows the authentication exchange packet by packet, handing a packet over only once it is one the protocol
//! allows at that point — the handshake (protocol 10), then at most one switch to a challenge-response plugin, then
//! OK or an error. What a login may further allow depends on whose it is (`Policy`):
//!
//! - a master login never gets a request for the password itself (full authentication, a public key): refused,
//!   and the connection ends before the driver answers;
//! - an application login gets full authentication (its own password, as AWS's templates send it), but only with
//!   a public key the driver can use without panicking.
//!
//! After the server's OK the relay only copies bytes. Only plaintext is relayed: over TLS the relay would see
//! ciphertext. A master login over unverified TLS (`MASTER_TLS_MODE=require`) is refused on this engine family.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Whose login the relay carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    Master,
    Application,
}

/// Authentication plugins whose exchange proves the password without giving it away.
const SAFE_PLUGINS: [&[u8]; 4] = [b"mysql_native_password", b"caching_sha2_password", b"client_ed25519", b"parsec"];

/// The longest packet the authentication phase needs; anything longer is not a login.
const MAX_AUTH_PACKET: usize = 64 * 1024;

/// The smallest RSA key accepted for full authentication: the driver's padding needs more than a 41-character
/// password takes, and MySQL's own keys are 2048 bits.
const MIN_KEY_BITS: usize = 1024;

/// Why the relay ended a login, when it did.
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<Option<&'static str>>>);

impl Verdict {
    pub(crate) fn refusal(&self) -> Option<&'static str> {
        self.0.lock().map(|refusal| *refusal).unwrap_or(Some("the relay failed"))
    }

    fn refuse(&self, why: &'static str) {
        if let Ok(mut refusal) = self.0.lock() {
            *refusal = Some(why);
        }
    }
}

/// A relay for one login: the driver connects to `address`.
pub(crate) struct Relay {
    pub address: SocketAddr,
    pub verdict: Verdict,
}

/// Starts a relay to `server` (already connected). It takes the first connection to its loopback port within
/// `accept_within`, then ends with either side.
pub(crate) async fn start(server: TcpStream, policy: Policy, accept_within: Duration) -> io::Result<Relay> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let verdict = Verdict::default();
    let relay_verdict = verdict.clone();
    tokio::spawn(async move {
        let Ok(Ok((client, _))) = tokio::time::timeout(accept_within, listener.accept()).await else { return };
        drop(listener);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut client_read, mut client_write) = client.into_split();
        let (server_read, mut server_write) = server.into_split();
        let upstream = tokio::io::copy(&mut client_read, &mut server_write);
        let downstream = guard_then_copy(server_read, &mut client_write, Exchange::new(policy), &relay_verdict);
        // Whichever side ends first ends the other: dropping both halves closes both connections.
        tokio::select! {
            _ = upstream => {}
            _ = downstream => {}
        }
    });
    Ok(Relay { address, verdict })
}

/// Hands the server's authentication packets over one by one once each is known to be allowed, then copies.
async fn guard_then_copy<R, W>(mut from: R, to: &mut W, mut exchange: Exchange, verdict: &Verdict) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
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
        match exchange.next(&payload) {
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

/// Where the authentication exchange is, as the server's packets tell.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing received yet: the initial handshake comes next.
    Handshake,
    /// The client answered the handshake (or a switch): OK, an error, a switch, or more data come next.
    Authenticating,
    /// `caching_sha2_password` asked for full authentication (application logins only): the public key the client
    /// asks for, then OK or an error.
    FullAuthentication,
}

/// The exchange so far.
struct Exchange {
    policy: Policy,
    phase: Phase,
    /// The plugin the exchange uses, once the server switched to one.
    switched_to: Option<Vec<u8>>,
    /// Bytes of challenge the client holds (the handshake's, or a switch's).
    nonce: usize,
    /// `parsec`'s extra salt has come.
    parsec_salt: bool,
}

impl Exchange {
    fn new(policy: Policy) -> Exchange {
        Exchange { policy, phase: Phase::Handshake, switched_to: None, nonce: 0, parsec_salt: false }
    }

    /// What to do with the server's next packet.
    fn next(&mut self, payload: &[u8]) -> Step {
        match self.phase {
            Phase::Handshake => match payload.first() {
                Some(10) => match handshake_nonce(payload) {
                    Some(nonce) => {
                        self.nonce = nonce;
                        self.phase = Phase::Authenticating;
                        Step::Pass
                    }
                    None => Step::Refuse("the server's handshake is malformed"),
                },
                Some(0xff) => Step::Done,
                _ => Step::Refuse("the server's handshake is not MySQL protocol 10"),
            },
            Phase::Authenticating => self.authenticating(payload),
            Phase::FullAuthentication => match payload.first() {
                Some(0x00) | Some(0xff) => Step::Done,
                Some(0x01) if valid_public_key(&payload[1..]) => Step::Pass,
                _ => {
                    Step::Refuse("the server sent something other than a usable RSA public key for full authentication")
                }
            },
        }
    }

    fn authenticating(&mut self, payload: &[u8]) -> Step {
        let plugin = self.switched_to.as_deref();
        match payload.first() {
            Some(0x00) | Some(0xff) => Step::Done,
            Some(0xfe) if self.switched_to.is_some() => {
                Step::Refuse("the server asked to switch authentication plugins a second time")
            }
            Some(0xfe) => {
                let rest = &payload[1..];
                let name_end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                let (name, data) = (&rest[..name_end], rest.get(name_end + 1..).unwrap_or_default());
                if !SAFE_PLUGINS.contains(&name) {
                    return Step::Refuse(
                        "the server asked to switch to an authentication plugin that sends the password itself \
                         (mysql_clear_password, sha256_password or another) over a connection whose certificate is \
                         not verified; it was not sent",
                    );
                }
                // The challenge, without the terminating NUL some servers add; parsec sends its own later.
                let nonce = data.strip_suffix(&[0]).unwrap_or(data).len();
                if name != b"parsec" && nonce == 0 {
                    return Step::Refuse("the server asked to switch plugins without a challenge");
                }
                self.nonce = nonce;
                self.switched_to = Some(name.to_vec());
                Step::Pass
            }
            // caching_sha2_password: 3 is "fast authentication succeeded"; 4 asks for the password itself.
            Some(0x01) if plugin.is_none_or(|p| p == b"caching_sha2_password") => match payload.get(1) {
                Some(0x03) => Step::Pass,
                Some(0x04) if self.policy == Policy::Master => Step::Refuse(
                    "the server asked for caching_sha2_password full authentication, which sends the password \
                     itself (or encrypted to a key the server chooses), over a connection whose certificate is not \
                     verified; it was not sent (a master login answers that only to a verified server: \
                     MASTER_TLS_MODE=verify-full)",
                ),
                Some(0x04) if self.nonce > 0 => {
                    self.phase = Phase::FullAuthentication;
                    Step::Pass
                }
                _ => Step::Refuse("the server sent unexpected caching_sha2_password data"),
            },
            // parsec's extra salt ('P', iterations, salt), once, perhaps after a 0x01 byte.
            _ if plugin == Some(&b"parsec"[..]) && !self.parsec_salt => {
                let salt = payload.strip_prefix(&[0x01]).unwrap_or(payload);
                if salt.first() == Some(&b'P') && salt.len() >= 3 {
                    self.parsec_salt = true;
                    Step::Pass
                } else {
                    Step::Refuse("the server sent an unexpected parsec salt")
                }
            }
            _ => Step::Refuse("the server sent an unexpected packet during authentication"),
        }
    }
}

/// The length of the challenge in a protocol-10 handshake, or `None` when the packet is too short to hold one.
fn handshake_nonce(payload: &[u8]) -> Option<usize> {
    // protocol (1), server version (NUL-terminated), connection id (4), challenge part 1 (8), filler (1),
    // capabilities (2), then optionally character set (1), status (2), capabilities (2), challenge length (1),
    // reserved (10), challenge part 2.
    let version_end = 1 + payload[1..].iter().position(|b| *b == 0)?;
    let part_one = version_end + 1 + 4;
    if payload.len() < part_one + 8 + 1 + 2 {
        return None;
    }
    let part_two = part_one + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    let second = payload.get(part_two..).map(|rest| rest.iter().take_while(|b| **b != 0).count().min(12));
    Some(8 + second.unwrap_or(0))
}

/// Whether `pem` is an RSA public key that mysql_common can read and use without panicking: the PEM it looks for
/// (PKCS#1 first, then SPKI), standard base64, the DER structure its parser walks (checked here without ever
/// indexing past an end), a modulus of at least `MIN_KEY_BITS` and an exponent above 1.
fn valid_public_key(pem: &[u8]) -> bool {
    let body = pem_body(pem, b"-----BEGIN RSA PUBLIC KEY-----", b"-----END RSA PUBLIC KEY-----")
        .map(|body| (body, true))
        .or_else(|| {
            pem_body(pem, b"-----BEGIN PUBLIC KEY-----", b"-----END PUBLIC KEY-----").map(|body| (body, false))
        });
    let Some((body, pkcs1)) = body else { return false };
    let body: Vec<u8> = body.iter().copied().filter(|b| !b" \n\t\r\x0b\x0c".contains(b)).collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&body) else { return false };
    let key = if pkcs1 { rsa_key(&der) } else { spki_key(&der) };
    key.is_some_and(|(modulus, exponent)| {
        let bits = |n: &[u8]| {
            let n = &n[n.iter().take_while(|b| **b == 0).count()..];
            n.first().map_or(0, |top| (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
        };
        bits(modulus) >= MIN_KEY_BITS && bits(exponent) >= 2
    })
}

/// The text between `begin` and `end` where `begin`, a run without '-', and `end` follow each other: the first such,
/// as mysql_common's regular expression finds it.
fn pem_body<'a>(pem: &'a [u8], begin: &[u8], end: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(at) = find(&pem[from..], begin) {
        let start = from + at + begin.len();
        let run = pem[start..].iter().take_while(|b| **b != b'-').count();
        if pem[start + run..].starts_with(end) {
            return Some(&pem[start..start + run]);
        }
        from = start;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// One DER element of tag `tag`: (its content, what follows). Lengths of up to 4 bytes.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = der.split_first()?;
    if first != tag {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 & 0x80 == 0 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
}

/// PKCS#1 `RSAPublicKey`: (modulus, exponent).
fn rsa_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (fields, _) = element(der, 0x30)?;
    let (modulus, fields) = element(fields, 0x02)?;
    let (exponent, _) = element(fields, 0x02)?;
    Some((modulus, exponent))
}

/// X.509 `SubjectPublicKeyInfo` holding an RSA key: (modulus, exponent).
fn spki_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (info, _) = element(der, 0x30)?;
    let (_algorithm, rest) = element(info, 0x30)?;
    let (bits, _) = element(rest, 0x03)?;
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    rsa_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxSKOcxiet8lLMn8ImyUE
bGGKob5EdRz/4wdiw12ED0GfKKTKhVnodFCfm1mdy7bKOX5QxL9skrvYodpW43eR
R5bfOzIgy1qIB8RYb6qOXRBw1oA4snBDqtUjDv/lbHLJN+IbzM4oU+e3Lt9rXyLX
VY289ewONPweXHqSCnTL91w+wkU1peIFV2QhZ+upUCdCtwOn5hnJPNgxtbklFoya
C8W3Z7Xx7He2QDJsEWAqX197efw0L6j8X8Tyd8Uwb7zUB1tfMGhHfm9EwejPAtzx
4GztQNtNMtGS2oGZLQBLV9hib4dDL92iiZeckg2LAf4GsJofLLR8mcHCRoqVbQJ1
YQIDAQAB
-----END PUBLIC KEY-----";

    fn handshake() -> Vec<u8> {
        let mut packet = b"\x0a8.0.36\0".to_vec();
        packet.extend_from_slice(&7u32.to_le_bytes());
        packet.extend_from_slice(b"abcdefgh\0\xff\xff\x21\x02\x00\xff\xff\x15");
        packet.extend_from_slice(&[0; 10]);
        packet.extend_from_slice(b"ijklmnopqrst\0caching_sha2_password\0");
        packet
    }

    fn run(policy: Policy, packets: &[&[u8]]) -> Vec<Step> {
        let mut exchange = Exchange::new(policy);
        packets.iter().map(|packet| exchange.next(packet)).collect()
    }

    /// Whether the exchange was refused at some packet (the relay then ends it there).
    fn refused(steps: &[Step]) -> bool {
        steps.iter().any(|step| matches!(step, Step::Refuse(_)))
    }

    #[test]
    fn challenge_responses_pass() {
        let hs = handshake();
        assert_eq!(run(Policy::Master, &[&hs, b"\x00\0\0\x02\0"]), [Step::Pass, Step::Done]);
        assert_eq!(run(Policy::Master, &[&hs, b"\x01\x03", b"\x00\0\0"]), [Step::Pass, Step::Pass, Step::Done]);
        let switch = b"\xfemysql_native_password\0nonce-nonce-nonce-no\0";
        assert_eq!(run(Policy::Master, &[&hs, switch, b"\x00"]), [Step::Pass, Step::Pass, Step::Done]);
        let ed25519 = b"\xfeclient_ed25519\0nonce-nonce-nonce-nonce-nonce-no";
        assert_eq!(run(Policy::Master, &[&hs, ed25519, b"\xff\x15\x04"]), [Step::Pass, Step::Pass, Step::Done]);
        assert_eq!(run(Policy::Master, &[&hs, b"\xfeparsec\0", b"\x01P\x00saltsalt", b"\x00"]).len(), 4);
        assert_eq!(run(Policy::Master, &[b"\xff\x15\x04#28000"]), [Step::Done], "an error instead of a handshake");
    }

    #[test]
    fn a_master_login_never_gets_a_password_request() {
        let hs = handshake();
        assert!(refused(&run(Policy::Master, &[&hs, b"\x01\x04"])));
        assert!(refused(&run(Policy::Master, &[&hs, b"\xfemysql_clear_password\0"])));
        assert!(refused(&run(Policy::Master, &[&hs, b"\xfesha256_password\0salt"])));
        assert!(refused(&run(Policy::Master, &[&hs, b"\xfe"])));
        assert!(refused(&run(Policy::Master, &[&hs, b"\x01-----BEGIN PUBLIC KEY-----"])));
    }

    /// What the review found: a first packet that is not protocol 10 (mysql_async reads any as a handshake), a
    /// second switch (mysql_async's `unreachable!`), a switch without a challenge (a division by zero), a salt
    /// before any parsec switch.
    #[test]
    fn packets_the_protocol_does_not_allow_there_are_refused() {
        let hs = handshake();
        for first in [&b"\x00\0\0\x02\0"[..], b"\x01\x04", b"\x09old", b"", b"\x0a"] {
            assert!(refused(&run(Policy::Application, &[first])), "{first:?}");
        }
        let switch = &b"\xfemysql_native_password\0nonce-nonce-nonce-no\0"[..];
        assert!(refused(&run(Policy::Application, &[&hs, switch, switch])));
        assert!(refused(&run(Policy::Application, &[&hs, b"\xfecaching_sha2_password\0\0", b"\x01\x04"])));
        assert!(refused(&run(Policy::Application, &[&hs, b"\x01P\x00saltsalt"])));
        assert!(refused(&run(Policy::Application, &[&hs, b"\xfeparsec\0", b"\x01Q"])));
        assert!(refused(&run(Policy::Application, &[&hs, b"\x02\x01"])));
    }

    #[test]
    fn an_application_login_gets_full_authentication_with_a_usable_key_only() {
        let hs = handshake();
        let key = [&b"\x01"[..], KEY.as_bytes()].concat();
        let steps = run(Policy::Application, &[&hs, b"\x01\x04", &key, b"\x00"]);
        assert_eq!(steps, [Step::Pass, Step::Pass, Step::Pass, Step::Done]);
        for bad in [
            "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCg\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nMBwwDQYJKoZIhvcNAQEBBQADCwAwCAIDAQABAgEC\n-----END PUBLIC KEY-----",
            "no key at all",
            "",
        ] {
            let packet = [&b"\x01"[..], bad.as_bytes()].concat();
            assert!(refused(&run(Policy::Application, &[&hs, b"\x01\x04", &packet])), "{bad}");
        }
        assert!(valid_public_key(KEY.as_bytes()));
    }

    /// The relay end to end, with a server that asks for full authentication: the driver's side sees the handshake
    /// and then nothing, and the verdict names the request.
    #[tokio::test]
    async fn a_full_authentication_request_never_reaches_a_master_login() {
        let fake = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let fake_address = fake.local_addr().unwrap();
        let hs = handshake();
        let hs_len = hs.len();
        let server = tokio::spawn(async move {
            let (mut peer, _) = fake.accept().await.unwrap();
            let packet = |seq: u8, payload: &[u8]| {
                let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
                out.push(seq);
                out.extend_from_slice(payload);
                out
            };
            peer.write_all(&packet(0, &hs)).await.unwrap();
            let mut response = [0u8; 64];
            let _ = peer.read(&mut response).await;
            peer.write_all(&packet(2, b"\x01\x04")).await.unwrap();
            let mut rest = Vec::new();
            let _ = peer.read_to_end(&mut rest).await;
            rest
        });
        let server_stream = TcpStream::connect(fake_address).await.unwrap();
        let relay = start(server_stream, Policy::Master, Duration::from_secs(5)).await.unwrap();
        let mut driver = TcpStream::connect(relay.address).await.unwrap();
        let mut handshake_packet = vec![0u8; 4 + hs_len];
        driver.read_exact(&mut handshake_packet).await.unwrap();
        driver.write_all(b"\x05\x00\x00\x01hello").await.unwrap();
        let mut after = Vec::new();
        driver.read_to_end(&mut after).await.unwrap();
        assert!(after.is_empty(), "the request was not handed over: {after:?}");
        assert!(relay.verdict.refusal().unwrap().contains("full authentication"));
        drop(driver);
        assert!(server.await.unwrap().is_empty(), "nothing more reached the server");
    }
}
