//! The database side: the `DbEngine` trait and the session traits the protocol core calls (the port), and the
//! drivers that implement them (the adapters), each engine in its own folder — its driver, its SQL, its hashes and
//! its alternate-user code together: `postgres/`, `mysql/` (MySQL, Aurora MySQL and MariaDB). `Drivers` picks the
//! driver for a secret's engine; `login.rs` decides how a login uses TLS; `sql.rs` holds the audited `Sql` type,
//! which only each engine's statement builders make.

mod certificate;
pub(crate) mod drivers;
mod login;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sql;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use drivers::{AnySession, Drivers};

use crate::domain::{Login, Password, Target, UserName, shown};
pub(crate) use crate::tls::CertificateDates;

/// The answer to a login attempt that reached the server.
pub enum LoginOutcome<S> {
    /// The server accepted the credentials; the session is open.
    Accepted(S),
    /// The server refused these credentials (wrong password, or no such user).
    Rejected,
}

/// A database engine. Implementations hold no connection between calls.
pub trait DbEngine: Send + Sync {
    type Session: RotationSession + AccountAdmin + Preflight;

    /// Logs in as `login` at `at`. `Rejected` means the server refused the credentials; a server that cannot be
    /// reached, does not answer within the connect timeout, fails TLS or refuses for another reason is an `Err`, so
    /// that "wrong password" and "host down" are never confused. Changes nothing on the server.
    fn login(
        &self,
        at: &Target,
        login: Login<'_>,
    ) -> impl Future<Output = Result<LoginOutcome<Self::Session>, EngineError>> + Send;

    /// How logins to `at` are secured, in a phrase for an operator ("TLS mode verify-full").
    fn transport(&self, _at: &Target) -> Option<String> {
        None
    }

    /// Whether every login at `at` verifies the server's certificate against `at`'s name (`Target::server_name`),
    /// with no way around it: `verify-full`, never `prefer` (which goes plaintext when the server offers no TLS).
    /// Only then does a login prove that the server is the one the name names. `false` unless an engine says so, so
    /// that what relies on it fails closed.
    fn verifies_certificate(&self, _at: &Target) -> bool {
        false
    }

    /// The dates of the certificate the server at `at` presents and of its CA, read over a TLS handshake of its own
    /// that sends no credential; `None` where logins to `at` do not verify certificates, `Err` why they could not be
    /// read.
    fn certificate(&self, _at: &Target) -> impl Future<Output = Option<Result<CertificateDates, String>>> + Send {
        async { None }
    }

    /// What a `Rejected` login at `at` may mean besides a wrong password, where the server does not say.
    fn rejection_hint(&self, _at: &Target) -> Option<&'static str> {
        None
    }
}

/// An open, authenticated session. What it can do is split by purpose: the rotation of a user's own password
/// (`RotationSession`), the master's management of the alternating users (`AccountAdmin`), and the preflight's
/// questions (`Preflight`).
pub trait DbSession: Send {
    /// Ends the session politely, so the server logs a disconnect rather than an aborted connection.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// What a rotation does in a session of the user whose password changes, or of the pending user.
pub trait RotationSession: DbSession {
    /// Makes `new` the password of `user`. Idempotent: succeeds, and leaves `new` in place, when it already is the
    /// password. The password reaches the server as the verifier or hash the server stores wherever the server and
    /// the account allow it; where they do not, the engine says so in a warning before sending it otherwise.
    fn set_password(&mut self, user: &UserName, new: &Password)
    -> impl Future<Output = Result<(), EngineError>> + Send;

    /// A query that proves the session can do work (testSecret). Changes nothing.
    fn check(&mut self) -> impl Future<Output = Result<(), EngineError>> + Send;
}

/// What the master does in its session for alternating users: an optional capability. An engine that rotates single
/// users only writes `impl AccountAdmin for ItsSession {}`, and every call fails with `EngineErrorKind::Unsupported`
/// before anything changes.
pub trait AccountAdmin: DbSession {
    /// Whether a user of this name exists (on the MySQL family: with any host part). Reads only.
    fn user_exists(&mut self, _user: &UserName) -> impl Future<Output = Result<bool, EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }

    /// Why `user` (which exists) could administer other accounts, in a phrase ("is a superuser", "holds CREATE USER
    /// …"), or `None`. A rotation that copies privileges from or to such a user would hand account administration to
    /// whoever writes the secret. Reads only.
    fn account_power(&mut self, _user: &UserName) -> impl Future<Output = Result<Option<String>, EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }

    /// The accounts of `user` that do not store `password`, each named for an operator (`"app"@"10.0.%"
    /// (mysql_native_password)`). A login proves only the account the server matched: where one user name has
    /// several accounts (the MySQL family's `user@host`), the others may be someone else's, with other privileges, and
    /// nothing of theirs may be copied. Empty where a name is one account, which the login proved (PostgreSQL).
    /// Reads only.
    fn unproven_accounts(
        &mut self,
        _user: &UserName,
        _password: &Password,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }

    /// Whether the session's user may administer both users of the pair, checked before anything changes: an
    /// `EngineErrorKind::MissingPrivilege` error naming what the operator must grant where it may not (PostgreSQL
    /// 16+'s ADMIN OPTION). Reads only.
    fn master_authority(&mut self, _pair: Alternate<'_>) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }

    /// Makes `pair.next` the current user's twin with `password`. It is created when missing — with `password` from
    /// the first statement, so that a retry can recognise it — then its privileges are made those of `pair.current`
    /// (added and revoked), then its password is set. Idempotent: a retry after a crash at any point completes the
    /// work. The caller has checked that an existing `pair.next` logs in with a password this secret holds; where one
    /// user name has several accounts (the MySQL family's `user@host`), each must hold one of `pair.known`, else
    /// `NotOurs` and nothing changes.
    fn sync_alternate(
        &mut self,
        _pair: Alternate<'_>,
        _password: &Password,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }

    /// An error naming the first difference when `pair.next` does not hold what `pair.current` holds (testSecret).
    /// Reads only.
    fn verify_alternate(&mut self, _pair: Alternate<'_>) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Err(EngineError::unsupported()) }
    }
}

/// What the preflight asks a session, changing nothing.
pub trait Preflight: DbSession {
    /// How `set_password` would change `user`'s password, in a sentence for an operator; an error where it could
    /// not (a privilege missing, an account it refuses).
    fn describe_password_change(&mut self, user: &UserName)
    -> impl Future<Output = Result<String, EngineError>> + Send;
}

/// What the drivers are built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// `CONNECT_TIMEOUT_SECONDS`: bound on each login, handshake included.
    pub connect_timeout: Duration,
    /// `STATEMENT_TIMEOUT_SECONDS`: bound on each statement and each wait for a lock.
    pub statement_timeout: Duration,
}

/// The two users of an alternating-users secret, as one rotation sees them.
#[derive(Clone, Copy, Debug)]
pub struct Alternate<'a> {
    /// The user in AWSCURRENT: the one whose privileges the other gets.
    pub current: &'a UserName,
    /// The user the pending version names.
    pub next: &'a UserName,
    /// The pair's original user, and its `_clone`.
    pub base: &'a UserName,
    pub clone: &'a UserName,
    /// The passwords this secret holds for `next` (AWSPREVIOUS's, when it names `next`, and the pending one): an
    /// existing account of `next` is this rotation's to change only when it holds one of them.
    pub known: &'a [&'a Password],
}

/// Why an engine call failed. Carries the endpoint and a message safe to log: server messages only from login
/// and read-only statements, and for a statement that carried a password only its error code and a fixed text.
#[derive(Debug, thiserror::Error)]
#[error("{kind}{}: {}", if host.is_empty() { String::new() } else { format!(" at {}:{port}", shown(host)) }, shown(.detail))]
pub struct EngineError {
    pub kind: EngineErrorKind,
    pub host: String,
    pub port: u16,
    pub detail: String,
}

/// The most characters an `EngineError`'s detail keeps.
const MAX_DETAIL: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// No TCP connection (refused, no route, DNS). Transient.
    Unreachable,
    /// No answer within the connect timeout. Transient.
    Timeout,
    /// TLS could not be set up as required (certificate, handshake, or the server demands TLS that is off here).
    Tls,
    /// The server offers no TLS, and the mode requires it.
    TlsNotOffered,
    /// The server is up but cannot take the session now (too many connections, starting up). Transient.
    Busy,
    /// The server refused the session for a reason other than the password (pg_hba, missing database).
    LoginRefused,
    /// A statement failed after login.
    Statement,
    /// The server refused a change because it is read-only: a replica or a reader, not the writer.
    ReadOnly,
    /// A server whose certificate is not verified asked for a password in a form it could read (PostgreSQL's
    /// cleartext request, MySQL's full authentication); the master login refused it.
    Unverified,
    /// An account of the other user holds a password this secret does not: it is not this rotation's to change.
    NotOurs,
    /// The master lacks a right a change needs (PostgreSQL 16+'s ADMIN OPTION on a role), found before the change;
    /// the detail names the grant to run.
    MissingPrivilege,
    /// The engine does not offer what was asked (alternating users, on an engine that rotates single users only).
    Unsupported,
}

impl EngineError {
    /// An error at `at`. The detail is cut to `MAX_DETAIL` characters: it may carry a server's words, and a server
    /// chooses how many (each engine also bounds a server's message where it quotes one, `server_message`).
    pub fn new(kind: EngineErrorKind, at: &Target, detail: impl Into<String>) -> EngineError {
        let mut detail = detail.into();
        if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL) {
            detail.truncate(cut);
            detail.push('…');
        }
        EngineError { kind, host: at.host.clone(), port: at.port, detail }
    }

    /// What an engine without a capability answers (`AccountAdmin`'s defaults): no endpoint of its own to name.
    pub(crate) fn unsupported() -> EngineError {
        let detail =
            "alternating users are not rotated on this engine: rotate the secret as single user (no masterarn)";
        EngineError { kind: EngineErrorKind::Unsupported, host: String::new(), port: 0, detail: detail.to_owned() }
    }

    /// Whether a later retry of the rotation may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, EngineErrorKind::Unreachable | EngineErrorKind::Timeout | EngineErrorKind::Busy)
    }
}

impl fmt::Display for EngineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineErrorKind::Unreachable => "database unreachable",
            EngineErrorKind::Timeout => "database did not answer in time",
            EngineErrorKind::Tls => "TLS to the database failed",
            EngineErrorKind::TlsNotOffered => "the database offers no TLS",
            EngineErrorKind::Busy => "database cannot take a session now (at its connection limit, or starting up)",
            EngineErrorKind::LoginRefused => "database refused the session",
            EngineErrorKind::Statement => "database statement failed",
            EngineErrorKind::ReadOnly => "database is read-only",
            EngineErrorKind::Unverified => "refused to send the master's password to an unverified server",
            EngineErrorKind::NotOurs => "an account is not this rotation's to change",
            EngineErrorKind::MissingPrivilege => "the master lacks a privilege the change needs",
            EngineErrorKind::Unsupported => "this engine does not support it",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session of an engine that rotates single users only.
    struct SingleUserOnly;

    impl DbSession for SingleUserOnly {
        async fn close(self) {}
    }

    impl AccountAdmin for SingleUserOnly {}

    /// Account administration is optional: an engine without it fails every call, naming what to do instead.
    #[tokio::test]
    async fn account_administration_is_an_optional_capability() {
        let user = UserName::new("app").unwrap();
        let err = SingleUserOnly.user_exists(&user).await.unwrap_err();
        assert_eq!(err.kind, EngineErrorKind::Unsupported);
        assert_eq!(
            err.to_string(),
            "this engine does not support it: alternating users are not rotated on this engine: rotate the secret as \
             single user (no masterarn)"
        );
        assert!(SingleUserOnly.account_power(&user).await.is_err());
    }
}
