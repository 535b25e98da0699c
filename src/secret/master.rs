//! The master secret of alternating users: who the master is, and — from its own keys only — where it logs in.

use std::fmt;

use serde_json::Value;

use super::{
    ShapeError, invalid, object_with_password, optional_str, parse_dbname, parse_host, parse_port, parse_ssl,
    parse_tls_server_name, required_str,
};
use crate::domain::{EngineKind, Login, Password, Target, TlsChoice, UserName};

/// The master secret of alternating users (the AWSCURRENT version of `masterarn`), parsed: the user the master logs
/// in as and, from its own keys only, where. Nothing here comes from the rotated secret: not the engine (a master
/// secret with its own host names its own, or the operator's `DEFAULT_ENGINE` stands for it; an RDS-managed one's
/// comes from the RDS API — `rotation/master.rs`), nor the database either: its owner could shape what the master's
/// session sees there (a `search_path` setting); the master opens its own `dbname`, or the engine's default.
pub struct MasterSecret {
    username: UserName,
    password: Password,
    engine: Option<EngineKind>,
    host: Option<String>,
    port: Option<u16>,
    dbname: Option<String>,
    /// The master secret's own `ssl` key: `true` demands verified TLS whatever `MASTER_TLS_MODE` allows; `false`
    /// lowers nothing.
    ssl: Option<bool>,
    /// The master secret's own `tlsServerName`: the name its own `host`'s certificate carries, when that host is an
    /// alias. Never the rotated secret's (whose writer would then choose the name the master's login trusts), and
    /// only beside its own host (an RDS-managed master's endpoint, from the RDS API, carries its own name).
    tls_server_name: Option<String>,
}

/// The master user, located: its login and where it logs in.
#[derive(Clone)]
pub struct Master {
    username: UserName,
    password: Password,
    target: Target,
}

impl MasterSecret {
    /// Parses the master secret's `SecretString`. Only `username` and `password` are required: an RDS-managed master
    /// secret holds nothing else, and its instance or cluster is then found through its tags.
    pub fn parse(text: &str) -> Result<MasterSecret, ShapeError> {
        let (fields, password) = object_with_password(text)?;
        let username = UserName::new(required_str(&fields, "username")?).map_err(|p| invalid("username", p))?;
        let engine = match optional_str(&fields, "engine")? {
            Some(name) => Some(EngineKind::parse(name).map_err(|problem| invalid("engine", problem))?),
            None => None,
        };
        let host = optional_str(&fields, "host")?.map(parse_host).transpose()?;
        let port = match fields.get("port") {
            None | Some(Value::Null) => None,
            port => Some(parse_port(port, 0)?),
        };
        let dbname = parse_dbname(optional_str(&fields, "dbname")?)?;
        let tls_server_name = parse_tls_server_name(&fields, host.is_some())?;
        let ssl = parse_ssl(fields.get("ssl"))?;
        Ok(MasterSecret { username, password, engine, host, port, dbname, ssl, tls_server_name })
    }

    /// The master secret's own `host`; `None` for an RDS-managed master secret.
    pub(crate) fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The master secret's own `engine`, if it names one.
    pub(crate) fn engine(&self) -> Option<EngineKind> {
        self.engine
    }

    /// The master at `host:port` (its own, or the endpoint the RDS API names for its instance or cluster), for
    /// `engine` (its own, the operator's `DEFAULT_ENGINE`, or the RDS API's: never the rotated secret's). Its own
    /// `port` comes first, then the RDS API's, then `engine`'s default; its own `dbname` or
    /// none (the engine's default); its own `tlsServerName`, which it holds only beside its own host, and only at
    /// that host.
    pub fn at(&self, engine: EngineKind, host: &str, port: Option<u16>) -> Master {
        let own_host = self.host.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(host));
        let target = Target {
            engine,
            host: host.to_owned(),
            port: self.port.or(port).unwrap_or(engine.default_port()),
            dbname: self.dbname.clone(),
            tls: TlsChoice::Master { verified: self.ssl == Some(true) },
            tls_server_name: self.tls_server_name.clone().filter(|_| own_host),
        };
        Master { username: self.username.clone(), password: self.password.clone(), target }
    }
}

impl Master {
    pub fn username(&self) -> &UserName {
        &self.username
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn login(&self) -> Login<'_> {
        Login { user: &self.username, password: &self.password }
    }

    /// The same master, connecting to `target` (an address the test-only endpoint map gives).
    pub fn connecting_to(&self, target: Target) -> Master {
        Master { target, ..self.clone() }
    }
}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterSecret")
            .field("username", &self.username)
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls_server_name", &self.tls_server_name)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Master {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Master").field("username", &self.username).field("target", &self.target).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The master secret says where the master logs in: `at` takes the endpoint the master's own configuration
    /// gives, and nothing of the rotated secret's (neither its host, port, database nor `ssl`).
    #[test]
    fn a_master_secret_takes_nothing_of_where_from_the_rotated_secret() {
        let bare = MasterSecret::parse(r#"{"username":"admin","password":"m"}"#).unwrap();
        assert_eq!((bare.host(), bare.engine()), (None, None));
        let master = bare.at(EngineKind::Mariadb, "writer.rds", Some(3306));
        assert_eq!(
            master.target(),
            &Target {
                engine: EngineKind::Mariadb,
                host: "writer.rds".into(),
                port: 3306,
                dbname: None,
                tls: TlsChoice::Master { verified: false },
                tls_server_name: None,
            }
        );
        let own = MasterSecret::parse(r#"{"username":"admin","password":"m","host":"w","port":"3310","ssl":true}"#);
        let master = own.unwrap().at(EngineKind::Mariadb, "w", None);
        assert_eq!((master.target().port, master.target().tls), (3310, TlsChoice::Master { verified: true }));
        assert_eq!(master.username.as_str(), "admin");
        assert_eq!(MasterSecret::parse(r#"{"username":"admin"}"#).unwrap_err(), ShapeError::Missing("password"));
        assert!(matches!(
            MasterSecret::parse(r#"{"username":"a","password":"m","host":"/tmp"}"#),
            Err(ShapeError::Invalid { key: "host", .. })
        ));
        let shown = format!("{:?}", MasterSecret::parse(r#"{"username":"a","password":"hunter2"}"#).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    /// The master secret's own `tlsServerName` names its own host's certificate: it goes with that host, and with
    /// no other endpoint; it is refused without a host, and validated as the rotated secret's is.
    #[test]
    fn a_master_secret_names_its_own_hosts_certificate() {
        let text = r#"{"username":"admin","password":"m","host":"alias.corp","tlsServerName":"DB.abc.eu-west-1.rds.amazonaws.com"}"#;
        let own = MasterSecret::parse(text).unwrap();
        let master = own.at(EngineKind::Postgres, "alias.corp", None);
        assert_eq!(master.target().server_name(), "db.abc.eu-west-1.rds.amazonaws.com");
        assert_eq!(master.target().host, "alias.corp");
        assert_eq!(own.at(EngineKind::Postgres, "elsewhere.rds", Some(5432)).target().tls_server_name, None);
        let bare = r#"{"username":"admin","password":"m","tlsServerName":"db.example.com"}"#;
        assert!(matches!(MasterSecret::parse(bare), Err(ShapeError::Invalid { key: "tlsServerName", .. })));
        let ip = r#"{"username":"admin","password":"m","host":"h","tlsServerName":"10.1.2.3"}"#;
        assert!(matches!(MasterSecret::parse(ip), Err(ShapeError::Invalid { key: "tlsServerName", .. })));
        assert_eq!(MasterSecret::parse(r#"{"username":"a","password":"m","host":"h"}"#).unwrap().tls_server_name, None);
    }
}
