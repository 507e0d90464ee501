//! Numbers made readable: spans (`1h 5m`), times relative to now (`5m ago`,
//! `in 2d`), byte sizes (`12.3 MiB`) and the daemon's RFC 3339 times in local time.

/// A span of seconds in its largest two units, down to minutes past the first one:
/// `45s`, `5m`, `1h 5m`, `3d 4h`, `2w 1d`.
pub fn span(secs: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m")];
    for (i, &(size, name)) in UNITS.iter().enumerate() {
        if secs >= size {
            let (big, rest) = (secs / size, secs % size);
            return match UNITS.get(i + 1) {
                Some(&(small, small_name)) if rest >= small => {
                    format!("{big}{name} {}{small_name}", rest / small)
                }
                _ => format!("{big}{name}"),
            };
        }
    }
    format!("{secs}s")
}

/// A past Unix time relative to `now`: `just now`, `5m ago`, `1h 5m ago`.
pub fn ago(then: i64, now: i64) -> String {
    let secs = now.saturating_sub(then);
    if secs <= 0 {
        "just now".into()
    } else {
        format!("{} ago", span(secs as u64))
    }
}

/// A future Unix time relative to `now`: `in 59m`, or `now` when it has passed.
pub fn until(when: i64, now: i64) -> String {
    let secs = when.saturating_sub(now);
    if secs <= 0 {
        "now".into()
    } else {
        format!("in {}", span(secs as u64))
    }
}

/// A byte count in binary units with one decimal: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: &[&str] = &["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A daemon timestamp (`2026-11-22T10:00:00.000Z`) as local `2026-11-22 11:00:00`;
/// anything unparsable is shown as it came.
pub fn timestamp(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A Unix time as local `2026-11-22 11:00`.
pub fn date(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        None => unix.to_string(),
    }
}

/// Now as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (61, "1m"),
            (300, "5m"),
            (3600, "1h"),
            (3900, "1h 5m"),
            (86_400 + 4 * 3600 + 59, "1d 4h"),
            (3 * 86_400, "3d"),
            (15 * 86_400, "2w 1d"),
        ];
        for (secs, want) in cases {
            assert_eq!(span(secs), want, "{secs}");
        }
    }

    #[test]
    fn relative_times() {
        assert_eq!(ago(1000, 1000), "just now");
        assert_eq!(ago(1001, 1000), "just now");
        assert_eq!(ago(700, 1000), "5m ago");
        assert_eq!(ago(1000 - 3900, 1000), "1h 5m ago");
        assert_eq!(until(1000 + 3540, 1000), "in 59m");
        assert_eq!(until(900, 1000), "now");
    }

    #[test]
    fn sizes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (12_897_484, "12.3 MiB"),
            (5 << 30, "5.0 GiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn timestamps_fall_back_to_the_raw_text() {
        assert_eq!(timestamp("yesterday"), "yesterday");
        let shown = timestamp("2026-11-22T10:00:00.000Z");
        assert_eq!(shown.len(), "2026-11-22 10:00:00".len(), "{shown}");
        assert!(shown.ends_with(":00:00"), "{shown}");
    }
}
