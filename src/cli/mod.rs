//! The binary's modes: the Lambda function when Lambda starts it, and local commands for everyone else.
//!
//! ```text
//! rds-rotator                      Lambda function (when AWS_LAMBDA_RUNTIME_API is set)
//! rds-rotator EVENT.json | -       one step, from an event file or stdin, through the Lambda code path
//! rds-rotator rotate SECRET_ID     a whole rotation, with this binary playing Secrets Manager
//! rds-rotator check SECRET_ID      a preflight that changes nothing
//! rds-rotator status [SECRET…]     the secrets of this function: stuck, off, overdue (`--verify`: would fail)
//! rds-rotator attach SECRET…       rotation switched on for the secrets whose preflight passes
//! rds-rotator cancel SECRET_ID     a rotation left in progress ended without locking anyone out
//! ```
//! Output for people goes to stdout; logs go to stderr locally and to stdout (CloudWatch) in Lambda.

mod attach;
mod cancel;
mod check;
mod out;
mod rotate;
mod status;

use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use lambda_runtime::service_fn;
use tracing::{error, warn};

use out::Out;

use crate::app::{self, AwsRotator};
use crate::config::{Config, ConfigError};
use crate::event::{EventError, RotationEvent};
use crate::handler;
use crate::logging::{self, LogSettings};
use crate::metrics::Metrics;
use crate::rotation::Error;
use crate::store::catalog::{Attach, RotationRules};

const USAGE: &str = "\
rds-rotator: Secrets Manager rotation for Amazon RDS and Aurora database users

Usage:
  rds-rotator                    run as the Lambda function (Lambda sets AWS_LAMBDA_RUNTIME_API)
  rds-rotator EVENT.json         run the one step an event file describes (see events/)
  rds-rotator -                  the same, reading the event from stdin
  rds-rotator rotate SECRET_ID   rotate a secret now: stage a new version as Secrets Manager does,
                                 then run createSecret, setSecret, testSecret and finishSecret
  rds-rotator check SECRET_ID    check, changing nothing, that the secret can be rotated: Secrets
                                 Manager, the secret, the database, TLS, the login, the privilege
  rds-rotator status [SECRET_ID...] [--function ARN] [--json] [--verify] [--at TIME]
                                 one line per secret (the named ones, or every secret the function
                                 rotates): engine, strategy, endpoint, schedule, last and next rotation;
                                 exit status 1 when any is stuck, off, overdue or unreadable;
                                 --verify runs check on each; --at judges as at TIME (RFC 3339, +3d, +12h)
  rds-rotator attach SECRET_ID... --function ARN (--schedule EXPR | --days N) [--window 4h]
                     [--no-rotate-now]
                                 check each secret, then switch rotation on (RotateSecret) for those
                                 that pass; the others are listed with what to fix
  rds-rotator cancel SECRET_ID [--force]
                                 end a rotation left in progress, deciding at the writer: complete it
                                 when the database accepts the pending password, remove AWSPENDING when
                                 it refuses it and accepts AWSCURRENT's, else change nothing; a pending
                                 version under 15 minutes old may still be rotating: --force to go on
  rds-rotator --help | --version

Settings come from the environment (docs/configuration.md): AWS_REGION, AWS_ENDPOINT_URL*, PASSWORD_LENGTH,
EXCLUDE_*, DB_TLS_MODE, DB_TLS_MINIMUM, MASTER_TLS_MODE, DB_EXTRA_CA_BUNDLE, MASTER_SECRET_ARNS, RUST_LOG, ...
Exit status: 0 done, 1 the step, rotation, check or command failed (status: a secret needs attention;
attach: a secret was not attached), 2 bad usage.
";

enum Command {
    Lambda,
    Help,
    Version,
    Step(EventSource),
    Rotate { secret_id: String },
    Check { secret_id: String },
    Status(status::StatusArgs),
    Attach { secrets: Vec<String>, attach: Attach },
    Cancel { secret_id: String, force: bool },
}

enum EventSource {
    File(PathBuf),
    Stdin,
}

/// Why a local command failed: its settings, or the step or rotation itself.
pub(crate) enum CliError {
    /// The command line itself (exit status 2).
    Usage(String),
    /// The command would not act, and says why (exit status 1).
    Refused(&'static str, String),
    Config(ConfigError),
    Rotation(Error),
}

impl CliError {
    /// As in the Lambda function's logs and metrics.
    fn error_type(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "UsageError",
            CliError::Refused(error_type, _) => error_type,
            CliError::Config(_) => "ConfigError",
            CliError::Rotation(err) => err.error_type(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(problem) | CliError::Refused(_, problem) => f.write_str(problem),
            CliError::Config(err) => err.fmt(f),
            CliError::Rotation(err) => err.fmt(f),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> CliError {
        CliError::Config(err)
    }
}

impl<E: Into<Error>> From<E> for CliError {
    fn from(err: E) -> CliError {
        CliError::Rotation(err.into())
    }
}

pub async fn main() -> ExitCode {
    // A panic's message may quote what it met: shown as data, like every other line (it is never expected).
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(Out::stderr(), "rds-rotator: {info}");
    }));
    let args: Vec<String> = match std::env::args_os().skip(1).map(|arg| arg.into_string()).collect() {
        Ok(args) => args,
        Err(arg) => {
            let _ = writeln!(Out::stderr(), "rds-rotator: the argument {arg:?} is not UTF-8");
            usage_to_stderr();
            return ExitCode::from(2);
        }
    };
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let command = match parse_args(&args, in_lambda, std::io::stdin().is_terminal()) {
        Ok(command) => command,
        Err(problem) => {
            let _ = writeln!(Out::stderr(), "rds-rotator: {problem}");
            usage_to_stderr();
            return ExitCode::from(2);
        }
    };
    // Boxed: the SDK's futures nest deeply enough to overflow the compiler's layout depth when inlined here.
    match command {
        Command::Lambda => Box::pin(lambda()).await,
        Command::Help => {
            let _ = Out::stdout().own(USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("{}", version_line());
            ExitCode::SUCCESS
        }
        Command::Step(source) => report(Box::pin(step(source)).await),
        Command::Rotate { secret_id } => report(Box::pin(rotate::run(&secret_id)).await),
        Command::Check { secret_id } => verdict(Box::pin(check::run(&secret_id)).await),
        Command::Status(args) => verdict(Box::pin(status::run(args)).await),
        Command::Attach { secrets, attach } => verdict(Box::pin(attach::run(&secrets, &attach)).await),
        Command::Cancel { secret_id, force } => report(Box::pin(cancel::run(&secret_id, force)).await),
    }
}

/// `rds-rotator 0.1.0 (commit 07650eb, aarch64-unknown-linux-gnu)`: the version, the commit and the target, which
/// build.rs gives at compile time (the commit is `unknown` in a build from a source tarball without
/// `RDS_ROTATOR_COMMIT`).
fn version_line() -> String {
    let (version, commit, target) = (env!("CARGO_PKG_VERSION"), env!("RDS_ROTATOR_COMMIT"), env!("RDS_ROTATOR_TARGET"));
    format!("rds-rotator {version} (commit {commit}, {target})")
}

/// A command that judges: exit status 0 when all is well, 1 when it found something, as `report` on an error.
fn verdict(result: Result<bool, CliError>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => report(Err(err)),
    }
}

fn parse_args(args: &[String], in_lambda: bool, stdin_is_terminal: bool) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] if in_lambda => Ok(Command::Lambda),
        [] if !stdin_is_terminal => Ok(Command::Step(EventSource::Stdin)),
        [] => Err("no event given".to_owned()),
        ["-h" | "--help" | "help"] => Ok(Command::Help),
        ["-V" | "--version"] => Ok(Command::Version),
        ["-"] => Ok(Command::Step(EventSource::Stdin)),
        [command @ ("rotate" | "check"), secret_id] if !secret_id.is_empty() && !secret_id.starts_with('-') => {
            let secret_id = (*secret_id).to_owned();
            Ok(if *command == "rotate" { Command::Rotate { secret_id } } else { Command::Check { secret_id } })
        }
        ["cancel", rest @ ..] => {
            let options = options(rest, &[], &["--force"])?;
            match options.operands.as_slice() {
                [secret_id] if !secret_id.is_empty() => {
                    Ok(Command::Cancel { secret_id: secret_id.clone(), force: options.flag("--force") })
                }
                _ => Err("cancel takes exactly one SECRET_ID (a name or an ARN)".to_owned()),
            }
        }
        [command @ ("rotate" | "check"), ..] => {
            Err(format!("{command} takes exactly one SECRET_ID (a name or an ARN)"))
        }
        ["status", rest @ ..] => parse_status(rest),
        ["attach", rest @ ..] => parse_attach(rest),
        [path] if !path.starts_with('-') => Ok(Command::Step(EventSource::File(PathBuf::from(path)))),
        _ => Err(format!("unexpected arguments: {}", args.join(" "))),
    }
}

/// The options and operands of `status` and `attach`: `--name VALUE` or `--name=VALUE` for the options in `valued`,
/// flags for those in `flags`, everything else not starting with `-` an operand.
struct Options<'a> {
    operands: Vec<String>,
    values: Vec<(&'a str, String)>,
    flags: Vec<&'a str>,
}

fn options<'a>(args: &[&'a str], valued: &[&'a str], flags: &[&'a str]) -> Result<Options<'a>, String> {
    let mut parsed = Options { operands: Vec::new(), values: Vec::new(), flags: Vec::new() };
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        if !arg.starts_with('-') {
            parsed.operands.push(arg.to_owned());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg, None),
        };
        if let Some(&name) = valued.iter().find(|v| **v == name) {
            let value = match inline {
                Some(value) => value,
                None => args.next().map(|v| (*v).to_owned()).ok_or_else(|| format!("{name} needs a value"))?,
            };
            if parsed.values.iter().any(|(seen, _)| *seen == name) {
                return Err(format!("{name} is given twice"));
            }
            parsed.values.push((name, value));
        } else if let Some(&flag) = flags.iter().find(|f| **f == arg) {
            parsed.flags.push(flag);
        } else {
            return Err(format!("unknown option {name}"));
        }
    }
    Ok(parsed)
}

impl Options<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(seen, _)| *seen == name).map(|(_, value)| value.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
}

fn parse_status(args: &[&str]) -> Result<Command, String> {
    let options = options(args, &["--function", "--at"], &["--json", "--verify"])?;
    let at = match options.value("--at") {
        Some(text) => Some(status::parse_at(text).ok_or_else(|| {
            format!("--at {text:?} is not a time: give RFC 3339 (2026-12-24T00:00:00Z, or a date) or +N d/h (+3d)")
        })?),
        None => None,
    };
    Ok(Command::Status(status::StatusArgs {
        secrets: options.operands.clone(),
        function: options.value("--function").map(str::to_owned),
        json: options.flag("--json"),
        verify: options.flag("--verify"),
        at,
    }))
}

fn parse_attach(args: &[&str]) -> Result<Command, String> {
    let options =
        options(args, &["--function", "--schedule", "--days", "--window"], &["--no-rotate-now", "--rotate-now"])?;
    if options.operands.is_empty() {
        return Err("attach needs at least one SECRET_ID".to_owned());
    }
    let function = options.value("--function").filter(|f| !f.is_empty()).ok_or(
        "attach needs --function: the ARN of the rotation function (the stack's RotationFunctionArn output)".to_owned(),
    )?;
    let schedule = options.value("--schedule").map(str::to_owned);
    let days = match options.value("--days") {
        Some(days) => Some(
            days.parse::<i64>()
                .ok()
                .filter(|d| (1..=1000).contains(d))
                .ok_or_else(|| format!("--days {days:?} must be a number of days from 1 to 1000"))?,
        ),
        None => None,
    };
    match (&schedule, days) {
        (Some(_), Some(_)) => return Err("give --schedule or --days, not both".to_owned()),
        (None, None) => {
            return Err("attach needs a schedule: --schedule 'rate(30 days)' (or cron(...)) or --days 30".to_owned());
        }
        (Some(expression), None) => {
            let shaped =
                (expression.starts_with("rate(") || expression.starts_with("cron(")) && expression.ends_with(')');
            if !shaped {
                return Err(format!("--schedule {expression:?} must be rate(...) or cron(...)"));
            }
        }
        (None, Some(_)) => {}
    }
    let window = options.value("--window").map(str::to_owned);
    if let Some(window) = &window {
        let hours = window.strip_suffix('h').and_then(|h| h.parse::<u32>().ok());
        if !hours.is_some_and(|h| (1..=24).contains(&h)) {
            return Err(format!("--window {window:?} must be 1h to 24h (the rotation window's length)"));
        }
    }
    if options.flag("--rotate-now") && options.flag("--no-rotate-now") {
        return Err("give --rotate-now or --no-rotate-now, not both".to_owned());
    }
    let rules = RotationRules { automatically_after_days: days, schedule_expression: schedule, window };
    let attach = Attach { function: function.to_owned(), rules, rotate_now: !options.flag("--no-rotate-now") };
    Ok(Command::Attach { secrets: options.operands, attach })
}

/// The Lambda function. A configuration error ends the process at cold start, logged with the variable's name.
async fn lambda() -> ExitCode {
    logging::init(&LogSettings::from_env(false), std::io::stdout);
    // lambda_runtime panics without these; Lambda always sets them, a local emulator may not.
    for (var, numeric) in [
        ("AWS_LAMBDA_FUNCTION_NAME", false),
        ("AWS_LAMBDA_FUNCTION_VERSION", false),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", true),
    ] {
        let value = std::env::var(var).unwrap_or_default();
        if value.is_empty() || (numeric && value.parse::<i32>().is_err()) {
            error!(error_type = "ConfigError", "start-up failed: {var} is not set (or not a number); Lambda sets it");
            return ExitCode::FAILURE;
        }
    }
    let built = match config_from_env() {
        Ok(config) => app::build(&config).await.map(|rotator| (rotator, config.metrics_namespace)),
        Err(err) => Err(err),
    };
    let (rotator, metrics) = match built {
        Ok((rotator, namespace)) => (rotator, Metrics::stdout(namespace)),
        Err(err) => {
            error!(error_type = "ConfigError", "start-up failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let rotator = &rotator;
    let metrics = &metrics;
    match lambda_runtime::run(service_fn(move |event| handler::lambda_handler(rotator, metrics, event))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("the Lambda runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One step from an event, through the same `handler::handle` the Lambda entry uses.
async fn step(source: EventSource) -> Result<(), CliError> {
    logging::init(&LogSettings::from_env(true), std::io::stderr);
    let text = read_event(&source)?;
    let event = RotationEvent::from_json(&text)?;
    let rotator = rotator_from_env().await?;
    let outcome = handler::handle(&rotator, &event).await?;
    let _ = writeln!(Out::stdout(), "{}: {outcome}", event.step);
    Ok(())
}

fn read_event(source: &EventSource) -> Result<Vec<u8>, EventError> {
    let read = match source {
        EventSource::File(path) => std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display())),
        EventSource::Stdin => {
            let mut text = Vec::new();
            std::io::stdin().read_to_end(&mut text).map(|_| text).map_err(|err| format!("cannot read stdin: {err}"))
        }
    };
    read.map_err(EventError::Unreadable)
}

async fn rotator_from_env() -> Result<AwsRotator, CliError> {
    Ok(app::build(&config_from_env()?).await?)
}

/// The settings, with the engines the password policy cannot serve logged as warnings.
fn config_from_env() -> Result<Config, ConfigError> {
    let config = Config::from_env()?;
    for problem in config.password_problems() {
        warn!("configuration: {problem}; rotations of such secrets will fail");
    }
    Ok(config)
}

/// Exit status and a last line on stderr for a local command.
fn report(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(problem)) => {
            let _ = writeln!(Out::stderr(), "rds-rotator: {problem}");
            usage_to_stderr();
            ExitCode::from(2)
        }
        Err(err) => {
            let _ = writeln!(Out::stderr(), "rds-rotator: {} [{}]", err, err.error_type());
            ExitCode::FAILURE
        }
    }
}

/// The usage after a blank line, on stderr (bad usage).
fn usage_to_stderr() {
    let mut err = Out::stderr();
    let _ = err.own("\n");
    let _ = err.own(USAGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], in_lambda: bool, terminal: bool) -> Result<Command, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args(&args, in_lambda, terminal)
    }

    #[test]
    fn picks_the_mode() {
        assert!(matches!(parse(&[], true, true), Ok(Command::Lambda)));
        assert!(matches!(parse(&[], false, false), Ok(Command::Step(EventSource::Stdin))));
        assert!(parse(&[], false, true).is_err());
        assert!(matches!(parse(&["-"], false, true), Ok(Command::Step(EventSource::Stdin))));
        assert!(matches!(parse(&["events/createSecret.json"], true, true), Ok(Command::Step(EventSource::File(_)))));
        assert!(matches!(parse(&["rotate", "app"], false, true), Ok(Command::Rotate { .. })));
        assert!(matches!(parse(&["check", "app"], false, true), Ok(Command::Check { .. })));
        assert!(parse(&["check"], false, true).is_err());
        assert!(matches!(parse(&["--help"], false, true), Ok(Command::Help)));
        assert!(matches!(parse(&["--version"], false, true), Ok(Command::Version)));
        assert!(parse(&["rotate"], false, true).is_err());
        assert!(parse(&["rotate", "a", "b"], false, true).is_err());
        assert!(parse(&["--bogus"], false, true).is_err());
        assert!(parse(&["a.json", "b.json"], false, true).is_err());
        assert!(matches!(parse(&["cancel", "app"], false, true), Ok(Command::Cancel { force: false, .. })));
        assert!(matches!(parse(&["cancel", "--force", "app"], false, true), Ok(Command::Cancel { force: true, .. })));
        assert!(parse(&["cancel"], false, true).is_err());
        assert!(parse(&["cancel", "a", "b"], false, true).is_err());
        assert!(parse(&["cancel", "a", "--now"], false, true).is_err());
    }

    #[test]
    fn the_version_names_the_commit_and_the_target() {
        let line = version_line();
        let rest = line
            .strip_prefix(&format!("rds-rotator {} (commit ", env!("CARGO_PKG_VERSION")))
            .unwrap_or_else(|| panic!("{line:?} does not start with the name and version"));
        let (commit, target) = rest.strip_suffix(')').and_then(|r| r.split_once(", ")).expect(&line);
        let hex = commit.len() == 7 && commit.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(hex || commit == "unknown", "{line:?}: the commit is not 7 hex digits or unknown");
        let parts: Vec<&str> = target.split('-').collect();
        assert!(parts.len() >= 3 && parts.iter().all(|p| !p.is_empty()), "{line:?}: {target:?} is not a target triple");
        assert!(target.contains(std::env::consts::ARCH), "{line:?}: not this target's architecture");
    }

    #[test]
    fn reads_status_options() {
        let Ok(Command::Status(args)) = parse(&["status", "a", "--json", "--verify", "b", "--function=f"], false, true)
        else {
            panic!("not status");
        };
        assert_eq!(args.secrets, ["a", "b"]);
        assert_eq!(args.function.as_deref(), Some("f"));
        assert!(args.json && args.verify && args.at.is_none());
        let Ok(Command::Status(args)) = parse(&["status", "--at", "2026-12-24"], false, true) else { panic!() };
        assert_eq!(args.at.map(|t| t.to_string()).as_deref(), Some("2026-12-24T00:00:00Z"));
        assert!(matches!(parse(&["status", "--at", "+3d"], false, true), Ok(Command::Status(_))));
        for bad in
            [&["status", "--at", "soon"][..], &["status", "--at"], &["status", "--bogus"], &["status", "--json=1"]]
        {
            assert!(parse(bad, false, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_attach_options() {
        let args = ["attach", "a", "b", "--function", "arn:f", "--schedule", "rate(30 days)", "--window", "4h"];
        let Ok(Command::Attach { secrets, attach }) = parse(&args, false, true) else { panic!("not attach") };
        assert_eq!(secrets, ["a", "b"]);
        assert_eq!(attach.function, "arn:f");
        assert_eq!(attach.rules.schedule_expression.as_deref(), Some("rate(30 days)"));
        assert_eq!(attach.rules.window.as_deref(), Some("4h"));
        assert!(attach.rotate_now);
        let args = ["attach", "a", "--function=arn:f", "--days", "7", "--no-rotate-now"];
        let Ok(Command::Attach { attach, .. }) = parse(&args, false, true) else { panic!("not attach") };
        assert_eq!(attach.rules.automatically_after_days, Some(7));
        assert!(!attach.rotate_now);
        for bad in [
            &["attach", "--function", "f", "--days", "7"][..],
            &["attach", "a", "--days", "7"],
            &["attach", "a", "--function", "f"],
            &["attach", "a", "--function", "f", "--days", "0"],
            &["attach", "a", "--function", "f", "--days", "7", "--schedule", "rate(7 days)"],
            &["attach", "a", "--function", "f", "--schedule", "weekly"],
            &["attach", "a", "--function", "f", "--days", "7", "--window", "30m"],
            &["attach", "a", "--function", "f", "--function", "g", "--days", "7"],
        ] {
            let problem = parse(bad, false, true).err();
            assert!(problem.is_some(), "{bad:?}");
        }
    }
}
