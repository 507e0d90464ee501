//! [`Context`]: what a handler may do (reply, say, join, read the state, set
//! timers, quit), and [`Handle`]: the same from another thread. Both act on the
//! bot's `Core`, which the loop in `bot.rs` owns.

use crate::config::Config;
use crate::flood::{split_text, Outbox};
use crate::proto::Message;
use crate::router::Router;
use crate::state::State;
use crate::timer::{TimerId, Timers};
use chrono::{DateTime, Utc};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// The longest line IRC allows, with its CRLF and without tags (RFC 1459).
pub const MAX_LINE: usize = 512;

/// Everything handlers act on; owned by the loop.
pub(crate) struct Core {
    pub config: Config,
    pub state: State,
    pub outbox: Outbox,
    pub router: Router,
    pub timers: Timers,
    /// Registration and login are complete on the current connection.
    pub ready: bool,
    /// A QUIT was asked for: the bot stops once it is sent.
    pub quitting: bool,
    pub handle: Handle,
}

/// Lines that go out, how many wait: for tests and for the curious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Lines handed to the socket since the bot started, on all connections.
    pub sent: u64,
    /// Lines waiting for the flood control.
    pub queued: usize,
    /// Lines dropped because the queue was full.
    pub dropped: u64,
}

/// What a handler gets: the bot's state, and ways to talk.
pub struct Context<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) reply_to: Option<String>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(core: &'a mut Core, reply_to: Option<String>) -> Context<'a> {
        Context { core, reply_to }
    }

    /// What the bot knows: nick, channels and members, ISUPPORT.
    pub fn state(&self) -> &State {
        &self.core.state
    }

    /// The bot's current nick.
    pub fn nick(&self) -> &str {
        self.core.state.nick()
    }

    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Whether the bot is connected and registered (lines sent now go out).
    pub fn is_connected(&self) -> bool {
        self.core.ready
    }

    /// Where [`Context::reply`] goes: the channel or private query of the message
    /// being handled, if any.
    pub fn reply_target(&self) -> Option<&str> {
        self.reply_to.as_deref()
    }

    /// Answers the message being handled, in its channel or private query. Does
    /// nothing (but log) outside a message or command handler.
    pub fn reply(&mut self, text: impl AsRef<str>) {
        match self.reply_to.clone() {
            Some(target) => self.say(&target, text),
            None => log::warn!("reply outside a message: {:?}", text.as_ref()),
        }
    }

    /// Sends `text` to a channel or nick: one PRIVMSG per line of the text, and
    /// more where a line is over the IRC line limit (split on character
    /// boundaries, at a space when one is near). Paced by the flood control.
    pub fn say(&mut self, target: &str, text: impl AsRef<str>) {
        self.text("PRIVMSG", target, text.as_ref(), false);
    }

    /// Like [`Context::say`], as NOTICEs (which bots must not answer).
    pub fn notice(&mut self, target: &str, text: impl AsRef<str>) {
        self.text("NOTICE", target, text.as_ref(), false);
    }

    /// A CTCP ACTION (`/me waves`).
    pub fn action(&mut self, target: &str, text: impl AsRef<str>) {
        self.text("PRIVMSG", target, text.as_ref(), true);
    }

    fn text(&mut self, command: &str, target: &str, text: &str, action: bool) {
        let budget = self.text_budget(command, target) - if action { 9 } else { 0 };
        for line in text.split('\n') {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            for piece in split_text(line, budget) {
                let body = if action {
                    format!("\x01ACTION {piece}\x01")
                } else {
                    piece.to_string()
                };
                self.send(Message::new(command, [target, body.as_str()]));
            }
        }
    }

    /// How many bytes of text fit in one `COMMAND target :text` line, as the server
    /// will relay it with our `:nick!user@host` in front.
    pub fn text_budget(&self, command: &str, target: &str) -> usize {
        let state = &self.core.state;
        // Unknown user@host: assume a long one (10-char ~user, 63-char host).
        let userhost = state.userhost().map_or(75, str::len);
        let source = 1 + state.nick().len() + 1 + userhost + 1;
        let head = command.len() + 1 + target.len() + 2;
        MAX_LINE.saturating_sub(2 + source + head).max(16)
    }

    /// Sends any message, through the flood control. Dropped when not connected.
    pub fn send(&mut self, msg: Message) {
        if !self.core.ready {
            log::debug!("not connected, not sent: {msg}");
            return;
        }
        log::trace!("queued: {msg}");
        self.core.outbox.push(msg.to_line());
    }

    /// Tells the server the user has read `target` up to the message sent at `time`
    /// (IRCv3 draft/read-marker: `MARKREAD <target> timestamp=...`). The server
    /// keeps it per account and tells the account's other clients. Returns false,
    /// sending nothing, when the server did not grant `draft/read-marker`.
    pub fn mark_read(&mut self, target: &str, time: chrono::DateTime<chrono::Utc>) -> bool {
        if !self.core.state.has_cap("draft/read-marker") {
            return false;
        }
        let stamp = time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        self.send(Message::new(
            "MARKREAD",
            [target.to_string(), format!("timestamp={stamp}")],
        ));
        true
    }

    /// Parses `line` (`PRIVMSG #c :hi`) and sends it. Returns false if it does not
    /// parse.
    pub fn send_line(&mut self, line: &str) -> bool {
        match crate::proto::parse(line) {
            Ok(msg) => {
                self.send(msg);
                true
            }
            Err(_) => false,
        }
    }

    /// Joins a channel. It is rejoined after a reconnect until the bot parts it.
    pub fn join(&mut self, channel: &str) {
        self.send(Message::new("JOIN", [channel]));
    }

    pub fn part(&mut self, channel: &str, reason: &str) {
        let msg = if reason.is_empty() {
            Message::new("PART", [channel])
        } else {
            Message::new("PART", [channel, reason])
        };
        self.send(msg);
    }

    /// Changes nick; the new one is also tried first after a reconnect.
    pub fn set_nick(&mut self, nick: &str) {
        self.core.config.nick = nick.to_string();
        self.send(Message::new("NICK", [nick]));
    }

    /// Sends QUIT (after the lines already queued) and stops the bot:
    /// [`crate::Bot::run`] returns once the server has closed the connection, or a
    /// few seconds after the queue has had time to drain.
    pub fn quit(&mut self, reason: &str) {
        let reason = if reason.is_empty() {
            self.core.config.quit_message.clone()
        } else {
            reason.to_string()
        };
        if self.core.ready && !self.core.quitting {
            self.core
                .outbox
                .push_last(Message::new("QUIT", [reason]).to_line());
        }
        self.core.quitting = true;
    }

    /// Runs `f` every `period`, first after one period.
    pub fn every(
        &mut self,
        period: Duration,
        f: impl FnMut(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.every(period, f)
    }

    /// Runs `f` once, after `delay`.
    pub fn after(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.after(delay, f)
    }

    /// Runs `f` once at `when` (at once if that is past).
    pub fn at(
        &mut self,
        when: DateTime<Utc>,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.at(when, f)
    }

    pub fn cancel(&mut self, timer: TimerId) {
        self.core.timers.cancel(timer);
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sent: self.core.outbox.sent,
            queued: self.core.outbox.queued(),
            dropped: self.core.outbox.dropped,
        }
    }

    /// A handle for other threads.
    pub fn handle(&self) -> Handle {
        self.core.handle.clone()
    }
}

pub(crate) type ControlFn = Box<dyn FnOnce(&mut Context<'_>) + Send>;

/// Reaches a running bot from any thread: each call runs on the bot's thread with
/// a [`Context`], between two lines. Cheap to clone. Calls on a bot that stopped
/// do nothing.
#[derive(Clone)]
pub struct Handle {
    pub(crate) tx: mpsc::Sender<ControlFn>,
    pub(crate) waker: Arc<mio::Waker>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle")
    }
}

impl Handle {
    /// Runs `f` on the bot's thread. False if the bot has stopped.
    pub fn run(&self, f: impl FnOnce(&mut Context<'_>) + Send + 'static) -> bool {
        if self.tx.send(Box::new(f)).is_err() {
            return false;
        }
        self.wake();
        true
    }

    /// Runs `f` on the bot's thread and waits for its answer; `None` if the bot
    /// has stopped. Never call it from inside a handler: the bot would wait for
    /// itself.
    pub fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Context<'_>) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.run(move |ctx| {
            let _ = tx.send(f(ctx));
        }) {
            return None;
        }
        rx.recv().ok()
    }

    pub fn say(&self, target: &str, text: &str) -> bool {
        let (target, text) = (target.to_string(), text.to_string());
        self.run(move |ctx| ctx.say(&target, text))
    }

    pub fn join(&self, channel: &str) -> bool {
        let channel = channel.to_string();
        self.run(move |ctx| ctx.join(&channel))
    }

    /// Sends QUIT and stops the bot.
    pub fn quit(&self, reason: &str) -> bool {
        let reason = reason.to_string();
        self.run(move |ctx| ctx.quit(&reason))
    }

    /// Makes the bot look at its queues and timers now (after a
    /// [`ManualClock`](crate::ManualClock) moved, say).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
}
