//! `MasterSecret::parse` (the master secret of alternating users) on arbitrary text, then `at` with three endpoints
//! the master could be found at. A panic is a finding: the parser panicked, something shown (Debug, an error)
//! holds the password, or the located master took anything but the engine and the endpoint from outside its own
//! secret — its port where it names one, its own database or none, TLS demanded as its own `ssl` says, and the name
//! its certificate must carry its own `tlsServerName`, at its own host only.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rds_rotator::internal::{EngineKind, MasterSecret, TlsChoice};
use serde_json::Value;

/// Where a master may be located: (engine, host, the port the RDS API names).
const ENDPOINTS: [(EngineKind, &str, Option<u16>); 3] = [
    (EngineKind::Postgres, "app.cluster-c1x2y3z4.eu-west-1.rds.amazonaws.com", Some(5432)),
    (EngineKind::Mariadb, "10.0.3.7", None),
    (EngineKind::AuroraMysql, "writer.shop.internal", Some(3307)),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let result = MasterSecret::parse(text);
    let shown = match &result {
        Ok(master) => format!("{master:?}"),
        Err(err) => format!("{err} / {err:?}"),
    };
    let value = serde_json::from_str::<Value>(text).ok();
    let field = |key: &str| value.as_ref().and_then(|value| value.get(key)).cloned();
    if let Some(Value::String(password)) = field("password") {
        // Short passwords can occur in any text by chance.
        if password.chars().count() >= 8 {
            assert!(!shown.contains(&password), "the password shows in {shown}");
        }
    }
    let Ok(master) = result else { return };
    for (engine, host, port) in ENDPOINTS {
        let located = master.at(engine, host, port);
        let target = located.target();
        assert_eq!(target.engine, engine);
        assert_eq!(target.host, host);
        let own_port = field("port").and_then(|port| match port {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let expected = own_port.map(|p| p as u16).or(port).unwrap_or(engine.default_port());
        assert_eq!(target.port, expected, "the master's own port comes first");
        let own_db = field("dbname").and_then(|db| db.as_str().map(str::to_owned)).filter(|db| !db.is_empty());
        assert_eq!(target.dbname, own_db, "the master opens its own database or none");
        let demanded = field("ssl")
            .is_some_and(|ssl| ssl == Value::Bool(true) || ssl.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")));
        assert_eq!(target.tls, TlsChoice::Master { verified: demanded });
        let own_host = field("host").and_then(|own| own.as_str().map(str::to_owned));
        let own_name = field("tlsServerName")
            .and_then(|name| name.as_str().map(str::to_ascii_lowercase))
            .filter(|_| own_host.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(host)));
        assert_eq!(target.tls_server_name, own_name, "the certificate's name is the master's own, at its own host");
        if let Some(Value::String(password)) = field("password")
            && password.chars().count() >= 8
        {
            assert!(!format!("{located:?}").contains(&password), "the password shows in the located master's Debug");
        }
    }
});
