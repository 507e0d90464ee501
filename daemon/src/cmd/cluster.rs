//! The command layer's side of a cluster (`cluster/`): which commands the other
//! nodes must run too (`replicate`), nick claims (`claim_nick`, `on_nick_claimed`),
//! and the users of other nodes (`user_info`, `add_channels`). A remote user is a
//! `Conn` with `Sock::Remote`, so every command sees it like a local one.

use super::{account, err, CmdError, Cx};
use crate::cluster::{ChanInfo, Event, Outbox, UserInfo};
use crate::conn::Conns;
use crate::followup::{FollowUp, Then};
use crate::ids::ConnId;
use crate::outgoing::Outgoing;
use crate::state::channel::{Ban, Channel, Member, Topic};
use crate::state::State;
use crate::store::Request;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

/// Commands whose effect the other nodes must see: they run them too, as the same
/// user, and deliver to their own clients.
const REPLICATED: &[&str] = &[
    "JOIN", "PART", "KICK", "MODE", "TOPIC", "AWAY", "SETNAME", "INVITE", "PRIVMSG", "NOTICE",
    "TAGMSG", "BATCH", "CHANNEL",
];

/// After a local registered user's command: publishes it for the other nodes if it
/// is one they must see. A message to one nick goes to that nick's node only (or
/// nowhere, when the nick is here); anything else to every node, once.
pub fn replicate(cx: &mut Cx, msg: &Message) {
    if !cx.state.cluster.enabled() {
        return;
    }
    let Some(conn) = cx.conns.get(cx.me) else {
        return;
    };
    if conn.is_remote() || !conn.user.registered || conn.closing.is_some() {
        return;
    }
    let name = msg.command.to_ascii_uppercase();
    // A multiline batch (draft/multiline) goes line by line, in order, to every node:
    // each runs it as that user and delivers the whole message at its end.
    let in_batch = msg.tag("batch").is_some() || name == "BATCH";
    if !REPLICATED.contains(&name.as_str())
        || (in_batch && !matches!(name.as_str(), "BATCH" | "PRIVMSG" | "NOTICE"))
    {
        return;
    }
    let serial = conn.id.serial;
    let mut to = None;
    if !in_batch && matches!(name.as_str(), "PRIVMSG" | "NOTICE" | "TAGMSG") {
        let targets: Vec<&str> = msg.param(0).split(',').collect();
        let nick_target = match targets.as_slice() {
            [one] if !one.starts_with(['#', '&', '@', '+', '%', '~']) => Some(*one),
            _ => None,
        };
        if let Some(nick) = nick_target.filter(|n| fold(n) != fold(super::chanserv::CHANSERV)) {
            // ChanServ (like CHANNEL) runs on every node: each keeps the channel's
            // record and gives its members the roles it says.
            match cx
                .state
                .slot_of_nick(nick)
                .and_then(|s| cx.conns.get(s))
                .map(|c| c.node)
            {
                Some(node) if node != 0 => to = Some(node),
                // Here, or nobody online: no other node is concerned.
                _ => return,
            }
        }
    }
    let line = msg.to_line_with(|t| t.key != "label");
    let line = String::from_utf8_lossy(&line).trim_end().to_string();
    let node = cx.state.cluster.node;
    let ids = std::mem::take(&mut cx.state.cluster.given);
    let created = std::mem::take(&mut cx.state.cluster.created);
    cx.state.cluster.push(Outbox::Publish {
        to,
        event: Event::Line {
            node,
            serial,
            line,
            ids,
            created,
        },
    });
}

/// Before another node's command runs here: the channels it created there (`created`,
/// with their incarnations) that this node created too, in the same few milliseconds,
/// before either saw the other's JOIN. Every node keeps the earlier incarnation (the
/// smaller id) and its creator as the one operator, so all agree: when it is the
/// other node's, this node's channel takes it and its operators lose `+o` (members
/// see a MODE from the server). Returns the channels (folded) whose creator is the
/// sender, for [`crown_creator`] once the JOIN ran. The losing incarnation's id is
/// taken off the ids the command brought, so the others still line up.
pub fn settle_creations(cx: &mut Cx, created: &[(String, i64)]) -> Vec<String> {
    let mut adopted = Vec::new();
    for (name, incarnation) in created {
        let folded = fold(name);
        if cx.state.registered.contains_key(&folded) {
            // A registered channel's incarnation is its record's, the same everywhere.
            continue;
        }
        let Some(chan) = cx.state.channels.get_mut(&folded) else {
            continue;
        };
        if chan.incarnation == *incarnation {
            continue;
        }
        cx.state.cluster.origin_ids.retain(|id| id != incarnation);
        if *incarnation > chan.incarnation {
            // This node's is the earlier one: the sender joins it as anyone would.
            continue;
        }
        log::info!(
            "cluster: {} was created on two nodes at once; keeping the earlier one",
            chan.name
        );
        chan.incarnation = *incarnation;
        let shown = chan.name.clone();
        let demoted: Vec<usize> = chan
            .members
            .iter_mut()
            .filter(|(_, m)| m.op)
            .map(|(&slot, m)| {
                m.op = false;
                slot
            })
            .collect();
        let server = cx.server_name().to_string();
        for slot in demoted {
            let Some(nick) = cx.conns.get(slot).map(|c| c.user.nick.to_string()) else {
                continue;
            };
            let mode = Message::new("MODE", [shown.as_str(), "-o", nick.as_str()])
                .with_source(server.clone());
            cx.send_to_channel(&folded, &mut Outgoing::new(mode), None, None);
        }
        adopted.push(folded);
    }
    adopted
}

/// After [`settle_creations`] and the JOIN that followed: the sender, the creator of
/// the incarnation kept, is the channel's operator here too. This node's own members
/// of it are members of that incarnation now (their memberships are written again).
pub fn crown_creator(cx: &mut Cx, adopted: &[String]) {
    let me = cx.me;
    let nick = cx.user().nick.to_string();
    let server = cx.server_name().to_string();
    for folded in adopted {
        let Some(chan) = cx.state.channels.get_mut(folded) else {
            continue;
        };
        let Some(member) = chan.members.get_mut(&me) else {
            continue;
        };
        member.op = true;
        let (shown, incarnation) = (chan.name.clone(), chan.incarnation);
        let locals: Vec<usize> = chan.members.keys().copied().collect();
        let mode =
            Message::new("MODE", [shown.as_str(), "+o", nick.as_str()]).with_source(server.clone());
        cx.send_to_channel(folded, &mut Outgoing::new(mode), None, None);
        for slot in locals {
            let account = cx
                .conns
                .get(slot)
                .filter(|c| !c.is_remote())
                .and_then(|c| c.user.account.as_deref())
                .and_then(|a| cx.state.account_id(a));
            if let Some(account) = account {
                cx.store.send(Request::Join {
                    account,
                    channel: shown.clone(),
                    incarnation,
                    last_id: cx.state.last_msg_id,
                });
            }
        }
    }
}

/// A local user's nick change must be claimed across the cluster first: asks the
/// bus (the client's next lines wait); `on_nick_claimed` finishes the change.
pub fn claim_nick(cx: &mut Cx, new: &str) -> Result<(), CmdError> {
    if !cx.state.cluster.up {
        return Err(err(
            ERR_UNAVAILRESOURCE,
            [
                new,
                "Nick changes are unavailable: this server lost its link to the cluster; \
                 try again shortly",
            ],
        ));
    }
    let id = cx.my_id();
    let label = cx.hand_off_label();
    let ticket = cx.state.followups.open(FollowUp::Client {
        id,
        holds_lines: true,
        then: Then::NickClaim {
            nick: new.to_string(),
        },
        label,
    });
    cx.state.cluster.push(Outbox::Claim {
        ticket,
        nick: fold(new),
    });
    if let Some(conn) = cx.conns.get_mut(cx.me) {
        conn.awaiting += 1;
    }
    Ok(())
}

/// The bus answered a nick claim: the change goes on (the local checks again, as
/// things may have changed meanwhile), or the client gets 433 (another node has
/// it) or 437 (the bus could not be asked).
pub fn on_nick_claimed(cx: &mut Cx, id: ConnId, nick: &str, result: Result<bool, String>) {
    let alive = cx.alive(id);
    let release = |cx: &mut Cx| {
        let still_mine = cx.alive(id) && fold(&cx.user().nick) == fold(nick);
        if !still_mine {
            cx.state.cluster.push(Outbox::Release { nick: fold(nick) });
        }
    };
    if !alive {
        if result == Ok(true) {
            release(cx);
        }
        return;
    }
    let refusal = match result {
        Ok(true) => match super::registration::nick_locally(cx, nick) {
            Ok(()) => return,
            Err(e) => {
                release(cx);
                e
            }
        },
        Ok(false) => err(ERR_NICKNAMEINUSE, [nick, "Nickname is already in use"]),
        Err(why) => {
            log::warn!("conn={} nick claim for {nick} failed: {why}", cx.me);
            err(
                ERR_UNAVAILRESOURCE,
                [
                    nick,
                    "Nick changes are unavailable: this server lost its link to the \
                     cluster; try again shortly",
                ],
            )
        }
    };
    cx.reply(refusal.numeric, &refusal.params);
}

/// After a nick change by a local user (`account::change_nick`): the old nick is
/// released, the new one held, and a registered user's change published.
pub fn nick_changed(cx: &mut Cx, old: &str, new: &str) {
    if !cx.state.cluster.enabled() {
        return;
    }
    let Some(conn) = cx.conns.get(cx.me).filter(|c| !c.is_remote()) else {
        return;
    };
    let (serial, registered) = (conn.id.serial, conn.user.registered);
    if fold(old) != fold(new) {
        if !old.is_empty() && old != "*" {
            cx.state.cluster.push(Outbox::Release { nick: fold(old) });
        }
        cx.state.cluster.push(Outbox::Hold { nick: fold(new) });
    }
    if registered {
        let node = cx.state.cluster.node;
        cx.state.cluster.push(Outbox::Publish {
            to: None,
            event: Event::Nick {
                node,
                serial,
                nick: new.to_string(),
            },
        });
    }
}

/// Publishes to every node the event `make` builds from this node's id, the
/// sender's serial and its connection, when the sender is a local registered user
/// (the arrival of one not yet registered carries its state).
fn publish_about_me(cx: &mut Cx, make: impl FnOnce(u16, u64, &crate::conn::Conn) -> Event) {
    let node = cx.state.cluster.node;
    let Some(conn) = cx.conns.get(cx.me) else {
        return;
    };
    if !cx.state.cluster.enabled() || conn.is_remote() || !conn.user.registered {
        return;
    }
    let event = make(node, conn.id.serial, conn);
    cx.state.cluster.push(Outbox::Publish { to: None, event });
}

/// A local user logged in or out: the other nodes learn it.
pub fn account_changed(cx: &mut Cx) {
    publish_about_me(cx, |node, serial, conn| Event::Account {
        node,
        serial,
        account: conn.user.account.clone(),
    });
}

/// A local user became an IRC operator or stopped being one: the other nodes learn
/// it, so its operator powers hold on every node and WHOIS shows it everywhere.
pub fn oper_changed(cx: &mut Cx) {
    publish_about_me(cx, |node, serial, conn| Event::Oper {
        node,
        serial,
        oper: conn.user.oper.as_deref().map(str::to_string),
    });
}

/// A local registered user rejoined `channel` at login (its account remembered it in
/// `incarnation`): the other nodes rejoin it too. The ids and channel creations
/// since `given` and `created` were last emptied go with it.
pub fn rejoined(cx: &mut Cx, channel: &str, incarnation: i64) {
    let ids = std::mem::take(&mut cx.state.cluster.given);
    let created = std::mem::take(&mut cx.state.cluster.created);
    publish_about_me(cx, |node, serial, _| Event::Rejoin {
        node,
        serial,
        channel: channel.to_string(),
        incarnation,
        ids,
        created,
    });
}

/// What the other nodes must know of the user in `slot`.
pub fn user_info(conns: &Conns, state: &State, slot: usize) -> Option<UserInfo> {
    let conn = conns.get(slot)?;
    let user = &conn.user;
    let channels = user
        .channels
        .iter()
        .filter_map(|folded| {
            let chan = state.channels.get(folded)?;
            let m = chan.member(slot)?;
            let roles: String = [
                (m.founder, 'q'),
                (m.op, 'o'),
                (m.halfop, 'h'),
                (m.voice, 'v'),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect();
            Some((chan.name.clone(), roles))
        })
        .collect();
    Some(UserInfo {
        serial: conn.id.serial,
        nick: user.nick.clone(),
        user: user.user.to_string(),
        host: user.host.to_string(),
        realname: user.realname.to_string(),
        account: user.account.clone(),
        away: user.away.as_ref().map(|a| a.to_string()),
        channels,
        oper: user.oper.as_deref().map(str::to_string),
    })
}

/// Puts a newly known remote user (`cx.me`) in its channels, with its roles, and
/// shows its JOINs to this node's members.
pub fn add_channels(cx: &mut Cx, channels: &[(String, String)]) {
    let me = cx.me;
    for (name, roles) in channels {
        let folded = fold(name);
        if cx.user().in_channel(&folded) {
            continue;
        }
        if !cx.state.channels.contains_key(&folded) {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let incarnation = cx.state.next_msg_id(now_ms);
            cx.store.send(Request::NewChannel {
                name: name.clone(),
                incarnation,
                created_ms: now_ms,
            });
            let chan = Channel::new(name, now_ms / 1000, incarnation);
            cx.state.channels.insert(folded.clone(), chan);
        }
        let member = Member {
            founder: roles.contains('q'),
            op: roles.contains('o'),
            halfop: roles.contains('h'),
            voice: roles.contains('v'),
            joined: cx.state.last_msg_id,
        };
        if let Some(chan) = cx.state.channels.get_mut(&folded) {
            chan.members.insert(me, member);
        }
        cx.user_mut().channels.push(folded.clone());
        let join = cx.relay_from(me, "JOIN", vec![name.clone()]);
        let mut out = Outgoing::new(join);
        cx.send_to_channel(&folded, &mut out, Some(me), None);
    }
}

/// Drops `nick` from a local user that the cluster says is another node's (two
/// nodes granted it while they could not reach each other): the local user gets a
/// guest nick.
pub fn lost_nick(cx: &mut Cx) {
    let old = cx.user().nick.clone();
    let taken = |n: &str| cx.state.slot_of_nick(n).is_some() || cx.state.account(n).is_some();
    let guest = crate::state::names::guest_nick(
        &cx.config.accounts.guest_prefix,
        cx.config.limits.nick_len,
        taken,
    );
    match guest {
        Some(guest) => {
            cx.notice(&format!(
                "{old} is in use on another server of this network: you are now {guest}."
            ));
            account::change_nick(cx, &guest);
        }
        None => cx.close(&format!("{old} is in use on another server")),
    }
}

/// A channel's topic, modes and lists, for a burst.
pub fn chan_info(chan: &Channel) -> ChanInfo {
    let m = &chan.modes;
    let list = |l: &[Ban]| {
        l.iter()
            .map(|b| (b.mask.clone(), b.setter.clone(), b.time))
            .collect()
    };
    ChanInfo {
        name: chan.name.clone(),
        topic: chan
            .topic
            .as_ref()
            .map(|t| (t.text.clone(), t.setter.clone(), t.time)),
        flags: [
            (m.no_ctcp, 'C'),
            (m.invite_only, 'i'),
            (m.moderated, 'm'),
            (m.no_external, 'n'),
            (m.private, 'p'),
            (m.secret, 's'),
            (m.topic_lock, 't'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect(),
        key: m.key.clone(),
        limit: m.limit,
        bans: list(&chan.bans),
        exceptions: list(&chan.exceptions),
        invex: list(&chan.invex),
    }
}

/// Takes a burst's topic, modes and lists for a channel none of this node's own
/// users is in (they would have seen every change themselves).
pub fn apply_chan_info(conns: &Conns, state: &mut State, info: &ChanInfo) {
    let Some(chan) = state.channels.get_mut(&fold(&info.name)) else {
        return;
    };
    if chan
        .members
        .keys()
        .any(|&s| conns.get(s).is_some_and(|c| !c.is_remote()))
    {
        return;
    }
    let list = |l: &[(String, String, i64)]| {
        l.iter()
            .map(|(mask, setter, time)| Ban {
                mask: mask.clone(),
                setter: setter.clone(),
                time: *time,
            })
            .collect()
    };
    chan.topic = info.topic.as_ref().map(|(text, setter, time)| Topic {
        text: text.clone(),
        setter: setter.clone(),
        time: *time,
    });
    let m = &mut chan.modes;
    let has = |c| info.flags.contains(c);
    m.no_ctcp = has('C');
    m.invite_only = has('i');
    m.moderated = has('m');
    m.no_external = has('n');
    m.private = has('p');
    m.secret = has('s');
    m.topic_lock = has('t');
    m.key = info.key.clone();
    m.limit = info.limit;
    chan.bans = list(&info.bans);
    chan.exceptions = list(&info.exceptions);
    chan.invex = list(&info.invex);
}

/// KILL of `slot`: when it is a user of another node, that node is told to close it.
pub fn kill_remote(cx: &mut Cx, slot: usize, reason: &str) {
    let Some(conn) = cx.conns.get(slot).filter(|c| c.is_remote()) else {
        return;
    };
    let (to, serial) = (conn.node, conn.remote_serial);
    let node = cx.state.cluster.node;
    cx.state.cluster.push(Outbox::Publish {
        to: Some(to),
        event: Event::Kill {
            node,
            serial,
            reason: reason.to_string(),
        },
    });
}
