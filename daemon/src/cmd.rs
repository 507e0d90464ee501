//! Commands: the [`Cx`] context handlers work through, [`Spec`] (a row of the
//! [`COMMANDS`] table in `cmd/table.rs`, with its checks declared), and [`dispatch`].
//! Handlers live in `cmd/`, one file per family.

pub mod account;
pub mod channel;
pub mod chanserv;
pub mod cluster;
pub mod help;
pub mod history;
pub mod message;
pub mod mode;
pub mod monitor;
pub mod oper;
pub mod query;
pub mod read_marker;
pub mod redact;
pub mod registration;
mod reply;
mod table;
pub mod welcome;
pub mod whowas;

pub use reply::{Replies, MAX_LABEL_BYTES};
pub use table::COMMANDS;

use crate::config::Config;
use crate::conn::{ConnId, Conns};
use crate::followup::{FollowUp, Then};
use crate::outgoing::{server_time_now, Bytes, Outgoing};
use crate::state::{Cap, State, User};
use crate::store::{Request, Store, Ticket};
use chatd_proto::numeric::*;
use chatd_proto::Message;
use std::collections::HashSet;
use std::time::Instant;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Before and after registration (CAP, NICK, PING...).
    Any,
    /// Only once registered (001 sent).
    Registered,
}

/// A handler's early exit: a numeric for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError {
    pub numeric: &'static str,
    pub params: Vec<String>,
}

/// Builds a [`CmdError`]; the sender's nick is prepended when it is sent.
pub fn err<S: Into<String>>(
    numeric: &'static str,
    params: impl IntoIterator<Item = S>,
) -> CmdError {
    CmdError {
        numeric,
        params: params.into_iter().map(Into::into).collect(),
    }
}

/// `401 <nick> :No such nick/channel`.
pub fn no_such_nick(nick: &str) -> CmdError {
    err(ERR_NOSUCHNICK, [nick, "No such nick/channel"])
}

/// `403 <channel> :No such channel`.
pub fn no_such_channel(name: &str) -> CmdError {
    err(ERR_NOSUCHCHANNEL, [name, "No such channel"])
}

/// `442 <channel> :You're not on that channel`.
pub fn not_on_channel(name: &str) -> CmdError {
    err(ERR_NOTONCHANNEL, [name, "You're not on that channel"])
}

/// `482 <channel> :You're not channel operator`.
pub fn not_chanop(name: &str) -> CmdError {
    err(ERR_CHANOPRIVSNEEDED, [name, "You're not channel operator"])
}

pub type Handler = fn(&mut Cx, &Message) -> Result<(), CmdError>;

/// One row of the command table.
pub struct Spec {
    pub name: &'static str,
    /// Fewer parameters get `461 ERR_NEEDMOREPARAMS` before the handler runs.
    pub min_params: usize,
    pub access: Access,
    pub run: Handler,
}

/// Everything a handler may touch, as disjoint borrows of the server.
pub struct Cx<'a> {
    /// The sender's slot.
    pub me: usize,
    pub conns: &'a mut Conns,
    pub state: &'a mut State,
    pub config: &'a Config,
    pub motd: &'a [String],
    pub store: &'a Store,
    pub now: Instant,
    /// What this command sends to the sender, sent when the `Cx` ends
    /// (`cmd/reply.rs`); `Replies::default()` when making a `Cx`.
    pub replies: Replies,
}

impl Cx<'_> {
    /// The sender's connection id.
    pub fn my_id(&self) -> ConnId {
        self.conns.get(self.me).expect("the sender is connected").id
    }

    /// Sends a request whose answer the sender waits for: the sender's next lines are
    /// held until it comes (see [`Conn::awaiting`](crate::conn::Conn::awaiting)), and
    /// `then` says what to do with it (routed by `server/completion.rs`).
    pub fn ask(&mut self, then: Then, request: impl FnOnce(Ticket) -> Request) {
        self.send_for(then, true, request);
    }

    /// Sends a request whose answer `then` follows up, without holding the sender's
    /// next lines (an offline message must not slow its sender down).
    pub fn tell(&mut self, then: Then, request: impl FnOnce(Ticket) -> Request) {
        self.send_for(then, false, request);
    }

    fn send_for(&mut self, then: Then, holds_lines: bool, request: impl FnOnce(Ticket) -> Request) {
        let id = self.my_id();
        let label = (holds_lines && then.answers_command())
            .then(|| self.hand_off_label())
            .flatten();
        let ticket = self.state.followups.open(FollowUp::Client {
            id,
            holds_lines,
            then,
            label,
        });
        if !self.store.send(request(ticket)) {
            if let Some(FollowUp::Client {
                label: Some(label), ..
            }) = self.state.followups.take(ticket)
            {
                self.take_back_label(label);
            }
        } else if holds_lines {
            if let Some(conn) = self.conns.get_mut(self.me) {
                conn.awaiting += 1;
            }
        }
    }

    /// Whether `id` is the connection in `cx.me` and it is still there (completions
    /// may arrive after a client left and its slot was reused).
    pub fn alive(&self, id: ConnId) -> bool {
        self.me == id.slot && self.conns.get(id.slot).is_some_and(|c| c.id == id)
    }

    pub fn server_name(&self) -> &str {
        &self.config.server.name
    }

    pub fn user(&self) -> &User {
        &self
            .conns
            .get(self.me)
            .expect("the sender is connected")
            .user
    }

    pub fn user_mut(&mut self) -> &mut User {
        &mut self
            .conns
            .get_mut(self.me)
            .expect("the sender is connected")
            .user
    }

    pub fn user_of(&self, slot: usize) -> Option<&User> {
        self.conns.get(slot).map(|c| &c.user)
    }

    /// A message from `slot` to others, with the tags every relayed event carries:
    /// `time` (server-time), `msgid` (message-ids: once event-playback keeps them,
    /// any event may be referred to), `account` (account-tag) when logged in, and
    /// `bot` (bot-mode) from a `+B` client. Each is shown only to the clients that
    /// negotiated it (`outgoing.rs`).
    pub fn relay_from(&mut self, slot: usize, command: &str, params: Vec<String>) -> Message {
        let id = self
            .state
            .next_msg_id(chrono::Utc::now().timestamp_millis());
        let (source, account, bot) = match self.user_of(slot) {
            Some(u) => (u.source(), u.account.clone(), u.bot),
            None => (String::new(), None, false),
        };
        let mut m = Message::new(command, params)
            .with_source(source)
            .with_tag("time", server_time_now())
            .with_tag("msgid", crate::store::msgid_of(id));
        if let Some(account) = account {
            m = m.with_tag("account", account);
        }
        if bot {
            m = m.with_tag("bot", "");
        }
        m
    }

    /// Sends to every member of a channel (by folded name) except `except`; with
    /// `needs`, only to members that negotiated that capability.
    pub fn send_to_channel(
        &mut self,
        folded: &str,
        out: &mut Outgoing,
        except: Option<usize>,
        needs: Option<Cap>,
    ) {
        let Some(chan) = self.state.channels.get(folded) else {
            return;
        };
        for &slot in chan.members.keys() {
            if Some(slot) == except {
                continue;
            }
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            let caps = conn.user.caps;
            if needs.is_some_and(|cap| !caps.has(cap)) {
                continue;
            }
            let bytes = out.bytes_for(caps);
            send_bytes(&mut self.replies, self.conns, self.me, slot, bytes);
        }
    }

    /// Sends to every member of a channel (by folded name) except `except`: `with` to
    /// those that negotiated `cap`, `without` to the others (extended-join, the forms
    /// of one event that differ by more than tags).
    pub fn send_to_channel_split(
        &mut self,
        folded: &str,
        except: Option<usize>,
        cap: Cap,
        with: &mut Outgoing,
        without: &mut Outgoing,
    ) {
        let Some(chan) = self.state.channels.get(folded) else {
            return;
        };
        for &slot in chan.members.keys() {
            if Some(slot) == except {
                continue;
            }
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            let caps = conn.user.caps;
            let out = if caps.has(cap) {
                &mut *with
            } else {
                &mut *without
            };
            let bytes = out.bytes_for(caps);
            send_bytes(&mut self.replies, self.conns, self.me, slot, bytes);
        }
    }

    /// Tells those who watch `slot` of a change of its identity (AWAY, SETNAME,
    /// CHGHOST): everyone sharing a channel with it that negotiated `needs`, and it
    /// itself when `include_self`. The one place such a change fans out, so a watch
    /// list (MONITOR with extended-monitor) adds its watchers here.
    pub fn send_identity_change(
        &mut self,
        slot: usize,
        out: &mut Outgoing,
        include_self: bool,
        needs: Cap,
    ) {
        self.send_to_peers(slot, out, include_self, Some(needs));
        // extended-monitor: watchers who share no channel with `slot` hear it too.
        monitor::notify_watchers(self, slot, out, needs);
    }

    /// Sends to everyone who shares a channel with `slot`, each once; to `slot` itself
    /// too when `include_self`.
    pub fn send_to_peers(
        &mut self,
        slot: usize,
        out: &mut Outgoing,
        include_self: bool,
        needs: Option<Cap>,
    ) {
        let Some(user) = self.user_of(slot) else {
            return;
        };
        let mut seen: HashSet<usize> = HashSet::new();
        if !include_self {
            seen.insert(slot);
        }
        let mut targets = Vec::new();
        if include_self {
            targets.push(slot);
            seen.insert(slot);
        }
        for folded in &user.channels {
            if let Some(chan) = self.state.channels.get(folded) {
                for &member in chan.members.keys() {
                    if seen.insert(member) {
                        targets.push(member);
                    }
                }
            }
        }
        for target in targets {
            let Some(conn) = self.conns.get(target) else {
                continue;
            };
            let caps = conn.user.caps;
            if needs.is_some_and(|cap| !caps.has(cap)) && target != slot {
                continue;
            }
            let bytes = out.bytes_for(caps);
            send_bytes(&mut self.replies, self.conns, self.me, target, bytes);
        }
    }

    /// Sends a message to one connection, tags filtered by its capabilities.
    pub fn send_outgoing(&mut self, slot: usize, out: &mut Outgoing) {
        if let Some(conn) = self.conns.get(slot) {
            let bytes = out.bytes_for(conn.user.caps);
            send_bytes(&mut self.replies, self.conns, self.me, slot, bytes);
        }
    }
}

/// Queues `bytes` for `slot`: through the sender's reply buffer when `slot` is the
/// sender (`me`), so it sees everything in the order the command made it. A free
/// function so a caller may hold a channel of `State` meanwhile.
#[inline]
fn send_bytes(replies: &mut Replies, conns: &mut Conns, me: usize, slot: usize, bytes: Bytes) {
    if slot == me {
        replies.push(bytes);
    } else {
        conns.send(slot, bytes);
    }
}

/// A command name as it may be echoed in an error reply (`421`, `FAIL`): upper-cased
/// when it is printable ASCII, else `*`, so that control bytes (terminal escapes, BEL,
/// NUL) or replacement characters never go back to the client.
pub fn echoable_command(command: &str) -> String {
    // A word that starts with ':' would read as the trailing parameter.
    if chatd_proto::message::is_valid_middle(command)
        && command.bytes().all(|b| b.is_ascii_graphic())
    {
        command.to_ascii_uppercase()
    } else {
        "*".to_string()
    }
}

/// Runs one parsed message from the sender in `cx.me`. Its replies reach the sender
/// when `cx` ends (`cmd/reply.rs`).
pub fn dispatch(cx: &mut Cx, msg: &Message) {
    let name = msg.command.to_ascii_uppercase();
    if let Some(reference) = msg.tag("batch") {
        if name != "BATCH" {
            // A line of a client-initiated batch (IRCv3 multiline): collected, and
            // answered with the batch at its end.
            message::multiline::line(cx, msg, reference);
            return;
        }
    }
    if let Some(label) = msg.tags.iter().find(|t| t.key == "label") {
        // IRCv3 labeled-response, "Dependencies": batch must be negotiated too.
        let caps = cx.user().caps;
        if caps.has(Cap::LabeledResponse) && caps.has(Cap::Batch) {
            if label.value.is_empty() || label.value.len() > MAX_LABEL_BYTES {
                // Refused whole, so the client never waits for a response it cannot
                // recognise: nothing it asked for happened.
                let command = echoable_command(&name);
                let text =
                    format!("The label must be 1 to {MAX_LABEL_BYTES} bytes; command not run");
                let fail = Message::new("FAIL", [command.as_str(), "INVALID_LABEL", &text])
                    .with_source(cx.server_name());
                cx.send_me(&fail);
                return;
            }
            cx.replies.set_label(&label.value);
        }
    }
    let registered = cx.user().registered;
    let Some(spec) = COMMANDS.iter().find(|s| s.name == name) else {
        if registered {
            let name = echoable_command(&name);
            cx.reply(ERR_UNKNOWNCOMMAND, &[name.as_str(), "Unknown command"]);
        } else {
            cx.reply(ERR_NOTREGISTERED, &["You have not registered"]);
        }
        return;
    };
    log::debug!("conn={} nick={} cmd={}", cx.me, cx.user().nick, name);
    if spec.access == Access::Registered && !registered {
        cx.reply(ERR_NOTREGISTERED, &["You have not registered"]);
        return;
    }
    if msg.params.len() < spec.min_params {
        cx.reply(
            ERR_NEEDMOREPARAMS,
            &[name.as_str(), "Not enough parameters"],
        );
        return;
    }
    if let Err(e) = (spec.run)(cx, msg) {
        cx.reply(e.numeric, &e.params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_unique_upper_case_names() {
        let mut seen = HashSet::new();
        for spec in COMMANDS {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert!(seen.insert(spec.name), "{} twice", spec.name);
        }
    }
}
