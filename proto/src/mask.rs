//! Sources and masks: splitting `nick!user@host`, glob matching for bans
//! (`*`, `?`, `\` escapes), and hostname validation.

/// The parts of a `nick!user@host` source; absent parts are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceParts<'a> {
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
}

/// Splits a source. `nick`, `nick@host` and `nick!user@host` are all accepted.
pub fn split_source(source: &str) -> SourceParts<'_> {
    let (rest, host) = source.split_once('@').unwrap_or((source, ""));
    let (nick, user) = rest.split_once('!').unwrap_or((rest, ""));
    SourceParts { nick, user, host }
}

/// Glob match, case-insensitive under the `ascii` casemapping: `*` is any run,
/// `?` any one character, `\` makes the next character literal.
pub fn glob_match(mask: &str, text: &str) -> bool {
    let m: Vec<char> = mask.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut mi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if mi < m.len() {
            match m[mi] {
                '*' => {
                    star = Some((mi, ti));
                    mi += 1;
                    continue;
                }
                '?' => {
                    mi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if mi + 1 < m.len() && m[mi + 1] == t[ti] => {
                    mi += 2;
                    ti += 1;
                    continue;
                }
                '\\' if mi + 1 < m.len() => {}
                c if c == t[ti] => {
                    mi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((smi, sti)) => {
                mi = smi + 1;
                ti = sti + 1;
                star = Some((smi, sti + 1));
            }
            None => return false,
        }
    }
    m[mi..].iter().all(|&c| c == '*')
}

/// Whether `host` is a valid IRC hostname: dotted (at least two labels, or one with
/// a trailing dot) (a bare
/// `irc` or `com` is not a server or client host) of letters, digits and `-`, not
/// starting or ending with `-`, each at most 63 bytes, 255 in all.
pub fn is_valid_hostname(host: &str) -> bool {
    if host.is_empty() || host.len() > 255 {
        return false;
    }
    // `services.` is a fully qualified single label: the dot is what counts.
    let dotted = host.contains('.');
    let host = host.strip_suffix('.').unwrap_or(host);
    dotted
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Turns what a user typed into a full `nick!user@host` mask, as servers do for bans:
/// `nick` → `nick!*@*`, `*@host` → `*!*@host`, `user@host` → `*!user@host`.
pub fn normalize_mask(mask: &str) -> String {
    match (mask.contains('!'), mask.contains('@')) {
        (true, true) => mask.to_string(),
        (true, false) => format!("{mask}@*"),
        (false, true) => format!("*!{mask}"),
        (false, false) => format!("{mask}!*@*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*!*@10.0.0.*", "bob!~b@10.0.0.7", true),
            ("BOB!*@*", "bob!x@y", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("**a", "ba", true),
        ];
        for (mask, text, want) in cases {
            assert_eq!(glob_match(mask, text), want, "{mask} vs {text}");
        }
    }

    #[test]
    fn normalized_masks() {
        assert_eq!(normalize_mask("bob"), "bob!*@*");
        assert_eq!(normalize_mask("*@1.2.3.4"), "*!*@1.2.3.4");
        assert_eq!(normalize_mask("bob!u"), "bob!u@*");
        assert_eq!(normalize_mask("a!b@c"), "a!b@c");
    }
}
