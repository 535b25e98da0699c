//! A corpus of hostile and broken inputs, each run through the Lambda entry as Secrets Manager would deliver it:
//! every one gets the error type alarms match and a message naming what is wrong, holds no password, and leaves the
//! database and the secret exactly as they were (asserted: the labels, the version values, the users' stored
//! verifiers or hashes, and a login with the original password).

use crate::common;

use aws_sdk_secretsmanager::primitives::Blob;
use common::*;
use lambda_runtime::{Context, LambdaEvent};
use rds_rotator::internal::{Metrics, handler::lambda_handler};
use serde_json::{Value, json};

const PASSWORD: &str = "Corpus-initial-Passw0rd";
const PENDING_PASSWORD: &str = "Corpus-pending-Passw0rd";

/// What a case does to an otherwise valid rotation.
enum Input {
    /// AWSCURRENT is this text; createSecret runs.
    Current(String),
    /// AWSCURRENT is the valid secret, edited; createSecret runs.
    Edit(fn(&mut Value)),
    /// AWSCURRENT is a SecretBinary; createSecret runs.
    Binary,
    /// AWSPENDING is the valid secret with a new password, edited; setSecret runs.
    Pending(fn(&mut Value)),
    /// AWSPENDING is this text; setSecret runs.
    PendingText(&'static str),
    /// This event (given the secret id and the staged token) instead of a well-formed one.
    Event(fn(&str, &str) -> Value),
    /// The secret names a master secret (alternating users) made by this function from the secret's id;
    /// setSecret runs.
    Master(fn(&str) -> MasterSecret),
}

enum MasterSecret {
    /// `masterarn` is this id, which names no secret made here.
    Named(String),
    /// A master secret with this value.
    Value(Value),
    /// A master secret with this text.
    Text(&'static str),
}

struct Case {
    name: &'static str,
    engine: Engine,
    input: Input,
    error_type: &'static str,
    /// The message names the problem with this.
    names: &'static str,
}

fn case(name: &'static str, input: Input, error_type: &'static str, names: &'static str) -> Case {
    Case { name, engine: Engine::Postgres, input, error_type, names }
}

fn remove(secret: &mut Value, key: &str) {
    secret.as_object_mut().unwrap().remove(key);
}

fn cases() -> Vec<Case> {
    use Input::*;
    let invalid = "InvalidSecret";
    let padded = {
        // A secret that fits Secrets Manager's limit, but whose new version, with a 32-character password in place
        // of a 1-character one, would not.
        let mut secret =
            json!({"engine": "postgres", "host": "127.0.0.1", "username": "u", "password": "p", "notes": ""});
        let room = 65_536 - secret.to_string().len() - 10;
        secret["notes"] = "n".repeat(room).into();
        secret.to_string()
    };
    vec![
        case("truncated JSON", Current(r#"{"username": "app", "password": "#.into()), invalid, "not valid JSON"),
        case("a JSON array", Current("[1, 2]".into()), invalid, "not a JSON object"),
        case("a JSON string", Current(r#""postgres://app:pw@db/app""#.into()), invalid, "not a JSON object"),
        case("JSON null", Current("null".into()), invalid, "not a JSON object"),
        case("blank", Current("   ".into()), invalid, "not valid JSON"),
        case("an empty object", Current("{}".into()), invalid, "no \""),
        case("no username", Edit(|s| remove(s, "username")), invalid, "no \"username\" key"),
        case("no password", Edit(|s| remove(s, "password")), invalid, "no \"password\" key"),
        case("no host", Edit(|s| remove(s, "host")), invalid, "no \"host\" key"),
        case("username a number", Edit(|s| s["username"] = 7.into()), invalid, "\"username\""),
        case("password a number", Edit(|s| s["password"] = 12345.into()), invalid, "\"password\""),
        case("password null", Edit(|s| s["password"] = Value::Null), invalid, "\"password\""),
        case("host a number", Edit(|s| s["host"] = 10.into()), invalid, "\"host\""),
        case("port a word", Edit(|s| s["port"] = "fifty".into()), invalid, "\"port\""),
        case("port zero", Edit(|s| s["port"] = 0.into()), invalid, "\"port\""),
        case("port too large", Edit(|s| s["port"] = 70000.into()), invalid, "\"port\""),
        case("port negative", Edit(|s| s["port"] = (-1).into()), invalid, "\"port\""),
        case("port fractional", Edit(|s| s["port"] = 5432.5.into()), invalid, "\"port\""),
        case("unknown engine", Edit(|s| s["engine"] = "oracle-ee".into()), invalid, "\"engine\""),
        case("engine a number", Edit(|s| s["engine"] = 5.into()), invalid, "\"engine\""),
        case("engine empty", Edit(|s| s["engine"] = "".into()), invalid, "\"engine\""),
        case("no engine, no DEFAULT_ENGINE", Edit(|s| remove(s, "engine")), invalid, "DEFAULT_ENGINE"),
        case("username empty", Edit(|s| s["username"] = "".into()), invalid, "\"username\""),
        case("username with NUL", Edit(|s| s["username"] = "app\u{0}x".into()), invalid, "control character"),
        case(
            "username with a newline",
            Edit(|s| s["username"] = "app\nlevel=ERROR".into()),
            invalid,
            "control character",
        ),
        case("username of 200 characters", Edit(|s| s["username"] = "a".repeat(200).into()), invalid, "\"username\""),
        case("host empty", Edit(|s| s["host"] = "".into()), invalid, "\"host\""),
        case("host a socket path", Edit(|s| s["host"] = "/var/run/postgresql".into()), invalid, "\"host\""),
        case("host a list", Edit(|s| s["host"] = "db1,db2".into()), invalid, "\"host\""),
        case("ssl neither true nor false", Edit(|s| s["ssl"] = "maybe".into()), invalid, "\"ssl\""),
        case("dbname a number", Edit(|s| s["dbname"] = 5.into()), invalid, "\"dbname\""),
        case("masterarn a number", Edit(|s| s["masterarn"] = 5.into()), invalid, "\"masterarn\""),
        case(
            "tlsServerName an IP address",
            Edit(|s| s["tlsServerName"] = "10.0.0.7".into()),
            invalid,
            "\"tlsServerName\"",
        ),
        case(
            "tlsServerName with a port",
            Edit(|s| s["tlsServerName"] = "db.example.com:5432".into()),
            invalid,
            "\"tlsServerName\"",
        ),
        case("tlsServerName a number", Edit(|s| s["tlsServerName"] = 5.into()), invalid, "\"tlsServerName\""),
        case(
            "dbInstanceIdentifier with a space",
            Edit(|s| s["dbInstanceIdentifier"] = "db 1; drop".into()),
            invalid,
            "\"dbInstanceIdentifier\"",
        ),
        case(
            "dbClusterIdentifier a number",
            Edit(|s| s["dbClusterIdentifier"] = 7.into()),
            invalid,
            "\"dbClusterIdentifier\"",
        ),
        case("a new version over the size limit", Current(padded), invalid, "limit of 65536 bytes"),
        case("a binary secret", Binary, "MissingVersion", "SecretBinary"),
        Case {
            name: "MariaDB username over 80 characters",
            engine: Engine::Mariadb,
            input: Edit(|s| s["username"] = "m".repeat(81).into()),
            error_type: invalid,
            names: "\"username\"",
        },
        case("pending for another engine", Pending(|s| s["engine"] = "mysql".into()), "PendingMismatch", "engine"),
        case("pending for another host", Pending(|s| s["host"] = "evil.example".into()), "PendingMismatch", "host"),
        case("pending for another port", Pending(|s| s["port"] = 5433.into()), "PendingMismatch", "port"),
        case(
            "pending naming an RDS instance the current version does not",
            Pending(|s| s["dbInstanceIdentifier"] = "other-db".into()),
            "PendingMismatch",
            "dbInstanceIdentifier",
        ),
        case(
            "pending for the administrator",
            Pending(|s| s["username"] = env("TEST_PG_ADMIN_USER").into()),
            "PendingMismatch",
            "username",
        ),
        case("pending not JSON", PendingText("password=hunter2"), invalid, "AWSPENDING"),
        case("pending without a password", Pending(|s| remove(s, "password")), invalid, "no \"password\" key"),
        case(
            "event without Step",
            Event(|id, t| json!({"SecretId": id, "ClientRequestToken": t})),
            "InvalidEvent",
            "Step",
        ),
        case(
            "event with an unknown Step",
            Event(|id, t| json!({"Step": "rotateSecret", "SecretId": id, "ClientRequestToken": t})),
            "InvalidEvent",
            "unknown Step \"rotateSecret\"",
        ),
        case(
            "event with a numeric Step",
            Event(|id, t| json!({"Step": 1, "SecretId": id, "ClientRequestToken": t})),
            "InvalidEvent",
            "Step",
        ),
        case(
            "event without SecretId",
            Event(|_, t| json!({"Step": "createSecret", "ClientRequestToken": t})),
            "InvalidEvent",
            "SecretId",
        ),
        case(
            "event without ClientRequestToken",
            Event(|id, _| json!({"Step": "createSecret", "SecretId": id})),
            "InvalidEvent",
            "ClientRequestToken",
        ),
        case(
            "event with an empty ClientRequestToken",
            Event(|id, _| json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": ""})),
            "InvalidEvent",
            "ClientRequestToken",
        ),
        case(
            "event with a ClientRequestToken holding a newline",
            Event(|id, _| json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": "a\nb"})),
            "InvalidEvent",
            "ClientRequestToken",
        ),
        case(
            "event with a numeric RotationToken",
            Event(|id, t| json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": t, "RotationToken": 7})),
            "InvalidEvent",
            "RotationToken",
        ),
        case("event that is an array", Event(|_, _| json!(["createSecret"])), "InvalidEvent", "must be a JSON object"),
        case(
            "event for a token that is no version of the secret",
            Event(|id, _| json!({"Step": "setSecret", "SecretId": id, "ClientRequestToken": new_token().as_str()})),
            "StageError",
            "not a version",
        ),
        case(
            "masterarn naming the secret itself",
            Master(|id| MasterSecret::Named(id.to_owned())),
            "MasterSecretError",
            "itself",
        ),
        case(
            "masterarn naming no secret",
            Master(|_| MasterSecret::Named(unique("no-such-master"))),
            "MasterSecretError",
            "does not exist",
        ),
        case(
            "masterarn naming a MariaDB master secret",
            Master(|_| MasterSecret::Value(json!({"engine": "mariadb", "username": "root", "password": "x"}))),
            "MasterSecretError",
            "engine mariadb",
        ),
        case(
            "masterarn naming a non-JSON secret",
            Master(|_| MasterSecret::Text("root:hunter2")),
            "MasterSecretError",
            "not valid JSON",
        ),
        case(
            "masterarn naming a master secret without a host or RDS tags",
            Master(|_| MasterSecret::Value(json!({"username": "postgres", "password": "x"}))),
            "MasterSecretError",
            "holds no host",
        ),
        case(
            "masterarn naming a master secret on another host",
            Master(|_| {
                MasterSecret::Value(
                    json!({"engine": "postgres", "username": "postgres", "password": "x", "host": "elsewhere.example"}),
                )
            }),
            "MasterSecretError",
            "only where its own secret says",
        ),
        case(
            "masterarn naming a master secret with a host but no engine (the rotated secret would pick its protocol)",
            Master(|_| MasterSecret::Value(json!({"username": "postgres", "password": "x", "host": "127.0.0.1"}))),
            "MasterSecretError",
            "holds a \"host\" but no \"engine\"",
        ),
        case(
            "masterarn naming a master secret without a password",
            Master(|_| MasterSecret::Value(json!({"username": "postgres"}))),
            "MasterSecretError",
            "no \"password\" key",
        ),
    ]
}

#[tokio::test]
async fn every_hostile_input_is_named_and_changes_nothing() {
    let sm = sm().await;
    let rotator = rotator().await;
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let name = case.name;
        let engine = case.engine;
        let user = unique("corpus");
        engine.create_user(&user, PASSWORD).await;
        let valid = engine.secret(&user, PASSWORD);
        let secret_id = unique("corpus-secret");
        match &case.input {
            Input::Current(text) => {
                sm.create_secret().name(&secret_id).secret_string(text).send().await.expect("create secret");
            }
            Input::Edit(edit) => {
                let mut secret = valid.clone();
                edit(&mut secret);
                create_secret(&sm, &secret_id, &secret).await;
            }
            Input::Binary => {
                let blob = Blob::new(valid.to_string().into_bytes());
                sm.create_secret().name(&secret_id).secret_binary(blob).send().await.expect("create secret");
            }
            Input::Master(master) => {
                let masterarn = match master(&secret_id) {
                    MasterSecret::Named(id) => id,
                    MasterSecret::Value(value) => {
                        let id = unique("corpus-master");
                        create_secret(&sm, &id, &value).await;
                        id
                    }
                    MasterSecret::Text(text) => {
                        let id = unique("corpus-master");
                        sm.create_secret().name(&id).secret_string(text).send().await.expect("create secret");
                        id
                    }
                };
                let mut secret = valid.clone();
                secret["masterarn"] = masterarn.into();
                create_secret(&sm, &secret_id, &secret).await;
            }
            _ => create_secret(&sm, &secret_id, &valid).await,
        }
        let token = stage_rotation(&sm, &secret_id).await;
        let step = match &case.input {
            Input::Pending(edit) => {
                let mut pending = engine.secret(&user, PENDING_PASSWORD);
                edit(&mut pending);
                put_pending(&sm, &secret_id, &token, &pending).await;
                "setSecret"
            }
            Input::PendingText(text) => {
                sm.put_secret_value()
                    .secret_id(&secret_id)
                    .client_request_token(token.as_str())
                    .secret_string(*text)
                    .version_stages("AWSPENDING")
                    .rotation_token(rotation_token_of(&secret_id, &token))
                    .send()
                    .await
                    .unwrap();
                "setSecret"
            }
            Input::Master(_) => {
                // createSecret works (it needs no master); setSecret is where the master is used.
                let create = service_event(&secret_id, token.as_str(), "createSecret");
                let invocation = LambdaEvent::new(create, Context::default());
                lambda_handler(&rotator, &Metrics::disabled(), invocation).await.unwrap();
                "setSecret"
            }
            _ => "createSecret",
        };

        let labels = versions(&sm, &secret_id).await;
        let current = secret_text(&sm, &secret_id, "AWSCURRENT").await;
        let pending = secret_text(&sm, &secret_id, "AWSPENDING").await;
        let users = engine.users(&user).await;

        let payload = match &case.input {
            Input::Event(make) => make(&secret_id, token.as_str()),
            _ => service_event(&secret_id, token.as_str(), step),
        };
        let result =
            lambda_handler(&rotator, &Metrics::disabled(), LambdaEvent::new(payload, Context::default())).await;
        let diagnostic = result.err().unwrap_or_else(|| panic!("{name}: no error"));
        capture(&format!("{diagnostic:?}"));
        let message = &diagnostic.error_message;
        assert_eq!(diagnostic.error_type, case.error_type, "{name}: {message}");
        assert!(message.contains(case.names), "{name}: the message does not name {:?}: {message}", case.names);
        for secret in [PASSWORD, PENDING_PASSWORD, "hunter2"] {
            assert!(!message.contains(secret), "{name}: the message holds a password: {message}");
        }

        assert_eq!(versions(&sm, &secret_id).await, labels, "{name}: the labels changed");
        assert_eq!(secret_text(&sm, &secret_id, "AWSCURRENT").await, current, "{name}: AWSCURRENT changed");
        assert_eq!(secret_text(&sm, &secret_id, "AWSPENDING").await, pending, "{name}: AWSPENDING changed");
        assert_eq!(engine.users(&user).await, users, "{name}: the database changed");
        assert!(engine.logs_in(&user, PASSWORD).await, "{name}: the original password no longer logs in");
    }
}
