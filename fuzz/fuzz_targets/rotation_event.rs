//! `RotationEvent::from_json` on arbitrary bytes. A panic is a finding: the parser panicked, an accepted event
//! breaks what the parser promises, an error message is unbounded, or the RotationToken shows in an error or in
//! the event's `Debug`.

#![no_main]

#[path = "shared/json.rs"]
mod json;

use libfuzzer_sys::fuzz_target;
use rds_rotator::internal::{EventError, RotationEvent, Step};
use serde_json::Value;

/// Longest error message accepted: the parser repeats at most 64 characters of a Step or ClientRequestToken.
const MAX_ERROR_CHARS: usize = 1000;

fn shown(result: &Result<RotationEvent, EventError>) -> String {
    match result {
        Ok(event) => format!("{event:?}"),
        Err(err) => format!("{err} / {err:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let result = RotationEvent::from_json(data);
    let shown_result = shown(&result);
    match &result {
        Ok(event) => {
            assert!(Step::ALL.contains(&event.step));
            assert!(!event.secret_id.is_empty());
            let token = event.token.as_str();
            assert!((1..=64).contains(&token.len()), "ClientRequestToken {token:?}");
            assert!(token.bytes().all(|b| b.is_ascii_graphic()), "ClientRequestToken {token:?}");
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.chars().count() <= MAX_ERROR_CHARS, "error of {} characters", message.chars().count());
        }
    }

    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let rotation_token = match value.get("RotationToken") {
        Some(Value::String(token)) if !token.is_empty() => token,
        _ => {
            if let Ok(event) = &result {
                assert!(event.rotation_token.is_none());
            }
            return;
        }
    };
    if let Ok(event) = &result {
        assert_eq!(event.rotation_token.as_ref().map(|token| token.expose()), Some(rotation_token.as_str()));
    }

    // The token's value must not matter to anything shown: the same event with a canary for a token parses to
    // the same error or the same Debug, and the canary shows nowhere.
    let text = String::from_utf8_lossy(data);
    let canary = json::canary("Rt", &text, &value);
    let mut swapped = value.clone();
    swapped["RotationToken"] = Value::String(canary.clone());
    let swapped_result = RotationEvent::from_value(&swapped);
    let shown_swapped = shown(&swapped_result);
    assert!(!shown_swapped.contains(&canary), "the RotationToken shows: {shown_swapped}");
    assert_eq!(shown_result, shown_swapped, "what is shown depends on the RotationToken");
    // The direct form: a token of 8 characters or more, found nowhere else in the input nor in what the parser
    // shows anyway, is not in the output.
    if rotation_token.chars().count() >= 8
        && !json::occurs_elsewhere(&value, "RotationToken", rotation_token)
        && !shown_swapped.contains(rotation_token.as_str())
    {
        assert!(!shown_result.contains(rotation_token.as_str()), "the RotationToken shows: {shown_result}");
    }
});
