//! IRC operators: `OPER` against `[[oper]]` in the config (hashed passwords, checked
//! off the loop), or the login of an account an `[[oper]]` names; then `KILL` and
//! `WALLOPS`, each gated by a privilege of the operator's class (`[[oper_class]]`,
//! `config/oper.rs`); operators whose class allows it may also KICK and set modes in
//! any channel (`channel.rs`, `mode.rs`), and show as 313 in WHOIS.

use super::{account, err, no_such_nick, CmdError, Cx};
use crate::config::Privilege;
use crate::followup::Then;
use crate::ids::ConnId;
use crate::outgoing::Outgoing;
use crate::store::{PasswordHash, Request};
use chatd_proto::numeric::*;
use chatd_proto::Message;

fn no_privileges() -> CmdError {
    err(
        ERR_NOPRIVILEGES,
        ["Permission Denied- You're not an IRC operator"],
    )
}

/// `481` for an operator whose class lacks the privilege.
fn no_class_privilege(p: Privilege) -> CmdError {
    let name = Privilege::NAMES
        .iter()
        .find(|(_, q)| *q == p)
        .map_or("?", |(n, _)| *n);
    err(
        ERR_NOPRIVILEGES,
        [format!(
            "Permission Denied- Your operator class does not have the {name} privilege"
        )],
    )
}

/// Whether the sender is an operator whose class has `p`.
pub fn can(cx: &Cx, p: Privilege) -> bool {
    cx.user()
        .oper
        .as_deref()
        .is_some_and(|name| cx.config.oper_privileges(name).has(p))
}

/// The sender's operator class, if an operator.
pub fn class_of<'a>(config: &'a crate::config::Config, oper: &str) -> Option<&'a str> {
    config
        .oper
        .iter()
        .find(|o| o.name == oper)
        .map(|o| o.class.as_str())
}

/// Checks that the sender is an operator whose class has `p`.
fn require(cx: &Cx, p: Privilege) -> Result<(), CmdError> {
    if cx.user().oper.is_none() {
        Err(no_privileges())
    } else if !can(cx, p) {
        Err(no_class_privilege(p))
    } else {
        Ok(())
    }
}

/// After a login: an account an `[[oper]]` names is that operator at once.
pub fn on_login(cx: &mut Cx, account: &str) {
    let Some(oper) = cx.config.oper_of_account(account) else {
        return;
    };
    let name = oper.name.clone();
    let class = oper.class.clone();
    cx.user_mut().oper = Some(name.as_str().into());
    super::cluster::oper_changed(cx);
    log::info!(
        "conn={} account={account} is now operator {name} (class {class}) by login",
        cx.me
    );
    if cx.user().registered {
        cx.reply(RPL_YOUREOPER, &["You are now an IRC operator"]);
        let nick = cx.user().nick.clone();
        let mode = Message::new("MODE", [nick.as_str(), "+o"]).with_source(nick.as_str());
        cx.send_me(&mode);
    }
}

/// `OPER <name> <password>` — RFC 2812 §3.1.4. A password check like a login's:
/// limited per connection and per address by the same counters
/// ([`account::start_password_check`]), sent through the hasher's fair queue, and
/// an unknown operator name is checked against a dummy hash so it answers like a
/// wrong password, in the same time.
pub fn oper(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let (name, password) = (msg.param(0), msg.param(1));
    if cx.user().login_pending {
        return Err(err(
            ERR_PASSWDMISMATCH,
            ["A password check is already under way"],
        ));
    }
    if let Err(refusal) = account::start_password_check(cx) {
        log::warn!("conn={} OPER as {name} refused: {refusal}", cx.me);
        return Err(err(ERR_PASSWDMISMATCH, [refusal]));
    }
    // An operator without a password is reached only by its account's login.
    let entry = cx
        .config
        .oper
        .iter()
        .find(|o| o.name == name && !o.password.is_empty());
    let hash = entry.and_then(|e| e.password.parse::<PasswordHash>().ok());
    let hash = match hash {
        Some(h) => h,
        None => {
            log::info!("conn={} OPER as {name}: no such operator", cx.me);
            crate::store::password::dummy(cx.config.accounts.pbkdf2_iterations)
        }
    };
    cx.user_mut().login_pending = true;
    let then = Then::Oper {
        name: name.to_string(),
    };
    account::ask_hasher(cx, then, |ticket| Request::Verify {
        ticket,
        account: name.to_string(),
        password: password.to_string(),
        hash,
        scram_iterations: None,
    });
    Ok(())
}

/// The OPER password check answered.
pub fn on_verified(cx: &mut Cx, asker: ConnId, name: &str, ok: bool) {
    if !cx.alive(asker) {
        return;
    }
    cx.user_mut().login_pending = false;
    let name = name.to_string();
    let ok = ok && cx.config.oper.iter().any(|o| o.name == name);
    account::password_check_done(cx, ok);
    if !ok {
        log::warn!(
            "conn={} host={} failed OPER as {name}: bad name or password",
            cx.me,
            cx.user().host
        );
        cx.reply(ERR_PASSWDMISMATCH, &["Password incorrect"]);
        return;
    }
    cx.user_mut().oper = Some(name.as_str().into());
    super::cluster::oper_changed(cx);
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
    require(cx, Privilege::Kill)?;
    let target = msg.param(0);
    let Some(slot) = cx.state.slot_of_nick(target) else {
        return Err(no_such_nick(target));
    };
    let killer = cx.user().nick.clone();
    let reason = match msg.param(1) {
        "" => killer.clone(),
        r => r.to_string(),
    };
    log::info!(target: "chatd::moderation", "moderation: {killer} killed {target}: {reason}");
    let reason = format!("Killed ({killer} ({reason}))");
    // A user of another node: that node closes its connection too.
    super::cluster::kill_remote(cx, slot, &reason);
    cx.conns.close(slot, &reason);
    Ok(())
}

/// `WALLOPS :<text>` — to every operator.
pub fn wallops(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    require(cx, Privilege::Wallops)?;
    let me = cx.me;
    let mut out = Outgoing::new(cx.relay_from(me, "WALLOPS", vec![msg.param(0).to_string()]));
    for slot in cx.conns.operators() {
        cx.send_outgoing(slot, &mut out);
    }
    Ok(())
}
