//! The replay of stored messages to the sender: history and CHATHISTORY answers
//! (and their failures), CHATHISTORY TARGETS, `chathistory` batches, and one stored
//! message as a line with its original time.

use super::fail;
use crate::cmd::Cx;
use crate::followup::HistoryFrom;
use crate::ids::ConnId;
use crate::outgoing::{Bytes, Outgoing};
use crate::state::{Cap, Caps};
use crate::store::{self, StoredMessage};
use chatd_proto::{fold, Message};

/// A history answer arrived.
pub fn on_history(
    cx: &mut Cx,
    asker: ConnId,
    (from, target, floor): (&HistoryFrom, &str, i64),
    messages: Vec<StoredMessage>,
) {
    if !cx.alive(asker) {
        return;
    }
    let mut messages = messages;
    messages.retain(|m| m.id > floor);
    let shown = if target.starts_with('#') {
        cx.state
            .channels
            .get(&fold(target))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| target.to_string())
    } else {
        target.to_string()
    };
    let count = messages.len();
    send_replay_batch(cx, &shown, &messages);
    if *from == HistoryFrom::History && !cx.user().caps.has(Cap::Batch) {
        cx.notice(&format!("End of HISTORY for {shown}: {count} messages"));
    }
}

/// A history read failed (a damaged database, an I/O error): the client is told
/// with a `FAIL`, never given a short or empty batch that looks like the whole
/// history. IRCv3 chathistory, "Errors": `FAIL CHATHISTORY MESSAGE_ERROR <subcommand>
/// <target> :<text>` when "the server could not retrieve messages"; HISTORY, our own
/// command, answers the same way under its own name.
/// `read` is what was asked: the history of a target, or `None` for TARGETS.
pub fn on_read_failed(cx: &mut Cx, asker: ConnId, read: Option<(&HistoryFrom, &str)>, why: &str) {
    if !cx.alive(asker) {
        return;
    }
    log::warn!("conn={} history read failed: {why}", cx.me);
    let text = "Messages could not be retrieved (a storage error; the operator is told)";
    match read {
        None => fail(cx, "CHATHISTORY", "MESSAGE_ERROR", &["TARGETS", "*"], text),
        // The replay at login is not a command the client sent: say it in words.
        Some((HistoryFrom::Missed, target)) => cx.notice(&format!(
            "What you missed in {target} could not be retrieved (a storage error; the operator is told)"
        )),
        Some((HistoryFrom::Chathistory { sub }, target)) => {
            fail(cx, "CHATHISTORY", "MESSAGE_ERROR", &[sub, target], text)
        }
        Some((HistoryFrom::History, target)) => {
            fail(cx, "HISTORY", "MESSAGE_ERROR", &[target], text)
        }
    }
}

/// A CHATHISTORY TARGETS answer arrived.
pub fn on_targets(cx: &mut Cx, asker: ConnId, targets: Vec<store::TargetActivity>) {
    if !cx.alive(asker) {
        return;
    }
    let caps = cx.user().caps;
    let batch = caps.has(Cap::Batch).then(new_batch_id);
    let server = cx.server_name().to_string();
    if let Some(id) = &batch {
        let start = Message::new(
            "BATCH",
            [format!("+{id}"), "draft/chathistory-targets".to_string()],
        )
        .with_source(server.as_str());
        cx.send_replay(start.to_line().into(), None);
    }
    for t in targets {
        let mut m = Message::new(
            "CHATHISTORY",
            ["TARGETS".to_string(), t.name, format_time(t.latest_ms)],
        )
        .with_source(server.as_str());
        if let Some(id) = &batch {
            m = m.with_tag("batch", id.as_str());
        }
        cx.send_replay(Outgoing::new(m).bytes_for(caps), None);
    }
    if let Some(id) = &batch {
        let end = Message::new("BATCH", [format!("-{id}")]).with_source(server.as_str());
        cx.send_replay(end.to_line().into(), None);
    }
}

/// Sends stored messages to the sender, in a `chathistory` batch for clients with
/// `batch` (an empty batch when there are none). Goes through the replay backlog.
pub fn send_replay_batch(cx: &mut Cx, target: &str, messages: &[StoredMessage]) {
    let caps = cx.user().caps;
    let batch = caps.has(Cap::Batch).then(new_batch_id);
    let server = cx.server_name().to_string();
    if let Some(id) = &batch {
        let start = Message::new(
            "BATCH",
            [format!("+{id}"), "chathistory".into(), target.into()],
        )
        .with_source(server.as_str());
        cx.send_replay(start.to_line().into(), None);
    }
    for m in messages {
        let bytes = replay_bytes(m, None, caps, batch.as_deref());
        cx.send_replay(bytes, None);
    }
    if let Some(id) = &batch {
        let end = Message::new("BATCH", [format!("-{id}")]).with_source(server.as_str());
        cx.send_replay(end.to_line().into(), None);
    }
}

/// One stored message as a line for a client with `caps`: its original source,
/// `time`, `msgid` and `account` tags as the client negotiated them, and a readable
/// time prefix in the text for clients without server-time. `target` overrides the
/// stored target (the offline queue shows the recipient's current nick). A multiline
/// message (its text has line feeds, or does not fit one line) comes as several lines
/// in the same bytes ([`multiline_bytes`]).
pub fn replay_bytes(
    m: &StoredMessage,
    target: Option<&str>,
    caps: Caps,
    batch: Option<&str>,
) -> Bytes {
    if m.kind.is_event() {
        let mut msg = super::events::event_line(m)
            .with_tag("time", format_time(m.time_ms))
            .with_tag("msgid", store::msgid_of(m.id));
        if let Some(a) = &m.account {
            msg = msg.with_tag("account", a.as_str());
        }
        if let Some(b) = batch {
            msg = msg.with_tag("batch", b);
        }
        return Outgoing::new(msg).bytes_for(caps);
    }
    let target = target.unwrap_or(&m.target).to_string();
    // As `cmd/message.rs` fits live text: `:<source> <cmd> <target> :<text>\r\n`.
    let framing = m.source.len() + m.kind.command().len() + target.len() + 7;
    let room = 512usize.saturating_sub(framing);
    if m.text.contains('\n') || m.text.len() > room {
        return multiline_bytes(m, &target, caps, batch, room);
    }
    let text = if caps.has(Cap::ServerTime) {
        m.text.clone()
    } else {
        with_time_prefix(&m.text, m.time_ms)
    };
    let mut msg = Message::new(m.kind.command(), [target, text])
        .with_trailing()
        .with_source(m.source.as_str())
        .with_tag("time", format_time(m.time_ms))
        .with_tag("msgid", store::msgid_of(m.id));
    if let Some(a) = &m.account {
        msg = msg.with_tag("account", a.as_str());
    }
    if let Some(b) = batch {
        msg = msg.with_tag("batch", b);
    }
    Outgoing::new(msg).bytes_for(caps)
}

/// The pieces of a multiline text, each at most `room` bytes: its lines, a line too
/// long cut on character boundaries, the pieces after the first of a line marked to
/// join it with no line feed (`draft/multiline-concat`).
fn pieces(text: &str, room: usize) -> Vec<(&str, bool)> {
    let room = room.max(4);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let mut rest = line;
        let mut concat = false;
        loop {
            let mut end = rest.len().min(room);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            out.push((&rest[..end], concat));
            rest = &rest[end..];
            concat = true;
            if rest.is_empty() {
                break;
            }
        }
    }
    out
}

/// A stored multiline message (IRCv3 multiline) for a client with `caps`: a
/// `draft/multiline` batch, nested in `batch` if given, for clients with the
/// capability; else its non-blank lines, the first with the msgid ("Fallback").
fn multiline_bytes(
    m: &StoredMessage,
    target: &str,
    caps: Caps,
    batch: Option<&str>,
    room: usize,
) -> Bytes {
    let command = m.kind.command();
    let time = format_time(m.time_ms);
    let server_tags = |mut msg: Message, msgid: bool| {
        msg = msg.with_tag("time", time.as_str());
        if msgid {
            msg = msg.with_tag("msgid", store::msgid_of(m.id));
        }
        if let Some(a) = &m.account {
            msg = msg.with_tag("account", a.as_str());
        }
        msg
    };
    let mut bytes = Vec::new();
    let push = |msg: Message, bytes: &mut Vec<u8>| {
        let msg = match batch {
            Some(b) if msg.tag("batch").is_none() => msg.with_tag("batch", b),
            _ => msg,
        };
        bytes.extend_from_slice(&Outgoing::new(msg).bytes_for(caps));
    };
    if crate::cmd::message::multiline::gets_batches(caps) {
        let reference = new_batch_id();
        let start = Message::new(
            "BATCH",
            [
                format!("+{reference}"),
                crate::cmd::message::multiline::BATCH_TYPE.to_string(),
                target.to_string(),
            ],
        )
        .with_source(m.source.as_str());
        push(server_tags(start, true), &mut bytes);
        for (piece, concat) in pieces(&m.text, room) {
            let mut line = Message::new(command, [target, piece])
                .with_trailing()
                .with_source(m.source.as_str())
                .with_tag("batch", reference.as_str());
            if concat {
                line = line.with_tag("draft/multiline-concat", "");
            }
            push(line, &mut bytes);
        }
        let end = Message::new("BATCH", [format!("-{reference}")]).with_source(m.source.as_str());
        push(end, &mut bytes);
        return bytes.into();
    }
    let mut first = true;
    for (piece, _) in pieces(&m.text, room)
        .into_iter()
        .filter(|(p, _)| !p.is_empty())
    {
        let text = if first && !caps.has(Cap::ServerTime) {
            with_time_prefix(piece, m.time_ms)
        } else {
            piece.to_string()
        };
        let line = Message::new(command, [target.to_string(), text])
            .with_trailing()
            .with_source(m.source.as_str());
        push(server_tags(line, first), &mut bytes);
        first = false;
    }
    bytes.into()
}

/// `[2026-11-22 10:00:00 UTC] text`, keeping a CTCP ACTION an action.
fn with_time_prefix(text: &str, ms: i64) -> String {
    let when = chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    match text.strip_prefix("\x01ACTION ") {
        Some(rest) => format!("\x01ACTION [{when}] {rest}"),
        None => format!("[{when}] {text}"),
    }
}

/// The server-time format: `2026-11-22T10:00:00.000Z`.
///
/// Every live message carries one, so the date and time of day are formatted once per
/// second (a per-thread cache) and only the milliseconds per call.
pub fn format_time(ms: i64) -> String {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000) as u32);
    SECOND.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let Some(t) = chrono::DateTime::from_timestamp(secs, 0) else {
                return String::new();
            };
            cache.1 = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            cache.0 = secs;
        }
        let mut out = String::with_capacity(cache.1.len() + 5);
        out.push_str(&cache.1);
        out.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
        out.push('Z');
        out
    })
}

fn new_batch_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_text_splits_on_line_feeds_and_long_lines() {
        assert_eq!(
            pieces("ab\n\ncdefg", 4),
            [("ab", false), ("", false), ("cdef", false), ("g", true)]
        );
        // Never inside a character.
        assert_eq!(pieces("éé", 5), [("éé", false)]);
        assert_eq!(pieces("ééé", 5), [("éé", false), ("é", true)]);
    }

    #[test]
    fn format_time_matches_chrono() {
        let chrono_fmt = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        for ms in [
            0,
            1,
            999,
            1_000,
            1_795_000_000_007,
            1_795_000_000_070,
            1_795_000_000_700,
            1_795_000_000_999,
            1_795_000_001_000,
            -1,
            -999,
            -1_001,
        ] {
            assert_eq!(format_time(ms), chrono_fmt(ms), "{ms}");
        }
        assert_eq!(format_time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn time_prefix_keeps_actions() {
        let t = with_time_prefix("\x01ACTION waves\x01", 0);
        assert_eq!(t, "\x01ACTION [1970-01-01 00:00:00 UTC] waves\x01");
        assert_eq!(with_time_prefix("hi", 0), "[1970-01-01 00:00:00 UTC] hi");
    }
}
