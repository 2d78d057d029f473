//! Logging: `RUST_LOG` filter, text or one JSON object per line. Log lines carry client text
//! (paths, user agents, later emails); the writer escapes control characters in it, so a client
//! cannot start a forged line or send escape sequences to an operator's terminal.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::config::LogFormat;

/// What is logged without `RUST_LOG`: our events at info; the migration runner only when
/// something goes wrong, so a failed start prints nothing but its `error:` line.
const DEFAULT_FILTER: &str = "info,sea_orm_migration=warn,sqlx=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let colours = format == LogFormat::Text && io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(EscapingStderr { colours });
    // A second initialisation (tests start many applications) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Standard error, with control characters escaped in every line written through it.
#[derive(Clone, Copy)]
struct EscapingStderr {
    /// Whether the formatter writes colour codes (ESC sequences of its own); values from
    /// clients have their ESC escaped by the formatter itself in that case.
    colours: bool,
}

impl<'a> MakeWriter<'a> for EscapingStderr {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl Write for EscapingStderr {
    /// The formatter hands over one whole event per call (ending in its newline); the line is
    /// escaped and written in one piece so concurrent events do not interleave.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, newline) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut escaped = escape_controls(line, self.colours);
        escaped.push_str(newline);
        io::stderr().lock().write_all(escaped.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Replaces control characters (C0 but tab, DEL, C1 — which includes NEL, a line break to some
/// readers) by `\n`, `\r` or `\u{..}`-style escapes. In a JSON line they can only sit inside
/// strings (serde already escaped C0 there), where `\u00XX` is the same character, so the line
/// stays valid JSON.
fn escape_controls(line: &str, keep_esc: bool) -> String {
    let mut out = String::with_capacity(line.len());
    for ch in line.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            '\u{1b}' if keep_esc => out.push(ch),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// An error with its causes, `outer: inner: …`, as a door logs an internal error once.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_break_a_line_or_reach_the_terminal() {
        assert_eq!(
            escape_controls("a\nb\rc\u{1b}[31md\u{85}e\u{9b}f\u{7f}", false),
            "a\\nb\\rc\\u001b[31md\\u0085e\\u009bf\\u007f"
        );
        assert_eq!(escape_controls("\u{1b}[2mlevel", true), "\u{1b}[2mlevel");
        assert_eq!(escape_controls("plain é ü", false), "plain é ü");
    }

    #[test]
    fn an_escaped_json_line_is_still_the_same_json() {
        let original = serde_json::json!({"user_agent": "x\u{85}y\u{9b}z"}).to_string();
        let escaped = escape_controls(&original, false);
        assert!(!escaped.contains('\u{85}'));
        let reparsed: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(reparsed["user_agent"], "x\u{85}y\u{9b}z");
    }
}
