//! The one reply path: every line a command (or a store answer's handler) sends to
//! its own client goes into the [`Replies`] its [`Cx`] owns, and reaches the
//! connection's queue when the `Cx` ends, after the check whether registration is
//! complete. IRCv3 labeled-response is applied here: one reply line carries the
//! command's `label`, several go in a `labeled-response` batch, none get `ACK`.
//! Fan-out to others is in `cmd.rs`.

use super::{registration, CmdError, Cx};
use crate::followup::Labeled;
use crate::outgoing::Bytes;
use chatd_proto::Message;

/// IRCv3 labeled-response, "Tag value": "The value MUST NOT exceed 64 bytes."
pub const MAX_LABEL_BYTES: usize = 64;

/// What one command sends to its sender, in order, until its [`Cx`] ends.
///
/// The first line is held inline, so a command that answers with one line (PONG, an
/// echoed PRIVMSG, most errors) allocates nothing here; most commands send none. An
/// unlabeled command never allocates for the label either.
#[derive(Default)]
pub struct Replies {
    first: Option<Bytes>,
    more: Vec<Bytes>,
    /// The command's label (when the client negotiated labeled-response and batch).
    labeled: Option<Labeled>,
    /// The batch of a response whose label went on with a store request: the lines
    /// of this `Cx` are in it, and the answer's `Cx` closes it.
    handed_off: Option<Box<str>>,
    /// This `Cx` sent lines through the replay backlog: later lines follow them
    /// there, so a batch's end never overtakes its lines.
    replayed: bool,
    /// The replies are this many lines that form one batch of their own (an echoed
    /// multiline message): a label goes on its start rather than in a batch around it.
    one_batch: Option<usize>,
}

impl Replies {
    /// Queues bytes for the sender behind what it was sent before in this command.
    /// Sends to others that include the sender (a JOIN, an echoed message) come here
    /// too (`cmd.rs`), so the sender sees everything in the order the command made it.
    pub(super) fn push(&mut self, bytes: Bytes) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(bytes);
        } else {
            self.more.push(bytes);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    /// Takes every line, oldest first.
    fn drain(&mut self) -> impl Iterator<Item = Bytes> + use<'_> {
        self.first.take().into_iter().chain(self.more.drain(..))
    }

    /// Records the label of the command these replies answer.
    pub fn set_label(&mut self, label: &str) {
        self.labeled = Some(Labeled {
            label: label.into(),
            batch: None,
        });
    }

    /// Takes the label away: the response comes later, from another command (a
    /// multiline batch is answered at its end).
    pub fn take_label(&mut self) -> Option<Box<str>> {
        self.labeled.take().map(|l| l.label)
    }

    /// The replies so far, `lines` of them, are one batch (IRCv3 multiline,
    /// "Labeled response with echo-message": the label goes on its opening BATCH).
    pub fn last_lines_are_one_batch(&mut self, lines: usize) {
        self.one_batch = (lines > 1 && self.len() == lines).then_some(lines);
    }

    /// Continues a labeled response a store request carried (`server/completion.rs`).
    pub fn resume(&mut self, labeled: Labeled) {
        self.labeled = Some(labeled);
    }

    /// The label of the command these replies answer, if it had one.
    pub fn label(&self) -> Option<&str> {
        self.labeled.as_ref().map(|l| &*l.label)
    }

    /// The batch the lines of this `Cx` go in, if any.
    fn batch(&self) -> Option<&str> {
        self.labeled
            .as_ref()
            .and_then(|l| l.batch.as_deref())
            .or(self.handed_off.as_deref())
    }
}

/// `bytes` (one wire line) with one more tag (`key=value`, already escaped) in front
/// of its others.
fn with_tag(bytes: &[u8], tag: &str) -> Bytes {
    let mut line = Vec::with_capacity(bytes.len() + tag.len() + 2);
    line.push(b'@');
    line.extend_from_slice(tag.as_bytes());
    match bytes.strip_prefix(b"@") {
        Some(rest) => {
            line.push(b';');
            line.extend_from_slice(rest);
        }
        None => {
            line.push(b' ');
            line.extend_from_slice(bytes);
        }
    }
    line.into()
}

/// `label=<value>` with the value escaped.
fn label_tag(label: &str) -> String {
    let mut tag = String::from("label=");
    let _ = chatd_proto::message::escape_tag_value(label, &mut tag);
    tag
}

/// Whether a wire line already carries a `batch` tag (it is inside a nested batch:
/// IRCv3 batch, "Nested batches", tags only the innermost).
fn has_batch_tag(bytes: &[u8]) -> bool {
    let Some(rest) = bytes.strip_prefix(b"@") else {
        return false;
    };
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    rest[..end]
        .split(|&b| b == b';')
        .any(|t| t == b"batch" || t.starts_with(b"batch="))
}

/// A fresh batch reference for a `labeled-response` batch.
fn new_batch_ref() -> Box<str> {
    format!("L{:08x}", rand::random::<u32>()).into()
}

impl Cx<'_> {
    /// A numeric to the sender: `:server NUMERIC <nick> params...`.
    pub fn reply<S: AsRef<str>>(&mut self, numeric: &str, params: &[S]) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.user().nick.clone());
        all.extend(params.iter().map(|p| p.as_ref().to_string()));
        // Numerics echo what the client sent; what it sent as a trailing parameter
        // (`WHOIS :a b`) may be no middle one: shown as `*`, the line stays valid.
        let last = all.len() - 1;
        for p in &mut all[..last] {
            if !chatd_proto::message::is_valid_middle(p) {
                *p = "*".into();
            }
        }
        let msg = Message::new(numeric, all).with_source(self.server_name());
        self.send_me(&msg);
    }

    /// An error numeric to the sender, for handlers that go on after it.
    pub fn send_err(&mut self, e: CmdError) {
        self.reply(e.numeric, &e.params);
    }

    /// Any message to the sender, as given.
    pub fn send_me(&mut self, msg: &Message) {
        self.replies.push(msg.to_line().into());
    }

    /// A server NOTICE to the sender.
    pub fn notice(&mut self, text: &str) {
        let nick = self.user().nick.clone();
        let msg = Message::new("NOTICE", [nick.as_str(), text])
            .with_source(self.server_name())
            .with_trailing();
        self.send_me(&msg);
    }

    /// A stored line for the sender through the replay backlog (history, the offline
    /// queue, missed messages), behind the replies so far; `row` is the offline-queue
    /// row it delivers. In a labeled response the line goes in its batch.
    pub fn send_replay(&mut self, bytes: Bytes, row: Option<i64>) {
        if self.replies.labeled.is_some() {
            self.open_label_batch();
        }
        self.flush_replies();
        self.replies.replayed = true;
        let bytes = match self.replies.batch() {
            Some(b) if !has_batch_tag(&bytes) => with_tag(&bytes, &format!("batch={b}")),
            _ => bytes,
        };
        self.conns.send_replay(self.me, bytes, row);
    }

    /// Bytes a replay may still add for the sender (see
    /// [`Conns::replay_room`](crate::conn::Conns::replay_room)), the replies so far
    /// counted.
    pub fn replay_room(&mut self) -> usize {
        if self.replies.labeled.is_some() && !self.replies.is_empty() {
            self.open_label_batch();
        }
        self.flush_replies();
        self.conns.replay_room(self.me)
    }

    /// Closes the sender's connection with `reason`, after the replies so far (and the
    /// end of a labeled response: nothing more comes for it).
    pub fn close(&mut self, reason: &str) {
        self.end_label();
        self.flush_replies();
        self.conns.close(self.me, reason);
    }

    /// The label to carry with a store or hasher request this command waits for
    /// ([`Cx::ask`]): the answer's replies are part of this response. Lines already
    /// made go in a `labeled-response` batch the answer closes.
    pub(super) fn hand_off_label(&mut self) -> Option<Labeled> {
        self.replies.labeled.as_ref()?;
        if !self.replies.is_empty() {
            self.open_label_batch();
        }
        let labeled = self.replies.labeled.take()?;
        self.replies.handed_off = labeled.batch.clone();
        Some(labeled)
    }

    /// Takes back a label whose request could not be sent: the response ends here.
    pub(super) fn take_back_label(&mut self, labeled: Labeled) {
        self.replies.handed_off = None;
        self.replies.labeled = Some(labeled);
    }

    /// Opens the `labeled-response` batch of this response, if not yet open.
    fn open_label_batch(&mut self) {
        let Some(labeled) = self.replies.labeled.as_mut() else {
            return;
        };
        if labeled.batch.is_some() {
            return;
        }
        let reference = new_batch_ref();
        let start = Message::new(
            "BATCH",
            [format!("+{reference}"), "labeled-response".into()],
        )
        .with_source(self.config.server.name.as_str())
        .with_tag("label", &*labeled.label);
        labeled.batch = Some(reference);
        let start: Bytes = start.to_line().into();
        // The start goes before every line made so far.
        let first = self.replies.first.replace(start);
        if let Some(first) = first {
            self.replies.more.insert(0, first);
        }
    }

    /// Finishes a labeled response: tags its one line, wraps its lines in a batch or
    /// closes the batch already open, or answers `ACK` when there is nothing.
    fn end_label(&mut self) {
        let Some(labeled) = self.replies.labeled.as_ref() else {
            return;
        };
        match (&labeled.batch, self.replies.len()) {
            (Some(_), _) => {}
            (None, 0) => {
                let ack = Message::new("ACK", Vec::<String>::new())
                    .with_source(self.config.server.name.as_str())
                    .with_tag("label", &*labeled.label);
                self.replies.push(ack.to_line().into());
                self.replies.labeled = None;
                return;
            }
            (None, n) if n == 1 || self.replies.one_batch == Some(n) => {
                let tag = label_tag(&labeled.label);
                let line = self.replies.first.take().expect("a first line");
                self.replies.first = Some(with_tag(&line, &tag));
                self.replies.labeled = None;
                return;
            }
            (None, _) => self.open_label_batch(),
        }
        let reference = self
            .replies
            .labeled
            .take()
            .and_then(|l| l.batch)
            .expect("the batch is open");
        self.replies.handed_off = Some(reference.clone());
        let end = Message::new("BATCH", [format!("-{reference}")])
            .with_source(self.config.server.name.as_str());
        // Flushed (tagged) before the end line goes behind them untagged.
        self.flush_replies();
        self.replies.handed_off = None;
        self.replies.push(end.to_line().into());
    }

    /// Moves the replies so far to the sender's queue (behind its replay backlog once
    /// this `Cx` used it), each in the open batch if there is one.
    fn flush_replies(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        let me = self.me;
        let batch = self.replies.batch().map(|b| format!("batch={b}"));
        let replayed = self.replies.replayed;
        let lines: Vec<Bytes> = if batch.is_some() || replayed {
            self.replies.drain().collect()
        } else {
            // The common case, kept free of the collection above.
            for bytes in self.replies.drain() {
                self.conns.send(me, bytes);
            }
            return;
        };
        for bytes in lines {
            let bytes = match &batch {
                Some(tag) if !has_batch_tag(&bytes) && !is_batch_start_of(&bytes, tag) => {
                    with_tag(&bytes, tag)
                }
                _ => bytes,
            };
            let behind_backlog = self.conns.get(me).is_some_and(|c| c.backlog_len() > 0);
            if replayed && behind_backlog {
                self.conns.send_replay(me, bytes, None);
            } else {
                self.conns.send(me, bytes);
            }
        }
    }

    /// The end of a command or of a store answer's handler: completes registration
    /// if this one made it possible (NICK, USER, CAP END, a login's answer), then
    /// sends the replies, labeled if the command was.
    fn finish(&mut self) {
        let unregistered = self
            .conns
            .get(self.me)
            .is_some_and(|c| !c.user.registered && c.closing.is_none());
        if unregistered {
            registration::try_register(self);
        }
        self.end_label();
        self.flush_replies();
    }
}

/// Whether `bytes` is the `BATCH +<ref>` start line of the batch `tag` (`batch=<ref>`)
/// names: that line opens the batch and is not inside it.
fn is_batch_start_of(bytes: &[u8], tag: &str) -> bool {
    let reference = &tag["batch=".len()..];
    let Some(pos) = bytes.windows(7).position(|w| w == b" BATCH ") else {
        return false;
    };
    bytes[pos + 7..].starts_with(format!("+{reference}").as_bytes())
}

impl Drop for Cx<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_goes_in_front() {
        assert_eq!(&*with_tag(b"PONG x\r\n", "label=a"), b"@label=a PONG x\r\n");
        assert_eq!(
            &*with_tag(b"@time=1 :s PONG x\r\n", "batch=b"),
            b"@batch=b;time=1 :s PONG x\r\n"
        );
    }

    #[test]
    fn batch_tags_are_found() {
        assert!(has_batch_tag(b"@time=1;batch=x :s PRIVMSG a b\r\n"));
        assert!(!has_batch_tag(b"@time=1 :s PRIVMSG a :batch=x\r\n"));
        assert!(!has_batch_tag(b":s PRIVMSG a :@batch=x\r\n"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label_tag("a b;c"), "label=a\\sb\\:c");
    }
}
