//! The preflight (`rds-rotator check`): a dry run of the core. It reads the secret as createSecret does, makes the
//! version createSecret would store, and takes setSecret's own plan (`plan.rs`) — which logs in, checks and changes
//! nothing — and describes it instead of applying it. It stops where a rotation would fail, with the error the
//! rotation would fail with, so that `check` and a rotation cannot disagree; the command line only prints the report.

pub(crate) use super::findings::{Check, Finding};
use super::master::names_secret;
use super::{Error, ErrorKind, Missing, Rotator, SetRequest};
use crate::domain::{AWSCURRENT, Timestamp, VersionId};
use crate::engines::{CertificateDates, DbEngine, EngineErrorKind};
use crate::password::Alphabet;
use crate::rds::RdsApi;
use crate::store::{SecretStore, Version, in_progress};

/// Where the preflight stopped: the error the rotation would fail with.
#[derive(Debug)]
pub struct Failure {
    pub check: Check,
    pub error: Error,
}

impl Failure {
    /// What to do about it, in a sentence.
    pub fn fix(&self) -> &'static str {
        self.error.fix()
    }
}

/// What a rotation of the secret would need and find.
#[derive(Debug)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// `None`: a rotation would get past every check the preflight can make without changing anything.
    pub failure: Option<Failure>,
    /// The dates of the server's certificate and its CA, where logins verify certificates and they could be read.
    pub certificate: Option<CertificateDates>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl<S: SecretStore, E: DbEngine, R: RdsApi> Rotator<S, E, R> {
    /// What a rotation of `secret_id` would need and find, changing nothing.
    pub async fn preflight(&self, secret_id: &str) -> Report {
        let (mut findings, mut certificate) = (Vec::new(), None);
        let failure = self.preflight_into(secret_id, &mut findings, &mut certificate).await.err();
        let failure = failure.map(|error| error.in_secret(secret_id));
        let failure = failure.map(|error| Failure { check: check_of(&error), error });
        Report { findings, failure, certificate }
    }

    async fn preflight_into(
        &self,
        secret_id: &str,
        findings: &mut Vec<Finding>,
        certificate: &mut Option<CertificateDates>,
    ) -> Result<(), Error> {
        let meta = self.store.describe(secret_id).await?;
        let endpoint = self.store.endpoint().map(|e| format!("{e} answers; ")).unwrap_or_default();
        findings.push(Finding::ok(Check::SecretsManager, format!("{endpoint}versions: {}", meta.versions.len())));
        if meta.rotation_enabled == Some(false) {
            let detail = "not switched on for this secret yet (rotate-secret --rotation-lambda-arn turns it on)";
            findings.push(Finding::note(Check::Rotation, detail));
        }
        let pending = in_progress(&meta.versions);
        if let Some(version) = pending {
            let detail = format!("version {version} is AWSPENDING: a rotation is in progress or failed half-way");
            findings.push(Finding::note(Check::Rotation, detail));
        }

        // createSecret, without storing: a rotation left pending resumes with its stored version (the service's
        // retry does), a new one makes a version as createSecret would.
        let Some((current, arn)) = self.load_with_arn(secret_id, Version::Current).await? else {
            return Err(Missing::NoValue(AWSCURRENT).into());
        };
        // A MASTER_SECRET_ARNS entry that also names this secret lets another secret's writer name this one as its
        // master: the function would log in as this secret's user to manage that secret's users.
        if let Some(entry) = self.settings.master_secrets.iter().find(|e| names_secret(e, secret_id, arn.as_deref())) {
            let detail = format!(
                "MASTER_SECRET_ARNS entry {entry:?} also names this secret: another secret's masterarn could name it as \
                 its master; list the master secrets by their own ARNs or names"
            );
            findings.push(Finding::note(Check::MasterSecret, detail));
        }
        let (at, user) = (current.target(), current.username());
        let database = at.dbname.as_deref().map(|db| format!(", database {db}")).unwrap_or_default();
        findings.push(Finding::ok(Check::Secret, format!("AWSCURRENT: {} user {user} at {at}{database}", at.engine)));
        let staged = pending.and_then(VersionId::new);
        let stored = match &staged {
            Some(token) => self.load(secret_id, Version::Pending(token)).await?,
            None => None,
        };
        let pending_stored = stored.is_some();
        let pending = match stored {
            Some(pending) => {
                let detail = format!("the pending version already holds a new password, for {}", pending.username());
                findings.push(Finding::note(Check::Passwords, detail));
                pending
            }
            None => {
                let (pending, _) = self.new_pending(secret_id, &current).await?;
                let policy = &self.settings.password;
                if let Ok(alphabet) = Alphabet::new(policy, at.engine) {
                    let (size, bits) = (alphabet.size(), alphabet.entropy_bits());
                    let detail = format!("{} characters from {size} ({bits:.1} bits)", policy.length);
                    findings.push(Finding::ok(Check::Passwords, detail));
                }
                pending
            }
        };

        // setSecret, changing nothing.
        let token = staged.unwrap_or_else(VersionId::random);
        let request = SetRequest {
            secret_id,
            token: &token,
            current: &current,
            pending: &pending,
            deadline: self.topology().wait_deadline(None),
            pending_stored,
        };
        findings.extend(self.describe_set(request).await?);

        // The certificate's dates, over a handshake of their own: an expiring CA fails every login at once.
        match self.engine.certificate(at).await {
            Some(Ok(dates)) => {
                findings.push(Finding::ok(Check::Certificate, describe_dates(&dates, Timestamp::now())));
                *certificate = Some(dates);
            }
            Some(Err(why)) => findings.push(Finding::note(Check::Certificate, format!("dates not read: {why}"))),
            None => {}
        }
        Ok(())
    }
}

/// "the server's certificate is valid until 2027-05-01 (152 days); its CA until 2061-05-01 (12 500 days)".
pub(crate) fn describe_dates(dates: &CertificateDates, now: Timestamp) -> String {
    let days = |t: Timestamp| (t.unix() - now.unix()).div_euclid(86_400);
    let date = |t: Timestamp| t.to_string()[..10].to_owned();
    let server =
        format!("the server's certificate is valid until {} ({} days)", date(dates.server), days(dates.server));
    match dates.ca {
        Some(ca) => format!("{server}; its CA until {} ({} days)", date(ca), days(ca)),
        None => server,
    }
}

/// The check a rotation's error belongs to.
fn check_of(err: &Error) -> Check {
    match err.kind() {
        ErrorKind::Store(_) => Check::SecretsManager,
        ErrorKind::Event(_) | ErrorKind::Stage(_) | ErrorKind::Deadline { .. } => Check::Rotation,
        ErrorKind::SecretShape { .. } | ErrorKind::MissingVersion(_) | ErrorKind::PendingMismatch { .. } => {
            Check::Secret
        }
        ErrorKind::Password(_) => Check::Passwords,
        ErrorKind::Topology(_) | ErrorKind::Rds(_) | ErrorKind::NotPropagated { .. } => Check::Endpoint,
        ErrorKind::MasterSecret { .. } => Check::MasterSecret,
        ErrorKind::Db(err) if err.kind == EngineErrorKind::Statement => Check::PasswordChange,
        ErrorKind::Db(err) if err.kind == EngineErrorKind::MissingPrivilege => Check::Alternate,
        ErrorKind::CredentialsRejected { .. } | ErrorKind::Db(_) | ErrorKind::BreakGlass(_) => Check::Database,
        ErrorKind::AlternateConflict { .. } | ErrorKind::AlternateRefused { .. } | ErrorKind::AlternateName { .. } => {
            Check::Alternate
        }
    }
}
