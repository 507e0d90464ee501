//! `MARKREAD` (IRCv3 draft/read-marker, <https://ircv3.net/specs/extensions/read-marker>):
//! the time of the last message a user read in each target, kept per account
//! (`state/markers.rs`, written through to the store), sent after a JOIN and to all
//! of an account's connections when it moves. Markers are never shown to anyone
//! but their account.

use super::history::format_time;
use super::{CmdError, Cx};
use crate::state::markers::Advance;
use crate::state::names::{is_valid_channel, is_valid_nick};
use crate::state::Cap;
use crate::store::{ReadMarker, Request};
use chatd_proto::{fold, Message};

/// `MARKREAD <target> [timestamp=<time>]` — draft/read-marker, "MARKREAD Command".
pub fn markread(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let target = msg.param(0);
    if target.is_empty() {
        fail(cx, "NEED_MORE_PARAMS", &[], "Missing parameters");
        return Ok(());
    }
    let limits = &cx.config.limits;
    if !is_valid_channel(target, limits.channel_len) && !is_valid_nick(target, limits.nick_len) {
        fail(cx, "INVALID_PARAMS", &[target], "Not a channel or a nick");
        return Ok(());
    }
    let account = cx
        .user()
        .account
        .as_deref()
        .and_then(|a| cx.state.account_id(a));
    if msg.params.len() < 2 {
        // The get command: a client that is not logged in has no marker anywhere.
        let stored = account.and_then(|a| cx.state.read_markers.get(a, target));
        send_marker(cx, cx.me, target, stored);
        return Ok(());
    }
    let Some(account) = account else {
        fail(
            cx,
            "ACCOUNT_REQUIRED",
            &[target],
            "Read markers are kept per account: log in first",
        );
        return Ok(());
    };
    let Some(time_ms) = parse_timestamp(msg.param(1)) else {
        fail(
            cx,
            "INVALID_PARAMS",
            &[target, msg.param(1)],
            "The timestamp must be timestamp=YYYY-MM-DDThh:mm:ss.sssZ",
        );
        return Ok(());
    };
    // "Implementation Considerations": clamp between the stored time and now, so a
    // marker set in the future cannot freeze it.
    let time_ms = time_ms.min(chrono::Utc::now().timestamp_millis());
    match cx.state.read_markers.advance(account, target, time_ms) {
        Advance::Kept(stored) => send_marker(cx, cx.me, target, Some(stored)),
        Advance::Moved { evicted } => {
            cx.store.send(Request::SetReadMarker(ReadMarker {
                account,
                target: target.to_string(),
                time_ms,
            }));
            if let Some(evicted) = evicted {
                cx.store.send(Request::DropReadMarker {
                    account,
                    target: evicted,
                });
            }
            // "Command flows": every client of the user learns the new marker; the
            // sender always gets its answer.
            let name = cx.user().account.clone().unwrap_or_default();
            let sessions = cx
                .state
                .sessions
                .get(&fold(&name))
                .cloned()
                .unwrap_or_default();
            send_marker(cx, cx.me, target, Some(time_ms));
            let me = cx.me;
            for slot in sessions.into_iter().filter(|s| *s != me) {
                if cx
                    .user_of(slot)
                    .is_some_and(|u| u.caps.has(Cap::ReadMarker))
                {
                    send_marker(cx, slot, target, Some(time_ms));
                }
            }
        }
    }
    Ok(())
}

/// After the JOIN echo and before `RPL_ENDOFNAMES` ("Command flows"): the joiner's
/// marker for the channel, `*` when it has none.
pub fn on_join(cx: &mut Cx, chan_name: &str) {
    if !cx.user().caps.has(Cap::ReadMarker) {
        return;
    }
    let stored = cx
        .user()
        .account
        .as_deref()
        .and_then(|a| cx.state.account_id(a))
        .and_then(|a| cx.state.read_markers.get(a, chan_name));
    send_marker(cx, cx.me, chan_name, stored);
}

/// `timestamp=<RFC 3339>` in Unix ms; `*` and anything else is refused (a client
/// set command "MUST NOT be a literal `*`").
fn parse_timestamp(param: &str) -> Option<i64> {
    let value = param.strip_prefix("timestamp=")?;
    let ms = chrono::DateTime::parse_from_rfc3339(value)
        .ok()?
        .timestamp_millis();
    (ms >= 0).then_some(ms)
}

fn send_marker(cx: &mut Cx, slot: usize, target: &str, time_ms: Option<i64>) {
    let value = time_ms.map_or_else(
        || "*".to_string(),
        |t| format!("timestamp={}", format_time(t)),
    );
    let msg = Message::new("MARKREAD", [target.to_string(), value])
        .with_source(cx.server_name().to_string());
    if slot == cx.me {
        cx.send_me(&msg);
    } else {
        cx.conns.send_msg(slot, &msg);
    }
}

fn fail(cx: &mut Cx, code: &str, context: &[&str], text: &str) {
    let mut params = vec!["MARKREAD", code];
    params.extend_from_slice(context);
    params.push(text);
    let server = cx.server_name().to_string();
    cx.send_me(&Message::new("FAIL", params).with_source(server));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("timestamp=2026-01-01T00:00:00.000Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_timestamp("*"), None);
        assert_eq!(parse_timestamp("timestamp=*"), None);
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.000Z"), None);
        assert_eq!(parse_timestamp("timestamp=yesterday"), None);
        assert_eq!(parse_timestamp("timestamp=1960-01-01T00:00:00Z"), None);
    }
}
