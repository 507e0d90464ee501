//! History: `HISTORY <target> [<count>|<duration>]` for people, IRCv3
//! `CHATHISTORY` (LATEST, BEFORE, AFTER, AROUND, BETWEEN, TARGETS) for clients, and
//! the replay of stored messages (history, offline queue, missed channel messages)
//! with their original time: `@time=` with server-time, a readable prefix without.
//!
//! Who may read: members of a channel; the two parties of a private conversation.
//! A party is its account when logged in (or, for a recipient, when the nick is a
//! registered account), else its nick.

use super::{no_such_channel, not_on_channel, CmdError, Cx};
use crate::outgoing::{Bytes, Outgoing};
use crate::state::{Cap, Caps};
use crate::store::{self, id_at_ms, id_of_msgid, Conv, Range, Request, StoredMessage, Ticket};
use chatd_proto::{fold, Message};

/// `HISTORY` answers this many messages when no count is given.
const DEFAULT_COUNT: usize = 50;

/// The identity of the sender for private-conversation keys.
pub fn my_party(cx: &Cx) -> String {
    party_of_user(cx.user())
}

/// The identity of a connected user: `a:<account>` when logged in, else `n:<nick>`.
pub fn party_of_user(user: &crate::state::User) -> String {
    let (prefix, name) = match &user.account {
        Some(a) => ("a:", a.as_str()),
        None => ("n:", user.nick.as_str()),
    };
    let mut party = String::with_capacity(2 + name.len());
    party.push_str(prefix);
    party.push_str(name);
    party.make_ascii_lowercase(); // `fold`: casemapping ascii
    party
}

/// The identity of a private-message target: the account of whoever is online under
/// that nick, else the account of that name, else the nick.
pub fn party_of_nick(cx: &Cx, nick: &str) -> String {
    if let Some(user) = cx.state.slot_of_nick(nick).and_then(|s| cx.user_of(s)) {
        return party_of_user(user);
    }
    if cx.state.account(nick).is_some() {
        return party_of_account(nick);
    }
    format!("n:{}", fold(nick))
}

/// The identity of a registered account, whoever holds its nick.
pub fn party_of_account(account: &str) -> String {
    format!("a:{}", fold(account))
}

/// The oldest message (exclusive id bound) the sender may read in a private
/// conversation: none for an account, the start of this connection for a nick —
/// a nick's earlier holder is not necessarily the same person.
fn floor(cx: &Cx, conv: &Conv) -> i64 {
    let user = cx.user();
    match conv {
        Conv::Direct(..) if user.account.is_none() => id_at_ms(user.signon * 1000),
        _ => 0,
    }
}

/// `range` with every lower bound raised to `floor` where that keeps it exact;
/// `on_history` drops anything older that still comes back.
fn clamp(range: Range, floor: i64) -> Range {
    if floor == 0 {
        return range;
    }
    match range {
        Range::Latest { after } => Range::Latest {
            after: Some(after.unwrap_or(0).max(floor)),
        },
        Range::After { after } => Range::After {
            after: after.max(floor),
        },
        Range::Between { from, to } if from <= to => Range::Between {
            from: from.max(floor),
            to,
        },
        Range::Between { from, to } => Range::Between {
            from,
            to: to.max(floor),
        },
        other => other,
    }
}

/// Sends a history request for the sender; the answer goes to [`on_history`].
fn request(cx: &mut Cx, command: &str, target: &str, conv: Conv, range: Range, limit: usize) {
    let floor = floor(cx, &conv);
    let ticket = Ticket {
        conn: cx.my_id(),
        what: format!("{command} {target} {floor}"),
    };
    cx.ask(Request::History {
        ticket,
        conv,
        range: clamp(range, floor),
        limit,
    });
}

/// The conversation `target` names for the sender, if the sender may read it.
fn conversation(cx: &Cx, target: &str) -> Result<Conv, CmdError> {
    if target.starts_with('#') {
        let folded = fold(target);
        let Some(chan) = cx.state.channels.get(&folded) else {
            return Err(no_such_channel(target));
        };
        if chan.member(cx.me).is_none() {
            return Err(not_on_channel(&chan.name));
        }
        return Ok(Conv::Channel(folded));
    }
    if !crate::state::names::is_valid_nick(target, 400) {
        return Err(super::no_such_nick(target));
    }
    Ok(Conv::Direct(my_party(cx), party_of_nick(cx, target)))
}

/// `HISTORY <target> [<count>|<duration>]` — `HISTORY #chan 50`, `HISTORY bob 1h`.
pub fn history(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let target = msg.param(0);
    let page = cx.config.history.page_size;
    let conv = conversation(cx, target)?;
    let arg = msg.param(1);
    let (range, limit) = if arg.is_empty() {
        (Range::Latest { after: None }, DEFAULT_COUNT.min(page))
    } else if let Ok(n) = arg.parse::<usize>() {
        (Range::Latest { after: None }, n.clamp(1, page))
    } else if let Some(secs) = parse_duration(arg) {
        let since = chrono::Utc::now().timestamp_millis() - secs * 1000;
        (
            Range::Latest {
                after: Some(id_at_ms(since)),
            },
            page,
        )
    } else {
        fail(
            cx,
            "HISTORY",
            "INVALID_PARAMS",
            &[arg],
            "Give a count (50) or a duration (30m, 2h, 1d)",
        );
        return Ok(());
    };
    request(cx, "HISTORY", target, conv, range, limit);
    Ok(())
}

/// `30s`, `15m`, `2h`, `7d`, `1w` in seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    (n > 0).then(|| n.saturating_mul(mult))
}

fn fail(cx: &mut Cx, command: &str, code: &str, context: &[&str], text: &str) {
    let mut params = vec![command, code];
    params.extend_from_slice(context);
    params.push(text);
    let server = cx.server_name().to_string();
    cx.send_me(&Message::new("FAIL", params).with_source(server));
}

/// A message reference: `*`, `timestamp=<RFC 3339>` or `msgid=<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Any,
    /// Unix ms.
    Time(i64),
    Id(i64),
}

impl Ref {
    fn parse(s: &str) -> Option<Ref> {
        if s == "*" {
            return Some(Ref::Any);
        }
        let (kind, value) = s.split_once('=')?;
        match kind {
            "timestamp" => chrono::DateTime::parse_from_rfc3339(value)
                .ok()
                .map(|t| Ref::Time(t.timestamp_millis())),
            "msgid" => id_of_msgid(value).map(Ref::Id),
            _ => None,
        }
    }

    /// As an exclusive lower bound: messages strictly after.
    fn after(self) -> Option<i64> {
        match self {
            Ref::Any => None,
            Ref::Time(ms) => Some(id_at_ms(ms) + 0xFFFF),
            Ref::Id(id) => Some(id),
        }
    }

    /// As an exclusive upper bound: messages strictly before.
    fn before(self) -> Option<i64> {
        match self {
            Ref::Any => None,
            Ref::Time(ms) => Some(id_at_ms(ms)),
            Ref::Id(id) => Some(id),
        }
    }
}

/// `CHATHISTORY <subcommand> ...` — IRCv3 draft/chathistory.
pub fn chathistory(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let sub = msg.param(0).to_ascii_uppercase();
    let page = cx.config.history.page_size;
    let needed = match sub.as_str() {
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        _ => {
            fail(
                cx,
                "CHATHISTORY",
                "INVALID_PARAMS",
                &[sub.as_str()],
                "Unknown subcommand",
            );
            return Ok(());
        }
    };
    if msg.params.len() < needed {
        fail(
            cx,
            "CHATHISTORY",
            "NEED_MORE_PARAMS",
            &[sub.as_str()],
            "Missing parameters",
        );
        return Ok(());
    }
    let limit = match msg.param(needed - 1).parse::<usize>() {
        Ok(0) => page,
        Ok(n) => n.min(page),
        Err(_) => {
            fail(
                cx,
                "CHATHISTORY",
                "INVALID_PARAMS",
                &[sub.as_str(), msg.param(needed - 1)],
                "The limit must be a number",
            );
            return Ok(());
        }
    };
    let bad_ref = |cx: &mut Cx, r: &str| {
        fail(
            cx,
            "CHATHISTORY",
            "INVALID_PARAMS",
            &[sub.as_str(), r],
            "A reference is *, timestamp=<time> or msgid=<id>",
        )
    };
    let id = cx.my_id();
    if sub == "TARGETS" {
        let refs: Vec<Option<Ref>> = [msg.param(1), msg.param(2)]
            .iter()
            .map(|r| Ref::parse(r))
            .collect();
        let (Some(Ref::Time(a)), Some(Ref::Time(b))) = (refs[0], refs[1]) else {
            bad_ref(cx, msg.param(1));
            return Ok(());
        };
        let ticket = Ticket {
            conn: id,
            what: "TARGETS".into(),
        };
        let party = my_party(cx);
        let channels = cx.user().channels.clone();
        // Private conversations of a nick count only from this connection on.
        let floor = floor(cx, &Conv::Direct(String::new(), String::new()));
        let (from, to) = (id_at_ms(a.min(b)).max(floor), id_at_ms(a.max(b)));
        cx.ask(Request::Targets {
            ticket,
            party,
            channels,
            from,
            to,
            limit,
        });
        return Ok(());
    }
    let target = msg.param(1);
    let conv = match conversation(cx, target) {
        Ok(c) => c,
        Err(_) => {
            fail(
                cx,
                "CHATHISTORY",
                "INVALID_TARGET",
                &[sub.as_str(), target],
                "You may not read that history",
            );
            return Ok(());
        }
    };
    let Some(first) = Ref::parse(msg.param(2)) else {
        bad_ref(cx, msg.param(2));
        return Ok(());
    };
    let range = match sub.as_str() {
        "LATEST" => Some(Range::Latest {
            after: first.after(),
        }),
        "BEFORE" => first.before().map(|before| Range::Before { before }),
        "AFTER" => first.after().map(|after| Range::After { after }),
        "AROUND" => match first {
            Ref::Id(around) => Some(Range::Around { around }),
            Ref::Time(ms) => Some(Range::Around {
                around: id_at_ms(ms),
            }),
            Ref::Any => None,
        },
        _ => {
            let Some(second) = Ref::parse(msg.param(3)) else {
                bad_ref(cx, msg.param(3));
                return Ok(());
            };
            // Each bound is exclusive; which side is "after" depends on the order.
            match (first, second) {
                (Ref::Any, _) | (_, Ref::Any) => None,
                (a, b) => {
                    let (ka, kb) = (a.before().unwrap_or(0), b.before().unwrap_or(0));
                    let (from, to) = if ka <= kb {
                        (a.after(), b.before())
                    } else {
                        (a.before(), b.after())
                    };
                    from.zip(to).map(|(from, to)| Range::Between { from, to })
                }
            }
        }
    };
    let Some(range) = range else {
        bad_ref(cx, msg.param(2));
        return Ok(());
    };
    request(cx, "CHATHISTORY", target, conv, range, limit);
    Ok(())
}

/// A history answer arrived.
pub fn on_history(cx: &mut Cx, ticket: &Ticket, messages: Vec<StoredMessage>) {
    if !cx.alive(ticket.conn) {
        return;
    }
    let mut words = ticket.what.split(' ');
    let (command, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let floor: i64 = words.next().and_then(|f| f.parse().ok()).unwrap_or(0);
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
    if command == "HISTORY" && !cx.user().caps.has(Cap::Batch) {
        cx.notice(&format!("End of HISTORY for {shown}: {count} messages"));
    }
}

/// A CHATHISTORY TARGETS answer arrived.
pub fn on_targets(cx: &mut Cx, ticket: &Ticket, targets: Vec<store::TargetActivity>) {
    if !cx.alive(ticket.conn) {
        return;
    }
    let caps = cx.user().caps;
    let batch = caps.has(Cap::Batch).then(new_batch_id);
    let server = cx.server_name().to_string();
    let me = cx.me;
    if let Some(id) = &batch {
        let start = Message::new(
            "BATCH",
            [format!("+{id}"), "draft/chathistory-targets".to_string()],
        )
        .with_source(server.as_str());
        cx.conns.send_replay(me, start.to_line().into(), None);
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
        cx.conns
            .send_replay(me, Outgoing::new(m).bytes_for(caps), None);
    }
    if let Some(id) = &batch {
        let end = Message::new("BATCH", [format!("-{id}")]).with_source(server.as_str());
        cx.conns.send_replay(me, end.to_line().into(), None);
    }
}

/// Sends stored messages to the sender, in a `chathistory` batch for clients with
/// `batch` (an empty batch when there are none). Goes through the replay backlog.
pub fn send_replay_batch(cx: &mut Cx, target: &str, messages: &[StoredMessage]) {
    let caps = cx.user().caps;
    let me = cx.me;
    let batch = caps.has(Cap::Batch).then(new_batch_id);
    let server = cx.server_name().to_string();
    if let Some(id) = &batch {
        let start = Message::new(
            "BATCH",
            [format!("+{id}"), "chathistory".into(), target.into()],
        )
        .with_source(server.as_str());
        cx.conns.send_replay(me, start.to_line().into(), None);
    }
    for m in messages {
        let bytes = replay_bytes(m, None, caps, batch.as_deref());
        cx.conns.send_replay(me, bytes, None);
    }
    if let Some(id) = &batch {
        let end = Message::new("BATCH", [format!("-{id}")]).with_source(server.as_str());
        cx.conns.send_replay(me, end.to_line().into(), None);
    }
}

/// One stored message as a line for a client with `caps`: its original source,
/// `time`, `msgid` and `account` tags as the client negotiated them, and a readable
/// time prefix in the text for clients without server-time. `target` overrides the
/// stored target (the offline queue shows the recipient's current nick).
pub fn replay_bytes(
    m: &StoredMessage,
    target: Option<&str>,
    caps: Caps,
    batch: Option<&str>,
) -> Bytes {
    let target = target.unwrap_or(&m.target).to_string();
    let text = if caps.has(Cap::ServerTime) {
        m.text.clone()
    } else {
        with_time_prefix(&m.text, m.time_ms)
    };
    let mut msg = Message::new(m.kind.command(), [target, text])
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
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn refs() {
        assert_eq!(Ref::parse("*"), Some(Ref::Any));
        assert_eq!(
            Ref::parse("timestamp=2026-01-01T00:00:00.000Z"),
            Some(Ref::Time(1_767_225_600_000))
        );
        assert_eq!(Ref::parse("msgid=0000000000000001"), Some(Ref::Id(1)));
        assert_eq!(Ref::parse("msgid=nope"), None);
        assert_eq!(Ref::parse("time=1"), None);
    }

    #[test]
    fn time_prefix_keeps_actions() {
        let t = with_time_prefix("\x01ACTION waves\x01", 0);
        assert_eq!(t, "\x01ACTION [1970-01-01 00:00:00 UTC] waves\x01");
        assert_eq!(with_time_prefix("hi", 0), "[1970-01-01 00:00:00 UTC] hi");
    }
}
