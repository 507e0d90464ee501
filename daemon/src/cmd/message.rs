//! Messaging: `PRIVMSG`, `NOTICE`, `TAGMSG` to channels (and to a channel's
//! operators or voiced members, STATUSMSG) and nicks (several targets), and `AWAY`.
//! Live messages carry `time` (server-time), `msgid` and relayed client-only tags
//! (message-tags), `account` (account-tag) and `bot` (bot-mode); echo-message sends
//! the sender its own copy. Every PRIVMSG/NOTICE is logged (batched per loop pass);
//! one to a registered account that is offline, or whose nick is held by someone not
//! logged in to it, goes to its offline queue.

pub mod multiline;

use super::{account, err, history, no_such_channel, no_such_nick, CmdError, Cx};
use crate::followup::Then;
use crate::ids::{ConnId, Party};
use crate::outgoing::Outgoing;
use crate::state::channel::Who;
use crate::state::Cap;
use crate::store::{self, Conv, QueueRefusal, Request, StoredMessage};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message, Tag};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// `PRIVMSG <target>{,<target>} :<text>` — RFC 2812 §3.3.1.
pub fn privmsg(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    deliver(cx, msg, Kind::Privmsg)
}

/// `NOTICE <target>{,<target>} :<text>` — RFC 2812 §3.3.2: never answered with an error.
pub fn notice(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let _ = deliver(cx, msg, Kind::Notice);
    Ok(())
}

/// `TAGMSG <target>{,<target>}` — IRCv3 message-tags; only reaches clients with that cap.
pub fn tagmsg(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    deliver(cx, msg, Kind::Tagmsg)
}

fn deliver(cx: &mut Cx, msg: &Message, kind: Kind) -> Result<(), CmdError> {
    let cmd = kind.command();
    let quiet = kind == Kind::Notice;
    let targets_param = msg.param(0);
    if targets_param.is_empty() {
        return Err(err(
            ERR_NORECIPIENT,
            [format!("No recipient given ({cmd})")],
        ));
    }
    let text = msg.param(1);
    if kind != Kind::Tagmsg && text.is_empty() {
        return Err(err(ERR_NOTEXTTOSEND, ["No text to send"]));
    }
    // One target (nearly every message) needs no list.
    let mut several: Vec<&str> = Vec::new();
    let one = [targets_param];
    let targets: &[&str] = if targets_param.contains(',') {
        for t in targets_param.split(',').filter(|t| !t.is_empty()) {
            if !several.iter().any(|seen| chatd_proto::fold_eq(seen, t)) {
                several.push(t);
            }
        }
        &several
    } else {
        &one
    };
    if targets.len() > cx.config.limits.targets_per_message {
        let max = cx.config.limits.targets_per_message;
        return Err(err(
            ERR_TOOMANYTARGETS,
            [
                targets_param.to_string(),
                format!("Too many targets, the maximum is {max}. No message delivered"),
            ],
        ));
    }
    let me = cx.me;
    let client_tags: Vec<Tag> = msg
        .tags
        .iter()
        .filter(|t| t.key.starts_with('+'))
        .cloned()
        .collect();
    if client_tags_len(&client_tags) > MAX_CLIENT_TAGS {
        return Err(err(ERR_INPUTTOOLONG, ["Input line was too long"]));
    }
    let echo = cx.user().caps.has(Cap::EchoMessage);
    let needs = (kind == Kind::Tagmsg).then_some(Cap::MessageTags);
    let stored_kind = match kind {
        Kind::Privmsg => Some(store::Kind::Privmsg),
        Kind::Notice => Some(store::Kind::Notice),
        Kind::Tagmsg => None,
    };
    if kind != Kind::Tagmsg {
        cx.user_mut().last_message = cx.now;
    }
    let account = cx.user().account.clone();
    let bot = cx.user().bot;
    let source = cx.user().source();
    let who = Who {
        source: &source,
        account: account.as_deref(),
    };
    for &target in targets {
        // What is relayed, logged and echoed is the text that fits in one line.
        let text = fit_text(text, line_room(cmd, &source, target));
        // One id and one time per target: each is its own logged message.
        let time_ms = chrono::Utc::now().timestamp_millis();
        // TAGMSG is not logged, but may be referred to (a reaction to a reaction):
        // every message gets an id (https://ircv3.net/specs/extensions/message-ids);
        // another node's message keeps its node's id (`State::next_msg_id`).
        let id = Some(cx.state.next_msg_id(time_ms));
        let build = |_cx: &Cx, shown_target: String| {
            // Sized once: the parameters and the tags below, no regrowing.
            let mut params = Vec::with_capacity(2);
            params.push(shown_target);
            if kind != Kind::Tagmsg {
                params.push(text.to_string());
            }
            let mut m = Message {
                tags: Vec::with_capacity(4 + client_tags.len()),
                source: Some(source.clone()),
                command: cmd.to_string(),
                params,
                trailing: kind != Kind::Tagmsg,
            };
            m.tags.push(Tag::new("time", history::format_time(time_ms)));
            if let Some(id) = id {
                m.tags.push(Tag::new("msgid", store::msgid_of(id)));
            }
            if let Some(a) = &account {
                m.tags.push(Tag::new("account", a.as_str()));
            }
            if bot {
                m.tags.push(Tag::new("bot", ""));
            }
            m.tags.extend(client_tags.iter().cloned());
            Outgoing::new(m)
        };
        let stored = |target: String, conv: Conv| {
            Some(StoredMessage {
                id: id?,
                time_ms,
                kind: stored_kind?,
                source: source.clone(),
                account: account.clone(),
                target,
                conv,
                text: text.to_string(),
            })
        };
        let (status, chan_target) = split_status(target);
        if chan_target.starts_with('#') {
            let folded = fold(chan_target);
            let Some(chan) = cx.state.channels.get(&folded) else {
                if !quiet {
                    cx.send_err(no_such_channel(target));
                }
                continue;
            };
            if let Some(refusal) = refusal(chan, me, &who, kind != Kind::Tagmsg && is_ctcp(text)) {
                if !quiet {
                    let name = chan.name.clone();
                    cx.reply(ERR_CANNOTSENDTOCHAN, &[name.as_str(), refusal]);
                }
                continue;
            }
            let name = chan.name.clone();
            let incarnation = chan.incarnation;
            if let Some(status) = status {
                // STATUSMSG: to the members with that status or higher only, and
                // not logged: history is what every member may read.
                let mut out = build(cx, format!("{status}{name}"));
                let members: Vec<usize> = chan
                    .members
                    .iter()
                    .filter(|(&slot, m)| slot != me && m.rank() >= status_rank(status))
                    .map(|(&slot, _)| slot)
                    .collect();
                for slot in members {
                    if needs.is_none_or(|c| cx.user_of(slot).is_some_and(|u| u.caps.has(c))) {
                        cx.send_outgoing(slot, &mut out);
                    }
                }
                if echo {
                    cx.send_outgoing(me, &mut out);
                }
                continue;
            }
            let mut out = build(cx, name.clone());
            cx.send_to_channel(&folded, &mut out, Some(me), needs);
            if echo {
                cx.send_outgoing(me, &mut out);
            }
            let conv = Conv::Channel {
                name: folded.clone(),
                incarnation,
            };
            if let Some(m) = stored(name, conv) {
                log_message(cx, m);
            }
        } else {
            // A registered nick held by someone not logged in to its account is not
            // that account's: what is meant for the account goes to the account.
            let holder = cx.state.slot_of_nick(target);
            let Some(slot) = holder.filter(|&s| !account::holds_others_nick(cx, s)) else {
                if kind == Kind::Privmsg && fold(target) == fold(account::NICKSERV) {
                    account::nickserv(cx, text);
                    continue;
                }
                if kind == Kind::Privmsg && fold(target) == fold(super::chanserv::CHANSERV) {
                    super::chanserv::chanserv(cx, text);
                    continue;
                }
                let their_party = match cx.state.account(target) {
                    Some(a) => Party::account(a.id),
                    None => history::party_of_nick(cx, target),
                };
                let offline = stored(
                    target.to_string(),
                    Conv::Direct(history::my_party(cx).into_key(), their_party.into_key()),
                );
                match (cx.state.account(target).map(|a| a.name.clone()), offline) {
                    (Some(name), Some(m)) => {
                        to_account(cx, &name, m, &mut build(cx, name.clone()), echo)
                    }
                    _ if !quiet => cx.send_err(no_such_nick(target)),
                    _ => {}
                }
                continue;
            };
            let Some(recipient) = cx.user_of(slot) else {
                continue;
            };
            let (nick, away, caps) = (
                recipient.nick.clone(),
                recipient.away.clone(),
                recipient.caps,
            );
            let their_party = history::party_of_user(cx.state, recipient);
            let mut out = build(cx, nick.clone());
            if slot == me && !echo && cx.replies.label().is_some() {
                // labeled-response, "Tags": a message to yourself is delivered
                // without the label; only an echo-message echo carries it.
                if needs.is_none_or(|c| caps.has(c)) {
                    let bytes = out.bytes_for(caps);
                    cx.conns.send(me, bytes);
                }
            } else if needs.is_none_or(|c| caps.has(c)) {
                cx.send_outgoing(slot, &mut out);
            }
            let conv = Conv::Direct(history::my_party(cx).into_key(), their_party.into_key());
            if let Some(m) = stored(nick.clone(), conv) {
                log_message(cx, m);
            }
            // A message to yourself is already your echo: one copy, not two.
            if echo && slot != me {
                cx.send_outgoing(me, &mut out);
            }
            if let (Kind::Privmsg, Some(away)) = (kind, away) {
                cx.reply(RPL_AWAY, &[nick, away.to_string()]);
            }
        }
    }
    Ok(())
}

/// A STATUSMSG target (`@#chan`, `%#chan`...; ISUPPORT `STATUSMSG=~@%+`) split into its
/// status and channel; any other target comes back whole.
/// https://modern.ircdocs.horse/#statusmsg-parameter
fn split_status(target: &str) -> (Option<char>, &str) {
    match target.chars().next() {
        Some(c @ ('~' | '@' | '%' | '+')) if target[1..].starts_with('#') => {
            (Some(c), &target[1..])
        }
        _ => (None, target),
    }
}

/// The lowest role a STATUSMSG prefix reaches.
fn status_rank(status: char) -> u8 {
    use crate::state::channel::rank;
    match status {
        '~' => rank::FOUNDER,
        '@' => rank::OP,
        '%' => rank::HALFOP,
        _ => rank::VOICE,
    }
}

/// Why `me` may not speak in `chan` (404's text), if it may not: banned, muted or
/// moderated out, or CTCP (`ctcp`) in a `+C` channel.
pub(super) fn refusal(
    chan: &crate::state::Channel,
    me: usize,
    who: &Who,
    ctcp: bool,
) -> Option<&'static str> {
    if !chan.can_send(me, who) {
        Some("Cannot send to channel")
    } else if chan.modes.no_ctcp && ctcp {
        Some("Cannot send CTCP to channel (+C)")
    } else {
        None
    }
}

/// A CTCP request or reply other than ACTION (which `+C` lets through).
fn is_ctcp(text: &str) -> bool {
    text.starts_with('\u{1}') && !text[1..].starts_with("ACTION")
}

/// IRCv3 message-tags: a client's tags, their `@` and the space after them included,
/// may take 4094 bytes; the server's own tags get the other half of the 8191.
const MAX_CLIENT_TAGS: usize = 4094;

/// The bytes `tags` take as a tags section (`@a=b;+c ` with values escaped).
fn client_tags_len(tags: &[Tag]) -> usize {
    if tags.is_empty() {
        return 0;
    }
    let mut section = String::from("@");
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            section.push(';');
        }
        section.push_str(&tag.key);
        if !tag.value.is_empty() {
            section.push('=');
            let _ = chatd_proto::message::escape_tag_value(&tag.value, &mut section);
        }
    }
    section.len() + 1
}

/// Bytes of text that fit in `:<source> <cmd> <target> :<text>\r\n` within the
/// 512 bytes of RFC 1459 §2.3 (tags aside).
fn line_room(cmd: &str, source: &str, target: &str) -> usize {
    let framing = 1 + source.len() + 1 + cmd.len() + 1 + target.len() + 2 + 2;
    512usize.saturating_sub(framing)
}

/// `text` cut to at most `room` bytes on a character boundary: a client that sends the
/// longest line it may cannot know how long its source is as others see it, so the
/// relayed line would otherwise pass 512 bytes.
fn fit_text(text: &str, room: usize) -> &str {
    if text.len() <= room {
        return text;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Adds a message to this pass's log batch (when logging is on), counts it, and
/// copies it to `tail-log -f` followers.
fn log_message(cx: &mut Cx, m: StoredMessage) {
    note(cx, &m);
    // Another node's message, in one shared database, is logged by its own node.
    if cx.config.history.log_messages && !cx.store.origin_writes_muted() {
        cx.state.log_batch.push(m);
    }
}

fn note(cx: &mut Cx, m: &StoredMessage) {
    cx.state.rate.count(m.time_ms / 1000);
    if cx.state.tap {
        cx.state.tapped.push(m.clone());
    }
}

/// A message to a registered account whose nick is not online: to its sessions under
/// other nicks if it has any, else into its offline queue.
fn to_account(cx: &mut Cx, name: &str, m: StoredMessage, out: &mut Outgoing, echo: bool) {
    let me = cx.me;
    let folded = fold(name);
    let sessions = cx.state.sessions.get(&folded).cloned().unwrap_or_default();
    if !sessions.is_empty() {
        for slot in sessions {
            let Some(nick) = cx.user_of(slot).map(|u| u.nick.clone()) else {
                continue;
            };
            let mut live = out.retarget(&nick);
            cx.send_outgoing(slot, &mut live);
        }
        if echo {
            cx.send_outgoing(me, out);
        }
        log_message(cx, m);
        return;
    }
    if echo {
        cx.send_outgoing(me, out);
    }
    note(cx, &m);
    let Some(account) = cx.state.account_id(name) else {
        return;
    };
    let then = Then::Queued {
        command: m.kind.command(),
        target: name.to_string(),
    };
    cx.tell(then, |ticket| Request::Queue {
        ticket,
        account,
        msg: m,
    });
}

/// The store committed (or refused) an offline message: tell the sender.
pub fn on_queued(
    cx: &mut Cx,
    asker: ConnId,
    (command, target): (&str, &str),
    result: Result<(), QueueRefusal>,
) {
    if !cx.alive(asker) {
        return;
    }
    let impostor = cx
        .state
        .slot_of_nick(target)
        .is_some_and(|s| account::holds_others_nick(cx, s));
    match result {
        Ok(()) if impostor => cx.notice(&format!(
            "{target} is in use by someone not logged in to that account; your message was \
             queued for the account and will be delivered when its owner logs in"
        )),
        Ok(()) => cx.notice(&format!(
            "{target} is offline; your message was queued and will be delivered when they log in"
        )),
        Err(refusal) => {
            let (code, text) = match refusal {
                QueueRefusal::Full => (
                    "QUEUE_FULL",
                    format!("{target} is offline and has too many messages waiting; yours was not delivered"),
                ),
                QueueRefusal::Stale => (
                    "QUEUE_STALE",
                    format!("{target} has not picked up their messages for too long; yours was not delivered"),
                ),
                QueueRefusal::Unavailable => (
                    "TEMPORARILY_UNAVAILABLE",
                    format!("Your message to {target} could not be stored; it was not delivered"),
                ),
            };
            let server = cx.server_name().to_string();
            cx.send_me(
                &Message::new("FAIL", [command, code, target, text.as_str()]).with_source(server),
            );
        }
    }
}

/// `AWAY [:<message>]` — RFC 2812 §4.1; away-notify tells channel peers.
pub fn away(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let text = super::channel::truncate(msg.param(0), cx.config.limits.away_len).to_string();
    let me = cx.me;
    let params = if text.is_empty() {
        cx.user_mut().away = None;
        cx.reply(RPL_UNAWAY, &["You are no longer marked as being away"]);
        vec![]
    } else {
        cx.user_mut().away = Some(text.as_str().into());
        cx.reply(RPL_NOWAWAY, &["You have been marked as being away"]);
        vec![text]
    };
    let mut out = Outgoing::new(cx.relay_from(me, "AWAY", params).with_trailing());
    cx.send_identity_change(me, &mut out, false, Cap::AwayNotify);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_targets() {
        let cases = [
            ("@#c", (Some('@'), "#c")),
            ("+#c", (Some('+'), "#c")),
            ("#c", (None, "#c")),
            ("@", (None, "@")),
            ("+nick", (None, "+nick")),
            ("@@#c", (None, "@@#c")),
        ];
        for (target, want) in cases {
            assert_eq!(split_status(target), want, "{target}");
        }
    }

    #[test]
    fn ctcp_but_not_action() {
        let cases = [
            ("\u{1}VERSION\u{1}", true),
            ("\u{1}PING 1\u{1}", true),
            ("\u{1}ACTION waves\u{1}", false),
            ("hello", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_ctcp(text), want, "{text:?}");
        }
    }
}
