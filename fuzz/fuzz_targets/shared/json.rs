//! JSON helpers the targets share: where a string occurs in an input, and a canary that occurs nowhere in it.

use serde_json::Value;

/// Whether `needle` occurs in a key, a string value or a number anywhere in `value`.
pub fn occurs_in(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(text) => text.contains(needle),
        Value::Number(number) => number.to_string().contains(needle),
        Value::Array(items) => items.iter().any(|item| occurs_in(item, needle)),
        Value::Object(fields) => fields.iter().any(|(key, value)| key.contains(needle) || occurs_in(value, needle)),
        Value::Null | Value::Bool(_) => false,
    }
}

/// Whether `needle` occurs anywhere in the object `value` other than in the value of its top-level key `skip`
/// (the key's name itself counts).
pub fn occurs_elsewhere(value: &Value, skip: &str, needle: &str) -> bool {
    match value {
        Value::Object(fields) => {
            fields.iter().any(|(key, value)| key.contains(needle) || (key != skip && occurs_in(value, needle)))
        }
        other => occurs_in(other, needle),
    }
}

/// A plain ASCII string found neither in `text` nor in any string of `value`, to stand in for a secret: it must
/// then appear in no output, and the output must be the same as with the real secret.
pub fn canary(label: &str, text: &str, value: &Value) -> String {
    (0u32..)
        .map(|n| format!("Zq7{label}Canary{n}x"))
        .find(|canary| !text.contains(canary.as_str()) && !occurs_in(value, canary))
        .expect("some canary is unused")
}
