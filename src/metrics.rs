//! One CloudWatch Embedded Metric Format line per step in Lambda mode: a JSON object on its own line of standard
//! output, from which CloudWatch Logs extracts the metrics — no `PutMetricData` call and no permission beyond the
//! function's logs. `METRICS_NAMESPACE` names the namespace (default `rds-rotator`); set empty, no line is written.
//!
//! Metrics `Duration` (milliseconds) and `Failed` (0 or 1), by the dimensions `Step` and `Outcome` (`ok`, or the
//! step's stable `errorType`); `Engine` and `Strategy` travel as properties, for Logs Insights. Nothing secret: the
//! secret id is a name, and the line holds no value of the secret.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::domain::{EngineKind, Step, Strategy};
/// The default namespace of the metrics.
pub(crate) const DEFAULT_NAMESPACE: &str = "rds-rotator";

/// Where metric lines go: standard output in Lambda, a buffer in tests, nowhere when switched off.
#[derive(Clone)]
pub struct Metrics {
    namespace: Option<String>,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Stdout,
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// What one step reports.
#[derive(Clone, Debug)]
pub struct StepReport<'a> {
    pub step: Step,
    pub secret_id: &'a str,
    /// `ok`, or the error type.
    pub outcome: &'a str,
    pub engine: Option<EngineKind>,
    pub strategy: Option<Strategy>,
    pub duration: Duration,
}

impl Metrics {
    /// Lambda: lines to standard output, under `namespace` (`None`: no lines).
    pub fn stdout(namespace: Option<String>) -> Metrics {
        Metrics { namespace, sink: Sink::Stdout }
    }

    /// Tests: lines kept in memory, read back with `lines`.
    pub fn buffer(namespace: &str) -> Metrics {
        Metrics { namespace: Some(namespace.to_owned()), sink: Sink::Buffer(Arc::default()) }
    }

    pub fn disabled() -> Metrics {
        Metrics { namespace: None, sink: Sink::Stdout }
    }

    /// Writes the step's line. A failed write is ignored: metrics never fail a rotation.
    pub fn record(&self, report: &StepReport<'_>) {
        let Some(namespace) = &self.namespace else { return };
        // JSON, with what the event named (the secret's id) as data: no special character raw on stdout.
        let line = emf_line(namespace, report, SystemTime::now());
        let line = crate::domain::text::escaped_json(&line);
        match &self.sink {
            Sink::Stdout => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Sink::Buffer(buffer) => {
                let mut buffer = buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let _ = writeln!(buffer, "{line}");
            }
        }
    }

    /// The lines written to a test buffer.
    pub fn lines(&self) -> Vec<String> {
        match &self.sink {
            Sink::Buffer(buffer) => {
                let buffer = buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                String::from_utf8_lossy(&buffer).lines().map(str::to_owned).collect()
            }
            Sink::Stdout => Vec::new(),
        }
    }
}

/// The EMF object for one step, as one line of JSON.
pub(crate) fn emf_line(namespace: &str, report: &StepReport<'_>, now: SystemTime) -> String {
    let timestamp = now.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let milliseconds = (report.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Step", "Outcome"]],
                "Metrics": [
                    {"Name": "Duration", "Unit": "Milliseconds"},
                    {"Name": "Failed", "Unit": "Count"},
                ],
            }],
        },
        "Step": report.step.as_str(),
        "Outcome": report.outcome,
        "Engine": report.engine.map_or("unknown", EngineKind::as_str),
        "Strategy": report.strategy.map_or("unknown", Strategy::as_str),
        "SecretId": report.secret_id,
        "Duration": milliseconds,
        "Failed": u8::from(report.outcome != "ok"),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_follows_the_embedded_metric_format() {
        let report = StepReport {
            step: Step::Set,
            secret_id: "prod/app",
            outcome: "CredentialsRejected",
            engine: Some(EngineKind::AuroraPostgres),
            strategy: Some(Strategy::AlternatingUsers),
            duration: Duration::from_micros(12_345),
        };
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line: serde_json::Value = serde_json::from_str(&emf_line("ns", &report, now)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_123u64);
        assert_eq!(directive["Namespace"], "ns");
        // Every dimension and metric the directive names is a top-level member of the line.
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(line[dimension.as_str().unwrap()].is_string(), "{dimension}");
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(line[metric["Name"].as_str().unwrap()].is_number(), "{metric}");
        }
        assert_eq!(line["Step"], "setSecret");
        assert_eq!(line["Outcome"], "CredentialsRejected");
        assert_eq!(line["Failed"], 1);
        assert_eq!(line["Duration"], 12.345);
        assert_eq!(line["Engine"], "aurora-postgresql");
        assert_eq!(line["Strategy"], "alternating-users");
    }

    #[test]
    fn no_namespace_no_line() {
        let metrics = Metrics { namespace: None, sink: Sink::Buffer(Arc::default()) };
        let report = StepReport {
            step: Step::Create,
            secret_id: "s",
            outcome: "ok",
            engine: None,
            strategy: None,
            duration: Duration::ZERO,
        };
        metrics.record(&report);
        assert!(metrics.lines().is_empty());
        let metrics = Metrics::buffer("ns");
        metrics.record(&report);
        let line: serde_json::Value = serde_json::from_str(&metrics.lines()[0]).unwrap();
        assert_eq!((line["Failed"].as_u64(), line["Engine"].as_str()), (Some(0), Some("unknown")));
    }
}
