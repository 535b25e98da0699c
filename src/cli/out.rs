//! The one writer every command prints through. A command's lines carry what secrets, servers and the service wrote
//! (names, `dbname`, `masterarn`, hosts, users, version ids, server messages); none of it reaches the terminal as
//! control: each line is written with every special character escaped (`domain::text`), its own final line break
//! kept, so a value holding a line break shows as `\n` inside its line rather than forging the next one. JSON goes
//! out as JSON with the same characters as `\uXXXX` escapes.
//!
//! `writeln!(out, …)` works on it as on any writer: the macro calls the inherent `write_fmt` below, which sees the
//! whole line at once.

use std::fmt;
use std::io::{self, Write};

use serde_json::Value;

use crate::domain::text;

/// A command's output: stdout, stderr, or (tests) a buffer.
pub(crate) struct Out<W: Write> {
    inner: W,
}

impl Out<io::StdoutLock<'static>> {
    pub(crate) fn stdout() -> Self {
        Out { inner: io::stdout().lock() }
    }
}

impl Out<io::StderrLock<'static>> {
    pub(crate) fn stderr() -> Self {
        Out { inner: io::stderr().lock() }
    }
}

impl<W: Write> Out<W> {
    #[cfg(test)]
    pub(crate) fn new(inner: W) -> Self {
        Out { inner }
    }

    #[cfg(test)]
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }

    /// One line (`writeln!`) or the start of one (`write!`): escaped whole, but for a final line break.
    pub(crate) fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
        let line = args.to_string();
        let last = line.len().saturating_sub(1);
        let ends_line = line.ends_with('\n');
        let escaped = text::escaped_lines(&line, |at| ends_line && at == last);
        self.inner.write_all(escaped.as_bytes())
    }

    /// A JSON document, pretty-printed, on its own lines.
    pub(crate) fn json(&mut self, value: &Value) -> io::Result<()> {
        let document = serde_json::to_string_pretty(value).unwrap_or_default();
        self.inner.write_all(text::escaped_json(&document).as_bytes())?;
        self.inner.write_all(b"\n")
    }

    /// Text of the program's own (the usage), written as it is.
    pub(crate) fn own(&mut self, text: &'static str) -> io::Result<()> {
        self.inner.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cannot_forge_the_next() {
        let mut out = Out::new(Vec::new());
        let dbname = "app\r\u{1b}[2K  ok    secret\n  ok    forged\u{1b}]52;c;aGk=\u{7}";
        writeln!(out, "  ok    secret           database {dbname}").unwrap();
        let tail = "tail\u{202e}";
        write!(out, "{tail}").unwrap();
        out.json(&serde_json::json!({"dbname": dbname})).unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "  ok    secret           database app\\r\\u{1b}[2K  ok    secret\\n  ok    forged\\u{1b}]52;c;aGk=\\u{7}"
        );
        assert_eq!(lines[1], "tail\\u{202e}{");
        assert!(!text.chars().any(|c| c != '\n' && text::is_special(c)), "{text:?}");
        let json: Value = serde_json::from_str(&text[text.find("{\n").unwrap()..]).unwrap();
        assert_eq!(json["dbname"], dbname);
    }
}
