//! `rds-rotator status`: one row per secret — what it rotates, how its rotation is configured, whether it is on
//! time — and the problems an operator must act on: a rotation stuck half-way, rotation switched off, a rotation
//! overdue, a secret that cannot be read. Judging a row (`assess`) is pure; reading the rows is `Fleet::status`.

use std::time::Duration;

use secrecy::ExposeSecret;

use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Fleet, PREFLIGHTS_AT_ONCE, READS_AT_ONCE};
use crate::domain::Timestamp;
use crate::engines::DbEngine;
use crate::rds::RdsApi;
use crate::rotation::preflight::{Report, describe_dates};
use crate::secret::DbSecret;
use crate::store::catalog::{Listed, SecretCatalog};
use crate::store::{Fetched, SecretStore, StoreError, StoreErrorKind, Version, in_progress};

/// A rotation's `AWSPENDING` younger than this is a rotation under way, not a stuck one: Lambda ends any one step
/// within 15 minutes, and the service's retries of a failing rotation keep the label far longer.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);
/// How long after its due date a rotation may still start: the service starts one anywhere in its rotation window
/// (up to 24 hours).
pub(crate) const OVERDUE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// `--verify`: a server certificate or CA that expires sooner than this needs attention now (RDS announces CA
/// rotations months ahead; a month leaves time for a maintenance window).
pub(crate) const CERTIFICATE_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// What the secret's `AWSCURRENT` says it rotates. Never its password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct About {
    pub engine: String,
    pub strategy: &'static str,
    pub endpoint: String,
    pub user: String,
}

/// A rotation in progress: `AWSPENDING` on a version that is not `AWSCURRENT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub version: String,
    /// When the version was made, where the service says.
    pub since: Option<Timestamp>,
}

/// Something an operator must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A rotation left half-way: the next one cannot start (`rds-rotator cancel` ends it).
    Stuck,
    RotationOff,
    Overdue,
    /// The secret's `AWSCURRENT` is not an RDS secret this function can rotate.
    Unreadable(String),
    /// `--verify`: the preflight found what a rotation would fail on.
    WouldFail(String),
    /// `--verify`: the server's certificate or its CA expires within `CERTIFICATE_WARNING`.
    CertificateExpiring(String),
}

impl Problem {
    /// Stable names, for `--json` and scripts.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Problem::Stuck => "stuck",
            Problem::RotationOff => "rotation-off",
            Problem::Overdue => "overdue",
            Problem::Unreadable(_) => "unreadable",
            Problem::WouldFail(_) => "would-fail",
            Problem::CertificateExpiring(_) => "cert-expiring",
        }
    }
}

/// One secret's status.
#[derive(Debug)]
pub(crate) struct Row {
    pub listed: Listed,
    /// What `AWSCURRENT` rotates, or why it cannot be read.
    pub about: Result<About, String>,
    pub pending: Option<Pending>,
    /// When the next rotation is due, as far as the service or the schedule says.
    pub due: Option<Timestamp>,
    pub problems: Vec<Problem>,
    /// `--verify`: the preflight's report.
    pub verified: Option<Report>,
}

impl Row {
    /// The problems, each with what it means, for people.
    pub(crate) fn explain(&self, at: Timestamp) -> Vec<String> {
        self.problems
            .iter()
            .map(|problem| match problem {
                Problem::Stuck => {
                    let pending = self.pending.as_ref();
                    let version = pending.map_or("?", |p| p.version.as_str());
                    let since =
                        pending.and_then(|p| p.since).map(|since| format!(" since {since} ({})", ago(since, at)));
                    format!(
                        "stuck: version {version} is AWSPENDING{}; no rotation can start until it ends \
                         (rds-rotator cancel {})",
                        since.unwrap_or_default(),
                        self.listed.name
                    )
                }
                Problem::RotationOff => "rotation is off".to_owned(),
                Problem::Overdue => {
                    let due = self.due.map(|due| format!(" (due {due})")).unwrap_or_default();
                    let last =
                        self.listed.last_rotated.map_or("never rotated".to_owned(), |t| format!("last rotated {t}"));
                    format!("overdue{due}: {last}")
                }
                Problem::Unreadable(why) => format!("unreadable: {why}"),
                Problem::WouldFail(why) => format!("a rotation would fail: {why}"),
                Problem::CertificateExpiring(dates) => format!("certificate expiring: {dates}"),
            })
            .collect()
    }
}

/// "3 h ago", "2 d ago".
fn ago(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.unix().saturating_sub(then.unix()).max(0);
    match seconds {
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// The version a rotation left in progress, if any.
pub(crate) fn pending_version(listed: &Listed) -> Option<&str> {
    in_progress(&listed.versions)
}

/// When the next rotation is due: the service's `NextRotationDate`, or the last rotation (or the secret's creation)
/// plus the schedule's days where it is a number of days.
pub fn due(listed: &Listed) -> Option<Timestamp> {
    if !listed.rotation_enabled {
        return None;
    }
    if listed.next_rotation.is_some() {
        return listed.next_rotation;
    }
    let days = listed
        .rules
        .automatically_after_days
        .or_else(|| listed.rules.schedule_expression.as_deref().and_then(rate_days))?;
    Some(listed.last_rotated.or(listed.created)?.plus_days(days))
}

/// The days of `rate(N day[s])`; `None` for any other expression (a `cron(…)` has no fixed period).
fn rate_days(expression: &str) -> Option<i64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    matches!(unit.trim(), "day" | "days").then_some(())?;
    count.parse().ok().filter(|days| *days > 0)
}

/// The problems of a secret at time `at`.
pub(crate) fn assess(
    listed: &Listed,
    pending: Option<&Pending>,
    due: Option<Timestamp>,
    at: Timestamp,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(pending) = pending {
        // An unknown age counts as stuck: better a false alarm than a rotation silently blocked.
        if pending.since.is_none_or(|since| since.plus(STUCK_AFTER) <= at) {
            problems.push(Problem::Stuck);
        }
    }
    if !listed.rotation_enabled {
        problems.push(Problem::RotationOff);
    } else if due.is_some_and(|due| due.plus(OVERDUE_AFTER) < at) {
        problems.push(Problem::Overdue);
    }
    problems
}

/// What `status` reads.
#[derive(Clone, Debug)]
pub(crate) enum Selection {
    /// Every secret whose rotation function is this one (an ARN, or a function name).
    Function(String),
    /// These secrets.
    Named(Vec<String>),
}

/// Whether a rotation function ARN is `function` (an ARN or a name): the same function name, and where both are
/// ARNs the same Region and account. A version or alias qualifier does not matter.
pub(crate) fn same_function(rotation_function: &str, function: &str) -> bool {
    fn parts(arn_or_name: &str) -> (Option<(&str, &str)>, &str) {
        let fields: Vec<&str> = arn_or_name.split(':').collect();
        match fields.as_slice() {
            ["arn", _partition, "lambda", region, account, "function", name, ..] => (Some((region, account)), name),
            _ => (None, arn_or_name),
        }
    }
    let ((place_a, name_a), (place_b, name_b)) = (parts(rotation_function), parts(function));
    name_a == name_b && (place_a.is_none() || place_b.is_none() || place_a == place_b)
}

/// Progress for a terminal: how many of how many secrets have been read.
pub(crate) trait Progress {
    fn listed(&mut self, _count: usize) {}
    fn read(&mut self, _done: usize, _of: usize) {}
}

impl Progress for () {}

impl<C: SecretCatalog, S: SecretStore, E: DbEngine, R: RdsApi> Fleet<'_, C, S, E, R> {
    /// The secrets `selection` names, one row each, in name order; with `verify`, each with its preflight.
    pub(crate) async fn status(
        &self,
        selection: &Selection,
        at: Timestamp,
        verify: bool,
        progress: &mut impl Progress,
    ) -> Result<Vec<Row>, StoreError> {
        let mut listed = match selection {
            Selection::Function(function) => {
                let mut mine = Vec::new();
                let mut next: Option<String> = None;
                let mut seen = std::collections::HashSet::new();
                loop {
                    let page = self.catalog.list(next.as_deref()).await?;
                    let ours = page.secrets.into_iter().filter(|secret| {
                        secret.rotation_function.as_deref().is_some_and(|arn| same_function(arn, function))
                    });
                    mine.extend(ours);
                    progress.listed(mine.len());
                    match page.next {
                        // An endpoint that answers a token it gave before would page forever.
                        Some(token) if next.as_deref() == Some(token.as_str()) || seen.contains(&token) => {
                            return Err(StoreError {
                                operation: "ListSecrets",
                                secret_id: "(all)".to_owned(),
                                kind: StoreErrorKind::Refused,
                                message: "the endpoint answered a NextToken it had given before".to_owned(),
                            });
                        }
                        Some(token) => {
                            seen.insert(token.clone());
                            next = Some(token);
                        }
                        None => break,
                    }
                }
                mine
            }
            Selection::Named(names) => {
                let described = names.iter().map(|name| self.catalog.describe_listed(name));
                stream::iter(described).buffered(READS_AT_ONCE).try_collect().await?
            }
        };
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let total = listed.len();
        // A bounded number at a time, in name order; the first error (a transient one: the service) ends the report.
        let at_once = if verify { PREFLIGHTS_AT_ONCE } else { READS_AT_ONCE };
        let mut reads = stream::iter(listed.into_iter().map(|listed| self.row(listed, at, verify))).buffered(at_once);
        let mut rows = Vec::with_capacity(total);
        while let Some(row) = reads.next().await {
            rows.push(row?);
            progress.read(rows.len(), total);
        }
        Ok(rows)
    }

    /// One secret's row. A call that fails for this secret alone (access denied, its KMS key, a secret being
    /// deleted) makes it unreadable, not the whole report.
    async fn row(&self, listed: Listed, at: Timestamp, verify: bool) -> Result<Row, StoreError> {
        let id = if listed.arn.is_empty() { listed.name.clone() } else { listed.arn.clone() };
        let about = match self.rotator.store().get(&id, Version::Current).await {
            Ok(Fetched::Text(text, _)) => match DbSecret::parse(text.expose_secret(), self.rotator.secret_defaults()) {
                Ok(secret) => Ok(About {
                    engine: secret.target().engine.to_string(),
                    strategy: secret.strategy().as_str(),
                    endpoint: secret.target().to_string(),
                    user: secret.username().to_string(),
                }),
                Err(err) => Err(format!("AWSCURRENT is not an RDS secret: {err}")),
            },
            Ok(Fetched::Binary) => Err("AWSCURRENT holds SecretBinary, not an RDS secret's JSON".to_owned()),
            Ok(Fetched::Missing) => Err("there is no AWSCURRENT version with a value".to_owned()),
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => Err(err.to_string()),
        };
        let pending = match pending_version(&listed) {
            Some(version) => {
                let since = match self.catalog.version_created(&id, version).await {
                    Ok(since) => since,
                    Err(err) if err.is_transient() => return Err(err),
                    Err(_) => None,
                };
                Some(Pending { version: version.to_owned(), since })
            }
            None => None,
        };
        let due = due(&listed);
        let mut problems = assess(&listed, pending.as_ref(), due, at);
        if let Err(why) = &about {
            problems.push(Problem::Unreadable(why.clone()));
        }
        let verified = if verify && about.is_ok() { Some(self.rotator.preflight(&id).await) } else { None };
        if let Some(failure) = verified.as_ref().and_then(|report| report.failure.as_ref()) {
            problems.push(Problem::WouldFail(format!(
                "{}: {} [{}]",
                failure.check,
                failure.error.message(),
                failure.error.error_type()
            )));
        }
        if let Some(dates) = verified.as_ref().and_then(|report| report.certificate) {
            let earliest = dates.ca.map_or(dates.server, |ca| ca.min(dates.server));
            if earliest < at.plus(CERTIFICATE_WARNING) {
                problems.push(Problem::CertificateExpiring(describe_dates(&dates, at)));
            }
        }
        Ok(Row { listed, about, pending, due, problems, verified })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AWSCURRENT, AWSPENDING};
    use crate::store::catalog::RotationRules;

    const NOW: i64 = 1_796_043_900;

    fn at(offset_seconds: i64) -> Timestamp {
        Timestamp::from_unix(NOW + offset_seconds)
    }

    fn listed(enabled: bool, last: Option<i64>, days: Option<i64>) -> Listed {
        Listed {
            name: "app".into(),
            rotation_enabled: enabled,
            rules: RotationRules { automatically_after_days: days, ..RotationRules::default() },
            created: Some(at(-400 * 86_400)),
            last_rotated: last.map(at),
            ..Listed::default()
        }
    }

    #[test]
    fn a_rotation_on_time_is_fine() {
        let secret = listed(true, Some(-10 * 86_400), Some(30));
        assert_eq!(due(&secret), Some(at(20 * 86_400)));
        assert_eq!(assess(&secret, None, due(&secret), at(0)), vec![]);
    }

    #[test]
    fn overdue_after_the_window() {
        let secret = listed(true, Some(-31 * 86_400), Some(30));
        // Due a day ago: still within the rotation window.
        assert_eq!(assess(&secret, None, due(&secret), at(-1)), vec![]);
        assert_eq!(assess(&secret, None, due(&secret), at(3600)), vec![Problem::Overdue]);
        // The service's own date wins over the schedule.
        let secret = Listed { next_rotation: Some(at(86_400)), ..secret };
        assert_eq!(assess(&secret, None, due(&secret), at(0)), vec![]);
    }

    #[test]
    fn never_rotated_counts_from_creation_and_rate_expressions_count() {
        let mut secret = listed(true, None, None);
        secret.rules.schedule_expression = Some("rate(10 days)".into());
        assert_eq!(due(&secret), Some(at(-390 * 86_400)));
        assert_eq!(assess(&secret, None, due(&secret), at(0)), vec![Problem::Overdue]);
        secret.rules.schedule_expression = Some("cron(0 16 1,15 * ? *)".into());
        assert_eq!(due(&secret), None);
        assert_eq!(rate_days("rate(1 day)"), Some(1));
        assert_eq!(rate_days("rate(4 hours)"), None);
        assert_eq!(rate_days("rate(-3 days)"), None);
    }

    #[test]
    fn rotation_off_is_a_problem_and_never_overdue() {
        let secret = listed(false, Some(-900 * 86_400), Some(30));
        assert_eq!(due(&secret), None);
        assert_eq!(assess(&secret, None, None, at(0)), vec![Problem::RotationOff]);
    }

    #[test]
    fn a_pending_version_is_stuck_once_no_step_can_still_be_running() {
        let secret = listed(true, Some(0), Some(30));
        let young = Pending { version: "v".into(), since: Some(at(-60)) };
        assert_eq!(assess(&secret, Some(&young), due(&secret), at(0)), vec![]);
        let old = Pending { version: "v".into(), since: Some(at(-16 * 60)) };
        assert_eq!(assess(&secret, Some(&old), due(&secret), at(0)), vec![Problem::Stuck]);
        let unknown = Pending { version: "v".into(), since: None };
        assert_eq!(assess(&secret, Some(&unknown), due(&secret), at(0)), vec![Problem::Stuck]);
    }

    #[test]
    fn finds_the_pending_version() {
        let mut secret = listed(true, None, None);
        secret.versions.insert("a".into(), vec![AWSCURRENT.into(), AWSPENDING.into()]);
        assert_eq!(pending_version(&secret), None);
        secret.versions.insert("b".into(), vec![AWSPENDING.into()]);
        assert_eq!(pending_version(&secret), Some("b"));
    }

    #[test]
    fn matches_the_function_by_name_and_place() {
        let arn = "arn:aws:lambda:eu-west-1:111122223333:function:rds-rotator";
        assert!(same_function(arn, arn));
        assert!(same_function(arn, "rds-rotator"));
        assert!(same_function(&format!("{arn}:live"), arn));
        assert!(!same_function(arn, "arn:aws:lambda:eu-west-1:444455556666:function:rds-rotator"));
        assert!(!same_function(arn, "arn:aws:lambda:us-east-1:111122223333:function:rds-rotator"));
        assert!(!same_function(arn, "rds-rotator-2"));
    }

    #[test]
    fn explains_each_problem() {
        let mut secret = listed(true, Some(-40 * 86_400), Some(30));
        secret.name = "app-7".into();
        let pending = Pending { version: "v9".into(), since: Some(at(-3 * 3600)) };
        let due = due(&secret);
        let problems = assess(&secret, Some(&pending), due, at(0));
        let row = Row { listed: secret, about: Err("x".into()), pending: Some(pending), due, problems, verified: None };
        let text = row.explain(at(0)).join("\n");
        assert!(text.contains("stuck: version v9 is AWSPENDING since"), "{text}");
        assert!(text.contains("(3 h ago)") && text.contains("rds-rotator cancel app-7"), "{text}");
        assert!(text.contains("overdue (due "), "{text}");
    }
}
