//! History: `HISTORY <target> [<count>|<duration>]` for people, IRCv3
//! `CHATHISTORY` (LATEST, BEFORE, AFTER, AROUND, BETWEEN, TARGETS) for clients, and
//! the replay of stored messages (history, offline queue, missed channel messages)
//! with their original time: `@time=` with server-time, a readable prefix without
//! (`history/replay.rs`). This file parses the requests and decides who may read.
//!
//! Who may read: members of a channel, and only its current incarnation (a channel
//! that emptied and was created again is a new channel); the two parties of a
//! private conversation. A party is its account's id when logged in (or, for a
//! recipient, when the nick is a registered account), else its nick.

use super::{no_such_channel, not_on_channel, CmdError, Cx};
use crate::followup::{HistoryFrom, Then};
use crate::ids::Party;
use crate::store::{self, id_at_ms, id_of_msgid, Conv, Range, Request};
use chatd_proto::{fold, Message};

mod events;
mod replay;

pub use events::{log_event, log_user_event};

pub use replay::{
    format_time, on_history, on_read_failed, on_targets, replay_bytes, send_replay_batch,
};

/// `HISTORY` answers this many messages when no count is given.
const DEFAULT_COUNT: usize = 50;

/// The sender's party in a private conversation.
pub fn my_party(cx: &Cx) -> Party {
    party_of_user(cx.state, cx.user())
}

/// The party of a connected user: its account when logged in, else its nick.
pub fn party_of_user(state: &crate::state::State, user: &crate::state::User) -> Party {
    match user.account.as_deref().and_then(|a| state.account_id(a)) {
        Some(id) => Party::account(id),
        None => Party::nick(&user.nick),
    }
}

/// The party of a private-message target: the account of whoever is online under
/// that nick, else the account of that name, else the nick.
pub fn party_of_nick(cx: &Cx, nick: &str) -> Party {
    if let Some(user) = cx.state.slot_of_nick(nick).and_then(|s| cx.user_of(s)) {
        return party_of_user(cx.state, user);
    }
    match cx.state.account_id(nick) {
        Some(id) => Party::account(id),
        None => Party::nick(nick),
    }
}

/// The oldest message (exclusive id bound) the sender may read in a private
/// conversation: none for an account, the start of this connection for a nick —
/// a nick's earlier holder is not necessarily the same person.
///
/// In a registered channel whose founder chose `since-join`, a member reads only
/// what was said since it joined (`ChanServ SET #c HISTORY`).
fn floor(cx: &Cx, conv: &Conv) -> i64 {
    let user = cx.user();
    match conv {
        Conv::Direct(..) if user.account.is_none() => id_at_ms(user.signon * 1000),
        Conv::Channel { name, .. } => {
            let since_join = cx
                .state
                .registered
                .get(name)
                .is_some_and(|r| r.history == store::HistoryScope::SinceJoin);
            match cx.state.channels.get(name).and_then(|c| c.member(cx.me)) {
                Some(m) if since_join => m.joined,
                _ => 0,
            }
        }
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

/// Sends a history request for the sender; the answer goes to [`on_history`] (or
/// [`on_read_failed`], which needs the CHATHISTORY subcommand).
fn request(cx: &mut Cx, from: HistoryFrom, target: &str, conv: Conv, range: Range, limit: usize) {
    let floor = floor(cx, &conv);
    // draft/event-playback: channel events only for clients that asked for them,
    // and never in the missed-message replay at login.
    let events =
        cx.user().caps.has(crate::state::Cap::EventPlayback) && from != HistoryFrom::Missed;
    let then = Then::History {
        from,
        target: target.to_string(),
        floor,
    };
    cx.ask(then, |ticket| Request::History {
        ticket,
        conv,
        range: clamp(range, floor),
        limit,
        events,
    });
}

/// Replays a channel incarnation the sender just joined as missed messages at login
/// (its newest `history.missed_per_channel`): the account remembered an earlier
/// channel of that name, and this one let it in, so its history is the account's to
/// read like any member's.
pub fn ask_missed(cx: &mut Cx, shown: &str, incarnation: store::Incarnation) {
    let conv = Conv::Channel {
        name: fold(shown),
        incarnation,
    };
    let limit = cx.config.history.missed_per_channel;
    if limit == 0 {
        return;
    }
    request(
        cx,
        HistoryFrom::Missed,
        shown,
        conv,
        Range::Latest { after: None },
        limit,
    );
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
        return Ok(Conv::Channel {
            name: folded,
            incarnation: chan.incarnation,
        });
    }
    if !crate::state::names::is_valid_nick(target, 400) {
        return Err(super::no_such_nick(target));
    }
    Ok(Conv::Direct(
        my_party(cx).into_key(),
        party_of_nick(cx, target).into_key(),
    ))
}

/// `HISTORY <target> [<count>|<duration>]` — `HISTORY #chan 50`, `HISTORY bob 1h`.
pub fn history(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let target = msg.param(0);
    let page = cx.config.history.page_size;
    let conv = conversation(cx, target)?;
    let arg = msg.param(1);
    let (range, limit) = if arg.is_empty() {
        (Range::Latest { after: None }, DEFAULT_COUNT.min(page))
    } else if let Some(n) = parse_count(arg) {
        (Range::Latest { after: None }, n.clamp(1, page))
    } else if let Some(secs) = parse_duration(arg) {
        // A duration longer than the epoch is "everything": saturate, never wrap.
        let now = chrono::Utc::now().timestamp_millis();
        let since = now.saturating_sub(secs.saturating_mul(1000));
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
    request(cx, HistoryFrom::History, target, conv, range, limit);
    Ok(())
}

/// A count of messages: decimal digits only; one too large for a number is as many
/// as there are (the caller clamps it to the page size), not an error.
fn parse_count(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<usize>().unwrap_or(usize::MAX))
}

/// `30s`, `15m`, `2h`, `7d`, `1w` in seconds, saturating at `i64::MAX` (a duration
/// longer than all history means all of it).
fn parse_duration(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().unwrap_or(i64::MAX);
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
    // A client's parameter echoed back may not fit as a middle one (empty, with a
    // space or a leading ':' when it came as the trailing one): it is shown as `*`.
    params.extend(context.iter().map(|p| {
        if p.is_empty() || p.contains(' ') || p.starts_with(':') {
            "*"
        } else {
            p
        }
    }));
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
            Ref::Time(ms) => Some(id_at_ms(ms).saturating_add(0xFFFF)),
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
    let limit = match parse_count(msg.param(needed - 1)) {
        Some(0) => page,
        Some(n) => n.min(page),
        None => {
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
    if sub == "TARGETS" {
        let refs: Vec<Option<Ref>> = [msg.param(1), msg.param(2)]
            .iter()
            .map(|r| Ref::parse(r))
            .collect();
        let (Some(Ref::Time(a)), Some(Ref::Time(b))) = (refs[0], refs[1]) else {
            bad_ref(cx, msg.param(1));
            return Ok(());
        };
        let party = my_party(cx).into_key();
        // Each channel as the incarnation the sender is in: earlier ones are not theirs.
        let channels = cx
            .user()
            .channels
            .iter()
            .filter_map(|f| cx.state.channels.get(f).map(|c| (f.clone(), c.incarnation)))
            .collect();
        // Private conversations of a nick count only from this connection on.
        let floor = floor(cx, &Conv::Direct(String::new(), String::new()));
        let (from, to) = (id_at_ms(a.min(b)).max(floor), id_at_ms(a.max(b)));
        cx.ask(Then::Targets, |ticket| Request::Targets {
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
    let from = HistoryFrom::Chathistory { sub };
    request(cx, from, target, conv, range, limit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("-5m"), None);
        assert_eq!(parse_duration("+5m"), None);
        // Issue 14: huge durations saturate instead of overflowing.
        assert_eq!(parse_duration("153722867280912w"), Some(i64::MAX));
        assert_eq!(parse_duration("99999999999999999999999s"), Some(i64::MAX));
        assert_eq!(parse_duration("9223372036854775807d"), Some(i64::MAX));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("50"), Some(50));
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("99999999999999999999999"), Some(usize::MAX));
        assert_eq!(parse_count(""), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("+1"), None);
        assert_eq!(parse_count("1h"), None);
    }

    #[test]
    fn far_refs_saturate() {
        // Issue 14: the ends of what RFC 3339 can say stay in order, without overflow.
        let future = Ref::parse("timestamp=9999-12-31T23:59:59.999Z").unwrap();
        let past = Ref::parse("timestamp=0000-01-01T00:00:00Z").unwrap();
        let now = Ref::Time(1_795_000_000_000);
        assert_eq!(future.after(), Some(i64::MAX));
        assert!(future.before().unwrap() > now.after().unwrap());
        assert_eq!(past.before(), Some(0));
        assert!(past.after().unwrap() < now.before().unwrap());
        assert_eq!(Ref::parse("timestamp=99999-01-01T00:00:00Z"), None);
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
}
