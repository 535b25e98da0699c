//! The protocol core against fakes: a secret store that behaves like Secrets Manager (labels, AWSPREVIOUS on
//! moving AWSCURRENT, PutSecretValue idempotency per token) and a database that knows one password per user.
//! Both count their external calls, so a fault can be injected at any one of them.
//!
//! The fakes are `fakes.rs`; each topic is a file of its own.

mod alternating;
mod cancel;
mod fakes;
mod preflight;
mod single_user;
mod topology;
mod trust;

use fakes::*;
