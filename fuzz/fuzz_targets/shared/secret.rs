//! The checks `secret_json` and `parse_master` share. A panic here is a finding.

use rds_rotator::internal::{DbSecret, MAX_SECRET_BYTES, Password, SecretDefaults, ShapeError, UserName};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::json::{canary, occurs_elsewhere};

/// Longest error message accepted: the parser repeats at most 40 characters of the engine's name, Debug-quoted.
const MAX_ERROR_CHARS: usize = 1000;

/// What a caller (a log line, an error) can see of a parse result.
pub fn shown(result: &Result<DbSecret, ShapeError>) -> String {
    match result {
        Ok(secret) => format!("{secret:?}"),
        Err(err) => format!("{err} / {err:?}"),
    }
}

/// Parses `text` with `parse` and checks what holds for every input: the result is valid, survives
/// `to_secret_string()`, and shows nothing of the password. Returns the parsed secret.
pub fn check(
    text: &str,
    defaults: &SecretDefaults,
    parse: impl Fn(&str) -> Result<DbSecret, ShapeError>,
) -> Option<DbSecret> {
    let result = parse(text);
    let shown_result = shown(&result);
    match &result {
        Ok(secret) => check_valid(secret, defaults),
        Err(err) => {
            let message = err.to_string();
            assert!(message.chars().count() <= MAX_ERROR_CHARS, "error of {} characters", message.chars().count());
        }
    }

    // The password's value must not matter to anything shown: the same object with a canary for a password
    // parses to the same error or the same Debug, and the canary shows nowhere.
    let value = serde_json::from_str::<Value>(text).ok();
    if let Some(Some(Value::String(password))) = value.as_ref().map(|value| value.get("password")) {
        let value = value.as_ref().unwrap();
        let canary = canary("Pw", text, value);
        let mut swapped = value.clone();
        swapped["password"] = Value::String(canary.clone());
        let swapped_result = parse(&swapped.to_string());
        let shown_swapped = shown(&swapped_result);
        assert!(!shown_swapped.contains(&canary), "the password shows: {shown_swapped}");
        // The size limit counts the text, password included: near it, the two texts can fall on either side.
        let too_large = |result: &Result<DbSecret, ShapeError>| matches!(result, Err(ShapeError::TooLarge { .. }));
        if !too_large(&result) && !too_large(&swapped_result) {
            assert_eq!(shown_result, shown_swapped, "what is shown depends on the password");
        }
        if let Ok(secret) = &swapped_result {
            assert_eq!(secret.password().expose_secret(), canary);
        }
        // The direct form: a password of 8 characters or more, found nowhere else in the input nor in what the
        // parser shows anyway (type and field names), is not in the output.
        if password.chars().count() >= 8
            && !occurs_elsewhere(value, "password", password)
            && !shown_swapped.contains(password.as_str())
        {
            assert!(!shown_result.contains(password.as_str()), "the password shows: {shown_result}");
        }
    }

    let secret = result.ok()?;
    if let Some(Value::Object(fields)) = &value {
        let Some(Value::String(password)) = fields.get("password") else { panic!("parsed without a password") };
        assert_eq!(secret.password().expose_secret(), password);
    }

    // Another password or another login: nothing else changes, and neither shows.
    let new_password = canary("New", text, value.as_ref().unwrap_or(&Value::Null));
    let renewed = secret.with_password(Password::new(new_password.clone()));
    assert_eq!(format!("{renewed:?}"), shown_result);
    if let Some(reparsed) = reparse(&renewed, defaults) {
        assert_eq!(reparsed.password().expose_secret(), new_password);
    }
    let clone_name = UserName::new("fuzz_clone").unwrap();
    let clone = secret.with_login(clone_name.clone(), Password::new(new_password.clone()));
    assert!(!format!("{clone:?}").contains(&new_password));
    if let Some(reparsed) = reparse(&clone, defaults) {
        assert_eq!((reparsed.username(), reparsed.target()), (&clone_name, secret.target()));
        assert_eq!(reparsed.password().expose_secret(), new_password);
    }
    Some(secret)
}

/// What `DbSecret::parse` promises about what it accepts.
fn check_valid(secret: &DbSecret, defaults: &SecretDefaults) {
    let target = secret.target();
    let host = target.host.as_str();
    let rds = secret.rds();
    for id in [&rds.instance, &rds.cluster].into_iter().flatten() {
        assert!((1..=63).contains(&id.len()), "RDS identifier {id:?}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "RDS identifier {id:?}");
    }
    if host.is_empty() {
        // No host: the RDS API resolves the endpoint of the instance or cluster the secret names.
        assert!(rds.instance.is_some() || rds.cluster.is_some(), "no host and no RDS identifier");
    } else {
        assert!(host.len() <= 253 && !host.starts_with('/'), "host {host:?}");
        assert!(host.chars().all(|c| c.is_ascii_graphic() && c != ','), "host {host:?}");
    }
    assert_ne!(target.port, 0);
    if let Some(dbname) = &target.dbname {
        assert!(!dbname.is_empty() && !dbname.contains('\0'), "dbname {dbname:?}");
    }
    let name = secret.username().as_str();
    assert!(!name.is_empty() && name.chars().count() <= UserName::MAX_CHARS, "username {name:?}");
    assert!(!name.chars().any(char::is_control), "username {name:?}");
    assert_eq!(target.engine.username_problem(name, defaults.mysql_username_limit), None, "username {name:?}");

    // What would be stored parses back to the same secret, and storing that again changes nothing.
    let Some(again) = reparse(secret, defaults) else { return };
    assert_eq!((again.target(), again.username(), again.rds()), (target, secret.username(), rds));
    assert_eq!(again.password().expose_secret(), secret.password().expose_secret());
    assert_eq!(again.masterarn(), secret.masterarn());
    assert_eq!(again.to_secret_string().expose_secret(), secret.to_secret_string().expose_secret());
}

/// `to_secret_string()` parsed again; `None` when it is over Secrets Manager's size limit, which createSecret
/// reports before storing anything.
fn reparse(secret: &DbSecret, defaults: &SecretDefaults) -> Option<DbSecret> {
    let stored = secret.to_secret_string();
    match DbSecret::parse(stored.expose_secret(), defaults) {
        Ok(again) => Some(again),
        Err(ShapeError::TooLarge { .. }) if stored.expose_secret().len() > MAX_SECRET_BYTES => None,
        Err(err) => panic!("to_secret_string() does not parse back: {err}"),
    }
}
