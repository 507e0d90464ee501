//! Connection registration and liveness: `CAP`, `PASS`, `NICK`, `USER`, `PING`,
//! `PONG`, `QUIT`, and `SETNAME` (the realname USER set); the welcome burst it ends
//! with is in `welcome.rs`.

use super::{account, channel, err, welcome, CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::state::names::{is_valid_nick, is_valid_realname, REALNAME_LEN};
use crate::state::Cap;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// `CAP LS [302] | LIST | REQ :<caps> | END` — IRCv3 Capability Negotiation.
pub fn cap(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let sub = msg.param(0).to_ascii_uppercase();
    let registered = cx.user().registered;
    let target = cx.user().nick.clone();
    let cap_reply =
        |sub: &str, text: String| Message::new("CAP", [target.clone(), sub.to_string(), text]);
    match sub.as_str() {
        "LS" => {
            let version: u32 = msg.param(1).parse().unwrap_or(0);
            let user = cx.user_mut();
            if !registered {
                user.cap_negotiating = true;
            }
            user.cap_version = user.cap_version.max(version);
            if version >= 302 {
                user.caps.set(Cap::CapNotify, true);
            }
            let mut names: Vec<String> = Cap::ALL
                .iter()
                .map(|(cap, n)| match cap_value(*cap, cx.config) {
                    Some(v) if version >= 302 => format!("{n}={v}"),
                    _ => n.to_string(),
                })
                .collect();
            // STS is a policy, not a capability to request: its value is the point,
            // and values need CAP LS 302.
            if let Some(policy) = sts_policy(cx).filter(|_| version >= 302) {
                names.push(format!("sts={policy}"));
            }
            let reply = cap_reply("LS", names.join(" ")).with_source(cx.server_name());
            cx.send_me(&reply);
        }
        "LIST" => {
            let reply = cap_reply("LIST", cx.user().caps.names()).with_source(cx.server_name());
            cx.send_me(&reply);
        }
        "REQ" => {
            if !registered {
                cx.user_mut().cap_negotiating = true;
            }
            let requested = msg.param(1);
            let mut changes = Vec::new();
            let all_known = requested.split_whitespace().all(|item| {
                let (on, name) = match item.strip_prefix('-') {
                    Some(n) => (false, n),
                    None => (true, item),
                };
                match Cap::from_name(name) {
                    Some(cap) => {
                        changes.push((cap, on));
                        true
                    }
                    None => false,
                }
            });
            let verdict = if all_known && !changes.is_empty() {
                let caps = &mut cx.user_mut().caps;
                for (cap, on) in changes {
                    caps.set(cap, on);
                }
                "ACK"
            } else {
                "NAK"
            };
            let reply = cap_reply(verdict, requested.to_string()).with_source(cx.server_name());
            cx.send_me(&reply);
        }
        "END" => {
            if !registered {
                // Registration completes, if it can, when the command ends.
                cx.user_mut().cap_negotiating = false;
            }
        }
        _ => {
            return Err(err(
                ERR_INVALIDCAPCMD,
                [sub.as_str(), "Invalid CAP command"],
            ))
        }
    }
    Ok(())
}

/// The value a capability shows in `CAP LS 302`.
/// The IRCv3 STS policy for this connection, if one is configured: the TLS port for
/// a plaintext connection, the policy's duration for a TLS one.
fn sts_policy(cx: &Cx) -> Option<String> {
    let duration = cx.config.tls.sts_duration_secs?;
    if cx.user().tls {
        Some(format!("duration={duration}"))
    } else {
        let port = cx.config.tls.sts_port.or(cx.state.tls_port)?;
        Some(format!("port={port}"))
    }
}

fn cap_value(cap: Cap, config: &crate::Config) -> Option<&'static str> {
    match cap {
        Cap::Sasl => Some(account::SASL_MECHANISMS),
        // draft/account-registration: REGISTER may name any account (not only the
        // nick); `before-connect` only when REGISTER works before registration.
        Cap::AccountRegistration if config.register_before_connect() => {
            Some("before-connect,custom-account-name")
        }
        Cap::AccountRegistration => Some("custom-account-name"),
        Cap::Multiline => Some(crate::state::multiline::CAP_VALUE),
        _ => None,
    }
}

/// `PASS <password>` — RFC 2812 §3.1.1; only before registration. `account:password`
/// logs in to an account.
pub fn pass(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if cx.user().registered {
        return Err(err(ERR_ALREADYREGISTERED, ["You may not reregister"]));
    }
    cx.user_mut().password = Some(msg.param(0).into());
    Ok(())
}

/// `NICK <nickname>` — RFC 2812 §3.1.2. After registration the change is shown to
/// the client and everyone sharing a channel with it.
pub fn nick(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let new = msg.param(0);
    if new.is_empty() {
        return Err(err(ERR_NONICKNAMEGIVEN, ["No nickname given"]));
    }
    if !is_valid_nick(new, cx.config.limits.nick_len) {
        return Err(err(ERR_ERRONEUSNICKNAME, [new, "Erroneous nickname"]));
    }
    let folded = fold(new);
    if folded == fold(account::NICKSERV) || folded == fold(super::chanserv::CHANSERV) {
        return Err(err(
            ERR_NICKNAMEINUSE,
            [new, "Nickname is reserved for services"],
        ));
    }
    let old = cx.user().nick.clone();
    let local = cx.conns.get(cx.me).is_some_and(|c| !c.is_remote());
    if local && cx.state.cluster.enabled() && fold(&old) != folded {
        // Checked here first, then claimed across the cluster; the answer finishes it.
        if cx.state.nicks.get(&folded).is_some_and(|&h| h != cx.me) {
            return Err(err(ERR_NICKNAMEINUSE, [new, "Nickname is already in use"]));
        }
        account::may_take_nick(cx, new)?;
        return super::cluster::claim_nick(cx, new);
    }
    nick_locally(cx, new)
}

/// The change of nick once nobody else may have it (on one node, or claimed across
/// the cluster): the checks against this node's users, then the change.
pub fn nick_locally(cx: &mut Cx, new: &str) -> Result<(), CmdError> {
    let folded = fold(new);
    if let Some(&holder) = cx.state.nicks.get(&folded) {
        if holder != cx.me {
            return Err(err(ERR_NICKNAMEINUSE, [new, "Nickname is already in use"]));
        }
    }
    let old = cx.user().nick.clone();
    if old == new {
        return Ok(());
    }
    account::may_take_nick(cx, new)?;
    account::change_nick(cx, new);
    if cx.user().registered && fold(&old) != folded {
        account::check_nick(cx);
    }
    Ok(())
}

/// `USER <username> <mode> <unused> :<realname>` — RFC 2812 §3.1.3.
pub fn user(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if cx.user().registered {
        return Err(err(ERR_ALREADYREGISTERED, ["You may not reregister"]));
    }
    let max = cx.config.limits.user_len;
    let clean: String = msg
        .param(0)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.[]{}`^|\\".contains(*c))
        .take(max)
        .collect();
    // RFC 2812 §3.1.3: the realname is a required parameter; an empty one is none.
    if msg.param(3).is_empty() {
        return Err(err(ERR_NEEDMOREPARAMS, ["USER", "Not enough parameters"]));
    }
    // Longer ones are cut, as servers do with what registration sends.
    let realname = channel::truncate(msg.param(3), REALNAME_LEN).to_string();
    let user = cx.user_mut();
    user.user = format!("~{}", if clean.is_empty() { "user" } else { &clean }).into();
    user.realname = realname.into();
    Ok(())
}

/// `SETNAME :<realname>` — https://ircv3.net/specs/extensions/setname: the client
/// itself and those sharing a channel with it that negotiated `setname` see
/// `:<source> SETNAME :<realname>`; a realname that is empty, longer than `NAMELEN`
/// or holds a control character gets `FAIL SETNAME INVALID_REALNAME`.
pub fn setname(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let realname = msg.param(0);
    if !is_valid_realname(realname) {
        let server = cx.server_name().to_string();
        let fail = Message::new(
            "FAIL",
            ["SETNAME", "INVALID_REALNAME", "Realname is not valid"],
        )
        .with_source(server);
        cx.send_me(&fail);
        return Ok(());
    }
    let me = cx.me;
    cx.user_mut().realname = realname.into();
    let relay = cx.relay_from(me, "SETNAME", vec![realname.to_string()]);
    let mut out = Outgoing::new(relay.with_trailing());
    let confirm = cx.user().caps.has(Cap::Setname);
    cx.send_identity_change(me, &mut out, confirm, Cap::Setname);
    Ok(())
}

/// `PING <token>` — answered with `PONG <server> :<token>`.
pub fn ping(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if msg.params.is_empty() || msg.param(0).is_empty() {
        return Err(err(ERR_NOORIGIN, ["No origin specified"]));
    }
    let server = cx.server_name().to_string();
    let pong = Message::new("PONG", [server.clone(), msg.param(0).to_string()]).with_source(server);
    cx.send_me(&pong);
    Ok(())
}

/// `PONG <token>` — any line counts as a sign of life; nothing else to do.
pub fn pong(_cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    Ok(())
}

/// `QUIT [:<reason>]` — RFC 2812 §3.1.7.
pub fn quit(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let reason = match msg.params.first() {
        Some(r) if !r.is_empty() => format!("Quit: {r}"),
        _ => "Client Quit".to_string(),
    };
    cx.close(&reason);
    Ok(())
}

/// Completes registration once NICK, USER and (if started) CAP negotiation are done
/// and no login is under way. Run at the end of every command and store answer for
/// an unregistered connection that is not closing (`Cx::finish`, `cmd/reply.rs`).
pub fn try_register(cx: &mut Cx) {
    let user = cx.user();
    if user.registered
        || !user.has_nick()
        || user.user.is_empty()
        || user.cap_negotiating
        || user.login_pending
    {
        return;
    }
    let wanted = cx.config.server.password.clone();
    let given = cx.user_mut().password.take();
    let server_ok = wanted.is_empty() || given.as_deref() == Some(wanted.as_str());
    if let Some(pass) = given.filter(|p| **p != *wanted) {
        if cx.user().account.is_none() && account::pass_login(cx, &pass) {
            // Registration goes on when the password check answers.
            return;
        }
    }
    if !server_ok && cx.user().account.is_none() {
        cx.reply(ERR_PASSWDMISMATCH, &["Password incorrect"]);
        cx.close("Bad password");
        return;
    }
    if cx.conns.get(cx.me).is_some_and(|c| c.closing.is_some()) {
        return;
    }
    let source = cx.user().source();
    let ip = cx.conns.get(cx.me).map(|c| c.peer.ip());
    let ban = ip.and_then(|ip| crate::admission::ban_on(&cx.state.bans, ip, Some(&source)));
    if let Some(ban) = ban {
        let reason = format!("Banned: {}", ban.reason);
        log::info!("conn={} {source} refused: {reason}", cx.me);
        cx.close(&reason);
        return;
    }
    account::abort_at_registration(cx);
    cx.user_mut().registered = true;
    cx.state
        .cluster
        .push(crate::cluster::Outbox::Arrived(cx.me));
    let counts = &mut cx.state.counts;
    counts.unregistered -= 1;
    counts.registered += 1;
    counts.peak = counts.peak.max(counts.registered);
    log::info!(
        "conn={} nick={} peer={} registered",
        cx.me,
        cx.user().nick,
        cx.user().host
    );
    welcome::welcome(cx);
    let me = cx.me;
    super::monitor::came_online(cx, me);
    for chan in cx.config.server.auto_join.clone() {
        channel::join_one(cx, &chan, None);
    }
    account::after_login(cx);
    account::check_nick(cx);
}
