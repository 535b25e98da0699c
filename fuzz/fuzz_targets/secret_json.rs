//! `DbSecret::parse` on arbitrary text, under three sets of function settings. A panic is a finding: the parser
//! panicked, or one of the checks in `shared/secret.rs` failed (an invalid value accepted, a secret that does not
//! survive `to_secret_string()`, a password in an error or a `Debug`).
//!
//! Here, too: `to_secret_string()` changes nothing of the JSON object but the password's place, and an accepted
//! `UserName` never prints a control character.

#![no_main]

#[path = "shared/json.rs"]
mod json;
#[path = "shared/secret.rs"]
mod secret;

use libfuzzer_sys::fuzz_target;
use rds_rotator::internal::{DbSecret, SecretDefaults, UserName, EngineKind};
use secrecy::ExposeSecret;
use serde_json::Value;

const DEFAULTS: [SecretDefaults; 3] = [
    SecretDefaults { engine: None, mysql_username_limit: None },
    SecretDefaults { engine: Some(EngineKind::AuroraPostgres), mysql_username_limit: None },
    SecretDefaults { engine: Some(EngineKind::Mariadb), mysql_username_limit: Some(16) },
];

fuzz_target!(|data: &[u8]| {
    // A SecretString is a String: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else { return };
    for defaults in &DEFAULTS {
        let Some(secret) = secret::check(text, defaults, |text| DbSecret::parse(text, defaults)) else { continue };
        // Every key of the user's own keeps its place, form and value.
        let value = serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(secret.to_secret_string().expose_secret(), value.to_string());
    }

    if let Ok(name) = UserName::new(text) {
        assert!(!name.to_string().chars().any(char::is_control), "{name}");
        assert!(!format!("{name:?}").chars().any(char::is_control), "{name:?}");
    }
});
