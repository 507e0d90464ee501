//! What a valid nick or channel name is, under the `ascii` casemapping.

/// RFC 2812 §2.3.1 nicks, as servers accept them today: a letter or one of
/// ``[]\`_^{|}`` first, then those, digits and `-`; at most `max_len` bytes.
pub fn is_valid_nick(nick: &str, max_len: usize) -> bool {
    let special = |b: u8| b"[]\\`_^{|}".contains(&b);
    let mut bytes = nick.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || special(b) => {}
        _ => return false,
    }
    nick.len() <= max_len && bytes.all(|b| b.is_ascii_alphanumeric() || special(b) || b == b'-')
}

/// `#` then at least one byte, no space, comma, BEL or other control character,
/// at most `max_len` bytes.
pub fn is_valid_channel(name: &str, max_len: usize) -> bool {
    name.len() >= 2
        && name.len() <= max_len
        && name.starts_with('#')
        && !name.chars().any(|c| c == ' ' || c == ',' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        let cases = [
            ("alice", true),
            ("[bot]", true),
            ("a-b_c^d", true),
            ("9lives", false),
            ("-dash", false),
            ("", false),
            ("sp ace", false),
            ("a!b", false),
            ("ünï", false),
            ("abcdefghijklmnopqrstuvwxyz01234", false), // 31 > 30
        ];
        for (nick, want) in cases {
            assert_eq!(is_valid_nick(nick, 30), want, "{nick:?}");
        }
    }

    #[test]
    fn channels() {
        let cases = [
            ("#lobby", true),
            ("#", false),
            ("lobby", false),
            ("#a,b", false),
            ("#a b", false),
            ("#bell\x07", false),
            ("#ünïcode", true),
        ];
        for (name, want) in cases {
            assert_eq!(is_valid_channel(name, 50), want, "{name:?}");
        }
    }
}
