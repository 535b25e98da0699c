//! A loopback proxy in front of moto that answers chosen AWS requests with throttling, a server error or silence,
//! and relays the others — what a real endpoint does on a bad day — and keeps every request it saw, so a test can
//! check the calls made. Requests are recognised by their `X-Amz-Target` header (`secretsmanager.GetSecretValue`,
//! JSON protocols) or their `Action` parameter (`ModifyDBInstance`, the RDS query protocol).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the proxy answers a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Passed on to moto.
    Relay,
    /// `400 ThrottlingException`, as the service answers over its request rate.
    Throttle,
    /// `500 InternalServiceError`.
    ServerError,
    /// No answer at all; the connection stays open.
    Silence,
}

struct Rule {
    operation: Option<String>,
    answer: Answer,
    times: usize,
}

#[derive(Clone)]
pub struct AwsProxy {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// How long the proxy waits before relaying each request: a stand-in for the network between a client and the real
/// service, which moto on loopback does not have.
pub type Latency = Duration;

/// One request: its operation, how it was answered, and its body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub operation: String,
    pub answer: Answer,
    pub body: String,
}

impl AwsProxy {
    /// A proxy to `upstream` (`http://host:port`), relaying everything until told otherwise.
    pub fn start(upstream: &str) -> AwsProxy {
        AwsProxy::with_latency(upstream, Duration::ZERO)
    }

    /// A proxy that waits `latency` before relaying each request (each connection on a thread of its own, so
    /// concurrent requests wait side by side, as on a network).
    pub fn with_latency(upstream: &str, latency: Latency) -> AwsProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (rules_for_thread, seen_for_thread) = (rules.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (rules, seen, upstream) = (rules_for_thread.clone(), seen_for_thread.clone(), upstream.clone());
                std::thread::spawn(move || serve(stream, &upstream, &rules, &seen, latency));
            }
        });
        AwsProxy { url, rules, seen }
    }

    /// Answers the next `times` requests of `operation` (any operation when `None`) with `answer`.
    pub fn answer(&self, operation: Option<&str>, answer: Answer, times: usize) {
        let operation = operation.map(str::to_owned);
        self.rules.lock().unwrap().push(Rule { operation, answer, times });
    }

    /// Relays everything again.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The parameters of every request of `operation` (query protocol), decoded.
    pub fn parameters(&self, operation: &str) -> Vec<Vec<(String, String)>> {
        self.seen().into_iter().filter(|seen| seen.operation == operation).map(|seen| form(&seen.body)).collect()
    }
}

/// Serves one client connection, request after request.
fn serve(stream: TcpStream, upstream: &str, rules: &Mutex<Vec<Rule>>, seen: &Mutex<Vec<Seen>>, latency: Latency) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut client = stream;
    while let Some((head, body)) = read_message(&mut reader) {
        let text = String::from_utf8_lossy(&body).into_owned();
        let operation = header(&head, "x-amz-target")
            .and_then(|target| target.rsplit('.').next().map(str::to_owned))
            .or_else(|| form(&text).into_iter().find(|(key, _)| key == "Action").map(|(_, action)| action))
            .unwrap_or_default();
        let answer = {
            let mut rules = rules.lock().unwrap();
            let rule =
                rules.iter_mut().find(|rule| rule.times > 0 && rule.operation.as_ref().is_none_or(|o| *o == operation));
            match rule {
                Some(rule) => {
                    rule.times -= 1;
                    rule.answer
                }
                None => Answer::Relay,
            }
        };
        seen.lock().unwrap().push(Seen { operation, answer, body: text });
        let reply = match answer {
            Answer::Relay => match relayed_after(latency, upstream, &head, &body) {
                Some(reply) => reply,
                None => return,
            },
            Answer::Throttle => error_reply("400 Bad Request", "ThrottlingException", "Rate exceeded"),
            Answer::ServerError => error_reply("500 Internal Server Error", "InternalServiceError", "injected"),
            Answer::Silence => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
        };
        if client.write_all(&reply).is_err() {
            return;
        }
    }
}

fn error_reply(status: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {code}\r\n\
         x-amzn-RequestId: proxy\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `relay`, after the proxy's latency.
fn relayed_after(latency: Latency, upstream: &str, head: &[String], body: &[u8]) -> Option<Vec<u8>> {
    std::thread::sleep(latency);
    relay(upstream, head, body)
}

/// Sends the request to moto on a connection of its own and returns moto's whole reply.
fn relay(upstream: &str, head: &[String], body: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    let mut request = String::new();
    for line in head.iter().filter(|line| !line.to_ascii_lowercase().starts_with("connection:")) {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    server.write_all(request.as_bytes()).ok()?;
    server.write_all(body).ok()?;
    let mut reader = BufReader::new(server);
    let (head, body) = read_message(&mut reader)?;
    // Passed back without moto's "Connection: close", so the client keeps its connection to the proxy.
    let mut reply = String::new();
    for line in head.iter().filter(|line| !line.to_ascii_lowercase().starts_with("connection:")) {
        reply.push_str(line);
        reply.push_str("\r\n");
    }
    reply.push_str("\r\n");
    let mut reply = reply.into_bytes();
    reply.extend_from_slice(&body);
    Some(reply)
}

/// One HTTP/1.1 message: the start line and headers, and a body of Content-Length bytes (chunked bodies are
/// de-chunked, and the header rewritten to a length).
fn read_message(reader: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let chunked = header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
        head.retain(|line| !line.to_ascii_lowercase().starts_with("transfer-encoding:"));
        head.push(format!("Content-Length: {}", body.len()));
    } else if let Some(length) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if head.first().is_some_and(|line| line.starts_with("HTTP/")) {
        // A reply with neither: its body runs to the end of the connection.
        reader.read_to_end(&mut body).ok()?;
        head.push(format!("Content-Length: {}", body.len()));
    }
    Some((head, body))
}

fn header(head: &[String], name: &str) -> Option<String> {
    head.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

/// `a=1&b=x%2By` → [("a", "1"), ("b", "x+y")].
pub fn form(body: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex =
                        std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&').filter_map(|pair| pair.split_once('=')).map(|(key, value)| (decode(key), decode(value))).collect()
}
