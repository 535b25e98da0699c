//! `DbSecret::parse_master` (the master secret of alternating users) on arbitrary text, against three rotated
//! secrets' targets. A panic is a finding: the parser panicked, a key the master secret lacks was not taken from
//! the rotated secret (or the returned flag is wrong about the host), or one of the checks in `shared/secret.rs`
//! failed.

#![no_main]

#[path = "shared/json.rs"]
mod json;
#[path = "shared/secret.rs"]
mod secret;

use libfuzzer_sys::fuzz_target;
use rds_rotator::credentials::{DbSecret, SecretDefaults, Target};
use rds_rotator::engines::EngineKind;
use serde_json::Value;

fn rotated_targets() -> [Target; 3] {
    [
        Target {
            engine: EngineKind::Postgres,
            host: "app.cluster-c1x2y3z4.eu-west-1.rds.amazonaws.com".to_owned(),
            port: 5432,
            dbname: Some("app".to_owned()),
            ssl: None,
        },
        Target { engine: EngineKind::Mariadb, host: "10.0.3.7".to_owned(), port: 3307, dbname: None, ssl: Some(false) },
        Target {
            engine: EngineKind::AuroraMysql,
            host: "writer.shop.internal".to_owned(),
            port: 3306,
            dbname: Some("shop".to_owned()),
            ssl: Some(true),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let defaults = SecretDefaults::default();
    for rotated in rotated_targets() {
        let parse = |text: &str| DbSecret::parse_master(text, &rotated, &defaults).map(|(master, _)| master);
        let Some(master) = secret::check(text, &defaults, parse) else { continue };
        // Each key the master secret lacks (or holds as null) is the rotated secret's, and the flag says whether
        // the host was.
        let value = serde_json::from_str::<Value>(text).unwrap();
        let lacks = |key: &str| value.get(key).is_none_or(Value::is_null);
        let (_, host_inherited) = DbSecret::parse_master(text, &rotated, &defaults).unwrap();
        assert_eq!(host_inherited, lacks("host"));
        let target = master.target();
        if lacks("engine") {
            assert_eq!(target.engine, rotated.engine);
        }
        if lacks("host") {
            assert_eq!(target.host, rotated.host);
        }
        if lacks("port") {
            assert_eq!(target.port, rotated.port);
        }
        if lacks("dbname") {
            assert_eq!(target.dbname, rotated.dbname);
        }
        if lacks("ssl") {
            assert_eq!(target.ssl, rotated.ssl);
        }
    }
});
