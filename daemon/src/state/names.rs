//! What a valid nick, channel name or realname is, under the `ascii` casemapping.

/// The longest realname (USER, SETNAME), in bytes: ISUPPORT `NAMELEN`.
pub const REALNAME_LEN: usize = 200;

/// A realname as USER and SETNAME take it: not empty, at most [`REALNAME_LEN`]
/// bytes, no control character (it is shown in WHOIS, WHO and extended-join).
pub fn is_valid_realname(name: &str) -> bool {
    !name.is_empty() && name.len() <= REALNAME_LEN && !name.chars().any(char::is_control)
}

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

/// `#` then at least one byte, no comma, no control character and nothing invisible
/// (see [`is_invisible`]), at most `max_len` bytes. Other Unicode is allowed.
pub fn is_valid_channel(name: &str, max_len: usize) -> bool {
    name.len() >= 2
        && name.len() <= max_len
        && name.starts_with('#')
        && !name
            .chars()
            .any(|c| c == ',' || c.is_control() || is_invisible(c))
}

/// Characters that show as nothing or move text around: any Unicode space (U+00A0,
/// U+3000...), zero-width ones (U+200B–U+200D, U+2060, U+FEFF), bidi controls
/// (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), fillers and other format
/// characters. A name holding one looks like another name, or reorders what follows
/// it on screen; nicks are ASCII and cannot hold them.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Digits after `accounts.guest_prefix` in a guest nick (`Guest12345`).
pub const GUEST_DIGITS: usize = 5;
/// Random guest nicks tried before giving up (see [`guest_nick`]).
const GUEST_TRIES: usize = 64;

/// A free guest nick: `prefix` and up to [`GUEST_DIGITS`] random digits, at most
/// `max_len` bytes, that `taken` does not refuse. `None` after [`GUEST_TRIES`]
/// refusals, so the search always ends, whatever the config and the nicks in use.
pub fn guest_nick(prefix: &str, max_len: usize, taken: impl Fn(&str) -> bool) -> Option<String> {
    let room = max_len.checked_sub(prefix.len())?.min(GUEST_DIGITS);
    if room == 0 {
        return None;
    }
    let modulus = 10u32.pow(room as u32);
    (0..GUEST_TRIES)
        .map(|_| format!("{prefix}{}", rand::random::<u32>() % modulus))
        .find(|candidate| !taken(candidate))
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
    fn guest_nicks_fit_and_the_search_ends() {
        for _ in 0..100 {
            let nick = guest_nick("Guest", 30, |_| false).unwrap();
            assert!(nick.starts_with("Guest") && nick.len() <= 10, "{nick}");
            assert!(guest_nick("Guest", 6, |_| false).unwrap().len() <= 6);
        }
        // Nothing fits, or everything is taken: an answer, never a spin.
        assert_eq!(guest_nick("Guest", 5, |_| false), None);
        assert_eq!(guest_nick("Guest", 3, |_| false), None);
        assert_eq!(guest_nick("Guest", 30, |_| true), None);
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
            ("#日本語", true),
            ("#zero\u{200B}width", false),
            ("#join\u{200D}er", false),
            ("#\u{202E}desrever", false),
            ("#iso\u{2066}late", false),
            ("#bom\u{FEFF}", false),
            ("#nb\u{00A0}sp", false),
            ("#ideo\u{3000}space", false),
            ("#soft\u{00AD}hyphen", false),
            ("#tag\u{E0041}", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_valid_channel(name, 50), want, "{name:?}");
        }
    }
}
