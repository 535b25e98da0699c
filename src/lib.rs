//! rds-rotator: a Secrets Manager rotation function that keeps an Amazon RDS / Aurora database user's password
//! and its secret in sync.
//!
//! The code map, its layers and the invariants every change keeps are in ARCHITECTURE.md (one copy, checked by
//! `scripts/check-layers.py` and `scripts/check-docs.py` in `make lint`). The binary's entry is `main`; the
//! integration tests, benchmarks and fuzz targets reach the rest through `internal`.

#![warn(unreachable_pub)]

mod app;
mod aws;
mod cli;
mod config;
mod domain;
mod engines;
mod event;
mod fleet;
mod handler;
mod logging;
mod metrics;
mod password;
mod rds;
mod rotation;
mod secret;
mod store;
mod tls;

pub use cli::main;

/// What the integration tests, the benchmarks and the fuzz targets use. Not an API: hidden from the documentation,
/// and it changes whenever the code does. Everything else is private to the crate, so the compiler reports what
/// nothing uses.
#[doc(hidden)]
pub mod internal {
    pub use crate::app::{AwsRotator, Parts, build, drivers};
    pub use crate::aws::secrets_manager::AwsSecretStore;
    pub use crate::config::Config;
    pub use crate::domain::{EngineKind, Login, Password, RotationToken, Step, Target, TlsChoice, UserName, VersionId};
    pub use crate::engines::mysql::auth::native_hash;
    pub use crate::engines::{
        AccountAdmin, Alternate, AnySession, DbEngine, DbSession, Drivers, EngineError, EngineErrorKind, LoginOutcome,
        Preflight, RotationSession,
    };
    pub use crate::event::{EventError, RotationEvent};
    pub use crate::metrics::Metrics;
    pub use crate::rotation::cancel::Cancelled;
    pub use crate::rotation::{Error, Outcome, Rotator};
    pub use crate::secret::{DbSecret, MAX_SECRET_BYTES, Master, MasterSecret, SecretDefaults, ShapeError};
    pub use crate::store::{
        Around, Decorated, Decoration, Fetched, SecretMeta, SecretStore, StoreCall, StoreError, StoreErrorKind, Version,
    };
    pub use crate::tls::BUILT_IN_BUNDLES;

    /// The operators' commands over many secrets (`fleet/`).
    pub mod fleet {
        pub use crate::fleet::READS_AT_ONCE;
        pub use crate::fleet::status::{Pending, due};
    }

    /// One invocation in and out (`handler.rs`).
    pub mod handler {
        pub use crate::handler::{handle, lambda_handler};
    }

    /// Log formats (`logging.rs`).
    pub mod logging {
        pub use crate::logging::{LogSettings, subscriber};
    }

    /// MariaDB's statements that depend on the session's `sql_mode`.
    pub mod mariadb_sql {
        pub use crate::engines::mysql::sql::{MysqlQuoting, mariadb_set_password_literal};
    }
}
