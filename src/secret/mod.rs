//! The secret's JSON (RDS format) and the typed values taken from it: `DbSecret` here, the master secret of
//! alternating users in `master.rs`.
//!
//! A `DbSecret` keeps the whole JSON object it was parsed from, so that writing a new version changes the password
//! (and, later, the username) and nothing else: keys of the user's own survive in their original order and form.
//! The password is held apart from that object, in a `Password`, so no `Debug` of the map can ever show it.

use std::fmt;

use secrecy::SecretString;
use serde_json::{Map, Value};

mod master;

pub use master::{Master, MasterSecret};

use crate::domain::{EngineKind, Login, Password, Strategy, Target, TlsChoice, UserName};
/// What the function's settings add to a secret's own keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecretDefaults {
    /// `DEFAULT_ENGINE`: the engine of a secret without an `engine` key.
    pub engine: Option<EngineKind>,
    /// `USERNAME_CHARACTER_LIMIT`: the longest MySQL-family user name accepted.
    pub mysql_username_limit: Option<usize>,
}

/// One version of the rotated secret, parsed and validated.
#[derive(Clone)]
pub struct DbSecret {
    /// The JSON object as stored, with the password's value replaced by `null` (it lives in `password`).
    fields: Map<String, Value>,
    password: Password,
    target: Target,
    username: UserName,
    masterarn: Option<String>,
    rds: RdsIds,
}

/// The RDS resource a secret names (`dbInstanceIdentifier`, `dbClusterIdentifier`, as RDS's own secrets carry
/// them), as identifiers: an ARN is reduced to its identifier, and its Region kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RdsIds {
    pub instance: Option<String>,
    pub cluster: Option<String>,
    /// The Region of an identifier given as an ARN (the instance's when both are).
    pub region: Option<String>,
}

/// What is wrong with a secret's JSON. Names the key; never repeats a value that could be secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("the secret value is not valid JSON (syntax error at line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the secret value is not a JSON object")]
    NotAnObject,
    #[error("the secret has no \"{0}\" key")]
    Missing(&'static str),
    #[error("the secret's \"{key}\" {}", crate::domain::shown(.problem))]
    Invalid { key: &'static str, problem: String },
    #[error(
        "the secret has no \"engine\" key and the function has no DEFAULT_ENGINE: \
         add \"engine\" to the secret or set DEFAULT_ENGINE"
    )]
    NoEngine,
    #[error("the secret is {bytes} bytes, over Secrets Manager's limit of {MAX_SECRET_BYTES} bytes")]
    TooLarge { bytes: usize },
}

/// Secrets Manager's limit on a `SecretString`.
pub const MAX_SECRET_BYTES: usize = 65_536;

impl DbSecret {
    /// Parses one version's `SecretString`.
    pub fn parse(text: &str, defaults: &SecretDefaults) -> Result<DbSecret, ShapeError> {
        let (fields, password) = object_with_password(text)?;
        let engine = match optional_str(&fields, "engine")? {
            Some(name) => EngineKind::parse(name).map_err(|problem| invalid("engine", problem))?,
            None => defaults.engine.ok_or(ShapeError::NoEngine)?,
        };
        let username = required_str(&fields, "username")?;
        let username = UserName::new(username).map_err(|problem| invalid("username", problem))?;
        if let Some(problem) = engine.username_problem(username.as_str(), defaults.mysql_username_limit) {
            return Err(invalid("username", problem));
        }
        let (instance, instance_region) = parse_rds_id(&fields, "dbInstanceIdentifier", ":db:")?;
        let (cluster, cluster_region) = parse_rds_id(&fields, "dbClusterIdentifier", ":cluster:")?;
        let rds = RdsIds { instance, cluster, region: instance_region.or(cluster_region) };
        // Without a host, the RDS API names the endpoint of the instance or cluster the secret names.
        let host = match optional_str(&fields, "host")? {
            Some(host) => parse_host(host)?,
            None if rds.instance.is_some() || rds.cluster.is_some() => String::new(),
            None => return Err(ShapeError::Missing("host")),
        };
        let tls_server_name = parse_tls_server_name(&fields, !host.is_empty())?;
        let target = Target {
            engine,
            host,
            port: parse_port(fields.get("port"), engine.default_port())?,
            dbname: parse_dbname(optional_str(&fields, "dbname")?)?,
            tls: TlsChoice::Secret(parse_ssl(fields.get("ssl"))?),
            tls_server_name,
        };
        let masterarn = optional_str(&fields, "masterarn")?.map(str::to_owned);
        Ok(DbSecret { fields, password, target, username, masterarn, rds })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn username(&self) -> &UserName {
        &self.username
    }

    pub fn password(&self) -> &Password {
        &self.password
    }

    pub fn login(&self) -> Login<'_> {
        Login { user: &self.username, password: &self.password }
    }

    /// The RDS instance or cluster the secret names, if any.
    pub fn rds(&self) -> &RdsIds {
        &self.rds
    }

    /// The same secret, reached at `endpoint` (one the RDS API resolved, or the master's): its host, its port and
    /// the name its certificate carries (`tlsServerName` names the secret's own host only, never another endpoint);
    /// the secret's engine, database and TLS choice stay its own, and the stored JSON is unchanged.
    pub fn at(&self, endpoint: &Target) -> DbSecret {
        let target = Target {
            host: endpoint.host.clone(),
            port: endpoint.port,
            tls_server_name: endpoint.tls_server_name.clone(),
            ..self.target.clone()
        };
        DbSecret { target, ..self.clone() }
    }

    /// How the secret is rotated: alternating users when it names a master secret.
    pub fn strategy(&self) -> Strategy {
        if self.masterarn.is_some() { Strategy::AlternatingUsers } else { Strategy::SingleUser }
    }

    /// The master secret's id, present when the secret asks for alternating users.
    pub fn masterarn(&self) -> Option<&str> {
        self.masterarn.as_deref()
    }

    /// The same secret with another password; every other key is kept as it was.
    pub fn with_password(&self, password: Password) -> DbSecret {
        DbSecret { password, ..self.clone() }
    }

    /// The same secret for another user of the same database (alternating users); every other key is kept.
    pub fn with_login(&self, username: UserName, password: Password) -> DbSecret {
        let mut fields = self.fields.clone();
        fields.insert("username".to_owned(), Value::String(username.as_str().to_owned()));
        DbSecret { fields, password, username, ..self.clone() }
    }

    /// The JSON text to store, with the password back in its original place.
    pub fn to_secret_string(&self) -> SecretString {
        let mut fields = self.fields.clone();
        fields.insert("password".to_owned(), Value::String(self.password.expose_secret().to_owned()));
        SecretString::from(Value::Object(fields).to_string())
    }

    /// Whether two versions point at the same database and user — the precondition for changing a password.
    /// Returns the name of the first key that differs. `tlsServerName` is not among them: it says how the host is
    /// verified, not which database it is, and a step's logins verify the name of the version the step locates
    /// (setSecret's, AWSCURRENT's); adding it to a secret must not orphan its AWSPREVIOUS.
    pub fn differs_from(&self, other: &DbSecret) -> Option<&'static str> {
        if self.username != other.username && self.differs_but_for_the_user(other).is_none() {
            return Some("username");
        }
        self.differs_but_for_the_user(other)
    }

    /// As `differs_from`, with the user name left out (alternating users: the pending version names the other
    /// user of the pair, and every other key must still match).
    pub fn differs_but_for_the_user(&self, other: &DbSecret) -> Option<&'static str> {
        let (a, b) = (&self.target, &other.target);
        if a.engine != b.engine {
            Some("engine")
        } else if !a.host.eq_ignore_ascii_case(&b.host) {
            Some("host")
        } else if a.port != b.port {
            Some("port")
        } else if !same_id(&self.rds().instance, &other.rds().instance) {
            Some("dbInstanceIdentifier")
        } else if !same_id(&self.rds().cluster, &other.rds().cluster) {
            Some("dbClusterIdentifier")
        } else if self.masterarn != other.masterarn {
            Some("masterarn")
        } else {
            None
        }
    }
}

impl DbSecret {
    /// As `differs_from`, for a pending version against AWSCURRENT: also its TLS choice (`ssl`), which createSecret
    /// copies and which decides how the pending user's logins use TLS.
    pub fn pending_differs_from(&self, current: &DbSecret) -> Option<&'static str> {
        self.differs_from(current).or((self.target.tls != current.target.tls).then_some("ssl"))
    }

    /// As `pending_differs_from`, with the user name left out (alternating users).
    pub fn pending_differs_but_for_the_user(&self, current: &DbSecret) -> Option<&'static str> {
        self.differs_but_for_the_user(current).or((self.target.tls != current.target.tls).then_some("ssl"))
    }
}

/// A secret's `SecretString` as a JSON object, with its `password` taken out of it (so that nothing keeps a plain
/// copy): what every secret this function reads has in common, the rotated one and the master's.
pub(crate) fn object_with_password(text: &str) -> Result<(Map<String, Value>, Password), ShapeError> {
    if text.len() > MAX_SECRET_BYTES {
        return Err(ShapeError::TooLarge { bytes: text.len() });
    }
    // Only the position of a syntax error is passed on: the text around it could be the password.
    let value = serde_json::from_str::<Value>(text)
        .map_err(|err| ShapeError::NotJson { line: err.line(), column: err.column() })?;
    let Value::Object(mut fields) = value else {
        return Err(ShapeError::NotAnObject);
    };
    let password = match fields.get_mut("password").map(Value::take) {
        Some(Value::String(password)) => Password::new(password),
        Some(Value::Null) | None => return Err(ShapeError::Missing("password")),
        Some(_) => return Err(invalid("password", "must be a string")),
    };
    Ok((fields, password))
}

/// RDS identifiers are case-insensitive (RDS stores them in lower case).
fn same_id(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

impl fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only what logs may show: no password, and no value of the user's own keys.
        f.debug_struct("DbSecret")
            .field("target", &self.target)
            .field("username", &self.username)
            .field("masterarn", &self.masterarn)
            .field("keys", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

pub(super) fn invalid(key: &'static str, problem: impl Into<String>) -> ShapeError {
    ShapeError::Invalid { key, problem: problem.into() }
}

pub(super) fn optional_str<'a>(
    fields: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, ShapeError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

pub(super) fn required_str<'a>(fields: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, ShapeError> {
    optional_str(fields, key)?.ok_or(ShapeError::Missing(key))
}

pub(super) fn parse_host(host: &str) -> Result<String, ShapeError> {
    // A leading '/' would make drivers open a local Unix socket instead of a network connection.
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_graphic() && c != ',')
        && !host.starts_with('/');
    if !valid {
        return Err(invalid("host", "must be one host name or IP address (printable ASCII, no '/' or ',')"));
    }
    Ok(host.to_owned())
}

/// An RDS identifier (1 to 63 letters, digits and hyphens), or an ARN of that kind (`:db:` or `:cluster:`) holding
/// one: (identifier, the ARN's Region).
fn parse_rds_id(
    fields: &Map<String, Value>,
    key: &'static str,
    kind: &str,
) -> Result<(Option<String>, Option<String>), ShapeError> {
    let Some(value) = optional_str(fields, key)? else { return Ok((None, None)) };
    let (id, region) = match value.strip_prefix("arn:") {
        // arn:PARTITION:rds:REGION:ACCOUNT:db:ID
        Some(rest) => {
            let region = rest.split(':').nth(2).filter(|r| !r.is_empty());
            (value.split_once(kind).map(|(_, id)| id).unwrap_or(""), region)
        }
        None => (value, None),
    };
    let valid = (1..=63).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let region_valid = region.is_none_or(|r| r.len() <= 32 && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid || !region_valid {
        let problem = format!("must be an RDS identifier (letters, digits, hyphens) or an ARN with {kind}");
        return Err(invalid(key, problem));
    }
    Ok((Some(id.to_owned()), region.map(str::to_owned)))
}

/// The secret key naming the certificate's name for an alias host.
pub(crate) const TLS_SERVER_NAME: &str = "tlsServerName";

/// The `tlsServerName` key: the DNS name the server's certificate carries when `host` is an alias (a CNAME) of the
/// endpoint it was issued for. Only with a host of the secret's own: without one, the RDS API names the endpoint, and
/// its certificate carries that very name.
pub(super) fn parse_tls_server_name(fields: &Map<String, Value>, has_host: bool) -> Result<Option<String>, ShapeError> {
    let Some(name) = optional_str(fields, TLS_SERVER_NAME)? else { return Ok(None) };
    if let Some(problem) = dns_name_problem(name) {
        return Err(invalid(TLS_SERVER_NAME, problem));
    }
    if !has_host {
        return Err(invalid(
            TLS_SERVER_NAME,
            "needs a \"host\" beside it: it names the certificate of that host's server, and without a host the RDS \
             API names the endpoint, whose certificate carries the endpoint's own name",
        ));
    }
    // DNS names are case-insensitive; certificates and SNI carry them in lower case.
    Ok(Some(name.to_ascii_lowercase()))
}

/// Why `name` is not a DNS name a certificate could be issued for, if it is not one. An IP address is refused: the
/// key exists to name the DNS name an alias stands for (RDS certificates name no addresses), and a name in its
/// place is also what the TLS handshake sends (SNI), which carries no addresses.
fn dns_name_problem(name: &str) -> Option<&'static str> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Some("is an IP address: it must be the DNS name the server's certificate is issued for");
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let numeric_top = name.rsplit('.').next().is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()));
    if name.len() > 253 || !name.split('.').all(label_ok) || numeric_top {
        return Some(
            "must be a DNS name: dot-separated labels of 1 to 63 letters, digits and inner hyphens, at most 253 \
             characters, the last not all digits (no IP address, no trailing dot)",
        );
    }
    None
}

pub(super) fn parse_port(value: Option<&Value>, default: u16) -> Result<u16, ShapeError> {
    let number = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match number {
        Some(port @ 1..=65535) => Ok(port as u16),
        _ => Err(invalid("port", "must be a number from 1 to 65535, or a string holding one")),
    }
}

pub(super) fn parse_dbname(dbname: Option<&str>) -> Result<Option<String>, ShapeError> {
    match dbname {
        Some(name) if name.is_empty() || name.contains('\0') => {
            Err(invalid("dbname", "must be a non-empty string without NUL"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

pub(super) fn parse_ssl(value: Option<&Value>) -> Result<Option<bool>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(ssl)) => Ok(Some(*ssl)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(invalid("ssl", "must be true or false (a boolean or the string \"true\" / \"false\")")),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const PG: &str = r#"{"engine":"postgres","host":"db.example.com","username":"app","password":"pw-1"}"#;

    fn parse(json: &str) -> Result<DbSecret, ShapeError> {
        DbSecret::parse(json, &SecretDefaults::default())
    }

    fn check_err(json: &str, expected: ShapeError) {
        assert_eq!(parse(json).unwrap_err(), expected, "secret {json}");
    }

    #[test]
    fn parses_defaults() {
        let secret = parse(PG).unwrap();
        assert_eq!(secret.target().port, 5432);
        assert_eq!(secret.target().dbname, None);
        assert_eq!(secret.target().tls, TlsChoice::Secret(None));
        assert_eq!(secret.username().as_str(), "app");
        assert_eq!(secret.password().expose_secret(), "pw-1");
    }

    #[test]
    fn parses_port_and_ssl_forms() {
        let secret = parse(
            r#"{"engine":"aurora-postgresql","host":"h","port":"6543","username":"u","password":"p","ssl":"FALSE"}"#,
        );
        let secret = secret.unwrap();
        assert_eq!((secret.target().port, secret.target().tls), (6543, TlsChoice::Secret(Some(false))));
        let secret = parse(r#"{"engine":"postgres","host":"h","port":6543,"username":"u","password":"p","ssl":true}"#);
        assert_eq!(secret.unwrap().target().tls, TlsChoice::Secret(Some(true)));
    }

    #[test]
    fn refuses_bad_secrets() {
        check_err("[1,2]", ShapeError::NotAnObject);
        check_err("{not json", ShapeError::NotJson { line: 1, column: 2 });
        check_err("\"just a string\"", ShapeError::NotAnObject);
        check_err(r#"{"engine":"postgres","host":"h","username":"u"}"#, ShapeError::Missing("password"));
        check_err(r#"{"engine":"postgres","host":"h","password":"p"}"#, ShapeError::Missing("username"));
        check_err(r#"{"engine":"postgres","username":"u","password":"p"}"#, ShapeError::Missing("host"));
        check_err(r#"{"host":"h","username":"u","password":"p"}"#, ShapeError::NoEngine);
        for (json, key) in [
            (r#"{"engine":"postgres","host":"h","username":"u","password":5}"#, "password"),
            (r#"{"engine":"postgres","host":"h","username":"","password":"p"}"#, "username"),
            (r#"{"engine":"postgres","host":"h","username":"a\u0000b","password":"p"}"#, "username"),
            (r#"{"engine":"postgres","host":"h","username":"a\nb","password":"p"}"#, "username"),
            (r#"{"engine":"postgres","host":"h","username":7,"password":"p"}"#, "username"),
            (r#"{"engine":"postgres","host":"h h","username":"u","password":"p"}"#, "host"),
            (r#"{"engine":"postgres","host":"","username":"u","password":"p"}"#, "host"),
            (r#"{"engine":"postgres","host":"/var/run/postgresql","username":"u","password":"p"}"#, "host"),
            (r#"{"engine":"postgres","host":"a,b","username":"u","password":"p"}"#, "host"),
            (r#"{"engine":"postgres","host":"h","port":0,"username":"u","password":"p"}"#, "port"),
            (r#"{"engine":"postgres","host":"h","port":70000,"username":"u","password":"p"}"#, "port"),
            (r#"{"engine":"postgres","host":"h","port":"54x","username":"u","password":"p"}"#, "port"),
            (r#"{"engine":"postgres","host":"h","port":-1,"username":"u","password":"p"}"#, "port"),
            (r#"{"engine":"postgres","host":"h","username":"u","password":"p","ssl":"yes"}"#, "ssl"),
            (r#"{"engine":"postgres","host":"h","username":"u","password":"p","dbname":""}"#, "dbname"),
            (r#"{"engine":"oracle-ee","host":"h","username":"u","password":"p"}"#, "engine"),
            (r#"{"engine":true,"host":"h","username":"u","password":"p"}"#, "engine"),
        ] {
            match parse(json) {
                Err(ShapeError::Invalid { key: got, .. }) => assert_eq!(got, key, "secret {json}"),
                other => panic!("secret {json}: expected an invalid {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn enforces_the_engine_username_limit() {
        let ok = format!(r#"{{"engine":"postgres","host":"h","username":"{}","password":"p"}}"#, "u".repeat(63));
        assert!(parse(&ok).is_ok());
        let long = format!(r#"{{"engine":"postgres","host":"h","username":"{}","password":"p"}}"#, "u".repeat(64));
        assert!(matches!(parse(&long), Err(ShapeError::Invalid { key: "username", .. })));
    }

    #[test]
    fn mysql_family_secrets() {
        let json = r#"{"engine":"mariadb","host":"h","username":"app","password":"p"}"#;
        let secret = parse(json).unwrap();
        assert_eq!((secret.target().port, secret.target().dbname.as_deref()), (3306, None));
        let long = format!(r#"{{"engine":"mysql","host":"h","username":"{}","password":"p"}}"#, "u".repeat(20));
        assert!(parse(&long).is_ok());
        let limited = SecretDefaults { mysql_username_limit: Some(16), ..SecretDefaults::default() };
        assert!(matches!(DbSecret::parse(&long, &limited), Err(ShapeError::Invalid { key: "username", .. })));
    }

    #[test]
    fn default_engine_applies_only_without_engine_key() {
        let json = r#"{"host":"h","username":"u","password":"p"}"#;
        let defaults = SecretDefaults { engine: Some(EngineKind::AuroraPostgres), ..SecretDefaults::default() };
        let secret = DbSecret::parse(json, &defaults).unwrap();
        assert_eq!(secret.target().engine, EngineKind::AuroraPostgres);
        let secret = DbSecret::parse(PG, &defaults).unwrap();
        assert_eq!(secret.target().engine, EngineKind::Postgres);
    }

    #[test]
    fn new_password_keeps_every_other_key_in_place() {
        let json = r#"{"username":"app","engine":"postgres","password":"old","host":"h","port":"5432","custom":{"a":[1,2]},"zeta":null}"#;
        let secret = parse(json).unwrap().with_password(Password::new("new".to_owned()));
        let text = secret.to_secret_string();
        assert_eq!(
            text.expose_secret(),
            r#"{"username":"app","engine":"postgres","password":"new","host":"h","port":"5432","custom":{"a":[1,2]},"zeta":null}"#
        );
    }

    #[test]
    fn another_login_changes_only_username_and_password() {
        let json = r#"{"username":"app","engine":"postgres","password":"old","host":"h","masterarn":"arn:m","x":1}"#;
        let clone = parse(json).unwrap().with_login(UserName::new("app_clone").unwrap(), Password::new("new".into()));
        assert_eq!(
            clone.to_secret_string().expose_secret(),
            r#"{"username":"app_clone","engine":"postgres","password":"new","host":"h","masterarn":"arn:m","x":1}"#
        );
        assert_eq!(clone.username().as_str(), "app_clone");
    }

    #[test]
    fn rds_identifiers_may_stand_in_for_the_host() {
        let secret =
            parse(r#"{"engine":"postgres","username":"u","password":"p","dbInstanceIdentifier":"db-1"}"#).unwrap();
        assert_eq!((secret.target().host.as_str(), secret.rds().instance.as_deref()), ("", Some("db-1")));
        let arn = r#"{"engine":"postgres","username":"u","password":"p","dbClusterIdentifier":"arn:aws:rds:eu-west-1:1:cluster:app"}"#;
        assert_eq!(parse(arn).unwrap().rds().cluster.as_deref(), Some("app"));
        assert_eq!(parse(arn).unwrap().rds().region.as_deref(), Some("eu-west-1"));
        check_err(r#"{"engine":"postgres","username":"u","password":"p"}"#, ShapeError::Missing("host"));
        for bad in ["", "db 1", "db;1", "arn:aws:rds:eu-west-1:1:db:x", &"a".repeat(64)] {
            let text =
                format!(r#"{{"engine":"postgres","username":"u","password":"p","dbClusterIdentifier":{bad:?}}}"#);
            assert!(matches!(parse(&text), Err(ShapeError::Invalid { key: "dbClusterIdentifier", .. })), "{bad}");
        }
    }

    #[test]
    fn parses_a_tls_server_name() {
        let with = |name: &str| {
            let json = format!(
                r#"{{"engine":"postgres","host":"10.0.0.7","username":"u","password":"p","tlsServerName":{name}}}"#
            );
            parse(&json)
        };
        // Absent, or null: the host is the name.
        assert_eq!(parse(PG).unwrap().target().tls_server_name, None);
        assert_eq!(parse(PG).unwrap().target().server_name(), "db.example.com");
        assert_eq!(with("null").unwrap().target().tls_server_name, None);
        // A DNS name, kept in lower case; the host stays where the connection goes.
        for (name, expected) in [
            ("\"MyDb.abc123.eu-west-1.rds.amazonaws.com\"", "mydb.abc123.eu-west-1.rds.amazonaws.com"),
            ("\"localhost\"", "localhost"),
            ("\"db-1.internal\"", "db-1.internal"),
            ("\"9db.example\"", "9db.example"),
        ] {
            let secret = with(name).unwrap();
            assert_eq!(secret.target().tls_server_name.as_deref(), Some(expected), "{name}");
            assert_eq!((secret.target().server_name(), secret.target().host.as_str()), (expected, "10.0.0.7"));
        }
        let long_label = format!("\"{}.example.com\"", "a".repeat(64));
        let too_long = format!("\"{}example.com\"", "abcdefghi.".repeat(25));
        for bad in [
            "\"\"",
            "\"127.0.0.1\"",
            "\"::1\"",
            "\"[::1]\"",
            "\"10.0.0\"",
            "\"db.example.com.\"",
            "\".db.example.com\"",
            "\"db..example.com\"",
            "\"-db.example.com\"",
            "\"db-.example.com\"",
            "\"db_1.example.com\"",
            "\"db.example.com:5432\"",
            "\"db example.com\"",
            "\"*.example.com\"",
            "\"d\u{e9}.example.com\"",
            "\"db\\u0000.example.com\"",
            &long_label,
            &too_long,
            "5",
            "true",
            "[\"db.example.com\"]",
        ] {
            match with(bad) {
                Err(ShapeError::Invalid { key: "tlsServerName", problem }) => {
                    assert!(!problem.is_empty() && !problem.contains('{'), "{bad}: {problem}");
                }
                other => panic!("tlsServerName {bad}: expected an invalid tlsServerName, got {other:?}"),
            }
        }
        let err = with("\"127.0.0.1\"").unwrap_err().to_string();
        assert!(err.contains("\"tlsServerName\" is an IP address"), "{err}");
        // Only beside a host of the secret's own: the RDS API's endpoints carry their own names.
        let ids_only = r#"{"engine":"postgres","dbInstanceIdentifier":"db-1","username":"u","password":"p","tlsServerName":"db.example.com"}"#;
        let err = parse(ids_only).unwrap_err();
        assert!(
            matches!(&err, ShapeError::Invalid { key: "tlsServerName", problem } if problem.contains("needs a \"host\"")),
            "{err}"
        );
    }

    /// A secret moved to another endpoint takes that endpoint's name: its own `tlsServerName` names its own host.
    #[test]
    fn a_tls_server_name_stays_with_its_host() {
        let json =
            r#"{"engine":"postgres","host":"alias.corp","username":"u","password":"p","tlsServerName":"db.rds"}"#;
        let secret = parse(json).unwrap();
        let elsewhere = parse(PG).unwrap();
        let moved = secret.at(elsewhere.target());
        assert_eq!((moved.target().host.as_str(), moved.target().tls_server_name.as_deref()), ("db.example.com", None));
        let back = elsewhere.at(secret.target());
        assert_eq!(back.target().server_name(), "db.rds");
        assert_eq!(back.target().tls, TlsChoice::Secret(None), "the TLS choice stays the secret's own");
        // It is kept in the stored JSON as written, and does not make versions differ.
        assert_eq!(
            secret
                .with_password(Password::new("n".into()))
                .to_secret_string()
                .expose_secret()
                .matches("db.rds")
                .count(),
            1
        );
        assert_eq!(
            secret.differs_from(
                &parse(r#"{"engine":"postgres","host":"alias.corp","username":"u","password":"x"}"#).unwrap()
            ),
            None
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let json = r#"{"engine":"postgres","host":"h","username":"app","password":"hunter2","apiKey":"k-777"}"#;
        let shown = format!("{:?}", parse(json).unwrap());
        assert!(!shown.contains("hunter2") && !shown.contains("k-777"), "{shown}");
        assert!(shown.contains("apiKey"), "{shown}");
    }

    #[test]
    fn differs_from_names_the_key() {
        let base = parse(PG).unwrap();
        let check = |json: &str, expected: Option<&str>| {
            assert_eq!(base.differs_from(&parse(json).unwrap()), expected, "{json}");
        };
        check(r#"{"engine":"postgres","host":"DB.example.com","username":"app","password":"x"}"#, None);
        check(r#"{"engine":"postgres","host":"other","username":"app","password":"x"}"#, Some("host"));
        check(
            r#"{"engine":"postgres","host":"db.example.com","port":5433,"username":"app","password":"x"}"#,
            Some("port"),
        );
        check(r#"{"engine":"postgres","host":"db.example.com","username":"App","password":"x"}"#, Some("username"));
        let no_host = parse(r#"{"engine":"postgres","dbInstanceIdentifier":"db1","username":"app","password":"x"}"#);
        let other = r#"{"engine":"postgres","dbInstanceIdentifier":"db2","username":"app","password":"x"}"#;
        assert_eq!(no_host.as_ref().unwrap().differs_from(&parse(other).unwrap()), Some("dbInstanceIdentifier"));
        let same = r#"{"engine":"postgres","dbInstanceIdentifier":"DB1","username":"app","password":"x"}"#;
        assert_eq!(no_host.unwrap().differs_from(&parse(same).unwrap()), None);
        check(
            r#"{"engine":"aurora-postgresql","host":"db.example.com","username":"app","password":"x"}"#,
            Some("engine"),
        );
    }
}
