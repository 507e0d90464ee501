//! The parser: one line of text (without its line ending) into a [`Message`].
//! Framing (finding line ends, length limits) is `lines.rs`'s job, not this one's.

use crate::message::{unescape_tag_value, Message, Tag};
use std::fmt;

/// Why a line is not a message. Each variant carries the offending input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line is empty or only spaces; servers ignore these.
    Empty,
    /// Tags or a source but no command (`@a=b`, `:nick`).
    NoCommand(String),
    /// The line holds a NUL, CR or LF, which no IRC message may contain.
    ForbiddenByte(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty line"),
            ParseError::NoCommand(line) => write!(f, "no command in {line:?}"),
            ParseError::ForbiddenByte(line) => write!(f, "NUL, CR or LF inside {line:?}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one line. A trailing `\r\n` or `\n` is tolerated and removed.
///
/// Atoms are separated by one or more spaces (RFC 1459), tag values are unescaped,
/// a later duplicate tag replaces an earlier one, and the command is kept as sent.
pub fn parse(line: &str) -> Result<Message, ParseError> {
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line);
    if line.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(ParseError::ForbiddenByte(line.to_string()));
    }
    let mut rest = line.trim_start_matches(' ');
    if rest.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut msg = Message::default();

    if let Some(after) = rest.strip_prefix('@') {
        let (raw_tags, tail) = split_word(after);
        for raw in raw_tags.split(';').filter(|t| !t.is_empty()) {
            let (key, value) = match raw.split_once('=') {
                Some((k, v)) => (k, unescape_tag_value(v)),
                None => (raw, String::new()),
            };
            if key.is_empty() {
                continue;
            }
            match msg.tags.iter_mut().find(|t| t.key == key) {
                Some(existing) => existing.value = value,
                None => msg.tags.push(Tag {
                    key: key.to_string(),
                    value,
                }),
            }
        }
        rest = tail;
    }

    if let Some(after) = rest.strip_prefix(':') {
        let (source, tail) = split_word(after);
        msg.source = Some(source.to_string());
        rest = tail;
    }

    let (command, mut rest) = split_word(rest);
    // A command never starts with `@`: without tags, `@` would be read back as tags.
    if command.is_empty() || command.starts_with('@') {
        return Err(ParseError::NoCommand(line.to_string()));
    }
    msg.command = command.to_string();

    loop {
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            msg.params.push(trailing.to_string());
            break;
        }
        let (param, tail) = split_word(rest);
        msg.params.push(param.to_string());
        rest = tail;
    }
    Ok(msg)
}

/// The next space-delimited word and what follows it, with the following spaces skipped.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lines() {
        let cases: &[(&str, Result<(), ParseError>)] = &[
            ("", Err(ParseError::Empty)),
            ("     ", Err(ParseError::Empty)),
            (
                ":onlyprefix",
                Err(ParseError::NoCommand(":onlyprefix".into())),
            ),
            ("@a=b", Err(ParseError::NoCommand("@a=b".into()))),
            ("@a=b :src", Err(ParseError::NoCommand("@a=b :src".into()))),
            (
                "PRIVMSG a\0b :x",
                Err(ParseError::ForbiddenByte("PRIVMSG a\0b :x".into())),
            ),
            ("PING x\r\n", Ok(())),
            ("  PING x", Ok(())),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input).map(|_| ()), want, "input {input:?}");
        }
    }

    #[test]
    fn leading_spaces_and_case_kept() {
        let m = parse("  privmsg   #c   :hi there").unwrap();
        assert_eq!(m.command, "privmsg");
        assert_eq!(m.params, vec!["#c", "hi there"]);
    }
}
