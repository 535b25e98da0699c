//! Log output: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (Lambda's advanced logging controls), text otherwise; the level
//! from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO — as lambda_runtime's default subscriber does.
//!
//! One difference: TRACE output of the SDK, HTTP and runtime crates is always dropped, whatever the level asks for.
//! lambda_runtime logs the raw event there (with its `RotationToken`), and the SDK logs HTTP bodies there (with the
//! secret, if `LOG_SENSITIVE_BODIES` is set). There is no switch that logs secrets.

use std::io;

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::domain::text;

/// Crates whose TRACE events can carry secrets or the raw event.
const NO_TRACE_FROM: [&str; 8] =
    ["lambda_runtime", "aws_smithy", "aws_sdk", "aws_config", "hyper", "h2", "rustls", "tokio_postgres"];

/// How logs are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub json: bool,
    /// `EnvFilter` directives, e.g. `info` or `rds_rotator=debug`.
    pub directives: String,
    /// Lambda adds its own timestamps; local runs want them.
    pub timestamps: bool,
}

impl LogSettings {
    pub fn from_env(timestamps: bool) -> LogSettings {
        let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
        let directives = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
            // Lambda's level names, FATAL included, mapped onto tracing's.
            Ok(level) if level.eq_ignore_ascii_case("fatal") => "error".to_owned(),
            Ok(level) => level.to_ascii_lowercase(),
            Err(_) => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        };
        LogSettings { json, directives, timestamps }
    }
}

/// The subscriber for these settings, writing to `writer` (tests pass a buffer).
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // A word that is no level ("verbose", a typo) parses as a target name, and EnvFilter then enables only that
    // target: everything else would go silent. Unless a global level is given, INFO comes first.
    let has_level = settings.directives.split(',').any(|d| d.trim().parse::<LevelFilter>().is_ok());
    let directives = if has_level { settings.directives.clone() } else { format!("info,{}", settings.directives) };
    let levels = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).parse_lossy(directives);
    let filter = levels.and(filter_fn(allowed));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(Escaping { inner: writer, json: settings.json });
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match (settings.json, settings.timestamps) {
        (true, true) => layer.json().boxed(),
        (true, false) => layer.json().without_time().boxed(),
        (false, true) => layer.boxed(),
        (false, false) => layer.without_time().boxed(),
    };
    Registry::default().with(layer.with_filter(filter))
}

/// Installs the subscriber for the process. A second call (tests) keeps the first.
pub(crate) fn init<W>(settings: &LogSettings, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(subscriber(settings, writer));
}

/// A writer that lets no special character (`domain::text`) of what a secret, a server or the service wrote reach the
/// log raw, whichever field or message carries it: each event is written as one line, escaped — in JSON, as `\uXXXX`
/// escapes, so the line stays the same JSON; in text, as visible escapes, its own final line break kept. The one net
/// under every log line, so no call site has to take care.
struct Escaping<M> {
    inner: M,
    json: bool,
}

/// One event's bytes, written escaped when the event is complete (the formatter writes an event, then drops its
/// writer).
struct EscapingWriter<W: io::Write> {
    inner: W,
    json: bool,
    event: Vec<u8>,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Escaping<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter { inner: self.inner.make_writer(), json: self.json, event: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        EscapingWriter { inner: self.inner.make_writer_for(meta), json: self.json, event: Vec::new() }
    }
}

impl<W: io::Write> io::Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.event.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: io::Write> Drop for EscapingWriter<W> {
    fn drop(&mut self) {
        if self.event.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.event);
        let last = text.len().saturating_sub(1);
        let line = if self.json { text::escaped_json(&text) } else { text::escaped_lines(&text, |at| at == last) };
        let _ = self.inner.write_all(line.as_bytes());
        let _ = self.inner.flush();
    }
}

fn allowed(metadata: &Metadata<'_>) -> bool {
    *metadata.level() != Level::TRACE || !NO_TRACE_FROM.iter().any(|prefix| metadata.target().starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn trace_from_runtime_and_sdk_crates_is_dropped_even_at_trace_level() {
        let buffer = Buffer::default();
        let settings = LogSettings { json: true, directives: "trace".into(), timestamps: false };
        tracing::subscriber::with_default(subscriber(&settings, buffer.clone()), || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", "raw event RotationToken=rt-1");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "body secret-2");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "debug kept");
            tracing::trace!(target: "rds_rotator::rotation", "trace kept");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("rt-1") && !text.contains("secret-2"), "{text}");
        assert!(text.contains("debug kept") && text.contains("trace kept"), "{text}");
    }

    fn logged(directives: &str) -> String {
        let buffer = Buffer::default();
        let settings = LogSettings { json: false, directives: directives.into(), timestamps: false };
        tracing::subscriber::with_default(subscriber(&settings, buffer.clone()), || {
            tracing::debug!("debug-line");
            tracing::info!("info-line");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// Whatever a field or a message carries, each event is one line with no special character raw; in JSON, the
    /// same values once parsed.
    #[test]
    fn no_special_character_reaches_the_log_raw() {
        let hostile = "db\u{1b}]52;c;aGk=\u{7}\r\u{1b}[2K  ok\n\u{9b}1m\u{202e}\u{7f}";
        for json in [false, true] {
            let buffer = Buffer::default();
            let settings = LogSettings { json, directives: "info".into(), timestamps: false };
            tracing::subscriber::with_default(subscriber(&settings, buffer.clone()), || {
                tracing::info!(dbname = hostile, host = %hostile, "setSecret failed: {hostile}");
                tracing::info!(field = ?hostile, "second");
            });
            let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            assert_eq!(text.matches('\n').count(), 2, "{json}: {text}");
            assert!(!text.chars().any(|c| c != '\n' && text::is_special(c)), "{json}: {text:?}");
            if json {
                let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
                assert_eq!(first["fields"]["dbname"], hostile, "{text}");
            }
        }
    }

    #[test]
    fn levels_fall_back_to_info() {
        for (directives, debug_shown) in
            [("", false), ("verbose", false), ("info", false), ("debug", true), ("DEBUG", true), ("hyper=warn", false)]
        {
            let text = logged(directives);
            assert!(text.contains("info-line"), "{directives:?}: {text}");
            assert_eq!(text.contains("debug-line"), debug_shown, "{directives:?}: {text}");
        }
        assert!(!logged("error").contains("info-line"));
    }
}
