//! The binary's modes: the Lambda function when Lambda starts it, and local commands for everyone else.
//!
//! ```text
//! rds-rotator                      Lambda function (when AWS_LAMBDA_RUNTIME_API is set)
//! rds-rotator EVENT.json | -       one step, from an event file or stdin, through the Lambda code path
//! rds-rotator rotate SECRET_ID     a whole rotation, with this binary playing Secrets Manager
//! rds-rotator check SECRET_ID      a preflight that changes nothing
//! ```
//! Output for people goes to stdout; logs go to stderr locally and to stdout (CloudWatch) in Lambda.

mod check;
mod rotate;

use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use lambda_runtime::service_fn;
use tracing::{error, warn};

use crate::app::{self, AwsRotator};
use crate::config::{Config, ConfigError};
use crate::event::{EventError, RotationEvent};
use crate::handler;
use crate::logging::{self, LogSettings};
use crate::metrics::Metrics;
use crate::rotation::Error;

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
  rds-rotator --help | --version

Settings come from the environment (docs/configuration.md): AWS_REGION, AWS_ENDPOINT_URL*, PASSWORD_LENGTH,
EXCLUDE_*, DB_TLS_MODE, DB_TLS_MINIMUM, MASTER_TLS_MODE, DB_EXTRA_CA_BUNDLE, MASTER_SECRET_ARNS, RUST_LOG, ...
Exit status: 0 done, 1 the step, rotation or check failed, 2 bad usage.
";

enum Command {
    Lambda,
    Help,
    Version,
    Step(EventSource),
    Rotate { secret_id: String },
    Check { secret_id: String },
}

enum EventSource {
    File(PathBuf),
    Stdin,
}

/// Why a local command failed: its settings, or the step or rotation itself.
pub(crate) enum CliError {
    Config(ConfigError),
    Rotation(Error),
}

impl CliError {
    /// As in the Lambda function's logs and metrics.
    fn error_type(&self) -> &'static str {
        match self {
            CliError::Config(_) => "ConfigError",
            CliError::Rotation(err) => err.error_type(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let command = match parse_args(&args, in_lambda, std::io::stdin().is_terminal()) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("rds-rotator: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Boxed: the SDK's futures nest deeply enough to overflow the compiler's layout depth when inlined here.
    match command {
        Command::Lambda => Box::pin(lambda()).await,
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("rds-rotator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Step(source) => report(Box::pin(step(source)).await),
        Command::Rotate { secret_id } => report(Box::pin(rotate::run(&secret_id)).await),
        Command::Check { secret_id } => match Box::pin(check::run(&secret_id)).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(err) => report(Err(err)),
        },
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
        [command @ ("rotate" | "check"), ..] => {
            Err(format!("{command} takes exactly one SECRET_ID (a name or an ARN)"))
        }
        [path] if !path.starts_with('-') => Ok(Command::Step(EventSource::File(PathBuf::from(path)))),
        _ => Err(format!("unexpected arguments: {}", args.join(" "))),
    }
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
    println!("{}: {outcome}", event.step);
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
        Err(err) => {
            eprintln!("rds-rotator: {} [{}]", err, err.error_type());
            ExitCode::FAILURE
        }
    }
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
    }
}
