//! [`LineBuffer`]: bytes from a socket in, complete lines out, with IRC's length limits
//! enforced. It holds no memory while no partial line is pending, so idle connections
//! stay small.

/// Length limits for one line. Defaults are the IRC and IRCv3 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message without tags, counting its `\r\n` (RFC 1459: 512).
    pub max_line: usize,
    /// Longest tags section, counting the leading `@` and the space after it (IRCv3: 8191).
    pub max_tags: usize,
    /// Bytes without a line end after which the peer is treated as hostile and dropped.
    pub max_unterminated: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line: 512,
            max_tags: 8191,
            max_unterminated: 8192,
        }
    }
}

/// What went wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A line ended but was over the limits; it was skipped (answer `417`).
    TooLong,
    /// More than `max_unterminated` bytes arrived with no line end (disconnect).
    Overflow,
}

/// Turns a byte stream into lines. Accepts `\r\n` and a bare `\n`.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    /// How far `buf[start..]` has been searched for `\n` already.
    scanned: usize,
    /// Bytes of the current over-long line thrown away so far, while waiting for its end.
    discarded: usize,
    discarding: bool,
    limits: Limits,
}

impl LineBuffer {
    pub fn new(limits: Limits) -> LineBuffer {
        LineBuffer {
            limits,
            ..LineBuffer::default()
        }
    }

    /// Bytes held for a line that has not ended yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether a complete line (ended by `\n`) is waiting.
    pub fn has_line(&self) -> bool {
        memchr(b'\n', &self.buf[self.start + self.scanned..]).is_some()
    }

    /// Adds bytes read from the peer. Call [`LineBuffer::next_line`] until it returns `None`
    /// after each push.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line (without its line ending), an error, or `None` when more
    /// input is needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let pending = &self.buf[self.start..];
        if let Some(i) = memchr(b'\n', &pending[self.scanned..]) {
            let end = self.start + self.scanned + i;
            let mut line_end = end;
            if line_end > self.start && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            let line_start = self.start;
            self.start = end + 1;
            self.scanned = 0;
            let result = if self.discarding {
                self.discarding = false;
                self.discarded = 0;
                Err(LineError::TooLong)
            } else {
                let line = &self.buf[line_start..line_end];
                if self.fits(line) {
                    Ok(line.to_vec())
                } else {
                    Err(LineError::TooLong)
                }
            };
            self.compact();
            return Some(result);
        }
        self.scanned = pending.len();
        let longest = self.longest_legal(pending);
        // `+ 1`: a legal line's CR may arrive in one read and its LF in the next.
        if pending.len() > longest + 1 {
            // Over-long with no end in sight: keep nothing, remember how much we dropped.
            self.discarded += pending.len();
            self.discarding = true;
            self.buf.truncate(self.start);
            self.scanned = 0;
            self.compact();
        }
        if self.discarded > self.limits.max_unterminated.max(longest) {
            // Reported once; the caller is expected to drop the peer.
            self.discarded = 0;
            return Some(Err(LineError::Overflow));
        }
        None
    }

    /// The longest a line that starts like `pending` may legally be, without its ending.
    fn longest_legal(&self, pending: &[u8]) -> usize {
        let body = self.limits.max_line.saturating_sub(2);
        if pending.first() == Some(&b'@') && !self.discarding {
            self.limits.max_tags + body
        } else {
            body
        }
    }

    fn fits(&self, line: &[u8]) -> bool {
        let body_max = self.limits.max_line.saturating_sub(2);
        if line.first() == Some(&b'@') {
            // The tags section runs to the first space, which it includes.
            let tags_len = memchr(b' ', line).map(|i| i + 1).unwrap_or(line.len());
            tags_len <= self.limits.max_tags && line.len() - tags_len <= body_max
        } else {
            line.len() <= body_max
        }
    }

    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.start = 0;
            if self.buf.capacity() > 1024 {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        } else if self.start > 4096 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(lb: &mut LineBuffer) -> Vec<Result<Vec<u8>, LineError>> {
        std::iter::from_fn(|| lb.next_line()).collect()
    }

    #[test]
    fn crlf_and_bare_lf_split_across_pushes() {
        let mut lb = LineBuffer::default();
        lb.push(b"NICK a\r\nUSER a 0 * :A\nPI");
        assert_eq!(
            drain(&mut lb),
            vec![Ok(b"NICK a".to_vec()), Ok(b"USER a 0 * :A".to_vec())]
        );
        lb.push(b"NG x\r");
        assert!(drain(&mut lb).is_empty());
        lb.push(b"\n");
        assert_eq!(drain(&mut lb), vec![Ok(b"PING x".to_vec())]);
        assert_eq!(lb.pending(), 0);
    }

    #[test]
    fn limits() {
        let long_body = "a".repeat(511);
        let ok_body = "a".repeat(510);
        let ok_tags = format!("@{} ", "t".repeat(8189));
        let long_tags = format!("@{} ", "t".repeat(8190));
        let cases = [
            (format!("{ok_body}\r\n"), Ok(ok_body.clone().into_bytes())),
            (format!("{long_body}\r\n"), Err(LineError::TooLong)),
            (
                format!("{ok_tags}{ok_body}\r\n"),
                Ok(format!("{ok_tags}{ok_body}").into_bytes()),
            ),
            (format!("{long_tags}PING x\r\n"), Err(LineError::TooLong)),
            (format!("{ok_tags}{long_body}\r\n"), Err(LineError::TooLong)),
        ];
        for (input, want) in cases {
            let mut lb = LineBuffer::default();
            // Feed in small pieces, as a socket might.
            let mut got = Vec::new();
            for chunk in input.as_bytes().chunks(100) {
                lb.push(chunk);
                got.extend(drain(&mut lb));
            }
            assert_eq!(got, vec![want], "input of {} bytes", input.len());
        }
    }

    #[test]
    fn too_long_line_is_skipped_and_the_next_one_still_arrives() {
        let mut lb = LineBuffer::default();
        lb.push("x".repeat(3000).as_bytes());
        assert!(drain(&mut lb).is_empty());
        lb.push(b"\r\nPING ok\r\n");
        assert_eq!(
            drain(&mut lb),
            vec![Err(LineError::TooLong), Ok(b"PING ok".to_vec())]
        );
    }

    #[test]
    fn unterminated_flood_overflows_and_memory_stays_bounded() {
        let mut lb = LineBuffer::default();
        let mut overflowed = false;
        for _ in 0..100 {
            lb.push(&[b'x'; 1000]);
            if drain(&mut lb).contains(&Err(LineError::Overflow)) {
                overflowed = true;
                break;
            }
            assert!(lb.pending() <= 1000 + 510);
        }
        assert!(overflowed);
    }
}
