//! Casemapping `ascii` (advertised as `CASEMAPPING=ascii`): only `A`–`Z` fold to
//! `a`–`z`. Nick and channel lookups go through [`fold`].

/// The folded form of a nick or channel name, used as the key of every index.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Whether two names are the same under the casemapping.
pub fn fold_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_only() {
        let cases = [
            ("Alice", "alice"),
            ("[Bob]", "[bob]"), // rfc1459 would fold [ to {; ascii does not
            ("#Lobby", "#lobby"),
            ("ÄÖ", "ÄÖ"),
        ];
        for (input, want) in cases {
            assert_eq!(fold(input), want);
        }
        assert!(fold_eq("NiCk", "nick"));
        assert!(!fold_eq("[a]", "{a}"));
    }
}
