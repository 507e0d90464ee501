//! Splitting a shell line into words as a POSIX shell would for quotes and
//! backslashes — but with no comments: `users --channel #rust` must keep `#rust`,
//! which shell-style splitters drop as a comment.

/// Splits `line` into words: `'single'` quotes keep everything, `"double"` quotes
/// honour `\"` and `\\`, a backslash outside quotes escapes the next character.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a line cannot end with \\".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            ("users", &["users"]),
            (
                "  users   --channel #rust ",
                &["users", "--channel", "#rust"],
            ),
            ("wall 'hello there' all", &["wall", "hello there", "all"]),
            (
                r#"kick bob "being \"rude\"""#,
                &["kick", "bob", r#"being "rude""#],
            ),
            (r#"ban a\ b"#, &["ban", "a b"]),
            (r#"wall "a\nb""#, &["wall", r"a\nb"]),
            ("wall ''", &["wall", ""]),
            ("wall it''s", &["wall", "its"]),
            ("wall #1 #2", &["wall", "#1", "#2"]),
        ];
        for (line, want) in cases {
            assert_eq!(split(line).unwrap(), *want, "{line:?}");
        }
        for bad in ["wall 'x", "wall \"x", "wall x\\"] {
            assert!(split(bad).is_err(), "{bad:?}");
        }
    }
}
