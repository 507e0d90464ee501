//! `WHOWAS` (modern.ircdocs.horse WHOWAS: 314, 312, 369; 406, 461) and the recording
//! of the nicks it remembers (`state/whowas.rs`), at quit and at a nick change.

use super::{CmdError, Cx};
use crate::state::whowas::WhowasEntry;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// `WHOWAS <nick>{,<nick>} [<count>]` — modern.ircdocs.horse "WHOWAS message": per
/// nick, 314 and 312 for each remembered entry, newest first (at most `count` when it
/// is positive), or 406; then 369.
pub fn whowas(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let count = match msg.param(1).parse::<i64>() {
        Ok(n) if n > 0 => n as usize,
        _ => usize::MAX,
    };
    let server = cx.server_name().to_string();
    let max_targets = cx.config.limits.targets_per_message;
    for nick in msg
        .param(0)
        .split(',')
        .filter(|n| !n.is_empty())
        .take(max_targets)
    {
        let entries: Vec<WhowasEntry> = cx
            .state
            .whowas
            .lookup(nick, count)
            .into_iter()
            .cloned()
            .collect();
        if entries.is_empty() {
            cx.reply(ERR_WASNOSUCHNICK, &[nick, "There was no such nickname"]);
        }
        for e in entries {
            cx.reply(
                RPL_WHOWASUSER,
                &[&e.nick, &*e.user, &e.host, "*", &*e.realname],
            );
            let when = chrono::DateTime::from_timestamp(e.left, 0)
                .map(|t| t.format("%a %b %d %H:%M:%S %Y").to_string())
                .unwrap_or_default();
            cx.reply(RPL_WHOISSERVER, &[e.nick.as_str(), server.as_str(), &when]);
        }
        cx.reply(RPL_ENDOFWHOWAS, &[nick, "End of WHOWAS"]);
    }
    Ok(())
}

/// Remembers the nick `slot` holds now, as it leaves it (a quit or a nick change of
/// a registered client).
pub fn remember(cx: &mut Cx, slot: usize) {
    let max = cx.config.limits.whowas_entries;
    let Some(u) = cx.user_of(slot).filter(|u| u.registered) else {
        return;
    };
    let entry = WhowasEntry {
        nick: u.nick.clone(),
        folded: fold(&u.nick),
        user: u.user.clone(),
        host: u.host.clone(),
        realname: u.realname.clone(),
        left: chrono::Utc::now().timestamp(),
    };
    cx.state.whowas.push(entry, max);
}
