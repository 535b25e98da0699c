//! `rds-rotator check SECRET_ID`: a preflight that changes nothing. It walks what a rotation needs, in the order a
//! rotation needs it — Secrets Manager, the secret, the password policy, the database (network, TLS, login with
//! AWSCURRENT), the right to change the password — and stops at the first thing missing, saying what to fix.

use std::io::Write;

use secrecy::ExposeSecret;

use crate::config::Config;
use crate::credentials::{DbSecret, Master};
use crate::engines::{DbEngine, DbSession, Drivers, EngineError, EngineErrorKind, LoginOutcome};
use crate::error::Error;
use crate::handler;
use crate::logging::{self, LogSettings};
use crate::password::Alphabet;
use crate::rotation::Pair;
use crate::secrets::{AWSCURRENT, AWSPENDING, AwsSecretStore, Fetched, SecretStore, StoreErrorKind, Version};

/// Prints each check; `passed` is false once one failed.
struct Report<W: Write> {
    out: W,
    passed: bool,
}

impl<W: Write> Report<W> {
    fn ok(&mut self, what: &str, detail: impl AsRef<str>) {
        let _ = writeln!(self.out, "  ok    {what:<16} {}", detail.as_ref());
    }

    fn note(&mut self, what: &str, detail: impl AsRef<str>) {
        let _ = writeln!(self.out, "  note  {what:<16} {}", detail.as_ref());
    }

    fn fail(&mut self, what: &str, detail: impl AsRef<str>, fix: impl AsRef<str>) {
        self.passed = false;
        let _ = writeln!(self.out, "  FAIL  {what:<16} {}", detail.as_ref());
        let _ = writeln!(self.out, "        {:<16} fix: {}", "", fix.as_ref());
    }
}

/// Runs the checks; `Ok(false)` when one failed (exit status 1), `Err` when the settings themselves are unusable.
pub async fn run(secret_id: &str) -> Result<bool, Error> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let config = super::config_from_env()?;
    let mut report = Report { out: std::io::stdout().lock(), passed: true };
    let _ = writeln!(report.out, "check {secret_id}");
    checks(&config, secret_id, &mut report).await?;
    let verdict =
        if report.passed { "passed: the secret can be rotated" } else { "failed: fix the above, then check again" };
    let _ = writeln!(report.out, "{verdict}");
    Ok(report.passed)
}

async fn checks<W: Write>(config: &Config, secret_id: &str, report: &mut Report<W>) -> Result<(), Error> {
    let store = AwsSecretStore::from_config(config).await?;
    let meta = match store.describe(secret_id).await {
        Ok(meta) => meta,
        Err(err) => {
            let fix = match err.kind {
                StoreErrorKind::Unavailable => format!(
                    "give the function a network path to {}: a Secrets Manager VPC interface endpoint or a NAT \
                     gateway (SECRETS_MANAGER_ENDPOINT names a custom endpoint)",
                    store.endpoint()
                ),
                StoreErrorKind::NotFound => "check the secret's name or ARN".to_owned(),
                StoreErrorKind::AccessDenied => "allow secretsmanager:DescribeSecret, GetSecretValue, PutSecretValue \
                                                 and UpdateSecretVersionStage on this secret"
                    .to_owned(),
                StoreErrorKind::Refused => "see the service's message".to_owned(),
            };
            report.fail("Secrets Manager", err.to_string(), fix);
            return Ok(());
        }
    };
    report.ok(
        "Secrets Manager",
        format!("{} answers; versions of the secret: {}", store.endpoint(), meta.versions.len()),
    );
    if meta.rotation_enabled == Some(false) {
        report
            .note("rotation", "not switched on for this secret yet (rotate-secret --rotation-lambda-arn turns it on)");
    }
    let pending_elsewhere = meta
        .versions
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l == AWSPENDING) && !labels.iter().any(|l| l == AWSCURRENT));
    if let Some((version, _)) = pending_elsewhere {
        report
            .note("rotation", format!("version {version} is AWSPENDING: a rotation is in progress or failed half-way"));
    }

    let current = match store.get(secret_id, Version::Current).await {
        Ok(Fetched::Text(text, _)) => DbSecret::parse(text.expose_secret(), &config.secret_defaults()),
        Ok(Fetched::Binary) => {
            report.fail("secret", "AWSCURRENT holds SecretBinary", "store the RDS format as a JSON SecretString");
            return Ok(());
        }
        Ok(Fetched::Missing) => {
            report.fail(
                "secret",
                "there is no AWSCURRENT version with a value",
                "put the current credentials in the secret",
            );
            return Ok(());
        }
        Err(err) => {
            let fix = "allow secretsmanager:GetSecretValue on this secret, and kms:Decrypt on its KMS key";
            report.fail("secret", err.to_string(), fix);
            return Ok(());
        }
    };
    let current = match current {
        Ok(current) => current,
        Err(problem) => {
            report.fail(
                "secret",
                format!("AWSCURRENT: {problem}"),
                "correct the secret's JSON (README.md, \"The secret\")",
            );
            return Ok(());
        }
    };
    let (at, user) = (current.target(), current.username());
    let database = at.dbname.as_deref().map(|db| format!(", database {db}")).unwrap_or_default();
    report.ok("secret", format!("AWSCURRENT: {} user {user} at {at}{database}", at.engine));

    match Alphabet::new(&config.password, at.engine) {
        Ok(alphabet) => report.ok(
            "passwords",
            format!(
                "{} characters from {} ({:.1} bits)",
                config.password.length,
                alphabet.size(),
                alphabet.entropy_bits()
            ),
        ),
        Err(problem) => {
            report.fail("passwords", problem.to_string(), "adjust PASSWORD_LENGTH or the EXCLUDE_* settings");
            return Ok(());
        }
    }

    // Where the rotation would connect: the secret's host, or what the RDS API resolves; for alternating users,
    // the master's endpoint, which the master's own secret names.
    let rotator = handler::build(config).await?;
    let (master, located) = match current.masterarn() {
        Some(masterarn) => match rotator.master(secret_id, &current, masterarn).await {
            Ok((master, located)) => (Some(master), located),
            Err(err) => {
                let fix = "give the master secret its own \"host\" (and \"port\"), or use an RDS-managed master \
                           secret whose tags name the instance or cluster; point the rotated secret at the same \
                           endpoint (or its reader, or a read replica); allow secretsmanager:GetSecretValue and \
                           DescribeSecret on the master secret (MasterSecretArn in template.yaml) and kms:Decrypt on \
                           its key";
                report.fail("master secret", err.to_string(), fix);
                return Ok(());
            }
        },
        None => match rotator.locate(secret_id, &current).await {
            Ok(located) => (None, located),
            Err(err) => {
                let fix = "allow rds:DescribeDBInstances and rds:DescribeDBClusters, give the function a network \
                           path to the RDS API (RDS_ENDPOINT names a VPC endpoint), or put the endpoint in the \
                           secret's host";
                report.fail("endpoint", err.to_string(), fix);
                return Ok(());
            }
        },
    };
    if located.resource.is_some() || located.writer.host != at.host || located.writer.port != at.port {
        let readers =
            located.readers.as_ref().map(|r| format!("; the new password must then work at {r}")).unwrap_or_default();
        report.ok("endpoint", format!("password changes go to {}{readers}", located.writer));
    }
    let current = current.at(&located.writer);
    let at = current.target();
    let drivers = Drivers::new(config);
    let tls = drivers.tls_mode_for(at);
    let mut session = match drivers.login(at, current.login()).await {
        Ok(LoginOutcome::Accepted(session)) => session,
        Ok(LoginOutcome::Rejected) => {
            let hint = drivers.rejection_hint(at).map(|h| format!(" ({h})")).unwrap_or_default();
            let fix = "the password drifted: set the database password back to AWSCURRENT's, or store the working \
                       password in a new AWSCURRENT version, before rotating";
            report.fail("database", format!("{at} refused AWSCURRENT's password for {user}{hint}"), fix);
            return Ok(());
        }
        Err(err) => {
            report.fail("database", err.to_string(), fix_for(&err));
            return Ok(());
        }
    };
    report.ok("database", format!("{at} answers (TLS mode {tls}); AWSCURRENT logs in as {user}"));
    if let Some(master) = master {
        session.close().await;
        return check_master(config, &store, &drivers, secret_id, &current, &master, report).await;
    }
    match session.describe_password_change(user).await {
        Ok(plan) => report.ok("password change", plan),
        Err(err) => {
            report.fail("password change", err.to_string(), "grant what the message names, or rotate this user by hand")
        }
    }
    session.close().await;
    Ok(())
}

/// Alternating users: the master (found as a rotation finds it, `Rotator::master`) logs in, and the next rotation's
/// user is free or this pair's.
async fn check_master<W: Write>(
    config: &Config,
    store: &AwsSecretStore,
    drivers: &Drivers,
    secret_id: &str,
    current: &DbSecret,
    master: &Master,
    report: &mut Report<W>,
) -> Result<(), Error> {
    let masterarn = current.masterarn().unwrap_or("the master secret");
    let previous = match store.get(secret_id, Version::Previous).await {
        Ok(Fetched::Text(text, _)) => DbSecret::parse(text.expose_secret(), &config.secret_defaults()).ok(),
        _ => None,
    };
    let pair = match Pair::of(current.username(), previous.as_ref().map(DbSecret::username)) {
        Ok(pair) => pair,
        Err(problem) => {
            let fix = "shorten the user name";
            report.fail("alternate", format!("the alternate of {} {problem}", current.username()), fix);
            return Ok(());
        }
    };
    let next = pair.other(current.username());
    if next == master.username() {
        let fix = "rotate the master user with its own single-user secret, not as an alternate";
        report.fail("alternate", format!("the next rotation's user {next} is the master user"), fix);
        return Ok(());
    }
    let (at, user) = (master.target(), master.username());
    let mut session = match drivers.login(at, master.login()).await {
        Ok(LoginOutcome::Accepted(session)) => session,
        Ok(LoginOutcome::Rejected) => {
            let fix = "store the master user's working password in the master secret";
            report.fail("master secret", format!("{at} refused the master secret's password for {user}"), fix);
            return Ok(());
        }
        Err(err) => {
            report.fail("master secret", err.to_string(), fix_for(&err));
            return Ok(());
        }
    };
    report
        .ok("master secret", format!("{masterarn} logs in as {user} at {at} (TLS mode {})", drivers.tls_mode_for(at)));
    for who in [current.username(), next] {
        match session.account_power(who).await {
            Ok(None) => {}
            Ok(Some(power)) => {
                let fix = "rotate account administrators with a single-user secret; alternating users copy \
                           privileges between two users and never touch one that can administer accounts";
                report.fail("alternate", format!("{who} {power}: setSecret will refuse it"), fix);
                session.close().await;
                return Ok(());
            }
            Err(err) if err.detail.contains("does not exist") => {}
            Err(err) => {
                report.fail("alternate", err.to_string(), "grant the master what the message names");
                session.close().await;
                return Ok(());
            }
        }
        if who == next {
            break;
        }
    }
    let ours = match previous.as_ref().filter(|previous| previous.username() == next) {
        Some(previous) => {
            let previous = previous.at(&current.target().clone());
            matches!(drivers.login(previous.target(), previous.login()).await, Ok(LoginOutcome::Accepted(_)))
        }
        None => false,
    };
    match session.user_exists(next).await {
        Ok(false) => {
            report.ok("alternate", format!("the next rotation creates {next} as the twin of {}", current.username()))
        }
        Ok(true) if ours => report.ok(
            "alternate",
            format!("the next rotation moves to {next} (AWSPREVIOUS's user, whose password still logs in)"),
        ),
        Ok(true) => report.fail(
            "alternate",
            format!("{next} exists, and no version of this secret logs in as it: setSecret will refuse to change it"),
            "drop or rename that user if it is not in use, or rotate this secret as single user (no masterarn)",
        ),
        Err(err) => report.fail("alternate", err.to_string(), "grant the master what the message names"),
    }
    session.close().await;
    Ok(())
}

/// What to do about a database error.
fn fix_for(err: &EngineError) -> &'static str {
    match err.kind {
        EngineErrorKind::Unreachable | EngineErrorKind::Timeout => {
            "check the secret's host and port, and that the database's security group admits the function"
        }
        EngineErrorKind::Tls => {
            "trust the server's CA (DB_EXTRA_CA_BUNDLE; the RDS CAs are built in), use the host name the certificate \
             names, or read README.md, \"TLS\""
        }
        EngineErrorKind::TlsNotOffered => {
            "turn TLS on at the server, or allow plaintext for this secret (\"ssl\": false) or all (DB_TLS_MODE=prefer)"
        }
        EngineErrorKind::Busy => "the server is at its connection limit or starting: try again",
        EngineErrorKind::LoginRefused | EngineErrorKind::Statement => "see the server's message",
        EngineErrorKind::Unverified => {
            "let the master log in with verified TLS (MASTER_TLS_MODE=verify-full, the server's CA built in or in \
             DB_EXTRA_CA_BUNDLE)"
        }
        EngineErrorKind::NotOurs => {
            "drop or rename the account if it is not in use, or rotate this secret as single user"
        }
        EngineErrorKind::ReadOnly => {
            "the secret's host is a replica or reader: add dbInstanceIdentifier or dbClusterIdentifier, or point it at the writer"
        }
    }
}
