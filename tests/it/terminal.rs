//! What a secret's writer or a database server wrote never reaches a terminal or a log raw. Secrets carrying escape
//! sequences (OSC 52 to the clipboard, a carriage return and an erase-line that forge an `ok` row, a C1 CSI, a bidi
//! override, a line break) in their `dbname`, `masterarn` and user name, and a server whose error message echoes
//! them, go through every operator's command and through the Lambda function's log line; no output holds a special
//! character other than the line breaks of its own layout — and each shows the hostile value, escaped, so the test
//! is not passing on silence.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;

use common::runtime_api::{Seen, fake_runtime_api};
use common::*;

/// OSC 52 (write the clipboard), then CR + erase-line + a forged row, a line break, a C1 CSI, DEL and a bidi
/// override.
const HOSTILE: &str = "app\u{1b}]52;c;cHduZWQ=\u{7}\r\u{1b}[2K  ok    secret   forged\n  ok\u{9b}31m\u{7f}\u{202e}gpj";

/// The characters no output may hold raw, defined apart from the code under test: every control character but the
/// line break, the bidirectional controls, and the line and paragraph separators.
fn raw_specials(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{2028}' | '\u{2029}')
        })
        .collect()
}

/// Whether `text` shows the hostile value's escape sequences as visible escapes (in text or as JSON `\u` escapes).
fn shows_escaped(text: &str) -> bool {
    text.contains("\\u{1b}]52") || text.contains("\\u001b]52") || text.contains("\\u{202e}") || text.contains("\\u202e")
}

#[tokio::test]
async fn no_command_and_no_log_line_writes_what_a_secret_or_server_wrote_raw() {
    let sm = sm().await;
    // 1. PostgreSQL, single user: a working login to a database whose name is hostile; the server's refusal echoes
    //    the name ("database … does not exist").
    let user = unique("term");
    pg_create_role(&user, "Term-Passw0rd-1").await;
    let db_secret = unique("term-dbname");
    let mut value = pg_secret(&user, "Term-Passw0rd-1");
    value["dbname"] = HOSTILE.into();
    create_secret(&sm, &db_secret, &value).await;
    // 2. MariaDB, alternating users, naming a master secret whose id is hostile (and does not exist).
    let alt_secret = unique("term-masterarn");
    let alt_user = unique("term_alt");
    Engine::Mariadb.create_user(&alt_user, "Term-Passw0rd-2").await;
    let masterarn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{HOSTILE}");
    create_secret(&sm, &alt_secret, &Engine::Mariadb.alternating_secret(&alt_user, "Term-Passw0rd-2", &masterarn))
        .await;
    // A rotation left pending on it, for cancel to judge.
    let token = stage_rotation(&sm, &alt_secret).await;
    let pending = Engine::Mariadb.alternating_secret(&format!("{alt_user}_clone"), "Term-Passw0rd-3", &masterarn);
    put_pending(&sm, &alt_secret, &token, &pending).await;
    // 3. PostgreSQL, single user, whose user name holds a bidi override (no control character: a valid name), and
    //    which rotates.
    let bidi_user = unique("term\u{202e}txt");
    pg_create_role(&bidi_user, "Term-Passw0rd-4").await;
    let bidi_secret = unique("term-bidi");
    create_secret(&sm, &bidi_secret, &pg_secret(&bidi_user, "Term-Passw0rd-4")).await;

    // The Lambda function's log line for a step that fails on the hostile database name (its server's message
    // echoes it), and its error reply. The rotation it leaves pending is the commands' to meet below.
    let db_token = stage_rotation(&sm, &db_secret).await;
    let steps = ["createSecret", "setSecret"].map(|step| service_event(&db_secret, db_token.as_str(), step));
    let (lambda_log, replies) = lambda_run(steps.to_vec());
    let mut raw = Vec::new();
    let found = raw_specials(&lambda_log);
    if !found.is_empty() {
        raw.push(format!("the Lambda function's log wrote {found:?}:\n{lambda_log}"));
    }
    let reply = replies.get(1).expect("the function answered both invocations");
    assert_eq!(reply.kind, "error", "{reply:?}");
    let message = reply.body["errorMessage"].as_str().unwrap_or_default();
    if !raw_specials(message).is_empty() {
        raw.push(format!("the Lambda function's error reply holds {:?}: {message:?}", raw_specials(message)));
    }
    let lambda_shown = shows_escaped(message) && shows_escaped(&lambda_log);

    let ca = env("TEST_TLS_CA");
    let settings = [("DB_EXTRA_CA_BUNDLE", ca.as_str()), ("MASTER_SECRET_ARNS", "*")];
    let function = env("TEST_ROTATION_FUNCTION_ARN");
    let all = [db_secret.as_str(), alt_secret.as_str(), bidi_secret.as_str()];
    let mut commands: Vec<Vec<&str>> = Vec::new();
    for secret in all {
        commands.push(vec!["check", secret]);
        commands.push(vec!["rotate", secret]);
    }
    for flags in [&[][..], &["--json"], &["--verify"], &["--verify", "--json"]] {
        let mut args = vec!["status"];
        args.extend_from_slice(&all);
        args.extend_from_slice(flags);
        commands.push(args);
    }
    let mut attach = vec!["attach"];
    attach.extend_from_slice(&all);
    attach.extend_from_slice(&["--function", &function, "--days", "30", "--no-rotate-now"]);
    commands.push(attach);
    commands.push(vec!["cancel", &alt_secret, "--force"]);
    commands.push(vec!["cancel", &db_secret]);
    // An event naming the hostile value as its secret.
    let event = serde_json::json!({"Step": "setSecret", "SecretId": HOSTILE, "ClientRequestToken": token.as_str()});
    let event_text = event.to_string();

    let mut shown = 0;
    for args in &commands {
        let output = run_binary(args, &settings, None);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        let found = raw_specials(&format!("{stdout}{stderr}"));
        if !found.is_empty() {
            raw.push(format!("{args:?} wrote {found:?}:\n{stdout}\n{stderr}"));
        }
        shown += usize::from(shows_escaped(&stdout) || shows_escaped(&stderr));
    }
    let output = run_binary(&["-"], &settings, Some(&event_text));
    let found = raw_specials(&format!("{}{}", text(&output.stdout), text(&output.stderr)));
    if !found.is_empty() {
        raw.push(format!("a step from stdin wrote {found:?}: {}", text(&output.stderr)));
    }

    let runs = commands.len() + 3;
    assert!(raw.is_empty(), "{} of {runs} outputs held raw special characters:\n{}", raw.len(), raw.join("\n"));
    assert!(lambda_shown, "the log line and the error reply show the value, escaped: {message:?} {lambda_log}");
    // Every check, status, attach and cancel run meets one of the hostile values; rotate of the working secret and
    // cancel of a secret with nothing pending print none.
    assert!(shown >= commands.len() - 3, "only {shown} of {} commands showed the hostile values", commands.len());
    assert!(pg_logs_in(&bidi_user, &password_of(&secret_value(&sm, &bidi_secret, "AWSCURRENT").await.unwrap())).await);
}

/// Runs the binary as the Lambda function on `events`; its stdout (the JSON log), and its replies.
fn lambda_run(events: Vec<serde_json::Value>) -> (String, Vec<common::runtime_api::Reply>) {
    let expected = events.len();
    let (address, seen) = fake_runtime_api(events);
    let log_path = std::env::temp_dir().join(unique("terminal-lambda"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rds-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(log_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut replies = Vec::new();
    while replies.len() < expected {
        match seen.recv_timeout(Duration::from_secs(30)) {
            Ok(Seen::Reply(reply)) => replies.push(reply),
            Ok(Seen::Next { .. }) => {}
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    capture(&log);
    std::fs::remove_file(&log_path).unwrap();
    (log, replies)
}
