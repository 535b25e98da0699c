//! The rotation event Secrets Manager sends, owned by this crate.
//!
//! `aws_lambda_events` has no `RotationToken` field, and its serde errors would not say which field of the event is
//! wrong, so the event is parsed here, by hand, from a JSON value. The same parser serves the Lambda entry and the
//! local command line, so both reject the same events with the same words.

use serde_json::Value;

use crate::domain::{RotationToken, Step, VersionId, shown};

/// The payload of one invocation.
#[derive(Clone, Debug)]
pub struct RotationEvent {
    pub step: Step,
    /// ARN (real service) or name (emulators); both are passed to the API unchanged.
    pub secret_id: String,
    pub token: VersionId,
    pub rotation_token: Option<RotationToken>,
}

/// Why an event was refused. Names the field, never echoes `RotationToken`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("{}", shown(.0))]
    Unreadable(String),
    #[error("the event is not valid JSON: {}", shown(.0))]
    NotJson(String),
    #[error("the event must be a JSON object")]
    NotAnObject,
    #[error("the event has no \"{0}\" field")]
    Missing(&'static str),
    #[error("the event's \"{0}\" field must be a non-empty string")]
    NotAString(&'static str),
    #[error("unknown Step {0:?}: expected createSecret, setSecret, testSecret or finishSecret")]
    UnknownStep(String),
    #[error("the event's ClientRequestToken {0:?} is not a version id (1 to 64 printable ASCII characters)")]
    BadToken(String),
}

impl RotationEvent {
    /// Parses an event from its JSON text (local mode).
    pub fn from_json(text: &[u8]) -> Result<RotationEvent, EventError> {
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => RotationEvent::from_value(&value),
            // serde_json's message names a line and column, never the text around it.
            Err(err) => Err(EventError::NotJson(err.to_string())),
        }
    }

    /// Parses an event from the payload Lambda delivered.
    pub fn from_value(value: &Value) -> Result<RotationEvent, EventError> {
        let Some(fields) = value.as_object() else {
            return Err(EventError::NotAnObject);
        };
        let field = |name: &'static str| -> Result<&str, EventError> {
            match fields.get(name) {
                None | Some(Value::Null) => Err(EventError::Missing(name)),
                Some(Value::String(text)) if !text.is_empty() => Ok(text),
                Some(_) => Err(EventError::NotAString(name)),
            }
        };
        let rotation_token = match field("RotationToken") {
            Ok(token) => Some(RotationToken::new(token.to_owned())),
            Err(EventError::Missing(_)) => None,
            Err(err) => return Err(err),
        };
        Ok(RotationEvent {
            step: parse_step(field("Step")?)?,
            secret_id: field("SecretId")?.to_owned(),
            token: parse_token(field("ClientRequestToken")?)?,
            rotation_token,
        })
    }
}

fn parse_step(name: &str) -> Result<Step, EventError> {
    Step::parse(name).ok_or_else(|| EventError::UnknownStep(truncate(name, 64)))
}

fn parse_token(id: &str) -> Result<VersionId, EventError> {
    VersionId::new(id).ok_or_else(|| EventError::BadToken(truncate(id, 64)))
}

/// Bounds what an error message repeats of untrusted input.
fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, expected: Result<(Step, &str, &str, Option<&str>), EventError>) {
        let got = RotationEvent::from_json(json.as_bytes()).map(|event| {
            (
                event.step,
                event.secret_id.clone(),
                event.token.to_string(),
                event.rotation_token.as_ref().map(|t| t.expose().to_owned()),
            )
        });
        let expected =
            expected.map(|(step, id, token, rt)| (step, id.to_owned(), token.to_owned(), rt.map(str::to_owned)));
        assert_eq!(got, expected, "event {json}");
    }

    #[test]
    fn parses_events() {
        check(
            r#"{"Step":"createSecret","SecretId":"arn:aws:secretsmanager:us-east-1:1:secret:app","ClientRequestToken":"t-1"}"#,
            Ok((Step::Create, "arn:aws:secretsmanager:us-east-1:1:secret:app", "t-1", None)),
        );
        check(
            r#"{"Step":"finishSecret","SecretId":"app","ClientRequestToken":"t","RotationToken":"rt","Extra":1}"#,
            Ok((Step::Finish, "app", "t", Some("rt"))),
        );
        check(
            r#"{"Step":"testSecret","SecretId":"app","ClientRequestToken":"t","RotationToken":null}"#,
            Ok((Step::Test, "app", "t", None)),
        );
    }

    #[test]
    fn refuses_bad_events() {
        check(
            r#"{"Step":"rotateSecret","SecretId":"a","ClientRequestToken":"t"}"#,
            Err(EventError::UnknownStep("rotateSecret".into())),
        );
        check(
            r#"{"Step":"CreateSecret","SecretId":"a","ClientRequestToken":"t"}"#,
            Err(EventError::UnknownStep("CreateSecret".into())),
        );
        check(r#"{"SecretId":"a","ClientRequestToken":"t"}"#, Err(EventError::Missing("Step")));
        check(r#"{"Step":"setSecret","ClientRequestToken":"t"}"#, Err(EventError::Missing("SecretId")));
        check(r#"{"Step":"setSecret","SecretId":"a"}"#, Err(EventError::Missing("ClientRequestToken")));
        check(
            r#"{"Step":"setSecret","SecretId":"","ClientRequestToken":"t"}"#,
            Err(EventError::NotAString("SecretId")),
        );
        check(r#"{"Step":7,"SecretId":"a","ClientRequestToken":"t"}"#, Err(EventError::NotAString("Step")));
        check(
            r#"{"Step":"setSecret","SecretId":"a","ClientRequestToken":"t","RotationToken":5}"#,
            Err(EventError::NotAString("RotationToken")),
        );
        check(
            r#"{"Step":"setSecret","SecretId":"a","ClientRequestToken":"a b"}"#,
            Err(EventError::BadToken("a b".into())),
        );
        check(r#"["createSecret"]"#, Err(EventError::NotAnObject));
        assert!(matches!(RotationEvent::from_json(b"{\"Step\":"), Err(EventError::NotJson(_))));
    }

    #[test]
    fn rotation_token_is_redacted_in_debug() {
        let event = RotationEvent::from_json(
            br#"{"Step":"createSecret","SecretId":"a","ClientRequestToken":"t","RotationToken":"sekrit-token"}"#,
        )
        .unwrap();
        assert!(!format!("{event:?}").contains("sekrit-token"));
    }

    #[test]
    fn long_unknown_steps_are_truncated() {
        let step = "x".repeat(500);
        let err = parse_step(&step).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }
}
