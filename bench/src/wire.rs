//! Bytes on the client side: [`frame`] splits what a socket delivers into lines,
//! [`scan_bench`] reads a benchmark PRIVMSG without allocating, [`split_line`] and
//! [`trailing`] read any line for the abuse clients (the workers parse the rest with
//! `chatd_proto::parse`), and [`padded_line`] writes a message of a given length.
//!
//! The generator shares the CPU with the server it measures, so the per-delivery path
//! (framing and these scanners) allocates nothing.

use std::io::Write as _;

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
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', data);
    if !partial.is_empty() {
        let Some(i) = ends.next() else {
            partial.extend_from_slice(data);
            return;
        };
        partial.extend_from_slice(&data[..i]);
        on_line(trim_cr(partial));
        partial.clear();
        start = i + 1;
    }
    for i in ends {
        on_line(trim_cr(&data[start..i]));
        start = i + 1;
    }
    if start < data.len() {
        partial.extend_from_slice(&data[start..]);
    } else if partial.capacity() > 0 {
        *partial = Vec::new();
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads `[@tags ]:source PRIVMSG <target> :b <sender> <seq> <nanos>`; `None` for any
/// other line. The numbers are read from the end of the line, so the bytes of the
/// source are only searched for one space (with `memchr`), never compared.
pub fn scan_bench(line: &[u8]) -> Option<Bench> {
    let (sent_ns, rest) = number_before(line)?;
    let rest = rest.strip_suffix(b" ")?;
    let (seq, rest) = number_before(rest)?;
    let rest = rest.strip_suffix(b" ")?;
    let (sender, rest) = number_before(rest)?;
    // `rest` ends with the separator before the text: ` :b `.
    let head = rest.strip_suffix(b" :b ")?;
    let mut cmd = head;
    if cmd.first() == Some(&b'@') {
        cmd = after_space(cmd)?;
    }
    if cmd.first() == Some(&b':') {
        cmd = after_space(cmd)?;
    }
    // What is left is `PRIVMSG <target>`, the target one word.
    let target = cmd.strip_prefix(b"PRIVMSG ")?;
    if target.is_empty() || memchr::memchr(b' ', target).is_some() {
        return None;
    }
    Some(Bench {
        sender: u32::try_from(sender).ok()?,
        seq,
        sent_ns,
    })
}

fn after_space(s: &[u8]) -> Option<&[u8]> {
    Some(&s[memchr::memchr(b' ', s)? + 1..])
}

/// The decimal number at the end of `s`, and what precedes it.
fn number_before(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let (rest, num) = s.split_at(s.len() - digits);
    Some((parse_u64(num)?, rest))
}

/// A decimal number of 1 to 19 digits, nothing else.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// `[@tags] [:source] COMMAND params` → (source nick, command, params); no
/// allocation.
pub fn split_line(line: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut rest = line;
    if rest.first() == Some(&b'@') {
        rest = &rest[memchr::memchr(b' ', rest)? + 1..];
    }
    let mut source: &[u8] = b"";
    if rest.first() == Some(&b':') {
        let end = memchr::memchr(b' ', rest)?;
        let full = &rest[1..end];
        source = &full[..memchr::memchr(b'!', full).unwrap_or(full.len())];
        rest = &rest[end + 1..];
    }
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let command = &rest[..end];
    let params = rest.get(end + 1..).unwrap_or(b"");
    Some((source, command, params))
}

/// The last parameter: after ` :` (or a leading `:`), else the last word.
pub fn trailing(params: &[u8]) -> &[u8] {
    if let Some(p) = params.strip_prefix(b":") {
        return p;
    }
    if let Some(k) = memchr::memmem::find(params, b" :") {
        return &params[k + 2..];
    }
    params.rsplit(|&b| b == b' ').next().unwrap_or(b"")
}

/// Appends `line` to `out`, then 'x' until its text (after ` :`) is `len` bytes
/// long, then CRLF.
pub fn padded_line(out: &mut Vec<u8>, len: usize, line: std::fmt::Arguments) {
    let start = out.len();
    let _ = out.write_fmt(line);
    let text_start = memchr::memmem::find(&out[start..], b" :").map_or(start, |k| start + k + 2);
    while out.len() - text_start < len {
        out.push(b'x');
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes as much of `out` as the socket takes without blocking and drops what was
/// written; `writable` turns false once the socket would block (the next writable
/// event turns it back on). A large emptied buffer is freed, so a client that once
/// had a burst queued does not keep its memory. Returns the error that ends the
/// connection, if any.
pub fn write_pending(
    sock: &mut impl std::io::Write,
    out: &mut Vec<u8>,
    writable: &mut bool,
) -> Option<std::io::Error> {
    use std::io::ErrorKind;
    let mut written = 0;
    let mut failure = None;
    while *writable && written < out.len() {
        match sock.write(&out[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => *writable = false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    out.drain(..written);
    if out.is_empty() && out.capacity() > 64 * 1024 {
        *out = Vec::new();
    }
    failure
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
            (":a!u@h PRIVMSG #c :x :b 1 2 3", None),
            (":a!u@h PRIVMSG :b 1 2 3", None),
            (":a!u@h TOPIC #c :b 1 2 3", None),
            (":a!u@h PRIVMSG #c :b 1 2 3\r", None),
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

    #[test]
    fn splits_lines() {
        let (s, c, p) = split_line(b"@time=x :ab1!ab1@h QUIT :Excess Flood").unwrap();
        assert_eq!(
            (s, c, trailing(p)),
            (&b"ab1"[..], &b"QUIT"[..], &b"Excess Flood"[..])
        );
        let (s, c, p) = split_line(b"PING :tok").unwrap();
        assert_eq!((s, c, trailing(p)), (&b""[..], &b"PING"[..], &b"tok"[..]));
        let (_, c, p) = split_line(b":srv PONG srv :abuse-sync").unwrap();
        assert_eq!((c, trailing(p)), (&b"PONG"[..], &b"abuse-sync"[..]));
        let (_, c, p) = split_line(b":srv PONG srv abuse-sync").unwrap();
        assert_eq!((c, trailing(p)), (&b"PONG"[..], &b"abuse-sync"[..]));
        let (_, c, p) = split_line(b":a!b@c PRIVMSG #abuse1 :a 3 4 5 xxx").unwrap();
        assert_eq!((c, trailing(p)), (&b"PRIVMSG"[..], &b"a 3 4 5 xxx"[..]));
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b"12x"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn pads_texts_to_length() {
        let mut out = b"PING x\r\n".to_vec();
        padded_line(
            &mut out,
            40,
            format_args!("PRIVMSG #a :a {} {} {} ", 1, 2, 3),
        );
        assert!(out.starts_with(b"PING x\r\nPRIVMSG #a :a 1 2 3 x"));
        let text = &out[8 + 12..out.len() - 2];
        assert_eq!(text.len(), 40);
        assert!(out.ends_with(b"x\r\n"));
    }
}
