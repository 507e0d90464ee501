//! `MODE` for channels (`+o +v +t +n +m +i +k +l +b`) and for users (`+i`).
//! RFC 2812 §3.1.5 and §3.2.3; ISUPPORT `CHANMODES=b,k,l,imnt PREFIX=(ov)@+ MODES`.

use super::{err, no_such_nick, not_chanop, CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::state::channel::Ban;
use crate::store::Request;
use chatd_proto::mask::normalize_mask;
use chatd_proto::numeric::*;
use chatd_proto::{fold_eq, Message};

/// `MODE <target> [<modestring> [<args>...]]`.
pub fn mode(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if msg.param(0).starts_with('#') {
        channel_mode(cx, msg)
    } else {
        user_mode(cx, msg)
    }
}

fn user_mode(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let target = msg.param(0);
    if cx.state.slot_of_nick(target).is_none() {
        return Err(no_such_nick(target));
    }
    if !fold_eq(target, &cx.user().nick) {
        return Err(err(
            ERR_USERSDONTMATCH,
            ["Can't change mode for other users"],
        ));
    }
    let Some(modestring) = msg.params.get(1) else {
        let modes = cx.user().mode_string();
        cx.reply(RPL_UMODEIS, &[modes]);
        return Ok(());
    };
    let mut adding = true;
    let mut applied = String::new();
    let mut unknown = false;
    for c in modestring.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            'i' => {
                if cx.user().invisible != adding {
                    cx.user_mut().invisible = adding;
                    if adding {
                        cx.state.counts.invisible += 1;
                    } else {
                        cx.state.counts.invisible -= 1;
                    }
                    applied.push(if adding { '+' } else { '-' });
                    applied.push('i');
                }
            }
            _ => unknown = true,
        }
    }
    if unknown {
        cx.reply(ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]);
    }
    if !applied.is_empty() {
        let nick = cx.user().nick.clone();
        let m = Message::new("MODE", [nick, applied]).with_source(cx.user().source());
        cx.send_me(&m);
    }
    Ok(())
}

fn channel_mode(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let name = msg.param(0);
    let me = cx.me;
    let (folded, chan) = super::channel::channel_named(cx.state, name)?;
    let chan_name = chan.name.clone();
    let Some(modestring) = msg.params.get(1) else {
        let mut params = vec![chan_name.clone()];
        params.extend(chan.modes.to_params(chan.member(me).is_some()));
        let created = chan.created.to_string();
        cx.reply(RPL_CHANNELMODEIS, &params);
        cx.reply(RPL_CREATIONTIME, &[chan_name, created]);
        return Ok(());
    };
    let mut gate = Gate {
        is_op: chan.is_op(me) || cx.user().oper.is_some(),
        denied: false,
        with_arg: 0,
        max_with_arg: cx.config.limits.modes_per_command,
    };
    let mut args = msg.params[2..].iter();
    let mut adding = true;
    // Applied changes, for one MODE line to the channel.
    let mut changes: Vec<(bool, char, Option<String>)> = Vec::new();
    let setter = cx.user().source();
    let now = chrono::Utc::now().timestamp();
    for c in modestring.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            'b' => {
                let Some(arg) = args.next() else {
                    if adding {
                        send_ban_list(cx, &folded);
                    }
                    continue;
                };
                if !gate.allow(true) {
                    continue;
                }
                let mask = normalize_mask(arg);
                let max_bans = cx.config.limits.bans_per_channel;
                let at_id = cx.state.last_msg_id;
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                let present = chan.bans.iter().position(|b| fold_eq(&b.mask, &mask));
                match (adding, present) {
                    (true, None) if chan.bans.len() < max_bans => {
                        chan.bans.push(Ban {
                            mask: mask.clone(),
                            setter: setter.clone(),
                            time: now,
                        });
                        // Kept with the channel's incarnation, for members banned
                        // while away (see `account::on_memberships`).
                        cx.store.send(Request::ChannelBan {
                            incarnation: chan.incarnation,
                            mask: mask.clone(),
                            at_id,
                        });
                        changes.push((true, 'b', Some(mask)));
                    }
                    (true, None) => {
                        let text = "Channel ban list is full";
                        cx.reply(ERR_BANLISTFULL, &[chan_name.as_str(), mask.as_str(), text]);
                    }
                    (false, Some(i)) => {
                        let removed = chan.bans.remove(i);
                        changes.push((false, 'b', Some(removed.mask)));
                    }
                    _ => {}
                }
            }
            'o' | 'v' => {
                let Some(arg) = args.next() else {
                    cx.reply(ERR_NEEDMOREPARAMS, &["MODE", "Not enough parameters"]);
                    continue;
                };
                if !gate.allow(true) {
                    continue;
                }
                let Some(slot) = cx.state.slot_of_nick(arg) else {
                    cx.send_err(no_such_nick(arg));
                    continue;
                };
                let nick = cx.user_of(slot).map(|u| u.nick.clone()).unwrap_or_default();
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                let Some(member) = chan.members.get_mut(&slot) else {
                    cx.reply(
                        ERR_USERNOTINCHANNEL,
                        &[
                            nick.as_str(),
                            chan_name.as_str(),
                            "They aren't on that channel",
                        ],
                    );
                    continue;
                };
                let flag = if c == 'o' {
                    &mut member.op
                } else {
                    &mut member.voice
                };
                if *flag != adding {
                    *flag = adding;
                    changes.push((adding, c, Some(nick)));
                }
            }
            'k' => {
                let arg = args.next();
                if !gate.allow(arg.is_some()) {
                    continue;
                }
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                if adding {
                    let Some(key) = arg.filter(|k| valid_key(k)) else {
                        let shown = arg.map(String::as_str).unwrap_or("*");
                        cx.reply(
                            ERR_INVALIDMODEPARAM,
                            &[chan_name.as_str(), "k", shown, "Invalid key"],
                        );
                        continue;
                    };
                    chan.modes.key = Some(key.clone());
                    changes.push((true, 'k', Some(key.clone())));
                } else if chan.modes.key.take().is_some() {
                    changes.push((false, 'k', Some("*".into())));
                }
            }
            'l' => {
                let arg = if adding { args.next() } else { None };
                if !gate.allow(arg.is_some()) {
                    continue;
                }
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                if adding {
                    match arg.and_then(|a| a.parse::<usize>().ok()).filter(|&n| n > 0) {
                        Some(n) => {
                            chan.modes.limit = Some(n);
                            changes.push((true, 'l', Some(n.to_string())));
                        }
                        None => {
                            let shown = arg.map(String::as_str).unwrap_or("*");
                            cx.reply(
                                ERR_INVALIDMODEPARAM,
                                &[chan_name.as_str(), "l", shown, "Invalid limit"],
                            );
                        }
                    }
                } else if chan.modes.limit.take().is_some() {
                    changes.push((false, 'l', None));
                }
            }
            'i' | 'm' | 'n' | 't' => {
                if !gate.allow(false) {
                    continue;
                }
                let modes = &mut cx.state.channels.get_mut(&folded).expect("exists").modes;
                let flag = match c {
                    'i' => &mut modes.invite_only,
                    'm' => &mut modes.moderated,
                    'n' => &mut modes.no_external,
                    _ => &mut modes.topic_lock,
                };
                if *flag != adding {
                    *flag = adding;
                    changes.push((adding, c, None));
                }
            }
            other => {
                cx.reply(
                    ERR_UNKNOWNMODE,
                    &[other.to_string(), "is unknown mode char to me".into()],
                );
            }
        }
    }
    if gate.denied {
        cx.send_err(not_chanop(&chan_name));
    }
    if changes.is_empty() {
        return Ok(());
    }
    let mut modestr = String::new();
    let mut params = vec![chan_name];
    let mut sign = None;
    for (add, c, arg) in changes {
        if sign != Some(add) {
            modestr.push(if add { '+' } else { '-' });
            sign = Some(add);
        }
        modestr.push(c);
        params.extend(arg);
    }
    params.insert(1, modestr);
    let mode = cx.relay_from(me, "MODE", params);
    super::history::log_event(cx, &mode);
    let mut out = Outgoing::new(mode);
    cx.send_to_channel(&folded, &mut out, None, None);
    Ok(())
}

/// Who may change modes, and the `MODES` budget of changes that take a parameter.
struct Gate {
    is_op: bool,
    /// A change was refused for want of operator status (one 482 at the end).
    denied: bool,
    with_arg: usize,
    max_with_arg: usize,
}

impl Gate {
    /// Whether one more change may be applied; one that takes a parameter also uses
    /// up the `MODES` budget, and those past it are ignored, as ISUPPORT promises.
    fn allow(&mut self, takes_param: bool) -> bool {
        if !self.is_op {
            self.denied = true;
            return false;
        }
        if takes_param {
            self.with_arg += 1;
            return self.with_arg <= self.max_with_arg;
        }
        true
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 23
        && !k.contains([',', ' ', ':'])
        && !k.chars().any(char::is_control)
}

fn send_ban_list(cx: &mut Cx, folded: &str) {
    let Some(chan) = cx.state.channels.get(folded) else {
        return;
    };
    let name = chan.name.clone();
    let bans = chan.bans.clone();
    for b in bans {
        cx.reply(
            RPL_BANLIST,
            &[name.clone(), b.mask, b.setter, b.time.to_string()],
        );
    }
    cx.reply(
        RPL_ENDOFBANLIST,
        &[name.as_str(), "End of channel ban list"],
    );
}
