//! `MONITOR` (IRCv3 monitor: <https://ircv3.net/specs/extensions/monitor>) and the
//! notifications to watchers: 730/731 when a watched nick comes or goes, and the
//! extended-monitor relays (<https://ircv3.net/specs/extensions/extended-monitor>).
//! The index of watchers lives in `state/monitor.rs`.

use super::{CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::state::names::is_valid_nick;
use crate::state::Cap;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// Room for the target list of one 730–732 line: 512 bytes less the source, the
/// numeric, the nick and the line's punctuation.
const LIST_BYTES: usize = 400;

/// `MONITOR + targets | - targets | C | L | S` — monitor §"MONITOR Command".
pub fn monitor(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    match msg.param(0) {
        "+" => add(cx, msg.param(1)),
        "-" => {
            for target in msg.param(1).split(',').filter(|t| !t.is_empty()) {
                remove(cx, target);
            }
        }
        "C" | "c" => clear(cx, cx.me),
        "L" | "l" => {
            let list: Vec<String> = cx.user().monitoring.iter().map(|n| n.to_string()).collect();
            reply_lists(cx, RPL_MONLIST, list);
            cx.reply(RPL_ENDOFMONLIST, &["End of MONITOR list"]);
        }
        "S" | "s" => {
            let list: Vec<Box<str>> = cx.user().monitoring.clone();
            send_status(cx, list.iter().map(|n| &**n));
        }
        other => {
            let shown = super::echoable_command(other);
            cx.reply(
                ERR_UNKNOWNCOMMAND,
                &["MONITOR", &format!("Unknown MONITOR subcommand {shown}")],
            );
        }
    }
    Ok(())
}

/// `MONITOR + a,b,c`: adds up to the limit, answers 730/731 for those added and
/// 734 with the rest.
fn add(cx: &mut Cx, targets: &str) {
    let max = cx.config.limits.monitor_max;
    let nick_len = cx.config.limits.nick_len;
    let me = cx.me;
    let mut added: Vec<String> = Vec::new();
    let mut refused: Vec<&str> = Vec::new();
    for target in targets.split(',').filter(|t| !t.is_empty()) {
        if !refused.is_empty() {
            refused.push(target);
            continue;
        }
        // Not a nick anyone can hold: nothing to watch (and no room taken).
        if !is_valid_nick(target, nick_len) {
            continue;
        }
        let folded = fold(target);
        let user = cx.user();
        if user.monitoring.iter().any(|n| fold(n) == folded) {
            added.push(target.to_string());
            continue;
        }
        if user.monitoring.len() >= max {
            refused.push(target);
            continue;
        }
        cx.user_mut().monitoring.push(target.into());
        cx.state.monitors.watch(&folded, me);
        added.push(target.to_string());
    }
    send_status(cx, added.iter().map(String::as_str));
    if !refused.is_empty() {
        let limit = max.to_string();
        let list = refused.join(",");
        cx.reply(
            ERR_MONLISTFULL,
            &[limit.as_str(), list.as_str(), "Monitor list is full."],
        );
    }
}

fn remove(cx: &mut Cx, target: &str) {
    let folded = fold(target);
    let me = cx.me;
    let before = cx.user().monitoring.len();
    cx.user_mut().monitoring.retain(|n| fold(n) != folded);
    if cx.user().monitoring.len() != before {
        cx.state.monitors.unwatch(&folded, me);
    }
}

/// Empties the MONITOR list of `slot` (`MONITOR C`, and on disconnect).
pub fn clear(cx: &mut Cx, slot: usize) {
    let Some(conn) = cx.conns.get_mut(slot) else {
        return;
    };
    for nick in std::mem::take(&mut conn.user.monitoring) {
        cx.state.monitors.unwatch(&fold(&nick), slot);
    }
}

/// 730 for those of `targets` online (with `nick!user@host`), 731 for the rest.
fn send_status<'t>(cx: &mut Cx, targets: impl Iterator<Item = &'t str>) {
    let mut online = Vec::new();
    let mut offline = Vec::new();
    for target in targets {
        match cx.state.slot_of_nick(target).and_then(|s| cx.user_of(s)) {
            Some(u) if u.registered => online.push(u.source()),
            _ => offline.push(target.to_string()),
        }
    }
    reply_lists(cx, RPL_MONONLINE, online);
    reply_lists(cx, RPL_MONOFFLINE, offline);
}

/// `items` comma-separated in as few lines of `numeric` as fit.
fn reply_lists(cx: &mut Cx, numeric: &str, items: Vec<String>) {
    for line in chunk(&items) {
        cx.reply(numeric, &[line]);
    }
}

fn chunk(items: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + 1 + item.len() > LIST_BYTES {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(',');
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Tells the watchers of `slot`'s nick that it is online (730): at registration and
/// after a nick change.
pub fn came_online(cx: &mut Cx, slot: usize) {
    let Some(user) = cx.user_of(slot) else {
        return;
    };
    let (folded, source) = (fold(&user.nick), user.source());
    notify(cx, &folded, RPL_MONONLINE, &source);
}

/// Tells the watchers of `nick` that it went offline (731): at quit and when its
/// holder changed nick.
pub fn went_offline(cx: &mut Cx, nick: &str) {
    notify(cx, &fold(nick), RPL_MONOFFLINE, nick);
}

fn notify(cx: &mut Cx, folded: &str, numeric: &str, item: &str) {
    let watchers: Vec<usize> = cx.state.monitors.watchers(folded).to_vec();
    if watchers.is_empty() {
        return;
    }
    let server = cx.server_name().to_string();
    for slot in watchers {
        let Some(nick) = cx.user_of(slot).map(|u| u.nick.clone()) else {
            continue;
        };
        let m = Message::new(numeric, [nick.as_str(), item]).with_source(server.as_str());
        if slot == cx.me {
            cx.send_me(&m);
        } else {
            cx.conns.send_msg(slot, &m);
        }
    }
}

/// extended-monitor: sends `out` (an `AWAY`, `ACCOUNT`, `CHGHOST`, `SETNAME`... about
/// `slot`) to the clients that watch `slot`'s nick, negotiated `extended-monitor`
/// and `needs`, and share no channel with it (those had it from `send_to_peers`).
/// Call it right after the `send_to_peers` of such a notification.
pub fn notify_watchers(cx: &mut Cx, slot: usize, out: &mut Outgoing, needs: Cap) {
    let Some(subject) = cx.user_of(slot) else {
        return;
    };
    let watchers = cx.state.monitors.watchers(&fold(&subject.nick));
    if watchers.is_empty() {
        return;
    }
    let subject_channels = &subject.channels;
    let targets: Vec<usize> = watchers
        .iter()
        .copied()
        .filter(|&w| w != slot)
        .filter(|&w| {
            cx.user_of(w).is_some_and(|u| {
                u.caps.has(Cap::ExtendedMonitor)
                    && u.caps.has(needs)
                    && !u.channels.iter().any(|c| subject_channels.contains(c))
            })
        })
        .collect();
    for target in targets {
        cx.send_outgoing(target, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_line_budget() {
        let items: Vec<String> = (0..200).map(|i| format!("nick{i:04}")).collect();
        let lines = chunk(&items);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= LIST_BYTES));
        assert_eq!(lines.join(",").split(',').count(), 200);
        assert!(chunk(&[]).is_empty());
    }
}
