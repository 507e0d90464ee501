//! [`Event`]: what a bot hears, with named fields, and [`Message`], one PRIVMSG or
//! NOTICE. Turning wire lines into events lives here; the channel bookkeeping that
//! goes with JOIN/PART/... lives in `state.rs`.

use crate::proto;
use chrono::{DateTime, Utc};
use std::time::Duration;

pub use crate::proto::Tag;

/// One thing that happened. Every line the SDK does not turn into another variant
/// comes as [`Event::Raw`], so nothing is hidden.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Registration (and login, if configured) is complete; channels are being
    /// joined. Comes again after each reconnect.
    Connected {
        nick: String,
        account: Option<String>,
    },
    /// The connection is gone. `reconnect_in` says when the next try is, if any.
    Disconnected {
        reason: String,
        reconnect_in: Option<Duration>,
    },
    /// A PRIVMSG (including CTCP ACTION).
    Message(Message),
    /// A NOTICE. Bots must never answer one automatically (RFC 2812 §3.3.2).
    Notice(Message),
    Join {
        channel: String,
        nick: String,
        /// The nick is this bot's.
        own: bool,
    },
    Part {
        channel: String,
        nick: String,
        reason: String,
        own: bool,
    },
    Kick {
        channel: String,
        /// Who was kicked.
        nick: String,
        /// Who kicked.
        by: String,
        reason: String,
        /// This bot was kicked.
        own: bool,
    },
    Quit {
        nick: String,
        reason: String,
        /// The channels (shared with the bot) the user was in.
        channels: Vec<String>,
    },
    Nick {
        old: String,
        new: String,
        own: bool,
    },
    /// A topic change, or the topic shown on joining (`by` is then `None`).
    Topic {
        channel: String,
        topic: String,
        by: Option<String>,
    },
    /// Any other line: numerics, MODE, INVITE, CAP...
    Raw(proto::Message),
}

/// One PRIVMSG or NOTICE.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sender's nick (or the server's name for a server notice).
    pub from: String,
    /// A channel, or this bot's nick for a private message.
    pub target: String,
    /// The text, without CTCP framing for an action.
    pub text: String,
    /// When it was sent: the `@time` tag (server-time) when there is one, else when
    /// it arrived.
    pub time: DateTime<Utc>,
    /// The sender's account (account-tag), when logged in.
    pub account: Option<String>,
    /// Every message tag as received (`msgid`, `time`, `account`, `+client` tags...).
    pub tags: Vec<Tag>,
    /// Sent to the bot itself rather than to a channel.
    pub is_private: bool,
    /// Sent before now and replayed by the server: the offline queue, missed
    /// channel messages, or history asked for. See [`crate::Config::replay_slack`].
    pub replayed: bool,
    /// Sent by this bot (echo-message, or its own lines in history).
    pub own: bool,
    /// A CTCP ACTION (`/me`).
    pub action: bool,
}

impl Message {
    /// Where an answer goes: the channel, or the other party of a private query.
    pub fn reply_target(&self) -> &str {
        if self.is_private && !self.own {
            &self.from
        } else {
            &self.target
        }
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// The server's id for this message (`msgid` tag).
    pub fn msgid(&self) -> Option<&str> {
        self.tag("msgid")
    }
}

/// What the translation needs to know about the connection.
pub(crate) struct Context<'a> {
    pub my_nick: &'a str,
    pub chantypes: &'a str,
    pub statusmsg: &'a str,
    /// The line sits in a `chathistory` batch.
    pub in_history_batch: bool,
    /// Older than this is replayed.
    pub replay_before: Option<DateTime<Utc>>,
    pub fold_eq: &'a dyn Fn(&str, &str) -> bool,
}

/// A PRIVMSG or NOTICE as a [`Message`]; `None` for other commands and for CTCP
/// requests other than ACTION (those stay [`Event::Raw`]).
pub(crate) fn message(msg: &proto::Message, cx: &Context<'_>) -> Option<Message> {
    if msg.params.len() < 2 {
        return None;
    }
    let from = msg.source_nick().map(str::to_string).unwrap_or_default();
    let target = msg.param(0).to_string();
    let raw_text = msg.param(1);
    let (text, action) = match raw_text.strip_prefix('\x01') {
        Some(ctcp) => {
            let ctcp = ctcp.strip_suffix('\x01').unwrap_or(ctcp);
            match ctcp.strip_prefix("ACTION") {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                    (rest.trim_start_matches(' ').to_string(), true)
                }
                _ => return None,
            }
        }
        None => (raw_text.to_string(), false),
    };
    let stamped = msg.tag("time").and_then(parse_time);
    let time = stamped.unwrap_or_else(Utc::now);
    let replayed = cx.in_history_batch
        || matches!((stamped, cx.replay_before), (Some(t), Some(before)) if t < before);
    let bare_target = target.trim_start_matches(|c| cx.statusmsg.contains(c));
    let is_private = !bare_target.starts_with(|c| cx.chantypes.contains(c));
    Some(Message {
        own: (cx.fold_eq)(&from, cx.my_nick),
        from,
        target,
        text,
        time,
        account: msg
            .tag("account")
            .filter(|a| !a.is_empty() && *a != "*")
            .map(str::to_string),
        tags: msg.tags.clone(),
        is_private,
        replayed,
        action,
    })
}

/// An IRCv3 server-time value (`2026-11-22T10:00:00.000Z`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse;

    fn cx<'a>(replay_before: Option<DateTime<Utc>>, batch: bool) -> Context<'a> {
        Context {
            my_nick: "bot",
            chantypes: "#",
            statusmsg: "@+",
            in_history_batch: batch,
            replay_before,
            fold_eq: &|a: &str, b: &str| a.eq_ignore_ascii_case(b),
        }
    }

    #[test]
    fn privmsg_fields() {
        let line = "@time=2026-11-22T10:00:00.000Z;msgid=abc;account=alice :alice!~a@h PRIVMSG #c :hi there";
        let m = message(&parse(line).unwrap(), &cx(None, false)).unwrap();
        assert_eq!(m.from, "alice");
        assert_eq!(m.target, "#c");
        assert_eq!(m.text, "hi there");
        assert_eq!(m.account.as_deref(), Some("alice"));
        assert_eq!(m.msgid(), Some("abc"));
        assert_eq!(m.time.to_rfc3339(), "2026-11-22T10:00:00+00:00");
        assert!(!m.is_private && !m.replayed && !m.own && !m.action);
        assert_eq!(m.reply_target(), "#c");
    }

    #[test]
    fn private_action_and_ctcp() {
        let m = message(
            &parse(":alice!a@h PRIVMSG Bot :\x01ACTION waves\x01").unwrap(),
            &cx(None, false),
        )
        .unwrap();
        assert!(m.is_private && m.action);
        assert_eq!(m.text, "waves");
        assert_eq!(m.reply_target(), "alice");
        assert!(message(
            &parse(":alice!a@h PRIVMSG bot :\x01VERSION\x01").unwrap(),
            &cx(None, false)
        )
        .is_none());
        // An echo of the bot's own private message answers to its target.
        let own = message(
            &parse(":bot!b@h PRIVMSG alice :hello").unwrap(),
            &cx(None, false),
        )
        .unwrap();
        assert!(own.own && own.is_private);
        assert_eq!(own.reply_target(), "alice");
        // STATUSMSG targets are channels.
        let ops = message(
            &parse(":alice!a@h NOTICE @#c :ops only").unwrap(),
            &cx(None, false),
        )
        .unwrap();
        assert!(!ops.is_private);
    }

    #[test]
    fn replayed_by_batch_or_age() {
        let connected = parse_time("2026-11-22T10:00:10.000Z");
        let old = parse(":a!a@h PRIVMSG bot :x")
            .unwrap()
            .with_tag("time", "2026-11-22T10:00:00.000Z");
        assert!(message(&old, &cx(connected, false)).unwrap().replayed);
        assert!(!message(&old, &cx(None, false)).unwrap().replayed);
        assert!(message(&old, &cx(None, true)).unwrap().replayed);
        let new = parse(":a!a@h PRIVMSG bot :x")
            .unwrap()
            .with_tag("time", "2026-11-22T10:00:11.000Z");
        assert!(!message(&new, &cx(connected, false)).unwrap().replayed);
        // No time tag: it is live.
        let untagged = parse(":a!a@h PRIVMSG bot :x").unwrap();
        assert!(!message(&untagged, &cx(connected, false)).unwrap().replayed);
    }
}
