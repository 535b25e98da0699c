//! A master's password never goes to a PostgreSQL server that is not verified and asks for it in cleartext.
//!
//! tokio-postgres answers `AuthenticationCleartextPassword` with the password whatever the transport, so a server
//! the master is sent to by mistake (or by a hostile secret) over plaintext or unverified TLS could simply ask for
//! it. `AuthGuard` sits between the driver and the stream (inside TLS, when there is TLS) and reads the server's
//! messages until authentication succeeds: a cleartext-password request ends the connection before the driver sees
//! it, so the password is never written. MD5 and SCRAM answers prove knowledge of the password without giving it
//! away, and pass. After `AuthenticationOk` the guard is out of the way.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// The authentication request codes of `AuthenticationRequest` ('R') messages.
const AUTH_OK: u32 = 0;
const AUTH_CLEARTEXT: u32 = 3;

/// What the guard refused, for the error the login reports.
pub(crate) const REFUSAL: &str = "the server asked for the password in cleartext over a connection whose certificate is not \
                           verified; it was not sent (a master login answers that only to a verified server: \
                           MASTER_TLS_MODE=verify-full)";

/// Set when the guard refused a request; the login reads it to explain the driver's I/O error.
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<bool>>);

impl Verdict {
    pub(crate) fn refused(&self) -> bool {
        self.0.lock().map(|refused| *refused).unwrap_or(true)
    }

    fn refuse(&self) {
        if let Ok(mut refused) = self.0.lock() {
            *refused = true;
        }
    }
}

/// A stream whose incoming bytes reach the driver only once the messages they belong to are known to be safe.
pub(crate) struct AuthGuard<S> {
    inner: S,
    verdict: Verdict,
    /// Bytes received from the server and not yet handed to the driver; `held[0]` is at offset `delivered`.
    held: Vec<u8>,
    delivered: u64,
    received: u64,
    /// Offset of the next message header not yet inspected.
    next_header: u64,
    /// Bytes before this offset belong to inspected messages and may be handed over.
    cleared: u64,
    /// Authentication succeeded: everything passes.
    done: bool,
}

impl<S> AuthGuard<S> {
    pub(crate) fn new(inner: S, verdict: Verdict) -> AuthGuard<S> {
        AuthGuard {
            inner,
            verdict,
            held: Vec::new(),
            delivered: 0,
            received: 0,
            next_header: 0,
            cleared: 0,
            done: false,
        }
    }

    /// Inspects every complete message header held; an error when the server asks for a cleartext password.
    fn inspect(&mut self) -> io::Result<()> {
        while !self.done && self.next_header + 5 <= self.received {
            let at = (self.next_header - self.delivered) as usize;
            let header = &self.held[at..];
            let kind = header[0];
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            if length < 4 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed message from the server"));
            }
            let end = self.next_header + 1 + u64::from(length);
            if kind == b'R' {
                if self.next_header + 9 > self.received {
                    return Ok(());
                }
                let code = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
                if code == AUTH_CLEARTEXT {
                    self.verdict.refuse();
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, REFUSAL));
                }
                if code == AUTH_OK {
                    self.done = true;
                }
            }
            self.cleared = end;
            self.next_header = end;
        }
        Ok(())
    }

    fn deliverable(&self) -> usize {
        if self.done { self.held.len() } else { (self.cleared.min(self.received) - self.delivered) as usize }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            let ready = this.deliverable();
            if ready > 0 {
                let n = ready.min(buf.remaining());
                buf.put_slice(&this.held[..n]);
                this.held.drain(..n);
                this.delivered += n as u64;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 4096];
            let mut chunk_buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Ready(Ok(())) => {
                    let filled = chunk_buf.filled();
                    if filled.is_empty() {
                        // The server closed the connection: a message it cut short is not handed over.
                        return Poll::Ready(Ok(()));
                    }
                    this.held.extend_from_slice(filled);
                    this.received += filled.len() as u64;
                    if let Err(err) = this.inspect() {
                        return Poll::Ready(Err(err));
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for AuthGuard<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose streams are guarded: the guard reads the server's messages inside TLS.
pub(crate) struct GuardedTls<T> {
    pub inner: T,
    pub verdict: Verdict,
}

impl<S, T> TlsConnect<S> for GuardedTls<T>
where
    T: TlsConnect<S>,
    T::Stream: Unpin,
    T::Future: Send + 'static,
    T::Stream: Send + 'static,
{
    type Stream = AuthGuard<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn Future<Output = Result<AuthGuard<T::Stream>, T::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let verdict = self.verdict;
        let handshake = self.inner.connect(stream);
        Box::pin(async move { Ok(AuthGuard::new(handshake.await?, verdict)) })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn auth(code: u32, extra: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(extra);
        message(b'R', &body)
    }

    /// Feeds `bytes` to a guard in chunks of `chunk` bytes; returns what the driver would read, or the error.
    async fn read_through(bytes: Vec<u8>, chunk: usize) -> (Result<Vec<u8>, io::Error>, bool) {
        let (mut server, client) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in bytes.chunks(chunk) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let verdict = Verdict::default();
        let mut guard = AuthGuard::new(client, verdict.clone());
        let mut out = Vec::new();
        let result = guard.read_to_end(&mut out).await.map(|_| out);
        writer.abort();
        (result, verdict.refused())
    }

    #[tokio::test]
    async fn a_cleartext_request_is_never_handed_to_the_driver() {
        for chunk in [1, 3, 7, 64] {
            let mut stream = message(b'S', b"server_version\x0015\x00");
            stream.extend(auth(AUTH_CLEARTEXT, b""));
            let (result, refused) = read_through(stream, chunk).await;
            let err = result.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "chunk {chunk}");
            assert!(refused);
        }
    }

    #[tokio::test]
    async fn scram_md5_and_everything_after_authentication_pass_unchanged() {
        for chunk in [1, 5, 9, 64] {
            let mut stream = auth(10, b"SCRAM-SHA-256\x00\x00");
            stream.extend(auth(11, b"r=abc,s=def,i=4096"));
            stream.extend(auth(12, b"v=xyz"));
            stream.extend(auth(AUTH_OK, b""));
            // After AuthenticationOk, even bytes that look like a cleartext request are ordinary data.
            stream.extend(auth(AUTH_CLEARTEXT, b""));
            stream.extend(message(b'Z', b"I"));
            let (result, refused) = read_through(stream.clone(), chunk).await;
            assert_eq!(result.unwrap(), stream, "chunk {chunk}");
            assert!(!refused);
        }
        let stream = auth(5, b"salt");
        assert_eq!(read_through(stream.clone(), 2).await.0.unwrap(), stream);
    }

    #[tokio::test]
    async fn a_malformed_length_is_an_error_not_a_panic() {
        let (result, refused) = read_through(vec![b'R', 0, 0, 0, 1, 0, 0, 0, 0], 4).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(!refused);
        let (result, _) = read_through(vec![b'R', 0xff, 0xff, 0xff, 0xff], 5).await;
        assert_eq!(result.unwrap(), Vec::<u8>::new(), "a message cut short by the server is not handed over");
    }
}
