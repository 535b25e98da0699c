//! Settings from the environment, read and validated once at start-up, then passed down explicitly.
//!
//! The variable names and defaults are those of AWS's rotation templates, so an existing deployment keeps its
//! configuration; a bad value stops the function at cold start with the variable's name, rather than failing a
//! rotation later.

use std::time::Duration;

use crate::aws::AwsSettings;
use crate::domain::EngineKind;
use crate::engines::EngineSettings;
use crate::password::{Alphabet, PasswordError, PasswordPolicy};
use crate::rotation::Settings as RotationSettings;
use crate::rotation::topology::{EndpointMapping, RdsResourceName};
use crate::secret::SecretDefaults;
use crate::tls::{self, TlsMode, TlsSettings};

/// Everything the function reads from its environment, as the settings of the parts it configures.
#[derive(Clone, Debug)]
pub struct Config {
    /// The protocol core's: passwords, what secrets lack, topology, master secrets, break-glass.
    pub rotation: RotationSettings,
    /// The database drivers': `CONNECT_TIMEOUT_SECONDS`, `STATEMENT_TIMEOUT_SECONDS`.
    pub engines: EngineSettings,
    /// `DB_TLS_MODE` (application logins of secrets without an `ssl` key, default `verify-full`),
    /// `DB_TLS_MINIMUM` (the floor of every application login, default `disable`: a secret's `ssl: false` allows
    /// plaintext, as with AWS's templates) and `MASTER_TLS_MODE` (master logins, default `verify-full`).
    pub tls: TlsSettings,
    /// `DB_EXTRA_CA_BUNDLE`: certificate authorities trusted beside the built-in RDS bundles.
    pub extra_ca_bundle: Option<ExtraCaBundle>,
    /// The AWS adapters': `CONNECT_TIMEOUT_SECONDS`, `SECRETS_MANAGER_ENDPOINT`, `RDS_ENDPOINT`.
    pub aws: AwsSettings,
    /// `METRICS_NAMESPACE`: the namespace of the metrics lines (default `rds-rotator`); set empty, none are written.
    pub metrics_namespace: Option<String>,
}

/// A PEM file of extra certificate authorities, read and checked at start-up.
#[derive(Clone)]
pub struct ExtraCaBundle {
    pub path: String,
    pub pem: Vec<u8>,
    pub certificates: usize,
}

/// A setting that cannot be used. Names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("environment variable {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

const DEFAULT_PASSWORD_LENGTH: usize = 32;
/// `GetRandomPassword`'s upper bound, kept so a setting that works there works here.
const MAX_PASSWORD_LENGTH: usize = 4096;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(&lookup);
        let password = PasswordPolicy {
            length: vars.length("PASSWORD_LENGTH", DEFAULT_PASSWORD_LENGTH)?,
            // Present means used, even when empty: AWS's templates read it the same way.
            exclude_characters: lookup("EXCLUDE_CHARACTERS"),
            exclude_numbers: vars.flag("EXCLUDE_NUMBERS", false)?,
            exclude_punctuation: vars.flag("EXCLUDE_PUNCTUATION", false)?,
            exclude_uppercase: vars.flag("EXCLUDE_UPPERCASE", false)?,
            exclude_lowercase: vars.flag("EXCLUDE_LOWERCASE", false)?,
            require_each_included_type: vars.flag("REQUIRE_EACH_INCLUDED_TYPE", true)?,
        };
        // Fail now, not at the first rotation, when no engine can have a password under this policy. A policy that
        // only some engines refuse (a length beyond MySQL's 41) is reported by `password_problems` instead.
        if let Some(Err(problem)) =
            EngineKind::ALL.iter().map(|engine| Alphabet::new(&password, *engine)).reduce(Result::or)
        {
            return Err(ConfigError { var: "PASSWORD_LENGTH / EXCLUDE_*", problem: problem.to_string() });
        }
        let default_engine = match vars.get("DEFAULT_ENGINE") {
            Some(name) => {
                Some(EngineKind::parse(&name).map_err(|problem| ConfigError { var: "DEFAULT_ENGINE", problem })?)
            }
            None => None,
        };
        let secrets_manager_endpoint = vars.get("SECRETS_MANAGER_ENDPOINT");
        check_url("SECRETS_MANAGER_ENDPOINT", &secrets_manager_endpoint)?;
        let username_character_limit = match vars.get("USERNAME_CHARACTER_LIMIT") {
            Some(value) => match value.parse::<usize>() {
                Ok(limit @ 1..=128) => Some(limit),
                _ => {
                    let problem = format!("is {value:?}: expected a whole number from 1 to 128");
                    return Err(ConfigError { var: "USERNAME_CHARACTER_LIMIT", problem });
                }
            },
            None => None,
        };
        let tls = TlsSettings {
            default: vars.parsed("DB_TLS_MODE", TlsMode::VerifyFull, TlsMode::parse)?,
            minimum: vars.parsed("DB_TLS_MINIMUM", TlsMode::Disable, TlsMode::parse_minimum)?,
            master: vars.parsed("MASTER_TLS_MODE", TlsMode::VerifyFull, TlsMode::parse)?,
        };
        let extra_ca_bundle = match vars.get("DB_EXTRA_CA_BUNDLE") {
            Some(path) => Some(ExtraCaBundle::read(path)?),
            None => None,
        };
        let metrics_namespace = match lookup("METRICS_NAMESPACE") {
            None => Some(crate::metrics::DEFAULT_NAMESPACE.to_owned()),
            Some(namespace) if namespace.trim().is_empty() => None,
            Some(namespace) => {
                if namespace.chars().count() > 255 || namespace.chars().any(char::is_control) {
                    let problem = "must be at most 255 characters, without control characters".to_owned();
                    return Err(ConfigError { var: "METRICS_NAMESPACE", problem });
                }
                Some(namespace)
            }
        };
        let rds_endpoint = vars.get("RDS_ENDPOINT");
        check_url("RDS_ENDPOINT", &rds_endpoint)?;
        let endpoint_map = match vars.get("RDS_ENDPOINT_MAP") {
            Some(map) => {
                EndpointMapping::parse_list(&map).map_err(|problem| ConfigError { var: "RDS_ENDPOINT_MAP", problem })?
            }
            None => Vec::new(),
        };
        let break_glass = match (vars.flag("BREAK_GLASS_MASTER_RESET", false)?, vars.get("BREAK_GLASS_DB_IDENTIFIERS"))
        {
            (false, _) => Vec::new(),
            (true, None) => {
                let problem = "is not set: with BREAK_GLASS_MASTER_RESET on, it must name the DB instances and \
                               clusters (identifiers or ARNs, comma-separated) whose master password may be reset"
                    .to_owned();
                return Err(ConfigError { var: "BREAK_GLASS_DB_IDENTIFIERS", problem });
            }
            (true, Some(list)) => RdsResourceName::parse_list(&list)
                .map_err(|problem| ConfigError { var: "BREAK_GLASS_DB_IDENTIFIERS", problem })?,
        };
        let master_secrets: Vec<String> = vars
            .get("MASTER_SECRET_ARNS")
            .map(|list| list.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(bad) = master_secrets.iter().find(|entry| entry.chars().any(char::is_whitespace)) {
            let problem = format!("has {bad:?}: expected secret ARNs, names or prefixes ending in *, comma-separated");
            return Err(ConfigError { var: "MASTER_SECRET_ARNS", problem });
        }
        let connect_timeout = vars.seconds("CONNECT_TIMEOUT_SECONDS", DEFAULT_CONNECT_TIMEOUT)?;
        Ok(Config {
            rotation: RotationSettings {
                password,
                secrets: SecretDefaults { engine: default_engine, mysql_username_limit: username_character_limit },
                endpoint_map,
                propagation_timeout: vars.seconds("PROPAGATION_TIMEOUT_SECONDS", DEFAULT_PROPAGATION_TIMEOUT)?,
                break_glass,
                master_secrets,
            },
            engines: EngineSettings {
                connect_timeout,
                statement_timeout: vars.seconds("STATEMENT_TIMEOUT_SECONDS", DEFAULT_STATEMENT_TIMEOUT)?,
            },
            tls,
            extra_ca_bundle,
            aws: AwsSettings { connect_timeout, secrets_manager_endpoint, rds_endpoint },
            metrics_namespace,
        })
    }
}

impl Config {
    /// Engines this password policy cannot serve: their rotations would fail. Logged at start-up.
    pub fn password_problems(&self) -> Vec<PasswordError> {
        let policy = &self.rotation.password;
        EngineKind::ALL.iter().filter_map(|engine| Alphabet::new(policy, *engine).err()).collect()
    }
}

/// An endpoint override must be a URL.
fn check_url(var: &'static str, url: &Option<String>) -> Result<(), ConfigError> {
    match url {
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            let problem = "must be a URL starting with https:// (or http:// for a local emulator)".to_owned();
            Err(ConfigError { var, problem })
        }
        _ => Ok(()),
    }
}

impl ExtraCaBundle {
    /// Reads and checks the file now: a missing or malformed bundle stops the function at cold start, naming the
    /// variable, instead of failing (or, as AWS's MySQL template does, crashing) in the middle of a rotation.
    fn read(path: String) -> Result<ExtraCaBundle, ConfigError> {
        let problem = |problem: String| ConfigError { var: "DB_EXTRA_CA_BUNDLE", problem };
        let pem =
            std::fs::read(&path).map_err(|err| problem(format!("names {path:?}, which cannot be read: {err}")))?;
        let certificates =
            tls::parse_bundle(&pem).map_err(|err| problem(format!("names {path:?}, which {err}")))?.len();
        Ok(ExtraCaBundle { path, pem, certificates })
    }
}

impl std::fmt::Debug for ExtraCaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraCaBundle({:?}, {} certificates)", self.path, self.certificates)
    }
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The variable's value; empty counts as unset.
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// AWS's templates accept true, 1, y and yes; anything else was silently false there, and is an error here
    /// unless it clearly means false.
    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(default);
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "yes" => Ok(true),
            "false" | "0" | "n" | "no" => Ok(false),
            _ => Err(ConfigError { var, problem: format!("is {value:?}: expected true/1/y/yes or false/0/n/no") }),
        }
    }

    /// A value parsed by `parse`, whose error names what the variable expects.
    fn parsed<T>(&self, var: &'static str, default: T, parse: fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        match self.get(var) {
            Some(value) => parse(&value).map_err(|problem| ConfigError { var, problem }),
            None => Ok(default),
        }
    }

    fn length(&self, var: &'static str, default: usize) -> Result<usize, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(default);
        };
        match value.parse::<usize>() {
            Ok(length @ 1..=MAX_PASSWORD_LENGTH) => Ok(length),
            _ => Err(ConfigError {
                var,
                problem: format!("is {value:?}: expected a whole number from 1 to {MAX_PASSWORD_LENGTH}"),
            }),
        }
    }

    fn seconds(&self, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(default);
        };
        match value.parse::<f64>().ok().and_then(|secs| Duration::try_from_secs_f64(secs).ok()) {
            Some(duration) if !duration.is_zero() && duration <= MAX_CONNECT_TIMEOUT => Ok(duration),
            _ => Err(ConfigError {
                var,
                problem: format!("is {value:?}: expected a number of seconds above 0 and at most 300"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn check_err(vars: &[(&str, &str)], var: &str) {
        match config(vars) {
            Err(err) => assert_eq!(err.var, var, "{vars:?}: {err}"),
            Ok(_) => panic!("{vars:?} was accepted"),
        }
    }

    #[test]
    fn defaults_match_aws_templates() {
        let config = config(&[]).unwrap();
        assert_eq!(config.rotation.password, crate::password::templates_defaults());
        assert_eq!(config.engines.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.rotation.secrets.engine, None);
        assert_eq!(config.rotation.secrets.mysql_username_limit, None);
        assert_eq!(
            config.tls,
            TlsSettings { default: TlsMode::VerifyFull, minimum: TlsMode::Disable, master: TlsMode::VerifyFull }
        );
        assert_eq!(config.engines.statement_timeout, Duration::from_secs(10));
        assert!(config.rotation.break_glass.is_empty());
        assert!(config.rotation.master_secrets.is_empty());
        assert!(config.extra_ca_bundle.is_none());
        assert!(config.password_problems().is_empty());
        assert_eq!(config.aws.secrets_manager_endpoint, None);
    }

    #[test]
    fn reads_settings() {
        let config = config(&[
            ("PASSWORD_LENGTH", "20"),
            ("EXCLUDE_CHARACTERS", ""),
            ("EXCLUDE_NUMBERS", "Yes"),
            ("EXCLUDE_PUNCTUATION", "1"),
            ("EXCLUDE_UPPERCASE", "y"),
            ("EXCLUDE_LOWERCASE", "false"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "no"),
            ("DEFAULT_ENGINE", "aurora-postgresql"),
            ("CONNECT_TIMEOUT_SECONDS", "1.5"),
            ("USERNAME_CHARACTER_LIMIT", "16"),
            ("DB_TLS_MODE", "prefer"),
            ("DB_TLS_MINIMUM", "require"),
            ("MASTER_TLS_MODE", "disable"),
            ("STATEMENT_TIMEOUT_SECONDS", "2.5"),
            ("BREAK_GLASS_MASTER_RESET", "yes"),
            ("BREAK_GLASS_DB_IDENTIFIERS", "DB-1, arn:aws-cn:rds:cn-north-1:1:cluster:app"),
            ("SECRETS_MANAGER_ENDPOINT", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(config.rotation.password.length, 20);
        assert_eq!(config.rotation.password.exclude_characters.as_deref(), Some(""));
        assert!(config.rotation.password.exclude_numbers && config.rotation.password.exclude_punctuation);
        assert!(config.rotation.password.exclude_uppercase && !config.rotation.password.exclude_lowercase);
        assert!(!config.rotation.password.require_each_included_type);
        assert_eq!(config.rotation.secrets.engine, Some(EngineKind::AuroraPostgres));
        assert_eq!(config.engines.connect_timeout, Duration::from_millis(1500));
        assert_eq!(config.rotation.secrets.mysql_username_limit, Some(16));
        assert_eq!(
            config.tls,
            TlsSettings { default: TlsMode::Prefer, minimum: TlsMode::Require, master: TlsMode::Disable }
        );
        assert_eq!(config.engines.statement_timeout, Duration::from_millis(2500));
        assert_eq!(
            config.rotation.break_glass,
            vec![
                RdsResourceName { id: "db-1".into(), cluster: None },
                RdsResourceName { id: "app".into(), cluster: Some(true) }
            ]
        );
        assert!(
            config.rotation.break_glass[0].names("db-1", false) && config.rotation.break_glass[0].names("DB-1", true)
        );
        assert!(
            config.rotation.break_glass[1].names("app", true) && !config.rotation.break_glass[1].names("app", false)
        );
        assert_eq!(config.aws.secrets_manager_endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn refuses_bad_values_naming_the_variable() {
        check_err(&[("PASSWORD_LENGTH", "0")], "PASSWORD_LENGTH");
        check_err(&[("PASSWORD_LENGTH", "4097")], "PASSWORD_LENGTH");
        check_err(&[("PASSWORD_LENGTH", "abc")], "PASSWORD_LENGTH");
        check_err(&[("EXCLUDE_NUMBERS", "maybe")], "EXCLUDE_NUMBERS");
        check_err(&[("REQUIRE_EACH_INCLUDED_TYPE", "on")], "REQUIRE_EACH_INCLUDED_TYPE");
        check_err(&[("DEFAULT_ENGINE", "oracle")], "DEFAULT_ENGINE");
        check_err(&[("CONNECT_TIMEOUT_SECONDS", "0")], "CONNECT_TIMEOUT_SECONDS");
        check_err(&[("CONNECT_TIMEOUT_SECONDS", "-1")], "CONNECT_TIMEOUT_SECONDS");
        check_err(&[("CONNECT_TIMEOUT_SECONDS", "NaN")], "CONNECT_TIMEOUT_SECONDS");
        check_err(&[("CONNECT_TIMEOUT_SECONDS", "301")], "CONNECT_TIMEOUT_SECONDS");
        check_err(&[("SECRETS_MANAGER_ENDPOINT", "secretsmanager.local")], "SECRETS_MANAGER_ENDPOINT");
        check_err(&[("USERNAME_CHARACTER_LIMIT", "0")], "USERNAME_CHARACTER_LIMIT");
        check_err(&[("DB_TLS_MODE", "allow")], "DB_TLS_MODE");
        check_err(&[("DB_TLS_MINIMUM", "prefer")], "DB_TLS_MINIMUM");
        check_err(&[("MASTER_TLS_MODE", "none")], "MASTER_TLS_MODE");
        check_err(&[("STATEMENT_TIMEOUT_SECONDS", "0")], "STATEMENT_TIMEOUT_SECONDS");
        // Break-glass names what it may reset, or it is not on.
        check_err(&[("BREAK_GLASS_MASTER_RESET", "true")], "BREAK_GLASS_DB_IDENTIFIERS");
        check_err(
            &[("BREAK_GLASS_MASTER_RESET", "true"), ("BREAK_GLASS_DB_IDENTIFIERS", ",")],
            "BREAK_GLASS_DB_IDENTIFIERS",
        );
        for bad in ["db 1", "arn:aws:rds:eu-west-1:1:snapshot:x", "arn:aws:s3:::bucket", &"a".repeat(64)] {
            let vars = [("BREAK_GLASS_MASTER_RESET", "1"), ("BREAK_GLASS_DB_IDENTIFIERS", bad)];
            check_err(&vars, "BREAK_GLASS_DB_IDENTIFIERS");
        }
        check_err(&[("DB_EXTRA_CA_BUNDLE", "/no/such/ca.pem")], "DB_EXTRA_CA_BUNDLE");
        check_err(&[("DB_EXTRA_CA_BUNDLE", "Cargo.toml")], "DB_EXTRA_CA_BUNDLE");
        let all_out = [
            ("EXCLUDE_NUMBERS", "true"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_UPPERCASE", "true"),
            ("EXCLUDE_LOWERCASE", "true"),
        ];
        check_err(&all_out, "PASSWORD_LENGTH / EXCLUDE_*");
        check_err(&[("PASSWORD_LENGTH", "3")], "PASSWORD_LENGTH / EXCLUDE_*");
    }

    #[test]
    fn a_length_only_some_engines_refuse_is_reported_not_fatal() {
        let config = config(&[("PASSWORD_LENGTH", "64")]).unwrap();
        let problems = config.password_problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| matches!(p, PasswordError::Length { max: 41, .. })), "{problems:?}");
    }

    #[test]
    fn reads_an_extra_ca_bundle() {
        let path = format!("{}/certs/rds-ca-bundle.pem", env!("CARGO_MANIFEST_DIR"));
        let config = config(&[("DB_EXTRA_CA_BUNDLE", &path)]).unwrap();
        let extra = config.extra_ca_bundle.unwrap();
        assert_eq!(extra.certificates, 120);
        assert!(!format!("{extra:?}").contains("BEGIN"), "Debug shows no PEM");
    }

    #[test]
    fn empty_means_default_except_for_exclude_characters() {
        let config = config(&[("PASSWORD_LENGTH", ""), ("EXCLUDE_NUMBERS", "")]).unwrap();
        assert_eq!(config.rotation.password.length, 32);
        assert!(!config.rotation.password.exclude_numbers);
    }
}
