//! The one reply path: every line a command (or a store answer's handler) sends to
//! its own client goes into the [`Replies`] its [`Cx`] owns, and reaches the
//! connection's queue when the `Cx` ends, after the check whether registration is
//! complete. Labeled-response and batching hook in here; fan-out to others is in
//! `cmd.rs`.

use super::{registration, CmdError, Cx};
use crate::outgoing::Bytes;
use chatd_proto::Message;

/// What one command sends to its sender, in order, until its [`Cx`] ends.
///
/// The first line is held inline, so a command that answers with one line (PONG, an
/// echoed PRIVMSG, most errors) allocates nothing here; most commands send none.
#[derive(Default)]
pub struct Replies {
    first: Option<Bytes>,
    more: Vec<Bytes>,
    /// The command's `label` tag (IRCv3 labeled-response), if it had one. Not used
    /// yet: this is where the replies will be tagged or wrapped in a batch.
    label: Option<Box<str>>,
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

    /// Takes every line, oldest first.
    fn drain(&mut self) -> impl Iterator<Item = Bytes> + use<'_> {
        self.first.take().into_iter().chain(self.more.drain(..))
    }

    /// Records the label of the command these replies answer.
    pub fn set_label(&mut self, label: &str) {
        self.label = Some(label.into());
    }

    /// The label of the command these replies answer, if it had one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }
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
    /// row it delivers.
    pub fn send_replay(&mut self, bytes: Bytes, row: Option<i64>) {
        self.flush_replies();
        self.conns.send_replay(self.me, bytes, row);
    }

    /// Bytes a replay may still add for the sender (see
    /// [`Conns::replay_room`](crate::conn::Conns::replay_room)), the replies so far
    /// counted.
    pub fn replay_room(&mut self) -> usize {
        self.flush_replies();
        self.conns.replay_room(self.me)
    }

    /// Closes the sender's connection with `reason`, after the replies so far.
    pub fn close(&mut self, reason: &str) {
        self.flush_replies();
        self.conns.close(self.me, reason);
    }

    /// Moves the replies so far to the sender's queue.
    fn flush_replies(&mut self) {
        if self.replies.first.is_none() {
            return;
        }
        let me = self.me;
        for bytes in self.replies.drain() {
            self.conns.send(me, bytes);
        }
    }

    /// The end of a command or of a store answer's handler: completes registration
    /// if this one made it possible (NICK, USER, CAP END, a login's answer), then
    /// sends the replies.
    fn finish(&mut self) {
        let unregistered = self
            .conns
            .get(self.me)
            .is_some_and(|c| !c.user.registered && c.closing.is_none());
        if unregistered {
            registration::try_register(self);
        }
        self.flush_replies();
    }
}

impl Drop for Cx<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.finish();
    }
}
