//! [`Message`]: tags, source, command and parameters, and its wire form (`Display`).
//! Parsing lives in `parse.rs`; line framing in `lines.rs`.

use std::fmt;

/// One message tag: `key` or `key=value`. An empty value is written as a bare key,
/// which IRCv3 says is the same thing as no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One IRC message. `Display` writes the wire form without the line ending.
///
/// Equality compares what a message means (tags, source, command, parameters), not
/// how its last parameter is written: `PRIVMSG #c hi` equals `PRIVMSG #c :hi`.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub tags: Vec<Tag>,
    /// The source (prefix) without its leading `:`.
    pub source: Option<String>,
    /// The command or three-digit numeric, as received (not upper-cased by the parser).
    pub command: String,
    pub params: Vec<String>,
    /// Write the last parameter in its trailing `:` form even when it needs not (see
    /// [`Message::with_trailing`]). The parser leaves it false.
    pub trailing: bool,
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.tags == other.tags
            && self.source == other.source
            && self.command == other.command
            && self.params == other.params
    }
}

impl Eq for Message {}

impl Message {
    /// A message with a command and parameters, no tags and no source.
    pub fn new<C, I, P>(command: C, params: I) -> Message
    where
        C: Into<String>,
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        Message {
            tags: Vec::new(),
            source: None,
            command: command.into(),
            params: params.into_iter().map(Into::into).collect(),
            trailing: false,
        }
    }

    /// Writes the last parameter as a trailing one (`:text`) whatever it holds. Free
    /// text (a message, a reason, a topic) is relayed this way, as established servers
    /// do, so clients that split on ` :` find a one-word text too. Only for messages
    /// whose last parameter is text: `PART #c` without a reason must not get it.
    pub fn with_trailing(mut self) -> Message {
        self.trailing = true;
        self
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Message {
        self.source = Some(source.into());
        self
    }

    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Message {
        self.tags.push(Tag {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// The value of tag `key`, if present (`Some("")` for a tag without a value).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Parameter `i`, or `""` when absent.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The nick part of the source (`nick` of `nick!user@host`).
    pub fn source_nick(&self) -> Option<&str> {
        self.source
            .as_deref()
            .map(|s| crate::mask::split_source(s).nick)
    }

    /// The wire form with its `\r\n`, as bytes.
    pub fn to_line(&self) -> Vec<u8> {
        self.to_line_with(|_| true)
    }

    /// Whether this message can be written as one IRC line: every parameter but the
    /// last must be a valid middle parameter (RFC 1459 §2.3.1: not empty, no space,
    /// not starting with `:`), or the line would mean something else.
    pub fn check(&self) -> Result<(), ParamError> {
        let last = self.params.len().saturating_sub(1);
        match self
            .params
            .iter()
            .take(last)
            .position(|p| !is_valid_middle(p))
        {
            Some(index) => Err(ParamError::BadMiddle {
                index,
                param: self.params[index].clone(),
            }),
            None => Ok(()),
        }
    }

    /// The wire form with its `\r\n`, or why it cannot be written.
    pub fn try_to_line(&self) -> Result<Vec<u8>, ParamError> {
        self.check()?;
        Ok(self.to_line())
    }

    /// The wire form with its `\r\n`, keeping only the tags `keep` accepts.
    ///
    /// A message that fails [`Message::check`] is a bug in its builder: debug builds
    /// (tests, fuzzing) panic; release builds write each bad middle parameter as `*`
    /// rather than send a line that reads differently from what was built.
    pub fn to_line_with(&self, keep: impl Fn(&Tag) -> bool) -> Vec<u8> {
        debug_assert!(self.check().is_ok(), "{:?}: {self:?}", self.check());
        let mut s = String::with_capacity(self.wire_len_hint());
        self.write_with(&mut s, keep)
            .expect("writing to a String cannot fail");
        s.push_str("\r\n");
        s.into_bytes()
    }

    /// About the wire length, to size a buffer once.
    fn wire_len_hint(&self) -> usize {
        let tags: usize = self
            .tags
            .iter()
            .map(|t| t.key.len() + t.value.len() + 2)
            .sum();
        let params: usize = self.params.iter().map(|p| p.len() + 2).sum();
        tags + self.source.as_ref().map_or(0, |s| s.len() + 2) + self.command.len() + params + 4
    }

    /// Writes the wire form (no line ending); tags only when `with_tags`.
    pub fn write_to<W: fmt::Write>(&self, out: &mut W, with_tags: bool) -> fmt::Result {
        self.write_with(out, |_| with_tags)
    }

    /// Writes the wire form (no line ending) with the tags `keep` accepts.
    pub fn write_with<W: fmt::Write>(
        &self,
        out: &mut W,
        keep: impl Fn(&Tag) -> bool,
    ) -> fmt::Result {
        let mut first = true;
        for tag in self.tags.iter().filter(|t| keep(t)) {
            out.write_char(if first { '@' } else { ';' })?;
            first = false;
            out.write_str(&tag.key)?;
            if !tag.value.is_empty() {
                out.write_char('=')?;
                escape_tag_value(&tag.value, out)?;
            }
        }
        if !first {
            out.write_char(' ')?;
        }
        if let Some(source) = &self.source {
            out.write_char(':')?;
            out.write_str(source)?;
            out.write_char(' ')?;
        }
        out.write_str(&self.command)?;
        let last = self.params.len().saturating_sub(1);
        for (i, p) in self.params.iter().enumerate() {
            out.write_char(' ')?;
            if i == last && (self.trailing || needs_trailing(p)) {
                out.write_char(':')?;
            }
            // Never a middle parameter that would shift or end the others.
            let p = if i < last && !is_valid_middle(p) {
                "*"
            } else {
                p
            };
            out.write_str(p)?;
        }
        Ok(())
    }
}

/// Why a [`Message`] cannot be written as one IRC line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// Parameter `index`, not the last one, is empty, holds a space or starts with
    /// `:` (`param` is its value).
    BadMiddle { index: usize, param: String },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::BadMiddle { index, param } => {
                write!(
                    f,
                    "parameter {index} ({param:?}) cannot be a middle parameter"
                )
            }
        }
    }
}

impl std::error::Error for ParamError {}

/// A parameter that may stand before the last one: not empty, no space, no leading `:`.
pub fn is_valid_middle(p: &str) -> bool {
    !p.is_empty() && !p.starts_with(':') && !p.contains(' ')
}

/// A last parameter needs the `:` form when it is empty, holds a space or starts with `:`.
fn needs_trailing(p: &str) -> bool {
    p.is_empty() || p.starts_with(':') || p.contains(' ')
}

/// IRCv3 message-tags escaping: `;` `\s` `\\` `\r` `\n`.
pub fn escape_tag_value<W: fmt::Write>(value: &str, out: &mut W) -> fmt::Result {
    if !value
        .bytes()
        .any(|b| matches!(b, b';' | b' ' | b'\\' | b'\r' | b'\n'))
    {
        return out.write_str(value);
    }
    for c in value.chars() {
        match c {
            ';' => out.write_str("\\:")?,
            ' ' => out.write_str("\\s")?,
            '\\' => out.write_str("\\\\")?,
            '\r' => out.write_str("\\r")?,
            '\n' => out.write_str("\\n")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// The inverse of [`escape_tag_value`]; an unknown escape drops the backslash and a
/// trailing lone backslash is dropped, as the spec asks.
pub fn unescape_tag_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_forms() {
        let cases: &[(&[&str], &str)] = &[
            (&["#c", "hello"], "PRIVMSG #c hello"),
            (&["#c", "hello world"], "PRIVMSG #c :hello world"),
            (&["#c", ""], "PRIVMSG #c :"),
            (&["#c", ":)"], "PRIVMSG #c ::)"),
        ];
        for (params, want) in cases {
            assert_eq!(
                Message::new("PRIVMSG", params.iter().copied()).to_string(),
                *want
            );
        }
    }

    #[test]
    fn a_forced_trailing_always_gets_its_colon() {
        let m = Message::new("PRIVMSG", ["#c", "word"]).with_trailing();
        assert_eq!(m.to_string(), "PRIVMSG #c :word");
        assert_eq!(m, Message::new("PRIVMSG", ["#c", "word"]), "same meaning");
        let m = Message::new("AWAY", Vec::<String>::new()).with_trailing();
        assert_eq!(m.to_string(), "AWAY");
    }

    #[test]
    fn bad_middle_parameters_are_refused() {
        let cases: &[(&[&str], Option<usize>)] = &[
            (&["#c", "k", "key", "Invalid key"], None),
            (&["#c", "k", "", "Invalid key"], Some(2)),
            (&["#c", "k", "a b", "Invalid key"], Some(2)),
            (&["#c", ":x", "text"], Some(1)),
            (&["", "text"], Some(0)),
            (&["only one may be anything"], None),
            (&["#c", ""], None),
        ];
        for (params, bad) in cases {
            let m = Message::new("696", params.iter().copied());
            let got = m
                .check()
                .err()
                .map(|ParamError::BadMiddle { index, .. }| index);
            assert_eq!(got, *bad, "{params:?}");
            assert_eq!(m.try_to_line().is_ok(), bad.is_none(), "{params:?}");
        }
    }

    #[test]
    fn release_builds_write_a_bad_middle_as_a_star() {
        let m = Message::new("696", ["#c", "k", "a b", "Invalid key"]);
        let mut s = String::new();
        m.write_to(&mut s, true).unwrap();
        assert_eq!(s, "696 #c k * :Invalid key");
    }

    #[test]
    fn tag_escaping_round_trips() {
        for v in ["a;b c\\d\r\ne", "", "plain", "\\"] {
            let mut s = String::new();
            escape_tag_value(v, &mut s).unwrap();
            assert_eq!(unescape_tag_value(&s), v);
        }
    }
}
