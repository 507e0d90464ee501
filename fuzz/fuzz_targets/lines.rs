//! Arbitrary bytes pushed into a `LineBuffer` in chunks, checked against a plain
//! reference model of IRC framing after every push.
//!
//! Input layout (every part optional; short inputs fall back to defaults):
//! - byte 0, `mode`: bits 0-1 pick the limits (0, 1: `Limits::default()`; 2, 3: small
//!   limits read from the next three bytes, so boundary lengths are cheap to reach);
//!   bits 2-4 are how many cut positions follow; bits 5-7 how often the payload is
//!   pushed again (1, 1, 2, 4, 8, 16, 32 or 64 times: floods without a huge input);
//! - with small limits, three bytes: `max_line % 64`, `max_tags % 64`,
//!   `max_unterminated % 128`;
//! - one byte per cut: the payload is split `b & 0x7f` bytes before its end when bit 7
//!   of `b` is set (a CR and its LF apart), else at `b * len / 128`;
//! - the rest is the payload.
//!
//! Checked: each complete line comes out exactly once, in order, as `Ok` with the
//! reference bytes (no line ending) when it fits the limits and `TooLong` otherwise;
//! `Overflow` only after more than `max_unterminated` bytes without a line end, and
//! always before the unterminated run exceeds `max_unterminated` plus one longest
//! legal line (and its CR); `pending()` never exceeds one longest legal line and its
//! CR once drained; nothing panics.

#![no_main]

use chatd_proto::{Limits, LineBuffer, LineError};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;

const REPEATS: [usize; 8] = [1, 1, 2, 4, 8, 16, 32, 64];

fuzz_target!(|data: &[u8]| {
    let (&mode, mut rest) = data.split_first().unwrap_or((&0, &[]));
    let limits = if mode & 3 >= 2 {
        let (head, tail) = rest.split_at(rest.len().min(3));
        rest = tail;
        let b = |i: usize| head.get(i).copied().unwrap_or(0) as usize;
        Limits {
            max_line: b(0) % 64,
            max_tags: b(1) % 64,
            max_unterminated: b(2) % 128,
        }
    } else {
        Limits::default()
    };
    let ncuts = ((mode >> 2) & 7) as usize;
    let (cuts, payload) = rest.split_at(rest.len().min(ncuts));
    let mut bounds: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let n = (c & 0x7f) as usize;
            if c & 0x80 != 0 {
                payload.len().saturating_sub(n)
            } else {
                n * payload.len() / 128
            }
        })
        .collect();
    bounds.push(0);
    bounds.push(payload.len());
    bounds.sort_unstable();
    bounds.dedup();
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
    let repeats = REPEATS[(mode >> 5) as usize];

    let mut lb = LineBuffer::new(limits);
    let mut model = Model::new(limits);
    for _ in 0..repeats {
        for chunk in &chunks {
            lb.push(chunk);
            model.push(chunk);
            drain_and_check(&mut lb, &mut model);
        }
    }
    // An empty push changes nothing.
    let before = lb.pending();
    lb.push(b"");
    assert!(lb.next_line().is_none(), "empty push produced a line");
    assert_eq!(lb.pending(), before);
});

fn drain_and_check(lb: &mut LineBuffer, model: &mut Model) {
    while let Some(got) = lb.next_line() {
        match got {
            Err(LineError::Overflow) => {
                assert!(
                    model.expected.is_empty(),
                    "Overflow reported while complete lines were waiting"
                );
                assert!(
                    model.run > model.limits.max_unterminated,
                    "Overflow after only {} unterminated bytes (limits {:?})",
                    model.run,
                    model.limits
                );
                model.run = 0;
            }
            other => {
                let want = model
                    .expected
                    .pop_front()
                    .unwrap_or_else(|| panic!("line {other:?} out of nowhere"));
                if let Ok(line) = &other {
                    assert!(!line.contains(&b'\n'), "line holds LF: {line:?}");
                    assert!(
                        model.fits(line),
                        "line over the limits: {} bytes",
                        line.len()
                    );
                }
                assert_eq!(other, want, "limits {:?}", model.limits);
            }
        }
    }
    assert!(
        model.expected.is_empty(),
        "{} complete line(s) not delivered: first {:?}",
        model.expected.len(),
        model.expected.front()
    );
    assert!(
        !lb.has_line(),
        "has_line() true after next_line() returned None"
    );
    let body = model.limits.max_line.saturating_sub(2);
    let longest = model.limits.max_tags + body;
    // One byte more than the longest line: its CR, whose LF may come with the next read.
    assert!(
        lb.pending() <= longest + 1,
        "{} bytes pending, more than the longest legal line ({longest}) and its CR",
        lb.pending()
    );
    let bound = model.limits.max_unterminated.max(longest) + longest + 1;
    assert!(
        model.run <= bound,
        "{} bytes without a line end and no Overflow (bound {bound})",
        model.run
    );
}

/// Reference framing: split on LF, drop one CR before it, judge the length.
struct Model {
    limits: Limits,
    /// The current line's first bytes (enough to judge it), and its full length.
    cur: Vec<u8>,
    cur_len: usize,
    /// Bytes since the last LF or the last reported Overflow.
    run: usize,
    expected: VecDeque<Result<Vec<u8>, LineError>>,
}

impl Model {
    fn new(limits: Limits) -> Model {
        Model {
            limits,
            cur: Vec::new(),
            cur_len: 0,
            run: 0,
            expected: VecDeque::new(),
        }
    }

    fn keep(&self) -> usize {
        self.limits.max_tags + self.limits.max_line + 2
    }

    fn push(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' {
                let line = if self.cur_len <= self.cur.len() {
                    let mut line = std::mem::take(&mut self.cur);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    Some(line)
                } else {
                    None
                };
                let verdict = match line {
                    Some(line) if self.fits(&line) => Ok(line),
                    _ => Err(LineError::TooLong),
                };
                self.expected.push_back(verdict);
                self.cur.clear();
                self.cur_len = 0;
                self.run = 0;
            } else {
                if self.cur.len() < self.keep() {
                    self.cur.push(b);
                }
                self.cur_len += 1;
                self.run += 1;
            }
        }
    }

    /// RFC 1459 and IRCv3: at most `max_line - 2` bytes of message (the limit counts
    /// CRLF) after a tags section of at most `max_tags` bytes (its `@` and space
    /// included).
    fn fits(&self, line: &[u8]) -> bool {
        let body = self.limits.max_line.saturating_sub(2);
        if line.first() == Some(&b'@') {
            let tags = line
                .iter()
                .position(|&b| b == b' ')
                .map_or(line.len(), |i| i + 1);
            tags <= self.limits.max_tags && line.len() - tags <= body
        } else {
            line.len() <= body
        }
    }
}
