//! [`OutQueue`]: a connection's queued output, shared serialized lines waiting for
//! the transport to write them, with the running totals that say which replayed
//! lines have reached the kernel.

use crate::outgoing::Bytes;
use std::collections::VecDeque;
use std::io::IoSlice;

/// Lines queued for one connection, in order, and how far they have been written.
#[derive(Default)]
pub struct OutQueue {
    lines: VecDeque<Bytes>,
    /// Bytes of `lines.front()` already written.
    offset: usize,
    /// Bytes queued and not yet written (what counts against the SendQ).
    bytes: usize,
    /// Bytes ever queued, and ever written to the socket.
    queued_total: u64,
    written_total: u64,
    /// Free the queue once it is written out (see [`OutQueue::emptied`]).
    trim: bool,
}

impl OutQueue {
    /// Queues one line: a pointer to the shared bytes, no copy.
    #[inline]
    pub fn push(&mut self, bytes: Bytes) {
        self.bytes += bytes.len();
        self.queued_total += bytes.len() as u64;
        self.lines.push_back(bytes);
    }

    /// Bytes queued and not yet written.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lines queued, the first possibly part-written.
    #[inline]
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes ever queued (a replayed line's mark) and ever written.
    pub fn queued_total(&self) -> u64 {
        self.queued_total
    }

    pub fn written_total(&self) -> u64 {
        self.written_total
    }

    /// The unwritten part of the first line, if any.
    #[inline]
    pub fn front(&self) -> Option<&[u8]> {
        self.lines.front().map(|b| &b[self.offset..])
    }

    /// Fills `iov` with the unwritten lines, first one from its offset; returns how
    /// many slices it filled.
    #[inline]
    pub fn fill<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, b) in self.lines.iter().take(iov.len()).enumerate() {
            let start = if i == 0 { self.offset } else { 0 };
            iov[i] = IoSlice::new(&b[start..]);
            n += 1;
        }
        n
    }

    /// Drops `n` bytes from the front of the queue; `written` when they reached the
    /// socket (not just a transport's own buffer, such as rustls').
    #[inline]
    pub fn consume(&mut self, mut n: usize, written: bool) {
        self.bytes -= n;
        if written {
            self.written_total += n as u64;
        }
        while n > 0 {
            let front_left =
                self.lines.front().expect("written bytes were queued").len() - self.offset;
            if n >= front_left {
                n -= front_left;
                self.lines.pop_front();
                self.offset = 0;
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }

    /// Counts `n` bytes consumed earlier (into a transport's buffer) as written to
    /// the socket.
    pub fn count_written(&mut self, n: u64) {
        self.written_total += n;
    }

    /// Frees the queue once it is written out (see [`OutQueue::emptied`]).
    pub fn trim_when_empty(&mut self) {
        self.trim = true;
    }

    /// The output queue was written out. A busy connection keeps its queue (16 bytes
    /// a line) rather than grow it again every pass; it is freed after an unusual
    /// burst, and after a one-off burst such as the welcome or a JOIN's NAMES, so
    /// that an idle connection holds no queue at all.
    #[inline]
    pub fn emptied(&mut self) {
        if self.lines.capacity() > 1024 || std::mem::take(&mut self.trim) {
            self.lines = VecDeque::new();
        }
    }

    /// Drops everything not yet written. Bytes queued from then on count from what
    /// was written, so they never reach a mark taken before.
    pub fn drop_unwritten(&mut self) {
        self.lines.clear();
        self.offset = 0;
        self.bytes = 0;
        self.queued_total = self.written_total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Bytes {
        s.as_bytes().into()
    }

    #[test]
    fn consume_moves_across_lines_and_counts_what_was_written() {
        let mut q = OutQueue::default();
        q.push(line("abc"));
        q.push(line("defg"));
        assert_eq!((q.bytes(), q.queued_total()), (7, 7));
        q.consume(4, true);
        assert_eq!(q.front(), Some(&b"efg"[..]));
        let mut iov = [IoSlice::new(&[]); 4];
        assert_eq!(q.fill(&mut iov), 1);
        assert_eq!(&*iov[0], b"efg");
        // Into a transport's buffer first, written to the socket later.
        q.consume(3, false);
        assert!(q.is_empty());
        assert_eq!(q.written_total(), 4);
        q.count_written(3);
        assert_eq!((q.bytes(), q.written_total()), (0, 7));
    }

    #[test]
    fn dropping_unwritten_lines_restarts_the_marks_from_what_was_written() {
        let mut q = OutQueue::default();
        q.push(line("abc"));
        q.push(line("defg"));
        q.consume(2, true);
        q.drop_unwritten();
        assert!(q.is_empty());
        assert_eq!((q.bytes(), q.queued_total(), q.written_total()), (0, 2, 2));
        q.push(line("ERROR"));
        assert_eq!(q.queued_total(), 7);
    }
}
