//! IRC operators: `OPER` against `[[oper]]` in the config (hashed passwords, checked
//! off the loop), then `KILL` and `WALLOPS`; operators may also KICK and set modes in
//! any channel (`channel.rs`, `mode.rs`) and show as 313 in WHOIS.

use super::{err, no_such_nick, CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::store::{PasswordHash, Request, Ticket};
use chatd_proto::numeric::*;
use chatd_proto::Message;

fn no_privileges() -> CmdError {
    err(
        ERR_NOPRIVILEGES,
        ["Permission Denied- You're not an IRC operator"],
    )
}

/// `OPER <name> <password>` — RFC 2812 §3.1.4.
pub fn oper(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let (name, password) = (msg.param(0), msg.param(1));
    let Some(entry) = cx.config.oper.iter().find(|o| o.name == name) else {
        log::info!("conn={} failed OPER as {name}: no such operator", cx.me);
        return Err(err(ERR_NOOPERHOST, ["No O-lines for your host"]));
    };
    let Ok(hash) = entry.password.parse::<PasswordHash>() else {
        return Err(err(ERR_NOOPERHOST, ["No O-lines for your host"]));
    };
    if cx.user().login_pending {
        return Err(err(
            ERR_PASSWDMISMATCH,
            ["A password check is already under way"],
        ));
    }
    cx.user_mut().login_pending = true;
    let ticket = Ticket {
        conn: cx.my_id(),
        what: format!("oper {name}"),
    };
    cx.ask(Request::Verify {
        ticket,
        account: name.to_string(),
        password: password.to_string(),
        hash,
    });
    Ok(())
}

/// The OPER password check answered.
pub fn on_verified(cx: &mut Cx, ticket: &Ticket, ok: bool) {
    if !cx.alive(ticket.conn) {
        return;
    }
    cx.user_mut().login_pending = false;
    let name = ticket.what.strip_prefix("oper ").unwrap_or("").to_string();
    if !ok {
        log::warn!("conn={} failed OPER as {name}: bad password", cx.me);
        cx.reply(ERR_PASSWDMISMATCH, &["Password incorrect"]);
        return;
    }
    cx.user_mut().oper = Some(name.as_str().into());
    log::info!(
        "conn={} nick={} is now operator {name}",
        cx.me,
        cx.user().nick
    );
    cx.reply(RPL_YOUREOPER, &["You are now an IRC operator"]);
    let nick = cx.user().nick.clone();
    let mode = Message::new("MODE", [nick.as_str(), "+o"]).with_source(nick.as_str());
    cx.send_me(&mode);
}

/// `KILL <nick> <reason>` — RFC 2812 §3.7.1: disconnects a user.
pub fn kill(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if cx.user().oper.is_none() {
        return Err(no_privileges());
    }
    let target = msg.param(0);
    let Some(slot) = cx.state.slot_of_nick(target) else {
        return Err(no_such_nick(target));
    };
    let killer = cx.user().nick.clone();
    let reason = match msg.param(1) {
        "" => killer.clone(),
        r => r.to_string(),
    };
    log::info!("{killer} killed {target}: {reason}");
    cx.conns
        .close(slot, &format!("Killed ({killer} ({reason}))"));
    Ok(())
}

/// `WALLOPS :<text>` — to every operator.
pub fn wallops(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if cx.user().oper.is_none() {
        return Err(no_privileges());
    }
    let me = cx.me;
    let mut out = Outgoing::new(cx.relay_from(me, "WALLOPS", vec![msg.param(0).to_string()]));
    let opers: Vec<usize> = cx
        .conns
        .slab
        .iter()
        .filter(|(_, c)| c.user.oper.is_some())
        .map(|(s, _)| s)
        .collect();
    for slot in opers {
        cx.send_outgoing(slot, &mut out);
    }
    Ok(())
}
