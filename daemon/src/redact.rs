//! What a log may show of what clients send: [`wire_line`] hides the secrets a line
//! carries (passwords, SASL payloads, channel keys), judged on the parsed message so
//! tags, a prefix or leading spaces change nothing; [`escape`] and [`EscapingLogger`]
//! keep control bytes (CR, LF, NUL...) and bidi controls out of every log line.

use chatd_proto::{parse, Message, ParseError};
use std::borrow::Cow;

/// What stands in for a hidden parameter.
pub const HIDDEN: &str = "<redacted>";

/// Services nicks whose messages carry passwords (`IDENTIFY`, `REGISTER`, `GHOST`...).
const SERVICES: [&str; 1] = ["nickserv"];

/// SASL `AUTHENTICATE` arguments that are not secrets: mechanism names, `+`, `*`.
const SASL_PLAIN_WORDS: [&str; 5] = ["+", "*", "PLAIN", "EXTERNAL", "SCRAM-SHA-256"];

/// One line a client sent, as the trace log shows it: secrets hidden, control bytes
/// escaped. A line that does not parse is shown only when it names no door that
/// could carry a secret.
pub fn wire_line(line: &str) -> String {
    match parse(line) {
        Ok(msg) => match redacted(&msg) {
            Some(hidden) => escape(&hidden.to_string()).into_owned(),
            None => escape(line).into_owned(),
        },
        Err(ParseError::Empty) => escape(line).into_owned(),
        Err(_) if might_carry_secret(line) => format!("{HIDDEN} (unparsable line)"),
        Err(_) => escape(line).into_owned(),
    }
}

/// `msg` with its secret parameters replaced by [`HIDDEN`], or `None` when it
/// carries none.
fn redacted(msg: &Message) -> Option<Message> {
    let command = msg.command.to_ascii_uppercase();
    // The index of the first secret parameter: it and everything after it is hidden.
    let from = match command.as_str() {
        // PASS <password> (or account:password)
        "PASS" => 0,
        // AUTHENTICATE <mechanism> | <base64 payload>
        "AUTHENTICATE" => {
            let arg = msg.param(0).to_ascii_uppercase();
            if msg.params.len() <= 1 && SASL_PLAIN_WORDS.contains(&arg.as_str()) {
                return None;
            }
            0
        }
        // OPER <name> <password>, LOGIN <account> <password>
        "OPER" | "LOGIN" => 1,
        // REGISTER <account> <email> <password>
        "REGISTER" => 2,
        // JOIN <channels> <keys>
        "JOIN" => 1,
        // Services as commands (other servers' `/ns` and `/quote nickserv ...`; here
        // unknown commands, but the password was typed all the same).
        "NICKSERV" | "NS" => 1,
        "IDENTIFY" => 0,
        // MODE <channel> <modes> <args>: a `k` among the modes may carry a key.
        "MODE" if msg.param(1).contains('k') => 2,
        // PRIVMSG/NOTICE NickServ :IDENTIFY <password>: everything after the command word.
        "PRIVMSG" | "NOTICE" if msg.param(0).split(',').any(is_services) => {
            // The text, even when a client spread it over middle parameters.
            let text = msg.params.get(1..).unwrap_or_default().join(" ");
            let mut words = text.split_whitespace();
            let word = words.next().unwrap_or("");
            words.next()?;
            let mut hidden = msg.clone();
            hidden.params.truncate(1);
            hidden.params.push(format!("{word} {HIDDEN}"));
            return Some(hidden);
        }
        _ => return None,
    };
    if msg.params.len() <= from {
        return None;
    }
    let mut hidden = msg.clone();
    hidden.params.truncate(from);
    hidden.params.push(HIDDEN.to_string());
    Some(hidden)
}

/// `NickServ`, `nickserv@services.example` or `NickServ!NickServ@services`.
fn is_services(target: &str) -> bool {
    let nick = target.split(['@', '!']).next().unwrap_or("");
    SERVICES.iter().any(|s| nick.eq_ignore_ascii_case(s))
}

/// For lines that do not parse: whether a secret could hide in them.
fn might_carry_secret(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    [
        "PASS",
        "AUTHENTICATE",
        "OPER",
        "LOGIN",
        "REGISTER",
        "NICKSERV",
        "IDENTIFY",
        "JOIN",
        "MODE",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// Characters a log line must not hold raw: C0 and C1 controls (CR, LF, NUL, ESC...)
/// and the invisible or direction-changing format characters that make a line read
/// other than it is.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// `text` with every character [`must_escape`] names written as `\xNN` or `\u{NNNN}`
/// (and a backslash as `\\`, so an escape cannot be forged).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| must_escape(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if must_escape(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if must_escape(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A logger in front of the others: each record's text reaches them with control
/// characters escaped, whoever wrote the log call. Backslashes are left alone here
/// (paths and messages use them); [`wire_line`] escapes them in client lines.
pub struct EscapingLogger<L> {
    pub inner: L,
}

impl<L: log::Log> log::Log for EscapingLogger<L> {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        if !text.chars().any(must_escape) {
            return self.inner.log(record);
        }
        let mut clean = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if must_escape(c) {
                let escaped = escape(c.encode_utf8(&mut [0; 4])).into_owned();
                clean.push_str(&escaped);
            } else {
                clean.push(c);
            }
        }
        self.inner.log(
            &log::Record::builder()
                .metadata(record.metadata().clone())
                .args(format_args!("{clean}"))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line as sent, the secret it carries)
    const SECRET_LINES: &[(&str, &str)] = &[
        ("PASS hunter2", "hunter2"),
        ("PASS bob:hunter2", "hunter2"),
        ("pass :bob hunter2", "hunter2"),
        ("AUTHENTICATE Ym9iAGJvYgBodW50ZXIy", "Ym9iAGJvYgBodW50ZXIy"),
        ("OPER admin hunter2", "hunter2"),
        (":bob!u@h OPER admin hunter2", "hunter2"),
        ("  OPER admin hunter2", "hunter2"),
        ("@label=1 LOGIN bob hunter2", "hunter2"),
        ("@a=b;c :pfx login bob :hunter2", "hunter2"),
        ("LOGIN bob :hunter two", "hunter two"),
        ("REGISTER bob * hunter2", "hunter2"),
        ("REGISTER * bob@example.com :hunter2", "hunter2"),
        ("PRIVMSG NickServ :IDENTIFY hunter2", "hunter2"),
        ("PRIVMSG nickserv :identify bob hunter2", "hunter2"),
        (
            "PRIVMSG NickServ@services.example :IDENTIFY hunter2",
            "hunter2",
        ),
        ("PRIVMSG bob,NickServ :IDENTIFY hunter2", "hunter2"),
        (
            "NOTICE NickServ :REGISTER hunter2 bob@example.com",
            "hunter2",
        ),
        ("PRIVMSG NickServ :GHOST bob hunter2", "hunter2"),
        ("PRIVMSG NickServ :RECOVER bob hunter2", "hunter2"),
        ("PRIVMSG NickServ :SET PASSWORD hunter2", "hunter2"),
        ("@t=1 :p PRIVMSG NickServ IDENTIFY hunter2", "hunter2"),
        ("JOIN #secret hunter2", "hunter2"),
        ("MODE #secret +k hunter2", "hunter2"),
        ("MODE #secret +lk 10 hunter2", "hunter2"),
        ("NICKSERV IDENTIFY hunter2", "hunter2"),
        ("ns identify bob hunter2", "hunter2"),
        ("IDENTIFY hunter2", "hunter2"),
        // Unparsable (NUL inside): hidden whole.
        ("LOGIN bob hunter2\0x", "hunter2"),
    ];

    #[test]
    fn every_door_with_a_secret_hides_it() {
        for (line, secret) in SECRET_LINES {
            let shown = wire_line(line);
            assert!(
                !shown.contains(secret),
                "{line:?} is logged as {shown:?}, which shows {secret:?}"
            );
            assert!(shown.contains(HIDDEN), "{line:?} logged as {shown:?}");
        }
    }

    #[test]
    fn what_is_not_secret_is_shown() {
        for (line, shown) in [
            ("PRIVMSG #rust :hello there", "PRIVMSG #rust :hello there"),
            ("NICK bob", "NICK bob"),
            ("AUTHENTICATE PLAIN", "AUTHENTICATE PLAIN"),
            ("AUTHENTICATE +", "AUTHENTICATE +"),
            ("LOGIN bob", "LOGIN bob"),
            ("JOIN #rust", "JOIN #rust"),
            ("MODE #rust +o bob", "MODE #rust +o bob"),
            ("PRIVMSG NickServ :HELP", "PRIVMSG NickServ :HELP"),
            ("OPER admin hunter2", "OPER admin <redacted>"),
            ("LOGIN bob hunter2", "LOGIN bob <redacted>"),
            (
                "PRIVMSG NickServ :IDENTIFY bob hunter2",
                "PRIVMSG NickServ :IDENTIFY <redacted>",
            ),
        ] {
            assert_eq!(wire_line(line), shown, "for {line:?}");
        }
    }

    #[test]
    fn control_bytes_are_escaped() {
        for (line, shown) in [
            (
                "PRIVMSG #c :a\u{1}ACTION b\u{1}",
                "PRIVMSG #c :a\\x01ACTION b\\x01",
            ),
            ("PRIVMSG #c :a\0b", "PRIVMSG #c :a\\x00b"),
            ("PRIVMSG #c :a\rfake line", "PRIVMSG #c :a\\x0dfake line"),
            ("PRIVMSG #c :\u{1b}[31mred", "PRIVMSG #c :\\x1b[31mred"),
            ("PRIVMSG #c :abc\u{202E}def", "PRIVMSG #c :abc\\u{202e}def"),
            ("PRIVMSG #c :a\\x00", "PRIVMSG #c :a\\\\x00"),
            ("PRIVMSG #c :\u{85}", "PRIVMSG #c :\\x85"),
        ] {
            assert_eq!(wire_line(line), shown, "for {line:?}");
        }
        assert_eq!(escape("plain text"), Cow::Borrowed("plain text"));
    }
}
