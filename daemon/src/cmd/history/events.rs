//! Channel events kept in history (IRCv3 draft/event-playback,
//! <https://ircv3.net/specs/extensions/chathistory#event-playback>): JOIN, PART,
//! KICK, MODE and TOPIC once in their channel, QUIT and NICK once in each channel
//! the user was in. They are rows of the message log with their own `Kind`, read
//! back only for clients that negotiated `draft/event-playback`.
//!
//! An event's id is the `msgid` tag of the relayed line when it carries one (so the
//! live line and the replayed one agree), else a fresh one from the same sequence
//! (`State::next_msg_id`). Events are logged when both `history.log_messages` and
//! `history.log_events` are on.

use crate::cmd::Cx;
use crate::store::{id_of_msgid, Conv, Kind, StoredMessage};
use chatd_proto::{fold, Message};

/// Logs a channel event (JOIN, PART, KICK, MODE, TOPIC) as relayed: `msg.params[0]`
/// is the channel.
pub fn log_event(cx: &mut Cx, msg: &Message) {
    let Some(kind) = kind_of(&msg.command) else {
        return;
    };
    let account = msg
        .source_nick()
        .and_then(|n| cx.state.slot_of_nick(n))
        .and_then(|s| cx.user_of(s))
        .and_then(|u| u.account.clone());
    let id = msg.tag("msgid").and_then(id_of_msgid);
    log_in(
        cx,
        &fold(msg.param(0)),
        (kind, id),
        msg,
        account,
        &msg.params[1..],
    );
}

/// Logs a user's QUIT or NICK (as relayed) in each channel `slot` is in.
pub fn log_user_event(cx: &mut Cx, slot: usize, msg: &Message) {
    let Some(kind) = kind_of(&msg.command) else {
        return;
    };
    let Some(user) = cx.user_of(slot) else {
        return;
    };
    let (channels, account) = (user.channels.clone(), user.account.clone());
    // One relayed line, one row per channel: the line's msgid names the first row.
    let mut id = msg.tag("msgid").and_then(id_of_msgid);
    for folded in channels {
        log_in(
            cx,
            &folded,
            (kind, id.take()),
            msg,
            account.clone(),
            &msg.params,
        );
    }
}

fn kind_of(command: &str) -> Option<Kind> {
    Some(match command {
        "JOIN" => Kind::Join,
        "PART" => Kind::Part,
        "QUIT" => Kind::Quit,
        "KICK" => Kind::Kick,
        "MODE" => Kind::Mode,
        "TOPIC" => Kind::Topic,
        "NICK" => Kind::Nick,
        _ => return None,
    })
}

fn log_in(
    cx: &mut Cx,
    folded: &str,
    (kind, id): (Kind, Option<i64>),
    msg: &Message,
    account: Option<String>,
    params: &[String],
) {
    let history = &cx.config.history;
    if !(history.log_messages && history.log_events) {
        return;
    }
    let Some(chan) = cx.state.channels.get(folded) else {
        return;
    };
    let (target, incarnation) = (chan.name.clone(), chan.incarnation);
    let time_ms = msg
        .tag("time")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || chrono::Utc::now().timestamp_millis(),
            |t| t.timestamp_millis(),
        );
    let id = match id {
        Some(id) => id,
        None => cx.state.next_msg_id(time_ms),
    };
    // Another node's event, in one shared database, is logged by its own node (the
    // id is taken all the same, to keep the ids that follow in step).
    if cx.store.origin_writes_muted() {
        return;
    }
    cx.state.log_batch.push(StoredMessage {
        id,
        time_ms,
        kind,
        source: msg.source.clone().unwrap_or_default(),
        account,
        target,
        conv: Conv::Channel {
            name: folded.to_string(),
            incarnation,
        },
        text: params.join("\n"),
    });
}

/// A stored event as the line to replay (without tags): its channel first, but for
/// QUIT and NICK, which name none.
pub fn event_line(m: &StoredMessage) -> Message {
    let mut params = Vec::new();
    if !matches!(m.kind, Kind::Quit | Kind::Nick) {
        params.push(m.target.clone());
    }
    params.extend(m.event_params());
    let trailing = matches!(m.kind, Kind::Part | Kind::Quit | Kind::Kick | Kind::Topic)
        && params.len() > usize::from(!matches!(m.kind, Kind::Quit | Kind::Nick));
    let msg = Message::new(m.kind.command(), params).with_source(m.source.as_str());
    if trailing {
        msg.with_trailing()
    } else {
        msg
    }
}
