//! The integration tests, as one test binary: linking the AWS SDK and both database drivers once, not once per
//! file, is most of what building the tests costs. Each module is one subject; they run against the servers
//! `scripts/local-servers.sh` starts (real PostgreSQL and MariaDB with password authentication, moto), found through
//! its environment variables. Every Secrets Manager call goes through the strict layer in front of moto
//! (tests/strict-secrets-manager.py), which refuses what the real service refuses; `service_rules` tests its rules.
//!
//! Three suites are binaries of their own, because they change what every other test would see: `tests/restart.rs`
//! stops and starts the database servers, `tests/limits.rs` lowers their connection limits and restarts them under
//! a fleet run, and `tests/mariadb_sql_mode.rs` changes MariaDB's global `sql_mode`.
//! Cargo runs test binaries one after another, so nothing else runs while they do.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod alternating;
mod check;
mod cli;
mod corpus;
mod fault_matrix;
mod faults;
mod fleet;
mod lambda;
mod leaks;
mod mariadb;
mod overlap;
mod postgres;
mod rotation;
mod scale;
mod secrets_manager_faults;
mod service_rules;
mod terminal;
mod tls;
mod topology;
mod trust;
