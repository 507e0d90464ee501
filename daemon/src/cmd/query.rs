//! Queries: `WHOIS`, `ISON`, `USERHOST`, `LUSERS`, `MOTD`, `VERSION`, `TIME`, `INFO`;
//! `WHO` and WHOX in `query/who.rs`.

mod who;
pub use who::who;

use super::{err, no_such_nick, welcome, CmdError, Cx};
use crate::config::Privilege;
use crate::state::Cap;
use crate::VERSION;
use chatd_proto::numeric::*;
use chatd_proto::Message;

/// `WHOIS [<server>] <nick>` — RFC 2812 §3.6.2.
pub fn whois(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let nick = msg.params.last().map(String::as_str).unwrap_or("");
    let nick = nick.split(',').next().unwrap_or("");
    if nick.is_empty() {
        return Err(err(ERR_NONICKNAMEGIVEN, ["No nickname given"]));
    }
    let Some(slot) = cx.state.slot_of_nick(nick) else {
        cx.send_err(no_such_nick(nick));
        cx.reply(RPL_ENDOFWHOIS, &[nick, "End of /WHOIS list"]);
        return Ok(());
    };
    let u = cx.user_of(slot).expect("indexed nick is connected").clone();
    let server = cx.server_name().to_string();
    let multi = cx.user().caps.has(Cap::MultiPrefix);
    let my_channels = cx.user().channels.clone();
    let (me, i_am_oper) = (cx.me, super::oper::can(cx, Privilege::SeeHidden));
    // A +s/+p channel shows only to its members, the user itself and IRC operators.
    let channels: Vec<String> = u
        .channels
        .iter()
        .filter(|c| !u.invisible || my_channels.contains(c) || slot == me)
        .filter_map(|c| cx.state.channels.get(c))
        .filter(|c| slot == me || !c.is_hidden_from(me, i_am_oper))
        .map(|c| {
            format!(
                "{}{}",
                c.member(slot).unwrap_or_default().prefixes(multi),
                c.name
            )
        })
        .collect();
    cx.reply(
        RPL_WHOISUSER,
        &[
            u.nick.clone(),
            u.user.to_string(),
            u.host.clone(),
            "*".into(),
            u.realname.to_string(),
        ],
    );
    if !channels.is_empty() {
        cx.reply(RPL_WHOISCHANNELS, &[u.nick.clone(), channels.join(" ")]);
    }
    cx.reply(
        RPL_WHOISSERVER,
        &[u.nick.clone(), server, cx.config.server.network.clone()],
    );
    if u.tls {
        cx.reply(
            RPL_WHOISSECURE,
            &[u.nick.clone(), "is using a secure connection".into()],
        );
    }
    if let Some(oper) = u.oper.as_deref() {
        // The class is shown to operators and to the operator itself.
        let me = cx.user();
        let text = match super::oper::class_of(cx.config, oper) {
            Some(class) if me.oper.is_some() || me.nick == u.nick => {
                format!("is an IRC operator ({class})")
            }
            _ => "is an IRC operator".into(),
        };
        cx.reply(RPL_WHOISOPERATOR, &[u.nick.clone(), text]);
    }
    if u.bot {
        let network = cx.config.server.network.clone();
        cx.reply(
            RPL_WHOISBOT,
            &[u.nick.clone(), format!("is a Bot on {network}")],
        );
    }
    if let Some(account) = &u.account {
        cx.reply(
            RPL_WHOISACCOUNT,
            &[u.nick.clone(), account.clone(), "is logged in as".into()],
        );
    }
    if let Some(away) = &u.away {
        cx.reply(RPL_AWAY, &[u.nick.clone(), away.to_string()]);
    }
    let idle = cx.now.saturating_duration_since(u.last_message).as_secs();
    cx.reply(
        RPL_WHOISIDLE,
        &[
            u.nick.clone(),
            idle.to_string(),
            u.signon.to_string(),
            "seconds idle, signon time".into(),
        ],
    );
    cx.reply(RPL_ENDOFWHOIS, &[u.nick.as_str(), "End of /WHOIS list"]);
    Ok(())
}

/// `ISON <nick>{ <nick>}` — RFC 2812 §4.9: 303 with those online.
pub fn ison(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let online: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split(' '))
        .filter_map(|n| cx.state.slot_of_nick(n).and_then(|s| cx.user_of(s)))
        .map(|u| u.nick.clone())
        .collect();
    cx.reply(RPL_ISON, &[online.join(" ")]);
    Ok(())
}

/// `USERHOST <nick>{ <nick>}` — RFC 2812 §4.8: up to five `nick=+user@host` replies.
pub fn userhost(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let replies: Vec<String> = msg
        .params
        .iter()
        .take(5)
        .filter_map(|n| cx.state.slot_of_nick(n).and_then(|s| cx.user_of(s)))
        .map(|u| {
            format!(
                "{}={}{}@{}",
                u.nick,
                if u.away.is_some() { '-' } else { '+' },
                u.user,
                u.host
            )
        })
        .collect();
    cx.reply(RPL_USERHOST, &[replies.join(" ")]);
    Ok(())
}

/// `LUSERS` — RFC 2812 §3.4.2.
pub fn lusers(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    welcome::send_lusers(cx);
    Ok(())
}

/// `MOTD` — RFC 2812 §3.4.1: 375, 372 per line, 376; or 422 when there is none.
pub fn motd(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    welcome::send_motd(cx);
    Ok(())
}

/// `VERSION` — RFC 2812 §3.4.3: 351 then the ISUPPORT lines.
pub fn version(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    let server = cx.server_name().to_string();
    cx.reply(
        RPL_VERSION,
        &[VERSION, server.as_str(), "IRC-compatible chat daemon"],
    );
    welcome::send_isupport(cx);
    Ok(())
}

/// `TIME` — RFC 2812 §3.4.6: 391 with the server's local time.
pub fn time(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    let server = cx.server_name().to_string();
    let now = chrono::Utc::now()
        .format("%A %B %d %Y -- %H:%M:%S +00:00")
        .to_string();
    cx.reply(RPL_TIME, &[server, now]);
    Ok(())
}

/// `INFO` — modern.ircdocs.horse INFO: 371 lines about the server, then 374.
pub fn info(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    let started = chrono::DateTime::from_timestamp(cx.state.started, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let lines = [
        format!("chatd {VERSION}: an IRC-compatible chat server written in Rust."),
        "One event loop owns all state; SQLite keeps accounts and history.".to_string(),
        "Source and documentation: see README.md and docs/ in the chatd sources.".to_string(),
        format!("Running since {started}."),
    ];
    for line in lines {
        cx.reply(RPL_INFO, &[line]);
    }
    cx.reply(RPL_ENDOFINFO, &["End of INFO list"]);
    Ok(())
}
