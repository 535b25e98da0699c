//! rds-rotator: a Secrets Manager rotation function that keeps an Amazon RDS / Aurora database user's password
//! and its secret in sync.
//!
//! Modules, in reading order:
//! - `event`: the invocation payload (`Step`, `SecretId`, `ClientRequestToken`, `RotationToken`).
//! - `rotation`: the protocol core — the stage checks (`rotation::stages`), the four steps, alternating users and
//!   where their master logs in (`rotation::master`), RDS topology and endpoint names (`rotation::endpoint`).
//! - `secrets`: the `SecretStore` trait and its Secrets Manager implementation.
//! - `engines`: the `DbEngine` trait, the PostgreSQL driver, and `engines::sql`, where SQL text is built.
//! - `credentials`: the secret's JSON as typed values (`DbSecret`, `UserName`, `Password`, `Target`).
//! - `tls`: TLS to the database — modes, the built-in RDS certificate authorities, what a failure means.
//! - `password`: new passwords. `config`: settings from the environment. `error`: the one error type.
//! - `handler`: event in, `Diagnostic` out. `logging`: log format and level. `cli`: the binary's modes.
//!
//! # Architecture invariants
//! - `rotation/` does no I/O of its own. It calls only `SecretStore` and `DbEngine` and never sees an SDK or
//!   driver type.
//! - Every step is idempotent: running a step twice, or again after a crash part-way through, gives the same end
//!   state. Secrets Manager retries failed rotations with the same token.
//! - A password leaves `Password` only inside `engines/`, `credentials.rs` and `secrets.rs`:
//!   `grep -rn expose_secret src/` is the audit. No `Debug` output, log line or error message holds a password,
//!   a secret's JSON, a DSN or a `RotationToken`.
//! - SQL text that contains data is built only in `engines/sql/`.
//! - Nothing here panics on input: bad events, secrets, settings and server answers are errors that name what is
//!   wrong.
//! - A rotated secret is input from someone who may be hostile (docs/threat-model.md): it never says where the
//!   master logs in, never lowers the operator's TLS settings, and never makes the master change a user it cannot
//!   prove it holds, the master user, or an account administrator.
//! - Every statement and lock wait is bounded, and every step ends before Lambda's deadline.

pub mod cli;
pub mod config;
pub mod credentials;
pub mod engines;
pub mod error;
pub mod event;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod password;
pub mod rds;
pub mod rotation;
pub mod secrets;
pub mod tls;

pub use error::Error;
