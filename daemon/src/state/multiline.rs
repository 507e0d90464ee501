//! [`OpenMultiline`]: a client's IRCv3 `draft/multiline` batch while it is being sent
//! (https://ircv3.net/specs/extensions/multiline), its limits and the rules for adding
//! a line. No I/O; the command side is `cmd/message/multiline.rs`.

use chatd_proto::Tag;
use std::time::{Duration, Instant};

/// `max-bytes`: the combined message, line feeds between lines counted.
pub const MAX_BYTES: usize = 4096;
/// `max-lines`: lines in one batch.
pub const MAX_LINES: usize = 32;
/// The capability's value, as `CAP LS 302` shows it.
pub const CAP_VALUE: &str = "max-bytes=4096,max-lines=32";
/// A batch not ended this long after it opened is dropped at the client's next line.
pub const MAX_OPEN: Duration = Duration::from_secs(60);

/// Why a line could not be added (IRCv3 multiline, "Errors").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultilineError {
    /// `MULTILINE_MAX_BYTES <limit>`.
    MaxBytes,
    /// `MULTILINE_MAX_LINES <limit>`.
    MaxLines,
    /// `MULTILINE_INVALID_TARGET <batch-target> <provided-target>`.
    InvalidTarget { given: String },
    /// `MULTILINE_INVALID`, with what was wrong.
    Invalid(&'static str),
}

/// One line of a batch: its text, and whether it joins the previous one with no
/// line feed (`draft/multiline-concat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub concat: bool,
}

/// A multiline batch a client has opened and not yet ended.
#[derive(Debug, Clone)]
pub struct OpenMultiline {
    /// The client's reference tag.
    pub reference: Box<str>,
    /// The target as the client named it.
    pub target: String,
    /// PRIVMSG or NOTICE, set by the first line; every line must use the same.
    pub command: Option<&'static str>,
    /// The `label` of the opening `BATCH` (labeled-response), answered at its end.
    pub label: Option<Box<str>>,
    /// The client-only tags of the opening `BATCH`, relayed with the message.
    pub client_tags: Vec<Tag>,
    pub lines: Vec<Line>,
    /// Bytes of the combined message so far.
    pub bytes: usize,
    pub opened: Instant,
    /// A limit was passed: the rest of the batch is read and dropped until its end.
    pub failed: bool,
}

impl OpenMultiline {
    pub fn new(reference: &str, target: &str, opened: Instant) -> OpenMultiline {
        OpenMultiline {
            reference: reference.into(),
            target: target.to_string(),
            command: None,
            label: None,
            client_tags: Vec::new(),
            lines: Vec::new(),
            bytes: 0,
            opened,
            failed: false,
        }
    }

    /// Adds one PRIVMSG/NOTICE line sent to `target`, within the limits.
    pub fn add(
        &mut self,
        command: &'static str,
        target: &str,
        text: &str,
        concat: bool,
    ) -> Result<(), MultilineError> {
        if !chatd_proto::fold_eq(target, &self.target) {
            return Err(MultilineError::InvalidTarget {
                given: target.to_string(),
            });
        }
        if *self.command.get_or_insert(command) != command {
            return Err(MultilineError::Invalid(
                "PRIVMSG and NOTICE mixed in one batch",
            ));
        }
        if concat && text.is_empty() {
            return Err(MultilineError::Invalid(
                "a blank line marked draft/multiline-concat",
            ));
        }
        if self.lines.len() >= MAX_LINES {
            return Err(MultilineError::MaxLines);
        }
        let separator = usize::from(!self.lines.is_empty() && !concat);
        if self.bytes + separator + text.len() > MAX_BYTES {
            return Err(MultilineError::MaxBytes);
        }
        self.bytes += separator + text.len();
        self.lines.push(Line {
            text: text.to_string(),
            concat,
        });
        Ok(())
    }

    /// The combined message: lines joined by a line feed, or directly for a
    /// `draft/multiline-concat` line. `None` when it is empty or only blank lines,
    /// which the spec forbids clients to send.
    pub fn combined(&self) -> Option<String> {
        if self.lines.iter().all(|l| l.text.is_empty()) {
            return None;
        }
        let mut text = String::with_capacity(self.bytes);
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 && !line.concat {
                text.push('\n');
            }
            text.push_str(&line.text);
        }
        Some(text)
    }

    /// Whether it has been open too long at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.opened) > MAX_OPEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_join_with_line_feeds_and_concat() {
        let mut b = OpenMultiline::new("1", "#c", Instant::now());
        b.add("PRIVMSG", "#c", "hello", false).unwrap();
        b.add("PRIVMSG", "#C", "how is ", false).unwrap();
        b.add("PRIVMSG", "#c", "everyone?", true).unwrap();
        assert_eq!(b.combined().as_deref(), Some("hello\nhow is everyone?"));
        assert_eq!(b.bytes, "hello\nhow is everyone?".len());
    }

    #[test]
    fn limits_and_invalid_lines() {
        let mut b = OpenMultiline::new("1", "#c", Instant::now());
        assert_eq!(
            b.add("PRIVMSG", "#d", "x", false),
            Err(MultilineError::InvalidTarget { given: "#d".into() })
        );
        assert!(matches!(
            b.add("PRIVMSG", "#c", "", true),
            Err(MultilineError::Invalid(_))
        ));
        b.add("PRIVMSG", "#c", "", false).unwrap();
        assert_eq!(b.combined(), None, "only blank lines");
        assert!(matches!(
            b.add("NOTICE", "#c", "x", false),
            Err(MultilineError::Invalid(_))
        ));
        let big = "x".repeat(MAX_BYTES);
        assert_eq!(
            b.add("PRIVMSG", "#c", &big, false),
            Err(MultilineError::MaxBytes)
        );
        let mut b = OpenMultiline::new("1", "#c", Instant::now());
        for _ in 0..MAX_LINES {
            b.add("PRIVMSG", "#c", "x", false).unwrap();
        }
        assert_eq!(
            b.add("PRIVMSG", "#c", "x", false),
            Err(MultilineError::MaxLines)
        );
    }

    #[test]
    fn the_cap_value_names_the_limits() {
        assert_eq!(
            CAP_VALUE,
            format!("max-bytes={MAX_BYTES},max-lines={MAX_LINES}")
        );
    }
}
