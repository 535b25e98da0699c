//! New passwords: the alphabet AWS's templates would use, minus what must never appear, drawn from a CSPRNG seeded
//! by the operating system.
//!
//! Generating locally replaces the templates' `GetRandomPassword` call: one network round trip and one IAM
//! permission less. Characters are drawn uniformly and a draw that misses a required character type is thrown away
//! and redrawn (rejection sampling), so every allowed password is equally likely.

use rand::rngs::{StdRng, SysRng};
use rand::{RngExt, SeedableRng};

use crate::domain::{EngineKind, Password};
/// `GetRandomPassword`'s punctuation set.
pub(crate) const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// How new passwords are generated: the variables of AWS's templates, with their defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// `PASSWORD_LENGTH` (32).
    pub length: usize,
    /// `EXCLUDE_CHARACTERS`; `None` means the engine's default (PostgreSQL ``:/@"'\``, MySQL family ``/@"'\``).
    pub exclude_characters: Option<String>,
    /// `EXCLUDE_NUMBERS`, `EXCLUDE_PUNCTUATION`, `EXCLUDE_UPPERCASE`, `EXCLUDE_LOWERCASE` (all false).
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    /// `REQUIRE_EACH_INCLUDED_TYPE` (true).
    pub require_each_included_type: bool,
}

/// Never in a generated password, whatever `EXCLUDE_CHARACTERS` says: quotes and backslash (they change meaning
/// inside SQL and shell quoting), and what RDS refuses in master passwords (`/`, `"`, `@`, space).
pub(crate) const ALWAYS_EXCLUDED: &str = "'\"\\/@ ";

/// The characters a password may use, grouped by type, for one engine under one policy.
#[derive(Clone, Debug)]
pub(crate) struct Alphabet {
    /// The non-empty character types in use: lowercase, uppercase, digits, punctuation.
    classes: Vec<Vec<char>>,
    all: Vec<char>,
    length: usize,
    require_each: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the EXCLUDE_* settings leave no character to build a password from")]
    NoCharacters,
    #[error("PASSWORD_LENGTH {length} is shorter than the {types} character types REQUIRE_EACH_INCLUDED_TYPE asks for")]
    TooShort { length: usize, types: usize },
    #[error("the operating system's random number source failed: {0}")]
    Entropy(String),
    #[error("PASSWORD_LENGTH {length} is outside {min} to {max}, the lengths {engine} passwords may have")]
    Length { length: usize, engine: EngineKind, min: usize, max: usize },
}

/// Redraws allowed before giving up; only reachable with lengths barely above the number of types.
const MAX_DRAWS: usize = 10_000;

impl Alphabet {
    pub(crate) fn new(policy: &PasswordPolicy, engine: EngineKind) -> Result<Alphabet, PasswordError> {
        let lengths = engine.password_lengths();
        if !lengths.contains(&policy.length) {
            let (min, max) = (*lengths.start(), *lengths.end());
            return Err(PasswordError::Length { length: policy.length, engine, min, max });
        }
        let excluded = policy.exclude_characters.as_deref().unwrap_or(engine.default_exclude_characters());
        let classes = [
            (policy.exclude_lowercase, ('a'..='z').collect::<Vec<_>>()),
            (policy.exclude_uppercase, ('A'..='Z').collect()),
            (policy.exclude_numbers, ('0'..='9').collect()),
            (policy.exclude_punctuation, PUNCTUATION.chars().collect()),
        ];
        let classes: Vec<Vec<char>> = classes
            .into_iter()
            .filter(|(exclude_type, _)| !exclude_type)
            .map(|(_, chars)| {
                chars.into_iter().filter(|c| !excluded.contains(*c) && !ALWAYS_EXCLUDED.contains(*c)).collect()
            })
            .filter(|chars: &Vec<char>| !chars.is_empty())
            .collect();
        let all: Vec<char> = classes.concat();
        if all.is_empty() {
            return Err(PasswordError::NoCharacters);
        }
        let require_each = policy.require_each_included_type;
        if require_each && policy.length < classes.len() {
            return Err(PasswordError::TooShort { length: policy.length, types: classes.len() });
        }
        Ok(Alphabet { classes, all, length: policy.length, require_each })
    }

    /// How many characters a password may be drawn from.
    pub(crate) fn size(&self) -> usize {
        self.all.len()
    }

    /// Entropy of one password in bits, ignoring the small loss from requiring each type.
    pub(crate) fn entropy_bits(&self) -> f64 {
        self.length as f64 * (self.size() as f64).log2()
    }

    pub(crate) fn generate(&self) -> Result<Password, PasswordError> {
        let mut rng = StdRng::try_from_rng(&mut SysRng).map_err(|err| PasswordError::Entropy(err.to_string()))?;
        for _ in 0..MAX_DRAWS {
            let candidate: String = (0..self.length).map(|_| self.all[rng.random_range(0..self.all.len())]).collect();
            if !self.require_each || self.classes.iter().all(|class| candidate.chars().any(|c| class.contains(&c))) {
                return Ok(Password::new(candidate));
            }
        }
        Err(PasswordError::TooShort { length: self.length, types: self.classes.len() })
    }
}

/// A new password for `engine` under `policy`.
pub(crate) fn generate(policy: &PasswordPolicy, engine: EngineKind) -> Result<Password, PasswordError> {
    Alphabet::new(policy, engine)?.generate()
}

/// The policy of AWS's templates' defaults, for tests (`config.rs` holds the defaults the function uses, where
/// `scripts/check-template.py` reads them).
#[cfg(test)]
pub(crate) fn templates_defaults() -> PasswordPolicy {
    PasswordPolicy {
        length: 32,
        exclude_characters: None,
        exclude_numbers: false,
        exclude_punctuation: false,
        exclude_uppercase: false,
        exclude_lowercase: false,
        require_each_included_type: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        templates_defaults()
    }

    fn check(policy: PasswordPolicy, allowed: impl Fn(char) -> bool) {
        let alphabet = Alphabet::new(&policy, EngineKind::Postgres).unwrap();
        for _ in 0..200 {
            let password = alphabet.generate().unwrap();
            let text = password.expose_secret();
            assert_eq!(text.chars().count(), policy.length);
            assert!(text.chars().all(&allowed), "{text}");
            assert!(!text.chars().any(|c| ALWAYS_EXCLUDED.contains(c) || c == '\0'), "{text}");
        }
    }

    #[test]
    fn default_policy_for_postgres() {
        let alphabet = Alphabet::new(&policy(), EngineKind::Postgres).unwrap();
        // 26 + 26 + 10 letters and digits, and 32 punctuation marks minus : / @ " ' \.
        assert_eq!(alphabet.size(), 88);
        assert!((alphabet.entropy_bits() - 206.7).abs() < 0.1, "{}", alphabet.entropy_bits());
        check(policy(), |c| c.is_ascii_graphic() && !":/@\"'\\".contains(c));
    }

    #[test]
    fn every_type_appears_when_required() {
        let short = PasswordPolicy { length: 4, ..policy() };
        let alphabet = Alphabet::new(&short, EngineKind::Postgres).unwrap();
        for _ in 0..500 {
            let password = alphabet.generate().unwrap();
            let text = password.expose_secret();
            assert!(text.chars().any(|c| c.is_ascii_lowercase()), "{text}");
            assert!(text.chars().any(|c| c.is_ascii_uppercase()), "{text}");
            assert!(text.chars().any(|c| c.is_ascii_digit()), "{text}");
            assert!(text.chars().any(|c| c.is_ascii_punctuation()), "{text}");
        }
    }

    #[test]
    fn honours_exclusions() {
        check(PasswordPolicy { exclude_punctuation: true, ..policy() }, |c| c.is_ascii_alphanumeric());
        check(PasswordPolicy { exclude_numbers: true, exclude_uppercase: true, ..policy() }, |c| {
            !c.is_ascii_digit() && !c.is_ascii_uppercase()
        });
        check(PasswordPolicy { exclude_lowercase: true, ..policy() }, |c| !c.is_ascii_lowercase());
        check(PasswordPolicy { exclude_characters: Some("abc$%".into()), ..policy() }, |c| !"abc$%".contains(c));
    }

    #[test]
    fn unsafe_characters_stay_out_even_when_not_excluded() {
        let policy = PasswordPolicy { exclude_characters: Some(String::new()), length: 256, ..policy() };
        let alphabet = Alphabet::new(&policy, EngineKind::Postgres).unwrap();
        // Of the six always excluded, space is not punctuation: five marks go.
        assert_eq!(alphabet.size(), 62 + 32 - 5);
        check(policy, |c| c.is_ascii_graphic());
    }

    #[test]
    fn impossible_policies_are_refused() {
        let none = PasswordPolicy {
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_lowercase: true,
            ..policy()
        };
        assert_eq!(Alphabet::new(&none, EngineKind::Postgres).unwrap_err(), PasswordError::NoCharacters);
        let short = PasswordPolicy { length: 3, ..policy() };
        assert_eq!(
            Alphabet::new(&short, EngineKind::Postgres).unwrap_err(),
            PasswordError::TooShort { length: 3, types: 4 }
        );
        let lax = PasswordPolicy { length: 3, require_each_included_type: false, ..policy() };
        assert!(Alphabet::new(&lax, EngineKind::Postgres).is_ok());
    }

    #[test]
    fn mysql_family_defaults_and_lengths() {
        let alphabet = Alphabet::new(&policy(), EngineKind::Mysql).unwrap();
        // The MySQL template excludes / @ " ' \ only: ':' stays.
        assert_eq!(alphabet.size(), 62 + 32 - 5);
        for length in [7, 42] {
            let policy = PasswordPolicy { length, ..policy() };
            assert!(matches!(Alphabet::new(&policy, EngineKind::Mariadb), Err(PasswordError::Length { .. })));
            assert!(Alphabet::new(&policy, EngineKind::Postgres).is_ok());
        }
        for length in [8, 41] {
            assert!(Alphabet::new(&PasswordPolicy { length, ..policy() }, EngineKind::AuroraMysql).is_ok());
        }
    }

    #[test]
    fn a_type_emptied_by_exclude_characters_is_not_required() {
        let policy = PasswordPolicy { exclude_characters: Some("0123456789".into()), length: 3, ..policy() };
        check(policy, |c| !c.is_ascii_digit());
    }
}
