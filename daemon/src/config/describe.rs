//! Config file errors in words: a TOML or serde error becomes "`limits.sendq_bytes`
//! must be a whole number (0 or more), not the text "big"", with its line, column
//! and the line itself, instead of Rust type names (`usize`, `a sequence`).

/// Describes a `toml` error for the file text it came from.
pub fn describe(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let Some(span) = err.span() else {
        return in_words(message, None);
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim_end_matches('\r');
    let column = text[line_start..start].chars().count() + 1;
    let width = text[start..span.end.clamp(start, line_end)]
        .chars()
        .count()
        .max(1);
    let key = key_at(text, line_start, line);
    let gutter = " ".repeat(line_no.to_string().len());
    format!(
        "line {line_no}, column {column}: {}\n{gutter} |\n{line_no} | {line}\n{gutter} | {}{}",
        in_words(message, key.as_deref()),
        " ".repeat(column - 1),
        "^".repeat(width),
    )
}

/// The dotted name of the key set on `line` (`limits.sendq_bytes`), from the table
/// header above it; `None` when the line sets no key.
fn key_at(text: &str, line_start: usize, line: &str) -> Option<String> {
    let (name, _) = line.split_once('=')?;
    let name = name.trim().trim_matches('"');
    if name.is_empty() || name.starts_with('[') || name.starts_with('#') {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{name}"),
        _ => name.to_string(),
    })
}

/// One serde message (`invalid type: string "big", expected usize`) in words.
fn in_words(message: &str, key: Option<&str>) -> String {
    let subject = key.map_or_else(|| "this value".to_string(), |k| format!("`{k}`"));
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                return format!(
                    "{subject} must be {}, not {}",
                    expected_words(expected),
                    found_words(found)
                );
            }
        }
    }
    if message == "invalid socket address syntax" {
        return format!(
            "{subject} must be an IP address and port such as 0.0.0.0:6667 or [::]:6667"
        );
    }
    if message == "invalid IP address syntax" {
        return format!("{subject} must be an IP address such as 127.0.0.1 or ::1");
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, known) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let known = known.trim_start_matches("one of ").replace('`', "");
        let place = key
            .and_then(|k| k.rsplit_once('.'))
            .map_or(String::new(), |(table, _)| format!(" in [{table}]"));
        return if known.is_empty() {
            format!("unknown key {field}{place}")
        } else {
            format!("unknown key {field}{place}; the keys there are {known}")
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    message.replace('\n', "; ")
}

/// serde's "expected" (`usize`, `a sequence`) as a person would say it.
fn expected_words(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" | "u128" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "a whole number".into(),
        "f32" | "f64" => "a number such as 2 or 0.5".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" => "text in double quotes".into(),
        "a character" => "one character in double quotes".into(),
        "a sequence" => "a list in brackets, such as [\"a\", \"b\"]".into(),
        "socket address" => "an IP address and port such as 0.0.0.0:6667".into(),
        "IP address" => "an IP address such as 127.0.0.1".into(),
        e if e.starts_with("struct ") || e == "a map" => "a table of keys".into(),
        e => e.trim_start_matches("a ").to_string(),
    }
}

/// serde's "found" (`string "big"`, `integer `-3``) as a person would say it.
fn found_words(found: &str) -> String {
    let value = |s: &str| s.trim_matches('`').to_string();
    if let Some(s) = found.strip_prefix("string ") {
        format!("the text {s}")
    } else if let Some(s) = found.strip_prefix("integer ") {
        value(s)
    } else if let Some(s) = found.strip_prefix("floating point ") {
        value(s)
    } else if let Some(s) = found.strip_prefix("boolean ") {
        value(s)
    } else if found == "sequence" {
        "a list".into()
    } else if found == "map" {
        "a table".into()
    } else {
        found.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// Each bad file and the words its error must contain (and no Rust type name).
    #[test]
    fn errors_name_the_key_and_say_what_was_expected_in_words() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[limits]\nsendq_bytes = \"big\"\n",
                &[
                    "line 2",
                    "`limits.sendq_bytes` must be a whole number",
                    "the text \"big\"",
                ],
            ),
            (
                "[limits]\nnick_len = -3\n",
                &["`limits.nick_len` must be a whole number (0 or more), not -3"],
            ),
            (
                "[server]\nlisten = [\"localhost\"]\n",
                &["`server.listen` must be an IP address and port such as 0.0.0.0:6667"],
            ),
            (
                "[server]\nlisten = \"0.0.0.0:6667\"\n",
                &["`server.listen` must be a list in brackets", "not the text"],
            ),
            (
                "[log]\nlevel = 3\n",
                &["`log.level` must be text in double quotes, not 3"],
            ),
            (
                "[limits]\nconns_per_ip = 1.5\n",
                &["`limits.conns_per_ip` must be a whole number (0 or more), not 1.5"],
            ),
            (
                "[server]\nbogus = 1\n",
                &["unknown key `bogus` in [server]", "listen"],
            ),
        ];
        for (text, words) in cases {
            let err = Config::parse(text).expect_err(text).to_string();
            for w in *words {
                assert!(err.contains(w), "{text:?}: {err:?} lacks {w:?}");
            }
            for rust in [
                "usize",
                "u64",
                "a sequence",
                "invalid type",
                "expected a string",
            ] {
                assert!(!err.contains(rust), "{text:?}: {err:?} says {rust:?}");
            }
        }
    }
}
