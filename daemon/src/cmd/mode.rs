//! `MODE` for channels (the member roles `+q +o +h +v`, `+t +n +m +i +C +k +l`, the
//! `+b +e +I` lists with the `~a:`/`~m:` extbans) and for users (`+i`, `+B`). RFC 2812
//! §3.1.5 and §3.2.3; ISUPPORT `CHANMODES=beI,k,l,Cimnt PREFIX=(qohv)~@%+ MODES
//! EXCEPTS INVEX EXTBAN`. A registered channel's changes are written
//! (`chanserv::persist`).

use super::{err, no_such_nick, not_chanop, CmdError, Cx};
use crate::config::Privilege;
use crate::outgoing::Outgoing;
use crate::state::channel::{rank, Ban, Mask, Member};
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
            // IRCv3 bot-mode: https://ircv3.net/specs/extensions/bot-mode
            'B' => {
                if cx.user().bot != adding {
                    cx.user_mut().bot = adding;
                    applied.push(if adding { '+' } else { '-' });
                    applied.push('B');
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
        rank: chan.rank(me),
        oper_modes: super::oper::can(cx, Privilege::Modes),
        oper_lists: super::oper::can(cx, Privilege::Ban),
        needed: rank::MEMBER,
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
            'b' | 'e' | 'I' => {
                let list = List::of(c);
                let Some(arg) = args.next() else {
                    if adding {
                        send_list(cx, &folded, list);
                    }
                    continue;
                };
                if !gate.allow_list() {
                    continue;
                }
                let Some(mask) = list_mask(arg, list) else {
                    let shown = shown_param(arg);
                    let text = "Invalid mask or unknown extban";
                    let letter = c.to_string();
                    cx.reply(
                        ERR_INVALIDMODEPARAM,
                        &[chan_name.as_str(), letter.as_str(), shown, text],
                    );
                    continue;
                };
                let max = cx.config.limits.bans_per_channel;
                let at_id = cx.state.last_msg_id;
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                let incarnation = chan.incarnation;
                let entries = list.entries(chan);
                let present = entries.iter().position(|b| fold_eq(&b.mask, &mask));
                match (adding, present) {
                    (true, None) if entries.len() < max => {
                        entries.push(Ban {
                            mask: mask.clone(),
                            setter: setter.clone(),
                            time: now,
                        });
                        // Kept with the channel's incarnation, for members banned
                        // while away (see `account::on_memberships`); a mute does
                        // not keep anyone out.
                        if list == List::Ban && !matches!(Mask::parse(&mask), Mask::Mute(_)) {
                            cx.store.send(Request::ChannelBan {
                                incarnation,
                                mask: mask.clone(),
                                at_id,
                            });
                        }
                        changes.push((true, c, Some(mask)));
                    }
                    (true, None) => {
                        let text = list.full_text();
                        cx.reply(ERR_BANLISTFULL, &[chan_name.as_str(), mask.as_str(), text]);
                    }
                    (false, Some(i)) => {
                        let removed = entries.remove(i);
                        changes.push((false, c, Some(removed.mask)));
                    }
                    _ => {}
                }
            }
            'q' | 'o' | 'h' | 'v' => {
                let Some(arg) = args.next() else {
                    cx.reply(ERR_NEEDMOREPARAMS, &["MODE", "Not enough parameters"]);
                    continue;
                };
                if !gate.allow_at(Member::rank_to_set(c), true) {
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
                // Only a higher role changes a member's roles (anyone may drop
                // their own).
                if slot != me && !gate.outranks(member.rank()) {
                    continue;
                }
                let flag = member.flag_mut(c).expect("a member letter");
                if *flag != adding {
                    *flag = adding;
                    changes.push((adding, c, Some(nick)));
                }
            }
            'k' => {
                let arg = args.next();
                if !gate.allow_at(rank::OP, arg.is_some()) {
                    continue;
                }
                let chan = cx.state.channels.get_mut(&folded).expect("exists");
                if adding {
                    let Some(key) = arg.filter(|k| valid_key(k)) else {
                        let shown = shown_param(arg.map(String::as_str).unwrap_or(""));
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
                if !gate.allow_at(rank::OP, arg.is_some()) {
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
                            let shown = shown_param(arg.map(String::as_str).unwrap_or(""));
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
            'C' | 'i' | 'm' | 'n' | 'p' | 's' | 't' => {
                if !gate.allow_at(rank::OP, false) {
                    continue;
                }
                let modes = &mut cx.state.channels.get_mut(&folded).expect("exists").modes;
                let flag = match c {
                    'C' => &mut modes.no_ctcp,
                    'i' => &mut modes.invite_only,
                    'm' => &mut modes.moderated,
                    'n' => &mut modes.no_external,
                    'p' => &mut modes.private,
                    's' => &mut modes.secret,
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
        if gate.needed <= rank::OP {
            cx.send_err(not_chanop(&chan_name));
        } else {
            let text = "You need a higher channel role for that";
            cx.reply(ERR_CHANOPRIVSNEEDED, &[chan_name.as_str(), text]);
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    log::info!(
        target: "chatd::moderation",
        "moderation: {} set {} on {chan_name}",
        cx.user().nick,
        changes
            .iter()
            .map(|(add, c, arg)| format!(
                "{}{c}{}",
                if *add { '+' } else { '-' },
                arg.as_deref().map(|a| format!(" {a}")).unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
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
    super::chanserv::persist(cx, &folded);
    Ok(())
}

/// Who may change modes, and the `MODES` budget of changes that take a parameter.
/// Channel settings need an operator, bans, exceptions and mutes a moderator
/// (halfop), member roles the rank [`Member::rank_to_set`] gives, and only against
/// a member of a lower rank (`docs/roles.md`). IRC operators pass by their class:
/// `modes` for everything, `ban` for the lists.
struct Gate {
    /// The sender's rank in the channel ([`rank`]).
    rank: u8,
    oper_modes: bool,
    oper_lists: bool,
    /// The highest rank a refused change needed (for the one 482 at the end).
    needed: u8,
    /// A change was refused for want of a role.
    denied: bool,
    with_arg: usize,
    max_with_arg: usize,
}

impl Gate {
    fn effective(&self) -> u8 {
        if self.oper_modes {
            rank::OPER
        } else {
            self.rank
        }
    }

    /// Whether one more change needing rank `needed` may be applied; one that takes
    /// a parameter also uses up the `MODES` budget, and those past it are ignored,
    /// as ISUPPORT promises.
    fn allow_at(&mut self, needed: u8, takes_param: bool) -> bool {
        if self.effective() < needed {
            self.denied = true;
            self.needed = self.needed.max(needed);
            return false;
        }
        if takes_param {
            self.with_arg += 1;
            return self.with_arg <= self.max_with_arg;
        }
        true
    }

    /// A change to a `+b`/`+e`/`+I` list: moderators and up, or an operator whose
    /// class has `ban`.
    fn allow_list(&mut self) -> bool {
        if self.oper_lists && self.effective() < rank::HALFOP {
            self.rank = rank::HALFOP;
        }
        self.allow_at(rank::HALFOP, true)
    }

    /// Whether the sender outranks a member of rank `theirs` (to change its roles).
    fn outranks(&mut self, theirs: u8) -> bool {
        if self.effective() > theirs || (self.effective() == theirs && theirs == rank::OP) {
            return true;
        }
        self.denied = true;
        self.needed = self.needed.max(theirs.saturating_add(1));
        false
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 23
        && !k.contains([',', ' ', ':'])
        && !k.chars().any(char::is_control)
}

/// A rejected mode parameter as 696 ERR_INVALIDMODEPARAM may echo it: a middle
/// parameter is never empty, never holds a space and never starts with `:`
/// (RFC 1459 §2.3.1), so such a value is shown as `*`.
fn shown_param(arg: &str) -> &str {
    if arg.is_empty() || arg.contains(' ') || arg.starts_with(':') {
        "*"
    } else {
        arg
    }
}

/// The three mask lists of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    /// `+b`, 367/368.
    Ban,
    /// `+e`, 348/349.
    Exception,
    /// `+I`, 346/347.
    Invex,
}

impl List {
    fn of(letter: char) -> List {
        match letter {
            'e' => List::Exception,
            'I' => List::Invex,
            _ => List::Ban,
        }
    }

    fn entries(self, chan: &mut crate::state::Channel) -> &mut Vec<Ban> {
        match self {
            List::Ban => &mut chan.bans,
            List::Exception => &mut chan.exceptions,
            List::Invex => &mut chan.invex,
        }
    }

    fn full_text(self) -> &'static str {
        match self {
            List::Ban => "Channel ban list is full",
            List::Exception => "Channel exception list is full",
            List::Invex => "Channel invite exception list is full",
        }
    }
}

/// The entry to store for `arg` in `list`: a hostmask completed to `nick!user@host`,
/// `~a:<account>`, or in the ban list `~m:<mask>`; `None` for anything else (an
/// unknown extban, a mute outside the ban list, a space or an empty mask).
fn list_mask(arg: &str, list: List) -> Option<String> {
    if arg.is_empty() || arg.contains(' ') || arg.starts_with(':') || arg.len() > 300 {
        return None;
    }
    match Mask::parse(arg) {
        Mask::Host(m) => Some(normalize_mask(m)),
        Mask::Account(_) => Some(arg.to_string()),
        Mask::Mute(inner) if list == List::Ban => match Mask::parse(inner) {
            Mask::Host(m) => Some(format!("~m:{}", normalize_mask(m))),
            Mask::Account(_) => Some(arg.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn send_list(cx: &mut Cx, folded: &str, list: List) {
    let Some(chan) = cx.state.channels.get_mut(folded) else {
        return;
    };
    let name = chan.name.clone();
    let entries = list.entries(chan).clone();
    let (item, end, end_text) = match list {
        List::Ban => (RPL_BANLIST, RPL_ENDOFBANLIST, "End of channel ban list"),
        List::Exception => (
            RPL_EXCEPTLIST,
            RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
        ),
        List::Invex => (
            RPL_INVITELIST,
            RPL_ENDOFINVITELIST,
            "End of channel invite exception list",
        ),
    };
    for b in entries {
        cx.reply(item, &[name.clone(), b.mask, b.setter, b.time.to_string()]);
    }
    cx.reply(end, &[name.as_str(), end_text]);
}
