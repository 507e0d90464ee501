//! `WHO`, with WHOX (`%<fields>[,<token>]`, 354:
//! <https://ircv3.net/specs/extensions/whox>) and the RPL_WHOREPLY flags of
//! modern.ircdocs.horse (`H`/`G`, `*` for an IRC operator, then channel prefixes).

use super::super::{CmdError, Cx};
use crate::config::Privilege;
use crate::state::{Cap, User};
use chatd_proto::mask::glob_match;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// WHOX fields in the order the reply gives them (whox §"Fields").
const WHOX_ORDER: &str = "tcuihsnfdlaor";

/// What a WHOX request asked for: the field letters and the query token.
struct Whox {
    fields: String,
    token: String,
}

impl Whox {
    /// `%<fields>[,<token>]`; the token is up to 3 digits (whox §"Token"), anything
    /// else is sent back as `0`.
    fn parse(param: &str) -> Option<Whox> {
        let spec = param.strip_prefix('%')?;
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        let token =
            if !token.is_empty() && token.len() <= 3 && token.bytes().all(|b| b.is_ascii_digit()) {
                token.to_string()
            } else {
                "0".to_string()
            };
        Some(Whox {
            fields: WHOX_ORDER.chars().filter(|&c| fields.contains(c)).collect(),
            token,
        })
    }
}

/// One user as a WHO row shows them.
struct Row<'a> {
    channel: &'a str,
    user: &'a User,
    /// Channel prefixes (`@`, `+`, `@+`).
    prefixes: &'a str,
    is_op: bool,
    idle: u64,
}

/// `WHO <channel>|<mask> [%<fields>[,<token>]]` — RFC 2812 §3.6.1, whox: 352 (or 354
/// with the fields asked for) per visible user, then 315. Invisible (`+i`) users show
/// only to those sharing a channel with them; a `+s`/`+p` channel lists its members
/// only to members and IRC operators.
pub fn who(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let mask = msg.param(0);
    let whox = Whox::parse(msg.param(1));
    let server = cx.server_name().to_string();
    let multi = cx.user().caps.has(Cap::MultiPrefix);
    let me = cx.me;
    let i_am_oper = super::super::oper::can(cx, Privilege::SeeHidden);
    let now = cx.now;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut push = |row: Row| {
        rows.push(match &whox {
            Some(w) => whox_row(w, &row, &server),
            None => classic_row(&row, &server),
        })
    };
    if mask.starts_with('#') {
        if let Some(chan) = cx
            .state
            .channels
            .get(&fold(mask))
            .filter(|c| !c.is_hidden_from(me, i_am_oper))
        {
            let i_am_member = chan.member(me).is_some();
            for (&slot, m) in &chan.members {
                let Some(conn) = cx.conns.get(slot) else {
                    continue;
                };
                let u = &conn.user;
                if u.invisible && !i_am_member && slot != me {
                    continue;
                }
                push(Row {
                    channel: &chan.name,
                    user: u,
                    prefixes: m.prefixes(multi),
                    is_op: m.op,
                    idle: now.saturating_duration_since(u.last_message).as_secs(),
                });
            }
        }
    } else if !mask.is_empty() {
        // Invisibility hides users from masks, not from a lookup by exact nick
        // (modern.ircdocs.horse; irctest `testWhoInvisible`).
        let exact = !mask.contains(['*', '?']);
        let my_channels = &cx
            .conns
            .get(me)
            .expect("the sender is connected")
            .user
            .channels;
        for conn in cx.conns.slab.iter().map(|(_, c)| c) {
            let u = &conn.user;
            if !u.registered || !glob_match(mask, &u.nick) {
                continue;
            }
            let shares = u.channels.iter().any(|c| my_channels.contains(c));
            if u.invisible && !shares && !exact && conn.id.slot != me {
                continue;
            }
            // The channel column names one of the user's channels (one we share first,
            // never a +s/+p one we are not in), and the flags then carry the user's
            // prefix there, as Solanum and InspIRCd do; with no channel it is `*`. An
            // invisible user's channels stay hidden.
            let hide_channels = u.invisible && !shares && conn.id.slot != me;
            let visible = |c: &&String| {
                cx.state
                    .channels
                    .get(*c)
                    .is_some_and(|ch| !ch.is_hidden_from(me, i_am_oper))
            };
            let shown = u
                .channels
                .iter()
                .find(|c| my_channels.contains(c))
                .or(u.channels.iter().find(visible))
                .filter(|_| !hide_channels)
                .and_then(|c| cx.state.channels.get(c))
                .map(|c| (c.name.as_str(), c.member(conn.id.slot).unwrap_or_default()));
            let (channel, member) = shown.unwrap_or(("*", Default::default()));
            push(Row {
                channel,
                user: u,
                prefixes: member.prefixes(multi),
                is_op: member.op,
                idle: now.saturating_duration_since(u.last_message).as_secs(),
            });
        }
    }
    let numeric = if whox.is_some() {
        RPL_WHOSPCRPL
    } else {
        RPL_WHOREPLY
    };
    for row in rows {
        cx.reply(numeric, &row);
    }
    let shown = if mask.is_empty() { "*" } else { mask };
    cx.reply(RPL_ENDOFWHO, &[shown, "End of WHO list"]);
    Ok(())
}

/// `H`/`G` (away), `*` for an IRC operator, the channel prefixes, then `B` for a bot
/// (IRCv3 bot-mode: the bot mode letter among the flags).
fn flags(row: &Row) -> String {
    let mut f = String::with_capacity(5);
    f.push(if row.user.away.is_some() { 'G' } else { 'H' });
    if row.user.oper.is_some() {
        f.push('*');
    }
    f.push_str(row.prefixes);
    if row.user.bot {
        f.push('B');
    }
    f
}

fn classic_row(row: &Row, server: &str) -> Vec<String> {
    let u = row.user;
    vec![
        row.channel.to_string(),
        u.user.to_string(),
        u.host.clone(),
        server.to_string(),
        u.nick.clone(),
        flags(row),
        format!("0 {}", u.realname),
    ]
}

fn whox_row(w: &Whox, row: &Row, server: &str) -> Vec<String> {
    let u = row.user;
    w.fields
        .chars()
        .map(|c| match c {
            't' => w.token.clone(),
            'c' => row.channel.to_string(),
            'u' => u.user.to_string(),
            // There is no DNS: the host is the address.
            'i' | 'h' => u.host.clone(),
            's' => server.to_string(),
            'n' => u.nick.clone(),
            'f' => flags(row),
            'd' => "0".into(),
            'l' => row.idle.to_string(),
            'a' => u.account.clone().unwrap_or_else(|| "0".into()),
            // Solanum's convention: 999 for a channel operator, else n/a.
            'o' => if row.is_op { "999" } else { "n/a" }.into(),
            _ => u.realname.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whox_fields_in_spec_order_and_token_checked() {
        let w = Whox::parse("%rnatc,42").unwrap();
        assert_eq!(w.fields, "tcnar");
        assert_eq!(w.token, "42");
        assert_eq!(Whox::parse("%n,abcd").unwrap().token, "0");
        assert_eq!(Whox::parse("%n").unwrap().token, "0");
        assert!(Whox::parse("o").is_none());
    }
}
