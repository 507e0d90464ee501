//! Ban durations as people write them: `30m`, `1h`, `2d`, `1w`, `1h30m`, or plain
//! seconds, turned into the `duration_secs` the daemon takes.

/// Seconds in each unit a duration may use.
const UNITS: &[(char, u64)] = &[
    ('s', 1),
    ('m', 60),
    ('h', 3600),
    ('d', 86_400),
    ('w', 7 * 86_400),
];

/// Parses a duration into seconds; the error says what is wrong, for clap to show.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return positive(secs, text);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = UNITS
            .iter()
            .find(|(u, _)| *u == c.to_ascii_lowercase())
            .map(|(_, secs)| *secs)
            .ok_or_else(|| format!("{text:?}: unknown unit {c:?} (use s, m, h, d or w)"))?;
        if number.is_empty() {
            return Err(format!("{text:?}: a number must come before {c:?}"));
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("{text:?}: duration too long"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("{text:?}: {number} needs a unit (s, m, h, d or w)"));
    }
    positive(total, text)
}

fn positive(secs: u64, text: &str) -> Result<u64, String> {
    if secs == 0 {
        Err(format!("{text:?}: a ban must last longer than 0s"))
    } else {
        Ok(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("30m", 1800),
            ("1h", 3600),
            ("2d", 172_800),
            ("1w", 604_800),
            ("90s", 90),
            ("90", 90),
            ("1h30m", 5400),
            ("1H", 3600),
            (" 2d ", 172_800),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "0",
            "0m",
            "h",
            "1x",
            "1h30",
            "-1h",
            "1.5h",
            "99999999999999999999w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
