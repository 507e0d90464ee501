//! Bytes on the client side: [`frame`] splits what a socket delivers into lines, and
//! [`scan_bench`] reads a benchmark PRIVMSG without allocating. Everything else the
//! server says goes through `chatd_proto::parse` in the worker.
//!
//! The generator shares the CPU with the server it measures, so the per-delivery path
//! (framing and this scanner) allocates nothing.

/// What a benchmark message carries in its text: `b <sender> <seq> <nanos>`, nanos
/// counted from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bench {
    pub sender: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

/// Splits bytes read from a socket into lines (without `\r\n` or a bare `\n`), calling
/// `on_line` for each complete one. `partial` holds the unfinished tail between reads;
/// the socket is read into one buffer per worker, so an idle client owns no buffer.
pub fn frame(partial: &mut Vec<u8>, data: &[u8], mut on_line: impl FnMut(&[u8])) {
    let mut rest = data;
    if !partial.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                partial.extend_from_slice(&rest[..i]);
                on_line(trim_cr(partial));
                partial.clear();
                rest = &rest[i + 1..];
            }
            None => {
                partial.extend_from_slice(rest);
                return;
            }
        }
    }
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        on_line(trim_cr(&rest[..i]));
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        partial.extend_from_slice(rest);
    } else if partial.capacity() > 0 {
        *partial = Vec::new();
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads `[@tags ]:source PRIVMSG <target> :b <sender> <seq> <nanos>`; `None` for any
/// other line.
pub fn scan_bench(line: &[u8]) -> Option<Bench> {
    let mut rest = line;
    if rest.first() == Some(&b'@') {
        rest = after_space(rest)?;
    }
    if rest.first() == Some(&b':') {
        rest = after_space(rest)?;
    }
    rest = rest.strip_prefix(b"PRIVMSG ")?;
    rest = after_space(rest)?;
    rest = rest.strip_prefix(b":b ")?;
    let (sender, rest) = number(rest)?;
    let rest = rest.strip_prefix(b" ")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b" ")?;
    let (sent_ns, rest) = number(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(Bench {
        sender: u32::try_from(sender).ok()?,
        seq,
        sent_ns,
    })
}

fn after_space(s: &[u8]) -> Option<&[u8]> {
    let i = s.iter().position(|&b| b == b' ')?;
    Some(&s[i + 1..])
}

fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &s[..digits] {
        n = n * 10 + u64::from(d - b'0');
    }
    Some((n, &s[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line and what the scanner should read from it (sender, seq, nanos).
    type Case = (&'static str, Option<(u32, u64, u64)>);

    #[test]
    fn scans_bench_messages() {
        let cases: &[Case] = &[
            (
                ":a!u@h PRIVMSG #bench0 :b 3 17 123456",
                Some((3, 17, 123456)),
            ),
            (
                "@time=x;msgid=y :a!u@h PRIVMSG bench4 :b 5 0 1",
                Some((5, 0, 1)),
            ),
            ("PRIVMSG #c :b 1 2 3", Some((1, 2, 3))),
            (":a!u@h PRIVMSG #c :b 1 2 3 extra", None),
            (":a!u@h PRIVMSG #c :hello", None),
            (":a!u@h NOTICE #c :b 1 2 3", None),
            (":a!u@h PRIVMSG #c :b 1 x 3", None),
            (":a!u@h PRIVMSG #c :b 99999999999 1 3", None),
            (":server 001 me :Welcome", None),
        ];
        for (line, want) in cases {
            let got = scan_bench(line.as_bytes()).map(|b| (b.sender, b.seq, b.sent_ns));
            assert_eq!(got, *want, "{line}");
        }
    }

    #[test]
    fn frames_lines_across_reads() {
        let mut partial = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        for chunk in [&b"one\r\ntw"[..], b"o", b"\nthree\r\n", b"\n"] {
            frame(&mut partial, chunk, |l| {
                lines.push(String::from_utf8(l.to_vec()).unwrap())
            });
        }
        assert_eq!(lines, ["one", "two", "three", ""]);
        assert_eq!(partial.capacity(), 0);
    }
}
