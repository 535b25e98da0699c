//! Text that came from outside — a secret's writer, a database server, the service — shown to a person or written to
//! a log as data, never as terminal control. A `dbname` holding `ESC ] 52 ;` would otherwise write to the clipboard
//! of whoever runs `check` on the secret, and one holding `CR` and `ESC [ 2 K` would erase a line and forge an `ok`
//! row. This is the one place that decides what is escaped and how; the error `Display`s, the commands' writer
//! (`cli/out.rs`) and the log writer (`logging.rs`) all use it.
//!
//! Escaped: every control character (C0, DEL, C1 — `ESC`, `CR`, `LF` and `TAB` included), the Unicode bidirectional
//! overrides, embeddings, isolates and marks (which reorder what a terminal or an editor shows), the line and
//! paragraph separators, and Unicode's other format characters and blank fillers (zero-width spaces and joiners, the
//! soft hyphen, tag characters), which show as nothing and let one name pass for another. Each is shown as a visible escape (`\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`); everything else,
//! non-ASCII letters included, is kept as it is.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// The most characters of a server's message that an error carries: enough for any message a server writes about a
/// statement or a login, bounded because a server (or whoever controls one) chooses what it says.
pub(crate) const MAX_SERVER_MESSAGE: usize = 300;

/// `text` as data: `Display` writes it with every special character escaped (see the module's documentation).
#[derive(Clone, Copy)]
pub(crate) struct Shown<'a>(pub &'a str);

/// `text`, shown as data.
pub(crate) fn shown(text: &str) -> Shown<'_> {
    Shown(text)
}

/// Whether `c` must never reach a terminal or a log as it is: a control character, or one of Unicode's format
/// characters and blank fillers, which show as nothing (or reorder what is shown) and so let one name pass for
/// another.
pub(crate) fn is_special(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional marks, embeddings, overrides and isolates; the line and paragraph separators.
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
            // The other format characters (Unicode category Cf) and the invisible fillers.
            | '\u{ad}' | '\u{600}'..='\u{605}' | '\u{6dd}' | '\u{70f}' | '\u{890}' | '\u{891}' | '\u{8e2}'
            | '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}'
            | '\u{206a}'..='\u{206f}' | '\u{3164}' | '\u{feff}' | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}' | '\u{110cd}' | '\u{13430}'..='\u{1343f}' | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}'
        )
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_special) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write_escape(f, c)?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

fn write_escape(out: &mut impl Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// `text` with every special character escaped, borrowed when there is none.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if text.contains(is_special) { Cow::Owned(shown(text).to_string()) } else { Cow::Borrowed(text) }
}

/// Lines of text for a person or a log: every special character escaped but the line breaks `keep` says are the
/// writer's own (a line's final `\n`).
pub(crate) fn escaped_lines(text: &str, keep: impl Fn(usize) -> bool) -> Cow<'_, str> {
    if !text.contains(is_special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (at, c) in text.char_indices() {
        if c == '\n' && keep(at) {
            out.push('\n');
        } else if is_special(c) {
            let _ = write_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A JSON document's text with the special characters JSON allows raw inside strings (DEL, C1, the bidirectional
/// controls, the separators) written as `\uXXXX` escapes: the same document to a parser, inert on a terminal.
/// serde_json already escapes C0 inside strings, and its only raw `\n`s are the layout's.
pub(crate) fn escaped_json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_special(c) && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_special(c) && c != '\n' {
            // JSON escapes UTF-16 code units: a character beyond the Basic Multilingual Plane is a surrogate pair.
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", unit);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A server's message as an error carries it: escaped, and cut to `MAX_SERVER_MESSAGE` characters, saying so.
pub(crate) fn server_message(message: &str) -> String {
    let count = message.chars().count();
    if count <= MAX_SERVER_MESSAGE {
        return escaped(message).into_owned();
    }
    let kept: String = message.chars().take(MAX_SERVER_MESSAGE).collect();
    format!("{}… ({} more characters)", shown(&kept), count - MAX_SERVER_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_are_shown_as_visible_escapes() {
        for (raw, shown_as) in [
            ("plain ascii, é and 日本", "plain ascii, é and 日本"),
            ("a\u{1b}]52;c;aGk=\u{7}b", "a\\u{1b}]52;c;aGk=\\u{7}b"),
            ("ok\r\u{1b}[2K  ok    login", "ok\\r\\u{1b}[2K  ok    login"),
            ("two\nlines\tand\u{7f}", "two\\nlines\\tand\\u{7f}"),
            ("c1 \u{9b}31m", "c1 \\u{9b}31m"),
            ("\u{202e}txt.exe\u{202c}", "\\u{202e}txt.exe\\u{202c}"),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200e}\\u{200f}\\u{61c}",
            ),
            ("sep\u{2028}\u{2029}", "sep\\u{2028}\\u{2029}"),
            ("nul\0", "nul\\u{0}"),
            ("zero\u{200b}width\u{feff}\u{ad}", "zero\\u{200b}width\\u{feff}\\u{ad}"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
        ] {
            assert_eq!(shown(raw).to_string(), shown_as, "{raw:?}");
            assert_eq!(escaped(raw), shown_as, "{raw:?}");
            assert!(!shown(raw).to_string().contains(is_special), "{raw:?}");
        }
        assert!(matches!(escaped("db.example.com"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let once = shown("x\u{1b}[31m\ny\u{202e}").to_string();
        assert_eq!(shown(&once).to_string(), once);
    }

    #[test]
    fn lines_keep_only_the_writers_own_breaks() {
        let text = "row\u{1b}[2K\nforged\n";
        let kept = escaped_lines(text, |at| at == text.len() - 1);
        assert_eq!(kept, "row\\u{1b}[2K\\nforged\n");
    }

    #[test]
    fn json_stays_json() {
        let value = serde_json::json!({"dbname": "a\u{9b}b\u{202e}c\u{1b}d\u{7f}e\u{e0041}f\u{200b}", "n": 1});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = escaped_json(&text);
        assert!(!safe.chars().any(|c| is_special(c) && c != '\n'), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
    }

    #[test]
    fn server_messages_are_bounded() {
        let long = "x".repeat(MAX_SERVER_MESSAGE + 50);
        let message = server_message(&long);
        assert!(message.starts_with(&"x".repeat(MAX_SERVER_MESSAGE)) && message.ends_with("(50 more characters)"));
        assert_eq!(server_message("database \"\u{1b}[2K\" does not exist"), "database \"\\u{1b}[2K\" does not exist");
    }
}
