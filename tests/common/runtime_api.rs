//! A fake Lambda Runtime API on loopback, for running the binary in Lambda mode (tests/it/lambda.rs, benches/).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function posted back for one invocation, and when.
#[derive(Debug)]
pub struct Reply {
    pub request_id: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub at: Instant,
}

/// What the fake Runtime API saw: each `next` request (when it came) and each reply.
#[derive(Debug)]
pub enum Seen {
    Next { at: Instant },
    Reply(Reply),
}

/// Serves `events` one per `next` call and reports every reply; holds the last `next` open (as Lambda does between
/// invocations) until the test kills the function.
pub fn fake_runtime_api(events: Vec<serde_json::Value>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (replies, received) = mpsc::channel();
    let events = Arc::new(Mutex::new(events.into_iter().enumerate().collect::<VecDeque<_>>()));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (events, replies) = (events.clone(), replies.clone());
            // One thread per connection, serving its requests in turn: the runtime keeps connections alive.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                while let Some((method, path, body)) = read_request(&mut reader) {
                    if method == "GET" && path.ends_with("/runtime/invocation/next") {
                        let _ = replies.send(Seen::Next { at: Instant::now() });
                        let next = events.lock().unwrap().pop_front();
                        let Some((n, event)) = next else {
                            // No more work: hold the request, as Lambda does between invocations.
                            std::thread::sleep(Duration::from_secs(600));
                            return;
                        };
                        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 60_000;
                        let body = event.to_string();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                             Lambda-Runtime-Aws-Request-Id: req-{n}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                             Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:rds-rotator\r\n\
                             Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\r\n",
                            body.len()
                        );
                        stream.write_all(head.as_bytes()).unwrap();
                        stream.write_all(body.as_bytes()).unwrap();
                    } else {
                        let parts: Vec<&str> = path.split('/').collect();
                        let request_id = parts[parts.len() - 2].to_owned();
                        let kind = parts[parts.len() - 1].to_owned();
                        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").unwrap();
                        let _ = replies.send(Seen::Reply(Reply { request_id, kind, body, at: Instant::now() }));
                    }
                }
            });
        }
    });
    (address, received)
}

/// One HTTP/1.1 request: method, path and body (by Content-Length, or chunked as the runtime sends responses);
/// `None` when the client closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let (mut length, mut chunked) = (0, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if !chunked {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
        return Some((method, path, body));
    }
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some((method, path, body));
        }
        body.extend_from_slice(&chunk[..size]);
    }
}
