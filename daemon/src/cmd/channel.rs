//! Channel commands: `JOIN` (with extended-join), `PART`, `TOPIC`, `NAMES`, `KICK`,
//! `INVITE` (with invite-notify); `LIST` and its ELIST conditions are in
//! `channel/list.rs`. Channel `MODE` is in `mode.rs`.

mod list;
pub use list::list;

use super::{err, no_such_channel, no_such_nick, not_chanop, not_on_channel, CmdError, Cx};
use crate::config::Privilege;
use crate::outgoing::Outgoing;
use crate::state::channel::rank;
use crate::state::channel::{Topic, Who};
use crate::state::names::is_valid_channel;
use crate::state::{registered, Cap, Channel, Member, State};
use crate::store::{Incarnation, Request};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// `JOIN <channel>{,<channel>} [<key>{,<key>}]` or `JOIN 0` — RFC 2812 §3.2.1.
pub fn join(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if msg.param(0) == "0" {
        let chans: Vec<String> = cx.user().channels.clone();
        for folded in chans {
            part_one(cx, &folded, "");
        }
        return Ok(());
    }
    let mut keys = msg.param(1).split(',');
    let max = cx.config.limits.channels_per_user;
    for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
        let key = keys.next().filter(|k| !k.is_empty());
        if cx.user().channels.len() >= max {
            // One 405 for the rest of a long list, not one per name.
            cx.reply(
                ERR_TOOMANYCHANNELS,
                &[name, "You have joined too many channels"],
            );
            break;
        }
        join_one(cx, name, key);
    }
    Ok(())
}

/// Joins one channel, creating it (with the joiner as operator) if needed.
pub fn join_one(cx: &mut Cx, name: &str, key: Option<&str>) {
    join_inner(cx, name, key, None);
}

/// Rejoins a channel an account remembers being in, in `incarnation`: `+i`, `+k` and
/// `+l` do not keep it out of that same incarnation (it is still a member), `+b`
/// does. A channel of that name created since is another channel: it is joined like
/// any other.
pub fn rejoin(cx: &mut Cx, name: &str, incarnation: Incarnation) {
    join_inner(cx, name, None, Some(incarnation));
}

fn join_inner(cx: &mut Cx, name: &str, key: Option<&str>, remembered: Option<Incarnation>) {
    let limits = &cx.config.limits;
    if !is_valid_channel(name, limits.channel_len) {
        cx.reply(ERR_BADCHANMASK, &[name, "Bad Channel Mask"]);
        return;
    }
    let folded = fold(name);
    if cx.user().in_channel(&folded) {
        return;
    }
    if cx.user().channels.len() >= limits.channels_per_user {
        cx.reply(
            ERR_TOOMANYCHANNELS,
            &[name, "You have joined too many channels"],
        );
        return;
    }
    let me = cx.me;
    let source = cx.user().source();
    let account = cx.user().account.clone();
    let who = Who {
        source: &source,
        account: account.as_deref(),
    };
    let my_id = cx.conns.get(me).expect("the sender is connected").id;
    let now = chrono::Utc::now().timestamp();
    let joined = cx.state.last_msg_id;
    // A registered channel gives roles by account and is never taken by the first to
    // join: re-created empty with what its record kept, it is joined like any other.
    let my_account = account.as_deref().and_then(|a| cx.state.account_id(a));
    let listed = cx
        .state
        .registered
        .get(&folded)
        .map(|r| registered::member_for(r, my_account, joined));
    if listed.is_some() && !cx.state.channels.contains_key(&folded) {
        let record = &cx.state.registered[&folded];
        let mut chan = Channel::new(&record.name, now, record.incarnation);
        registered::restore(&mut chan, record);
        cx.state.channels.insert(folded.clone(), chan);
    }
    let created = match cx.state.channels.get_mut(&folded) {
        Some(chan) => {
            let member = remembered == Some(chan.incarnation);
            // Anyone on the access list is expected: +i, +k and +l do not keep them
            // out, and bans do not keep out its operators.
            let role = listed.map_or(rank::MEMBER, Member::rank);
            let expected = listed.is_some() && role > rank::MEMBER;
            let invited =
                chan.invites.contains(&my_id) || member || chan.is_invex(&who) || expected;
            let refusal =
                if chan.is_banned(&who) && !chan.invites.contains(&my_id) && role < rank::OP {
                    Some((ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"))
                } else if chan.modes.invite_only && !invited {
                    Some((ERR_INVITEONLYCHAN, "Cannot join channel (+i)"))
                } else if chan.modes.key.is_some() && chan.modes.key.as_deref() != key && !expected
                {
                    Some((ERR_BADCHANNELKEY, "Cannot join channel (+k)"))
                } else if chan.modes.limit.is_some_and(|l| chan.members.len() >= l) && !expected {
                    Some((ERR_CHANNELISFULL, "Cannot join channel (+l)"))
                } else if chan.members.len() >= limits.members_per_channel {
                    Some((ERR_CHANNELISFULL, "Cannot join channel (it is full)"))
                } else {
                    None
                };
            if let Some((numeric, text)) = refusal {
                let shown = chan.name.clone();
                if chan.members.is_empty() {
                    cx.state.channels.remove(&folded);
                }
                cx.reply(numeric, &[shown.as_str(), text]);
                return;
            }
            chan.invites.remove(&my_id);
            let privileges = listed.unwrap_or(Member {
                joined,
                ..Member::default()
            });
            chan.members.insert(me, privileges);
            false
        }
        None => {
            // A new channel, never the one a previous holder of the name was: its
            // history starts here.
            let now_ms = chrono::Utc::now().timestamp_millis();
            let incarnation = cx.state.next_msg_id(now_ms);
            cx.store.send(Request::NewChannel {
                name: name.to_string(),
                incarnation,
                created_ms: now_ms,
            });
            if cx.state.cluster.enabled() {
                cx.state
                    .cluster
                    .created
                    .push((name.to_string(), incarnation));
            }
            let mut chan = Channel::new(name, now, incarnation);
            chan.members.insert(
                me,
                Member {
                    op: true,
                    joined,
                    ..Member::default()
                },
            );
            cx.state.channels.insert(folded.clone(), chan);
            true
        }
    };
    cx.user_mut().channels.push(folded.clone());
    let chan_name = cx.state.channels[&folded].name.clone();
    let incarnation = cx.state.channels[&folded].incarnation;
    if let Some(account) = cx
        .user()
        .account
        .as_deref()
        .and_then(|a| cx.state.account_id(a))
    {
        cx.store.send(Request::Join {
            account,
            channel: chan_name.clone(),
            incarnation,
            last_id: cx.state.last_msg_id,
        });
    }
    let join = cx.relay_from(me, "JOIN", vec![chan_name.clone()]);
    super::history::log_event(cx, &join);
    // extended-join: `JOIN <channel> <account> :<realname>` (`*` when logged out) to
    // those that asked for it, the plain form to the others.
    // https://ircv3.net/specs/extensions/extended-join
    let mut extended = join.clone();
    extended
        .params
        .push(account.clone().unwrap_or_else(|| "*".into()));
    extended.params.push(cx.user().realname.to_string());
    let mut out = Outgoing::new(join);
    let mut out_extended = Outgoing::new(extended.with_trailing());
    cx.send_to_channel_split(
        &folded,
        None,
        Cap::ExtendedJoin,
        &mut out_extended,
        &mut out,
    );
    // away-notify: members learn at once that the newcomer is away.
    if let Some(away) = cx.user().away.clone() {
        let away = cx.relay_from(me, "AWAY", vec![away.to_string()]);
        let mut out = Outgoing::new(away.with_trailing());
        cx.send_to_channel(&folded, &mut out, Some(me), Some(Cap::AwayNotify));
    }
    log::debug!(
        "conn={me} nick={} joined {chan_name} created={created}",
        cx.user().nick
    );
    if let Some(topic) = cx.state.channels[&folded].topic.clone() {
        send_topic(cx, &chan_name, &topic);
    }
    super::read_marker::on_join(cx, &chan_name);
    send_names(cx, &folded);
}

fn send_topic(cx: &mut Cx, chan_name: &str, topic: &Topic) {
    cx.reply(RPL_TOPIC, &[chan_name, topic.text.as_str()]);
    cx.reply(
        RPL_TOPICWHOTIME,
        &[
            chan_name.to_string(),
            topic.setter.clone(),
            topic.time.to_string(),
        ],
    );
}

/// 353 lines (split to stay well under 512 bytes) then 366 for one channel. A
/// `+s`/`+p` channel shows only its 366 to outsiders (modern.ircdocs.horse NAMES).
pub fn send_names(cx: &mut Cx, folded: &str) {
    let Some(chan) = cx.state.channels.get(folded) else {
        return;
    };
    let caps = cx.user().caps;
    let multi = caps.has(Cap::MultiPrefix);
    let userhost = caps.has(Cap::UserhostInNames);
    let name = chan.name.clone();
    if chan.is_hidden_from(cx.me, super::oper::can(cx, Privilege::SeeHidden)) {
        cx.reply(RPL_ENDOFNAMES, &[name.as_str(), "End of /NAMES list"]);
        return;
    }
    let symbol = chan.names_symbol();
    // Invisible (+i) users are shown only to members (modern.ircdocs.horse NAMES).
    let outsider = chan.member(cx.me).is_none();
    let mut entries: Vec<String> = chan
        .members
        .iter()
        .filter_map(|(&slot, m)| {
            cx.conns
                .get(slot)
                .filter(|c| !(outsider && c.user.invisible))
                .map(|c| match userhost {
                    // userhost-in-names: `nick!user@host` for each member.
                    true => format!("{}{}", m.prefixes(multi), c.user.source()),
                    false => format!("{}{}", m.prefixes(multi), c.user.nick),
                })
        })
        .collect();
    entries.sort_unstable();
    let mut line = String::new();
    for entry in entries {
        if line.len() + entry.len() > 380 {
            cx.reply(RPL_NAMREPLY, &[symbol, name.as_str(), line.as_str()]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&entry);
    }
    if !line.is_empty() {
        cx.reply(RPL_NAMREPLY, &[symbol, name.as_str(), line.as_str()]);
    }
    cx.reply(RPL_ENDOFNAMES, &[name.as_str(), "End of /NAMES list"]);
    let me = cx.me;
    cx.conns.trim_after_flush(me);
}

/// `PART <channel>{,<channel>} [:<reason>]` — RFC 2812 §3.2.2.
pub fn part(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let reason = msg.param(1).to_string();
    for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
        let folded = fold(name);
        if !cx.state.channels.contains_key(&folded) {
            cx.send_err(no_such_channel(name));
        } else if !cx.user().in_channel(&folded) {
            cx.send_err(not_on_channel(name));
        } else {
            part_one(cx, &folded, &reason);
        }
    }
    Ok(())
}

/// Leaves a channel the sender is in, telling its members; empty channels vanish.
pub fn part_one(cx: &mut Cx, folded: &str, reason: &str) {
    let me = cx.me;
    let Some(name) = cx.state.channels.get(folded).map(|c| c.name.clone()) else {
        return;
    };
    let mut part = cx.relay_from(me, "PART", vec![name]);
    if !reason.is_empty() {
        part.params.push(reason.to_string());
        part = part.with_trailing();
    }
    super::history::log_event(cx, &part);
    let mut out = Outgoing::new(part);
    cx.send_to_channel(folded, &mut out, None, None);
    forget_membership(cx, me, folded);
    remove_member(cx, folded, me);
}

/// PART and KICK end a remembered membership (a disconnect does not).
fn forget_membership(cx: &mut Cx, slot: usize, folded: &str) {
    if let Some(account) = cx
        .user_of(slot)
        .and_then(|u| u.account.as_deref())
        .and_then(|a| cx.state.account_id(a))
    {
        cx.store.send(Request::Part {
            account,
            channel: folded.to_string(),
        });
    }
}

/// Drops `slot` from a channel's members and the channel from its list.
pub fn remove_member(cx: &mut Cx, folded: &str, slot: usize) {
    let emptied = cx.state.channels.get_mut(folded).is_some_and(|chan| {
        chan.members.remove(&slot);
        chan.members.is_empty()
    });
    if emptied {
        // A registered channel's record notes when it was last used.
        crate::cmd::chanserv::persist(cx, folded);
        cx.state.channels.remove(folded);
    }
    if let Some(conn) = cx.conns.get_mut(slot) {
        conn.user.channels.retain(|c| c != folded);
    }
}

/// `TOPIC <channel> [:<topic>]` — RFC 2812 §3.2.4.
pub fn topic(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let name = msg.param(0);
    let me = cx.me;
    let (folded, chan) = channel_named(cx.state, name)?;
    let chan_name = chan.name.clone();
    if msg.params.len() < 2 {
        return match chan.topic.clone() {
            Some(t) => {
                send_topic(cx, &chan_name, &t);
                Ok(())
            }
            None => Err(err(RPL_NOTOPIC, [chan_name.as_str(), "No topic is set"])),
        };
    }
    if chan.member(me).is_none() {
        return Err(not_on_channel(&chan_name));
    }
    if chan.modes.topic_lock && !chan.is_op(me) {
        return Err(not_chanop(&chan_name));
    }
    let text: String = truncate(msg.param(1), cx.config.limits.topic_len).to_string();
    let setter = cx.user().source();
    let chan = cx.state.channels.get_mut(&folded).expect("checked above");
    chan.topic = if text.is_empty() {
        None
    } else {
        Some(Topic {
            text: text.clone(),
            setter,
            time: chrono::Utc::now().timestamp(),
        })
    };
    let topic = cx.relay_from(me, "TOPIC", vec![chan_name, text]);
    super::history::log_event(cx, &topic);
    let mut out = Outgoing::new(topic.with_trailing());
    cx.send_to_channel(&folded, &mut out, None, None);
    crate::cmd::chanserv::persist(cx, &folded);
    Ok(())
}

/// `NAMES [<channel>{,<channel>}]` — RFC 2812 §3.2.5. Without a channel only 366 `*`.
/// At most `TARGMAX` `NAMES:` channels; the rest get one 407.
pub fn names(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    if msg.param(0).is_empty() {
        cx.reply(RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
        return Ok(());
    }
    let max = cx.config.limits.targets_per_message;
    let names: Vec<&str> = msg.param(0).split(',').filter(|n| !n.is_empty()).collect();
    if let Some(extra) = names.get(max) {
        cx.reply(
            ERR_TOOMANYTARGETS,
            &[
                *extra,
                "Too many targets; the channels past this one were not listed",
            ],
        );
    }
    for name in names.into_iter().take(max) {
        let folded = fold(name);
        if cx.state.channels.contains_key(&folded) {
            send_names(cx, &folded);
        } else {
            cx.reply(RPL_ENDOFNAMES, &[name, "End of /NAMES list"]);
        }
    }
    Ok(())
}

/// `KICK <channel>{,<channel>} <nick>{,<nick>} [:<reason>]` — RFC 2812 §3.2.8: one
/// channel with several nicks kicks each from it; several channels pair one by one
/// with as many nicks. IRC operators may kick in any channel.
pub fn kick(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let chans: Vec<&str> = msg.param(0).split(',').filter(|n| !n.is_empty()).collect();
    let nicks: Vec<&str> = msg.param(1).split(',').filter(|n| !n.is_empty()).collect();
    let max = cx.config.limits.targets_per_message;
    let pairs: Vec<(&str, &str)> = match (chans.as_slice(), nicks.len()) {
        ([], _) | (_, 0) => return Err(err(ERR_NEEDMOREPARAMS, ["KICK", "Not enough parameters"])),
        ([chan], _) => nicks.iter().map(|n| (*chan, *n)).collect(),
        (many, n) if many.len() == n => many.iter().copied().zip(nicks).collect(),
        _ => return Err(err(ERR_NEEDMOREPARAMS, ["KICK", "Not enough parameters"])),
    };
    let reason = match msg.param(2) {
        "" => cx.user().nick.clone(),
        r => truncate(r, cx.config.limits.kick_len).to_string(),
    };
    for (name, target) in pairs.into_iter().take(max) {
        if let Err(e) = kick_one(cx, name, target, &reason) {
            cx.send_err(e);
        }
    }
    Ok(())
}

/// One `KICK` of `target` from channel `name` by the sender.
fn kick_one(cx: &mut Cx, name: &str, target: &str, reason: &str) -> Result<(), CmdError> {
    let me = cx.me;
    // An operator whose class has `kick` kicks anyone anywhere; a moderator (halfop)
    // and up kick members of a lower role.
    let oper = super::oper::can(cx, crate::config::Privilege::Kick);
    let (folded, chan) = channel_named(cx.state, name)?;
    let chan_name = chan.name.clone();
    if chan.member(me).is_none() && !oper {
        return Err(not_on_channel(&chan_name));
    }
    if chan.rank(me) < rank::HALFOP && !oper {
        return Err(not_chanop(&chan_name));
    }
    let Some(slot) = cx.state.slot_of_nick(target) else {
        return Err(no_such_nick(target));
    };
    let Some(theirs) = chan.member(slot).map(Member::rank) else {
        return Err(err(
            ERR_USERNOTINCHANNEL,
            [target, chan_name.as_str(), "They aren't on that channel"],
        ));
    };
    // Operators kick operators, as everywhere; a moderator only those below it.
    let mine = chan.rank(me);
    let up_to = if mine >= rank::OP {
        mine
    } else {
        mine.saturating_sub(1)
    };
    if !oper && slot != me && theirs > up_to {
        return Err(err(
            ERR_CHANOPRIVSNEEDED,
            [
                chan_name.as_str(),
                "You cannot kick a member of a higher role",
            ],
        ));
    }
    let victim = cx.user_of(slot).map(|u| u.nick.clone()).unwrap_or_default();
    log::info!(
        target: "chatd::moderation",
        "moderation: {} kicked {victim} from {chan_name}: {reason}",
        cx.user().nick
    );
    let kick = cx.relay_from(me, "KICK", vec![chan_name, victim, reason.to_string()]);
    kick_with(cx, &folded, slot, kick.with_trailing());
    Ok(())
}

/// Removes `slot` from a channel with a `KICK` from `source` (the server), which
/// every member sees; the membership is forgotten.
pub fn kick_member(cx: &mut Cx, folded: &str, slot: usize, source: &str, reason: &str) {
    let Some(chan_name) = cx.state.channels.get(folded).map(|c| c.name.clone()) else {
        return;
    };
    let victim = cx.user_of(slot).map(|u| u.nick.clone()).unwrap_or_default();
    let id = cx.state.next_msg_id(chrono::Utc::now().timestamp_millis());
    let kick = Message::new("KICK", [chan_name, victim, reason.to_string()])
        .with_source(source)
        .with_tag("time", crate::outgoing::server_time_now())
        .with_tag("msgid", crate::store::msgid_of(id))
        .with_trailing();
    kick_with(cx, folded, slot, kick);
}

fn kick_with(cx: &mut Cx, folded: &str, slot: usize, kick: Message) {
    super::history::log_event(cx, &kick);
    let mut out = Outgoing::new(kick);
    cx.send_to_channel(folded, &mut out, None, None);
    forget_membership(cx, slot, folded);
    remove_member(cx, folded, slot);
}

/// `INVITE <nick> <channel>` — RFC 2812 §3.2.7.
pub fn invite(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let (nick, name) = (msg.param(0), msg.param(1));
    let me = cx.me;
    let Some(target) = cx.state.slot_of_nick(nick) else {
        return Err(no_such_nick(nick));
    };
    let (folded, chan) = channel_named(cx.state, name)?;
    let chan_name = chan.name.clone();
    if chan.member(me).is_none() {
        return Err(not_on_channel(&chan_name));
    }
    if chan.modes.invite_only && !chan.is_op(me) {
        return Err(not_chanop(&chan_name));
    }
    let (target_id, target_nick, away) = match cx.conns.get(target) {
        Some(c) => (c.id, c.user.nick.clone(), c.user.away.clone()),
        None => return Err(no_such_nick(nick)),
    };
    if chan.member(target).is_some() {
        return Err(err(
            ERR_USERONCHANNEL,
            [
                target_nick.as_str(),
                chan_name.as_str(),
                "is already on channel",
            ],
        ));
    }
    let invites = &mut cx
        .state
        .channels
        .get_mut(&folded)
        .expect("checked above")
        .invites;
    // Invites of clients that have gone since would otherwise pile up.
    let conns = &*cx.conns;
    invites.retain(|id| conns.get(id.slot).is_some_and(|c| c.id == *id));
    invites.insert(target_id);
    cx.reply(RPL_INVITING, &[target_nick.as_str(), chan_name.as_str()]);
    if let Some(away) = away {
        cx.reply(RPL_AWAY, &[target_nick.clone(), away.to_string()]);
    }
    let mut out = Outgoing::new(cx.relay_from(me, "INVITE", vec![target_nick, chan_name]));
    cx.send_outgoing(target, &mut out);
    // invite-notify: the channel's operators (who could invite too) hear of it.
    // https://ircv3.net/specs/extensions/invite-notify
    let ops: Vec<usize> = cx.state.channels[&folded]
        .members
        .iter()
        .filter(|(&slot, m)| m.op && slot != me && slot != target)
        .map(|(&slot, _)| slot)
        .collect();
    for slot in ops {
        if cx
            .user_of(slot)
            .is_some_and(|u| u.caps.has(Cap::InviteNotify))
        {
            cx.send_outgoing(slot, &mut out);
        }
    }
    Ok(())
}

/// The channel `name` refers to, with its folded key, or `403 ERR_NOSUCHCHANNEL`.
pub fn channel_named<'a>(state: &'a State, name: &str) -> Result<(String, &'a Channel), CmdError> {
    let folded = fold(name);
    match state.channels.get(&folded) {
        Some(chan) => Ok((folded, chan)),
        None => Err(no_such_channel(name)),
    }
}

/// The longest prefix of `s` within `max` bytes, cut on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
