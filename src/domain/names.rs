//! Who logs in: a database user's name, its password, and the two together.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A database password. `Debug` is redacted, there is no `Display` or `Serialize`, and the value is wiped on drop.
/// Reading it takes `expose_secret()`: `grep -rn expose_secret src/` lists every reader (ARCHITECTURE.md).
#[derive(Clone)]
pub struct Password(SecretString);

/// A database user name taken from a secret: untrusted input, validated here and quoted wherever it reaches SQL.
#[derive(Clone, PartialEq, Eq)]
pub struct UserName(String);

/// The credentials of one login attempt, borrowed from a `DbSecret`.
#[derive(Clone, Copy, Debug)]
pub struct Login<'a> {
    pub user: &'a UserName,
    pub password: &'a Password,
}

impl Password {
    pub fn new(password: String) -> Password {
        Password(SecretString::from(password))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl UserName {
    /// The longest name any supported engine accepts; each engine applies its own, tighter limit too.
    pub const MAX_CHARS: usize = 128;

    /// Accepts any name a database could hold — quotes, backslashes, semicolons and spaces included, since those
    /// are quoted, never interpolated — but no control characters (NUL cannot be stored, and a newline would forge
    /// log lines), and not empty.
    pub fn new(name: &str) -> Result<UserName, String> {
        if name.is_empty() {
            return Err("is empty".to_owned());
        }
        if name.chars().any(char::is_control) {
            return Err("contains a control character".to_owned());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!("is longer than {} characters", Self::MAX_CHARS));
        }
        Ok(UserName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug-quoted so a hostile name cannot pass for something else in a message, and what Debug leaves as it
        // is but shows as nothing (the blank fillers) escaped too.
        write!(f, "{}", super::text::shown(&format!("{:?}", self.0)))
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user name (never a control character) is shown quoted, with bidi controls and the blank fillers escaped: one name cannot
    /// pass for another, or for nothing, in a message.
    #[test]
    fn a_user_name_is_shown_quoted_and_escaped() {
        let name = UserName::new("app\u{3164}\u{202e}\"x").unwrap();
        assert_eq!(name.to_string(), r#""app\u{3164}\u{202e}\"x""#);
    }
}
