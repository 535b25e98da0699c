//! MySQL-family authentication plugins: which one an account uses, and the string each stores for a password,
//! computed here so the server receives that string instead of the password.
//!
//! - `mysql_native_password`: `*` + upper-case hex of SHA1(SHA1(password)).
//! - `caching_sha2_password` (MySQL 8+): `$A$005$` + 20-byte salt + 43-character SHA-256-crypt digest (Drepper's
//!   algorithm with 5000 rounds, but a 20-byte salt where glibc's crypt(3) stops at 16).
//! - MariaDB `ed25519`: the Ed25519 public key of the clamped first half of SHA512(password), base64 without padding.
//!
//! Each is checked below against vectors published by the servers' own test suites.

use std::fmt;

use base64::Engine as _;
use curve25519_dalek::EdwardsPoint;
use rand::rngs::{StdRng, SysRng};
use rand::{RngExt, SeedableRng};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// The plugins whose stored form this crate can compute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AuthPlugin {
    MysqlNative,
    CachingSha2,
    Ed25519,
    /// Any other plugin: no hash form here, so a password literal is the only way.
    Other(String),
}

/// How an account authenticates, as `SHOW CREATE USER` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AccountAuth {
    Plugin(AuthPlugin),
    /// More than one factor or alternative (`… OR …`, `… AND IDENTIFIED …`): not rotated by this function.
    Several,
}

/// caching_sha2_password's rounds: "005" means 5 × 1000.
const SHA2_ROUNDS: usize = 5000;
const SHA2_SALT_LEN: usize = 20;
/// The salt's characters: MySQL's own salts avoid NUL and `$`; these also need no quoting anywhere.
const SALT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// SHA-crypt's base64 alphabet.
const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl AuthPlugin {
    pub(crate) fn from_name(name: &str) -> AuthPlugin {
        match name.to_ascii_lowercase().as_str() {
            "mysql_native_password" => AuthPlugin::MysqlNative,
            "caching_sha2_password" => AuthPlugin::CachingSha2,
            "ed25519" => AuthPlugin::Ed25519,
            _ => AuthPlugin::Other(name.to_owned()),
        }
    }

    /// The name SQL uses for the plugin.
    pub(crate) fn name(&self) -> &str {
        match self {
            AuthPlugin::MysqlNative => "mysql_native_password",
            AuthPlugin::CachingSha2 => "caching_sha2_password",
            AuthPlugin::Ed25519 => "ed25519",
            AuthPlugin::Other(name) => name,
        }
    }
}

impl fmt::Display for AuthPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `mysql_native_password`'s stored form.
pub fn native_hash(password: &[u8]) -> String {
    let twice = Sha1::digest(Sha1::digest(password));
    let hex: String = twice.iter().map(|b| format!("{b:02X}")).collect();
    format!("*{hex}")
}

/// `caching_sha2_password`'s stored form, with a fresh random salt.
pub(crate) fn caching_sha2_hash(password: &[u8]) -> Result<String, String> {
    let mut rng = StdRng::try_from_rng(&mut SysRng).map_err(|err| err.to_string())?;
    let salt: Vec<u8> = (0..SHA2_SALT_LEN).map(|_| SALT_ALPHABET[rng.random_range(0..SALT_ALPHABET.len())]).collect();
    let digest = sha256_crypt(password, &salt, SHA2_ROUNDS);
    // The salt and digest alphabets are ASCII, so the bytes are valid UTF-8.
    Ok(format!("$A$005${}{digest}", String::from_utf8_lossy(&salt)))
}

/// Whether `stored` (an account's `authentication_string`) is what `plugin` stores for `password`; `None` where this
/// build cannot tell (another plugin, or a stored form it does not read).
pub(crate) fn stored_form_matches(plugin: &AuthPlugin, stored: &[u8], password: &[u8]) -> Option<bool> {
    match plugin {
        AuthPlugin::MysqlNative => Some(stored.eq_ignore_ascii_case(native_hash(password).as_bytes())),
        AuthPlugin::Ed25519 => {
            let stored = std::str::from_utf8(stored).ok()?.trim_end_matches('=');
            Some(stored == ed25519_hash(password))
        }
        AuthPlugin::CachingSha2 => {
            // `$A$` + rounds in thousands (3 hex digits) + `$` + a 20-byte salt + the 43-character digest.
            let rest = stored.strip_prefix(b"$A$")?;
            let (rounds, rest) = (std::str::from_utf8(rest.get(..3)?).ok()?, rest.get(3..)?);
            let rest = rest.strip_prefix(b"$")?;
            let rounds = usize::from_str_radix(rounds, 16).ok()?.checked_mul(1000)?;
            if rest.len() != SHA2_SALT_LEN + 43 || rounds == 0 || rounds > 1_000_000 {
                return None;
            }
            let (salt, digest) = rest.split_at(SHA2_SALT_LEN);
            Some(sha256_crypt(password, salt, rounds).as_bytes() == digest)
        }
        _ => None,
    }
}

/// MariaDB `ed25519`'s stored form.
pub(crate) fn ed25519_hash(password: &[u8]) -> String {
    let digest = Sha512::digest(password);
    let mut scalar = [0u8; 32];
    scalar.copy_from_slice(&digest[..32]);
    let public = EdwardsPoint::mul_base_clamped(scalar).compress();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(public.as_bytes())
}

/// SHA-256-crypt (Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", steps 1-21) without the `$5$` framing:
/// the 43-character digest of `password` with `salt` (any length) and `rounds`.
pub(crate) fn sha256_crypt(password: &[u8], salt: &[u8], rounds: usize) -> String {
    let b = Sha256::new().chain_update(password).chain_update(salt).chain_update(password).finalize();
    let mut a = Sha256::new().chain_update(password).chain_update(salt);
    let mut remaining = password.len();
    while remaining > 32 {
        a.update(b);
        remaining -= 32;
    }
    a.update(&b[..remaining]);
    let mut length = password.len();
    while length > 0 {
        if length & 1 == 1 {
            a.update(b);
        } else {
            a.update(password);
        }
        length >>= 1;
    }
    let a = a.finalize();
    let mut dp = Sha256::new();
    for _ in 0..password.len() {
        dp.update(password);
    }
    let p_bytes = repeat_to(&dp.finalize(), password.len());
    let mut ds = Sha256::new();
    for _ in 0..16 + a[0] as usize {
        ds.update(salt);
    }
    let s_bytes = repeat_to(&ds.finalize(), salt.len());
    let mut c = a;
    for round in 0..rounds {
        let mut ctx = Sha256::new();
        if round % 2 == 1 {
            ctx.update(&p_bytes);
        } else {
            ctx.update(c);
        }
        if round % 3 != 0 {
            ctx.update(&s_bytes);
        }
        if round % 7 != 0 {
            ctx.update(&p_bytes);
        }
        if round % 2 == 1 {
            ctx.update(c);
        } else {
            ctx.update(&p_bytes);
        }
        c = ctx.finalize();
    }
    const ORDER: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = String::with_capacity(43);
    let mut emit = |b2: u8, b1: u8, b0: u8, chars: usize| {
        let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..chars {
            out.push(CRYPT_ALPHABET[(w & 0x3f) as usize] as char);
            w >>= 6;
        }
    };
    for (i, j, k) in ORDER {
        emit(c[i], c[j], c[k], 4);
    }
    emit(0, c[31], c[30], 3);
    out
}

fn repeat_to(digest: &[u8], length: usize) -> Vec<u8> {
    digest.iter().copied().cycle().take(length).collect()
}

/// Reads the authentication clause of a `SHOW CREATE USER` line, MySQL's
/// (`` CREATE USER `u`@`h` IDENTIFIED WITH 'caching_sha2_password' AS '…' ``) or MariaDB's
/// (`` CREATE USER `u`@`h` IDENTIFIED BY PASSWORD '*…' `` / `IDENTIFIED VIA ed25519 USING '…'`). The user and host
/// are skipped as quoted tokens, so a hostile name cannot pass for a clause.
pub(crate) fn account_auth(show_create_user: &str) -> Result<AccountAuth, String> {
    let unexpected = || "SHOW CREATE USER returned an unexpected form".to_owned();
    let rest = show_create_user.trim_start().strip_prefix("CREATE USER ").ok_or_else(unexpected)?;
    let rest = skip_quoted(rest).ok_or_else(unexpected)?;
    let rest = rest.strip_prefix('@').ok_or_else(unexpected)?;
    let rest = skip_quoted(rest).ok_or_else(unexpected)?.trim_start();
    let Some(auth) = strip_keyword(rest, "IDENTIFIED") else {
        // No IDENTIFIED clause: no password yet, which the default plugin would hold.
        return Ok(AccountAuth::Plugin(AuthPlugin::MysqlNative));
    };
    if strip_keyword(auth, "BY").and_then(|r| strip_keyword(r, "PASSWORD")).is_some() {
        return Ok(AccountAuth::Plugin(AuthPlugin::MysqlNative));
    }
    let (plugin, after, value_keyword) = if let Some(r) = strip_keyword(auth, "WITH") {
        let (name, after) = read_name(r).ok_or_else(unexpected)?;
        (name, after, "AS")
    } else if let Some(r) = strip_keyword(auth, "VIA") {
        let (name, after) = read_name(r).ok_or_else(unexpected)?;
        (name, after, "USING")
    } else {
        return Err(unexpected());
    };
    // Skip the stored value, then look for a second factor or alternative.
    let mut after = after.trim_start();
    if let Some(value) = strip_keyword(after, value_keyword) {
        after = if value.starts_with("0x") || value.starts_with("0X") {
            value.trim_start_matches(|c: char| c.is_ascii_alphanumeric())
        } else {
            skip_quoted(value).ok_or_else(unexpected)?
        };
    }
    let after = after.trim_start();
    if strip_keyword(after, "OR").is_some() || strip_keyword(after, "AND").is_some() {
        return Ok(AccountAuth::Several);
    }
    Ok(AccountAuth::Plugin(AuthPlugin::from_name(&plugin)))
}

/// `text` without a leading keyword (any case) and the whitespace after it.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    let rest = &text[keyword.len()..];
    let ends = rest.is_empty() || rest.starts_with(char::is_whitespace);
    (head.eq_ignore_ascii_case(keyword) && ends).then(|| rest.trim_start())
}

/// A plugin name, bare or quoted, and what follows it.
fn read_name(text: &str) -> Option<(String, &str)> {
    match text.chars().next()? {
        '\'' | '`' | '"' => {
            let rest = skip_quoted(text)?;
            let inner = &text[1..text.len() - rest.len() - 1];
            Some((inner.to_owned(), rest))
        }
        _ => {
            let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
            (end > 0).then(|| (text[..end].to_owned(), &text[end..]))
        }
    }
}

/// What follows a quoted token: backticks escape by doubling; quotes also by backslash.
fn skip_quoted(text: &str) -> Option<&str> {
    let quote = text.chars().next().filter(|c| matches!(c, '`' | '\'' | '"'))?;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && quote != '`' {
            chars.next();
        } else if c == quote {
            if chars.peek().map(|(_, next)| *next) == Some(quote) {
                chars.next();
            } else {
                return Some(&text[i + 1..]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn native_vectors() {
        // MariaDB's show_create_user.result and the MySQL manual.
        assert_eq!(native_hash(b"password"), "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
        assert_eq!(native_hash(b"123456"), "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9");
        assert_eq!(native_hash(b"p1"), "*9F75CEF7FD0C75DC40611DD8F86B6FFF569BF56D");
    }

    #[test]
    fn sha256_crypt_matches_drepper() {
        // The reference vector of Drepper's specification: "$5$saltstring" and "Hello world!".
        assert_eq!(sha256_crypt(b"Hello world!", b"saltstring", 5000), "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5");
    }

    #[test]
    fn caching_sha2_vectors() {
        // TiDB's caching_sha2_test.go ("foobar") and the MySQL manual's SHOW CREATE USER page ("secret"), as stored
        // by MySQL: $A$005$, 20 raw salt bytes (the second has a newline), 43 digest characters.
        for (password, stored) in [
            (
                "foobar",
                "24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537",
            ),
            (
                "secret",
                "244124303035240C7745603626313D613C4C10633E0A104B1E14135A544A7871567245614F4872344643546336546F624F6C7861326932752F45622F4F473273597557627139",
            ),
        ] {
            let stored = unhex(stored);
            assert_eq!(&stored[..7], b"$A$005$");
            let (salt, digest) = (&stored[7..27], &stored[27..]);
            assert_eq!(sha256_crypt(password.as_bytes(), salt, 5000).as_bytes(), digest, "{password}");
        }
    }

    #[test]
    fn caching_sha2_hashes_have_the_stored_shape() {
        let hash = caching_sha2_hash(b"x").unwrap();
        assert_eq!(hash.len(), 70);
        assert!(hash.starts_with("$A$005$"));
        assert!(hash[7..].bytes().all(|b| SALT_ALPHABET.contains(&b)), "{hash}");
        assert_ne!(hash, caching_sha2_hash(b"x").unwrap(), "fresh salt");
        let salt = &hash.as_bytes()[7..27];
        assert_eq!(&hash[27..], sha256_crypt(b"x", salt, 5000));
    }

    #[test]
    fn stored_forms_are_recognised() {
        let pw = b"Passw0rd!";
        assert_eq!(stored_form_matches(&AuthPlugin::MysqlNative, native_hash(pw).as_bytes(), pw), Some(true));
        let lower = native_hash(pw).to_lowercase();
        assert_eq!(stored_form_matches(&AuthPlugin::MysqlNative, lower.as_bytes(), pw), Some(true));
        assert_eq!(stored_form_matches(&AuthPlugin::MysqlNative, native_hash(b"other").as_bytes(), pw), Some(false));
        assert_eq!(stored_form_matches(&AuthPlugin::Ed25519, ed25519_hash(pw).as_bytes(), pw), Some(true));
        let sha2 = caching_sha2_hash(pw).unwrap();
        assert_eq!(stored_form_matches(&AuthPlugin::CachingSha2, sha2.as_bytes(), pw), Some(true));
        assert_eq!(stored_form_matches(&AuthPlugin::CachingSha2, sha2.as_bytes(), b"other"), Some(false));
        assert_eq!(stored_form_matches(&AuthPlugin::CachingSha2, b"$A$005$short", pw), None);
        assert_eq!(stored_form_matches(&AuthPlugin::Other("pam".into()), b"", pw), None);
    }

    #[test]
    fn ed25519_vectors() {
        // MariaDB's mysql-test/suite/plugins/r/auth_ed25519.result.
        for (password, stored) in [
            ("foo", "vubFBzIrapbfHct1/J72dnUryz5VS7lA6XHH8sIx4TI"),
            ("foobar", "qv2mG6HWCuy32Slb5xhV4THStewNz2VINVPbgk+XAJ8"),
            ("foo bar", "Y5fV74JAVRMOK2cdnUsYS+WW9sXaaL/o+6WGKOgqnzc"),
            ("bar", "pfzkeWMzkTefY1oshXS+/kATeN51M+4jxi3/cbyTd10"),
            ("secret", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"),
        ] {
            assert_eq!(ed25519_hash(password.as_bytes()), stored, "{password}");
        }
    }

    fn check(line: &str, expected: Result<AccountAuth, ()>) {
        assert_eq!(account_auth(line).map_err(drop), expected, "{line}");
    }

    #[test]
    fn reads_the_account_plugin() {
        use AccountAuth::*;
        use AuthPlugin::*;
        // MariaDB 10.11, as seen on the local server.
        check(
            "CREATE USER `nat`@`%` IDENTIFIED BY PASSWORD '*2B602296A79E0A8784ACC5C88D92E46588CCA3C3'",
            Ok(Plugin(MysqlNative)),
        );
        check(
            "CREATE USER `ed`@`127.0.0.1` IDENTIFIED VIA ed25519 USING 'iGRouygp5VwPhO1Nw3XHv2nRNSJmY6g6Clsn5zqjRqU'",
            Ok(Plugin(Ed25519)),
        );
        check(
            r"CREATE USER `we'ird\\x`@`%` IDENTIFIED BY PASSWORD '*77B4A70CEFD76DB9415F36D291E74C110D2738E0'",
            Ok(Plugin(MysqlNative)),
        );
        check(
            "CREATE USER `multi`@`%` IDENTIFIED VIA mysql_native_password USING '*667F407DE7C6AD07358FA38DAED7828A72014B4E' OR ed25519 USING 'I0MFcdX/1wjyXmObmhAQXYOTzJiNwf0F1oiAbpMQ6eA'",
            Ok(Several),
        );
        check("CREATE USER `nopw`@`%`", Ok(Plugin(MysqlNative)));
        check("CREATE USER `sock`@`localhost` IDENTIFIED VIA unix_socket", Ok(Plugin(Other("unix_socket".into()))));
        // MySQL 8 (manual), including a salt with a quote and a hex form.
        check(
            "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$a\\'b\nc' REQUIRE NONE PASSWORD EXPIRE DEFAULT",
            Ok(Plugin(CachingSha2)),
        );
        check(
            "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x2441 REQUIRE NONE",
            Ok(Plugin(CachingSha2)),
        );
        check(
            "CREATE USER 'old'@'%' IDENTIFIED WITH 'mysql_native_password' AS '*AB' REQUIRE NONE",
            Ok(Plugin(MysqlNative)),
        );
        check(
            "CREATE USER `s`@`%` IDENTIFIED WITH 'sha256_password' AS '$5$x' REQUIRE NONE",
            Ok(Plugin(Other("sha256_password".into()))),
        );
        check(
            "CREATE USER `mfa`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 'x' AND IDENTIFIED WITH 'authentication_fido'",
            Ok(Several),
        );
        // Hostile names cannot fake a clause.
        check("CREATE USER `x IDENTIFIED VIA ed25519`@`%` IDENTIFIED BY PASSWORD '*AB'", Ok(Plugin(MysqlNative)));
        check("CREATE USER `a``b`@`h``` IDENTIFIED VIA ed25519 USING 'k'", Ok(Plugin(Ed25519)));
        check("CREATE USER `unterminated@`%", Err(()));
        check("GRANT ALL", Err(()));
        check("CREATE USER `u`@`%` IDENTIFIED SOMEHOW", Err(()));
    }
}
