//! The binary in Lambda mode, through lambda_runtime, against a fake Lambda Runtime API on loopback: the four steps
//! of a rotation arrive as invocations, a bad event comes back as an error with its errorType, and every log line is
//! JSON on stdout with no secret in it.

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_rds-rotator");

/// What the function posted back for one invocation.
#[derive(Debug)]
struct Reply {
    request_id: String,
    kind: String,
    body: serde_json::Value,
}

/// Serves `events` one per `next` call and reports every reply; holds the last `next` open (as Lambda does between
/// invocations) until the test kills the function.
fn fake_runtime_api(events: Vec<serde_json::Value>) -> (String, mpsc::Receiver<Reply>) {
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
                        let _ = replies.send(Reply { request_id, kind, body });
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

#[tokio::test]
async fn a_rotation_through_the_lambda_runtime() {
    let sm = sm().await;
    let user = unique("lambda");
    let initial = "Initial-Passw0rd-lambda";
    pg_create_role(&user, initial).await;
    let secret_id = unique("lambda-secret");
    create_secret(&sm, &secret_id, &pg_secret(&user, initial)).await;
    let token = stage_rotation(&sm, &secret_id).await;
    let rotation_token = "lambda-rotation-token-not-to-be-logged";
    let mut events: Vec<serde_json::Value> = ["createSecret", "setSecret", "testSecret", "finishSecret"]
        .iter()
        .map(|step| {
            serde_json::json!({"Step": step, "SecretId": secret_id, "ClientRequestToken": token.as_str(),
                               "RotationToken": rotation_token})
        })
        .collect();
    events.push(serde_json::json!({"Step": "rotateSecret", "SecretId": secret_id, "ClientRequestToken": "x"}));
    let expected = events.len();
    let (address, replies) = fake_runtime_api(events);

    // Logs go to a file: at DEBUG they outgrow a pipe's buffer, and the function would block writing them.
    let log_path = std::env::temp_dir().join(unique("lambda-stdout"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rds-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .stdout(log_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    while got.len() < expected {
        match replies.recv_timeout(Duration::from_secs(30)) {
            Ok(reply) => got.push(reply),
            Err(_) => break,
        }
    }
    let mut child = child;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).unwrap();
    assert_eq!(
        got.len(),
        expected,
        "replies {got:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for (n, reply) in got.iter().take(4).enumerate() {
        assert_eq!(
            (reply.request_id.as_str(), reply.kind.as_str()),
            (format!("req-{n}").as_str(), "response"),
            "{reply:?}"
        );
    }
    let error = &got[4];
    assert_eq!(error.kind, "error", "{error:?}");
    assert_eq!(error.body["errorType"], "InvalidEvent", "{error:?}");
    assert!(error.body["errorMessage"].as_str().unwrap().contains("unknown Step \"rotateSecret\""), "{error:?}");

    let new = password_of(&secret_value(&sm, &secret_id, "AWSCURRENT").await.unwrap());
    assert!(pg_logs_in(&user, &new).await);
    assert!(!pg_logs_in(&user, initial).await);
    // Lambda's JSON log format on stdout, at DEBUG, with no secret in it.
    assert!(stdout.lines().count() >= 8, "{stdout}");
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    for secret in [initial, new.as_str(), rotation_token] {
        assert!(!stdout.contains(secret), "stdout holds {secret:?}");
    }
}

#[test]
fn lambda_mode_without_the_function_variables_fails_cleanly() {
    let output = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("AWS_LAMBDA_FUNCTION_NAME is not set"), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}
