//! `rds-rotator status`: prints `fleet::status`'s rows, as a table or as JSON, and the problems to act on. Exit
//! status 1 when any secret listed is stuck, has rotation off, is overdue, cannot be read, or (`--verify`) would
//! fail to rotate.

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};

use super::CliError;
use super::out::Out;
use crate::app::Parts;
use crate::domain::{Timestamp, text};
use crate::fleet::Fleet;
use crate::fleet::status::{Progress, Row, Selection};
use crate::logging::{self, LogSettings};
use crate::rotation::preflight::describe_dates;

/// What `status` was asked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StatusArgs {
    pub secrets: Vec<String>,
    pub function: Option<String>,
    pub json: bool,
    pub verify: bool,
    pub at: Option<Timestamp>,
}

/// Progress on stderr, when it is a terminal: a run over hundreds of secrets shows it is alive.
struct Terminal {
    on: bool,
}

impl Progress for Terminal {
    fn listed(&mut self, count: usize) {
        if self.on {
            eprint!("\rlisting secrets: {count} of this function so far");
        }
    }

    fn read(&mut self, done: usize, of: usize) {
        if self.on {
            eprint!("\r\x1b[Kreading secrets: {done} of {of}");
        }
    }
}

/// `Ok(true)`: nothing needs attention.
pub(super) async fn run(args: StatusArgs) -> Result<bool, CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let selection = selection(&args).map_err(CliError::Usage)?;
    let config = super::config_from_env()?;
    let parts = Parts::new(&config).await?;
    let catalog = parts.catalog();
    let rotator = parts.rotator();
    let fleet = Fleet { catalog: &catalog, rotator: &rotator };
    let at = args.at.unwrap_or_else(Timestamp::now);
    let mut progress = Terminal { on: std::io::stderr().is_terminal() };
    let rows = fleet.status(&selection, at, args.verify, &mut progress).await;
    if progress.on {
        eprint!("\r\x1b[K");
    }
    let rows = rows?;
    if let (Selection::Function(function), true) = (&selection, rows.is_empty()) {
        // A mistyped name or the wrong account or Region looks like a fleet with nothing wrong: say so, and fail.
        return Err(CliError::Refused(
            "NoSecrets",
            format!("no secret here has {function} as its rotation function (check the name, account and Region)"),
        ));
    }
    let mut out = Out::stdout();
    let _ = if args.json { print_json(&mut out, &selection, at, &rows) } else { print_table(&mut out, at, &rows) };
    Ok(rows.iter().all(|row| row.problems.is_empty()))
}

/// The secrets named, or those of the function named (`--function`, or this function's own name in Lambda).
fn selection(args: &StatusArgs) -> Result<Selection, String> {
    if !args.secrets.is_empty() {
        return Ok(Selection::Named(args.secrets.clone()));
    }
    let function = args.function.clone().or_else(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok());
    match function.filter(|f| !f.is_empty()) {
        Some(function) => Ok(Selection::Function(function)),
        None => {
            Err("status needs the secrets to show, or --function ARN to show every secret that function rotates".into())
        }
    }
}

fn print_table(out: &mut Out<impl Write>, at: Timestamp, rows: &[Row]) -> std::io::Result<()> {
    let short = |t: Option<Timestamp>| t.map_or("-".to_owned(), |t| t.to_string()[..16].replace('T', " "));
    let table: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            let (engine, strategy, endpoint) = match &row.about {
                Ok(about) => (about.engine.clone(), about.strategy.to_owned(), about.endpoint.clone()),
                Err(_) => ("?".into(), "?".into(), "?".into()),
            };
            let rules = row.listed.rules.describe().unwrap_or_else(|| "no schedule".into());
            let rotation = if row.listed.rotation_enabled { format!("on, {rules}") } else { "off".to_owned() };
            let state = match (&row.pending, row.problems.is_empty()) {
                (_, false) => row.problems.iter().map(|p| p.kind()).collect::<Vec<_>>().join(","),
                (Some(_), true) => "rotating".to_owned(),
                (None, true) => "ok".to_owned(),
            };
            let last = short(row.listed.last_rotated);
            // Escaped before the widths are measured: a cell is as wide as it shows.
            [row.listed.name.clone(), engine, strategy, endpoint, rotation, last, short(row.due), state]
                .map(|cell| text::escaped(&cell).into_owned())
        })
        .collect();
    let header = ["SECRET", "ENGINE", "STRATEGY", "ENDPOINT", "ROTATION", "LAST ROTATED", "NEXT DUE", "STATE"];
    let mut widths = header.map(str::len);
    for line in &table {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut write_line = |cells: &[&str]| -> std::io::Result<()> {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{line}")
    };
    write_line(&header)?;
    for line in &table {
        write_line(&line.each_ref().map(String::as_str))?;
    }

    let troubled: Vec<&Row> = rows.iter().filter(|row| !row.problems.is_empty()).collect();
    if !troubled.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} of {} secrets need attention:", troubled.len(), rows.len())?;
        for row in &troubled {
            for problem in row.explain(at) {
                writeln!(out, "  {}: {problem}", row.listed.name)?;
            }
        }
    }
    for row in rows {
        if let Some(failure) = row.verified.as_ref().and_then(|report| report.failure.as_ref()) {
            writeln!(out, "  {}: fix: {}", row.listed.name, failure.fix())?;
        }
    }
    let verified: Vec<&Row> = rows.iter().filter(|row| row.verified.is_some()).collect();
    if !verified.is_empty() {
        writeln!(out)?;
        writeln!(out, "verified:")?;
        for row in verified {
            let report = row.verified.as_ref().expect("filtered");
            let verdict = if report.passed() { "a rotation would pass" } else { "a rotation would fail" };
            let dates = match report.certificate {
                Some(dates) => describe_dates(&dates, at),
                None => "no certificate dates (TLS not verified, or not read)".to_owned(),
            };
            writeln!(out, "  {}: {verdict}; {dates}", row.listed.name)?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", summary(rows))
}

/// "300 secrets: 296 ok, 1 stuck, 2 rotation-off, 1 overdue".
fn summary(rows: &[Row]) -> String {
    let ok = rows.iter().filter(|row| row.problems.is_empty()).count();
    let mut text = format!("{} secrets: {ok} ok", rows.len());
    for kind in ["stuck", "rotation-off", "overdue", "unreadable", "would-fail", "cert-expiring"] {
        let count = rows.iter().filter(|row| row.problems.iter().any(|p| p.kind() == kind)).count();
        if count > 0 {
            text.push_str(&format!(", {count} {kind}"));
        }
    }
    text
}

fn print_json(out: &mut Out<impl Write>, selection: &Selection, at: Timestamp, rows: &[Row]) -> std::io::Result<()> {
    let time = |t: Option<Timestamp>| t.map_or(Value::Null, |t| Value::String(t.to_string()));
    let secrets: Vec<Value> = rows
        .iter()
        .map(|row| {
            let listed = &row.listed;
            let problems: Vec<Value> = row
                .problems
                .iter()
                .zip(row.explain(at))
                .map(|(problem, detail)| json!({"kind": problem.kind(), "detail": detail}))
                .collect();
            let verify = row.verified.as_ref().map(|report| {
                let findings: Vec<Value> = report
                    .findings
                    .iter()
                    .map(|f| json!({"check": f.check.as_str(), "note": f.note, "detail": f.detail}))
                    .collect();
                let failure = report.failure.as_ref().map(|failure| {
                    json!({
                        "check": failure.check.as_str(),
                        "errorType": failure.error.error_type(),
                        "message": failure.error.message().to_string(),
                        "fix": failure.fix(),
                    })
                });
                let certificate = report.certificate.map(|dates| {
                    let days = |t: Timestamp| (t.unix() - at.unix()).div_euclid(86_400);
                    json!({
                        "serverNotAfter": dates.server.to_string(),
                        "serverDaysLeft": days(dates.server),
                        "caNotAfter": dates.ca.map(|t| t.to_string()),
                        "caDaysLeft": dates.ca.map(days),
                    })
                });
                json!({"passed": report.passed(), "findings": findings, "failure": failure, "certificate": certificate})
            });
            let about = match &row.about {
                Ok(about) => json!({
                    "engine": about.engine, "strategy": about.strategy, "endpoint": about.endpoint, "user": about.user,
                }),
                Err(_) => Value::Null,
            };
            json!({
                "name": listed.name,
                "arn": listed.arn,
                "secret": about,
                "rotation": {
                    "enabled": listed.rotation_enabled,
                    "function": listed.rotation_function,
                    "schedule": listed.rules.describe(),
                    "lastRotated": time(listed.last_rotated),
                    "nextDue": time(row.due),
                },
                "pending": row.pending.as_ref().map(|p| json!({"version": p.version, "since": time(p.since)})),
                "problems": problems,
                "verify": verify,
            })
        })
        .collect();
    let function = match selection {
        Selection::Function(function) => Value::String(function.clone()),
        Selection::Named(_) => Value::Null,
    };
    let document = json!({
        "at": at.to_string(),
        "function": function,
        "secrets": secrets,
        "summary": summary(rows),
        "ok": rows.iter().all(|row| row.problems.is_empty()),
    });
    out.json(&document)
}

/// `--at`: an RFC 3339 time, or `+N` days (`d`) or hours (`h`) from now.
pub(super) fn parse_at(text: &str) -> Option<Timestamp> {
    if let Some(offset) = text.strip_prefix('+') {
        let seconds = if let Some(days) = offset.strip_suffix('d') {
            days.parse::<u64>().ok()?.checked_mul(86_400)?
        } else {
            offset.strip_suffix('h')?.parse::<u64>().ok()?.checked_mul(3600)?
        };
        return Some(Timestamp::now().plus(std::time::Duration::from_secs(seconds)));
    }
    Timestamp::parse(text)
}
