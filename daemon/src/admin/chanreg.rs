//! The registered-channel admin commands (`channels-registered`, `-register`,
//! `-drop`, `-access`, `-access-add`, `-access-del`; `docs/admin.md`): the same
//! records ChanServ keeps (`cmd/chanserv.rs`), changed with the admin's authority.

use super::commands::{done, required, Ctl, Outcome};
use crate::cmd::chanserv;
use crate::state::registered::snapshot;
use crate::state::State;
use crate::store::{AccessRole, ChannelRecord, HistoryScope, Request};
use chatd_admin_proto::{reply, Error};
use chatd_proto::fold;

fn account_name(state: &State, id: crate::store::AccountId) -> String {
    state
        .accounts
        .values()
        .find(|a| a.id == id)
        .map_or_else(|| format!("(deleted account {id})"), |a| a.name.clone())
}

fn shown(state: &State, rec: &ChannelRecord) -> reply::RegisteredChannel {
    reply::RegisteredChannel {
        access: rec
            .access
            .iter()
            .map(|(id, role)| reply::AccessEntry {
                account: account_name(state, *id),
                role: role.name().to_string(),
            })
            .collect(),
        founder: account_name(state, rec.founder),
        history: rec.history.name().to_string(),
        last_used: rec.last_used,
        name: rec.name.clone(),
        registered: rec.registered,
    }
}

fn record<'a>(ctl: &'a Ctl, channel: &str) -> Result<&'a ChannelRecord, Error> {
    let channel = required(channel, "channel")?;
    ctl.state
        .registered
        .get(&fold(channel))
        .ok_or_else(|| Error::not_found(format!("{channel} is not registered")))
}

fn account(ctl: &Ctl, name: &str) -> Result<(String, crate::store::AccountId), Error> {
    let name = required(name, "account")?;
    ctl.state
        .account(name)
        .map(|a| (a.name.clone(), a.id))
        .ok_or_else(|| Error::not_found(format!("no such account: {name}")))
}

/// Writes the record and gives `account`'s sessions in the live channel their role.
fn save_and_sync(ctl: &mut Ctl, folded: &str, account: &str) {
    let member = ctl
        .state
        .channels
        .get(folded)
        .and_then(|c| c.members.keys().next().copied());
    match member {
        Some(slot) => {
            let mut cx = ctl.cx(slot);
            chanserv::persist(&mut cx, folded);
            chanserv::sync_roles(&mut cx, folded, account);
        }
        None => {
            if let Some(rec) = ctl.state.registered.get(folded) {
                ctl.store.send(Request::SaveChannel(Box::new(rec.clone())));
            }
        }
    }
}

pub fn registered(ctl: &mut Ctl) -> Vec<reply::RegisteredChannel> {
    let mut out: Vec<_> = ctl
        .state
        .registered
        .values()
        .map(|r| shown(ctl.state, r))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn register(ctl: &mut Ctl, channel: &str, founder: &str) -> Outcome {
    let channel = required(channel, "channel")?;
    if !crate::state::names::is_valid_channel(channel, ctl.config.limits.channel_len) {
        return Err(Error::bad_request(format!("not a channel name: {channel}")));
    }
    let (founder_name, founder_id) = account(ctl, founder)?;
    let folded = fold(channel);
    if ctl.state.registered.contains_key(&folded) {
        return Err(Error::bad_request(format!(
            "{channel} is already registered"
        )));
    }
    let now = chrono::Utc::now().timestamp();
    let (name, incarnation) = match ctl.state.channels.get(&folded) {
        Some(chan) => (chan.name.clone(), chan.incarnation),
        None => {
            // A channel no one is in gets the incarnation it will have when it is.
            let now_ms = chrono::Utc::now().timestamp_millis();
            let incarnation = ctl.state.next_msg_id(now_ms);
            ctl.store.send(Request::NewChannel {
                name: channel.to_string(),
                incarnation,
                created_ms: now_ms,
            });
            (channel.to_string(), incarnation)
        }
    };
    let mut rec = ChannelRecord {
        name,
        founder: founder_id,
        registered: now,
        last_used: now,
        incarnation,
        history: HistoryScope::default(),
        topic: None,
        modes: "nt".into(),
        key: None,
        limit: None,
        lists: Vec::new(),
        access: Vec::new(),
    };
    if let Some(chan) = ctl.state.channels.get(&folded) {
        rec = snapshot(chan, &rec, now);
    }
    ctl.state.registered.insert(folded.clone(), rec);
    save_and_sync(ctl, &folded, &founder_name);
    log::info!(
        target: "chatd::moderation",
        "moderation: admin registered {channel} to {founder_name}"
    );
    done(shown(ctl.state, &ctl.state.registered[&folded]))
}

pub fn drop(ctl: &mut Ctl, channel: &str) -> Outcome {
    let rec = record(ctl, channel)?.clone();
    let answer = shown(ctl.state, &rec);
    ctl.state.registered.remove(&fold(channel));
    ctl.store.send(Request::DropChannel {
        name: rec.name.clone(),
    });
    log::info!(target: "chatd::moderation", "moderation: admin dropped {}", rec.name);
    done(answer)
}

pub fn access(ctl: &mut Ctl, channel: &str) -> Outcome {
    let rec = record(ctl, channel)?;
    done(shown(ctl.state, rec))
}

pub fn access_add(ctl: &mut Ctl, channel: &str, name: &str, role: &str) -> Outcome {
    let folded = fold(record(ctl, channel)?.name.as_str());
    let Some(role) = AccessRole::parse(role) else {
        return Err(Error::bad_request(format!(
            "no role {role:?}: use op, moderator or voice"
        )));
    };
    let (name, id) = account(ctl, name)?;
    let rec = ctl
        .state
        .registered
        .get_mut(&folded)
        .expect("checked above");
    if rec.founder == id {
        return Err(Error::bad_request(format!("{name} is the founder")));
    }
    if !rec.access.iter().any(|(a, _)| *a == id) && rec.access.len() >= chanserv::MAX_ACCESS {
        return Err(Error::bad_request("the access list is full"));
    }
    rec.access.retain(|(a, _)| *a != id);
    rec.access.push((id, role));
    rec.access.sort();
    let shown_name = rec.name.clone();
    save_and_sync(ctl, &folded, &name);
    log::info!(
        target: "chatd::moderation",
        "moderation: admin gave {name} the role {} on {shown_name}",
        role.name()
    );
    done(shown(ctl.state, &ctl.state.registered[&folded]))
}

pub fn access_del(ctl: &mut Ctl, channel: &str, name: &str) -> Outcome {
    let folded = fold(record(ctl, channel)?.name.as_str());
    let (name, id) = account(ctl, name)?;
    let rec = ctl
        .state
        .registered
        .get_mut(&folded)
        .expect("checked above");
    if !rec.access.iter().any(|(a, _)| *a == id) {
        return Err(Error::not_found(format!(
            "{name} has no role on {}",
            rec.name
        )));
    }
    rec.access.retain(|(a, _)| *a != id);
    let shown_name = rec.name.clone();
    save_and_sync(ctl, &folded, &name);
    log::info!(target: "chatd::moderation", "moderation: admin took the role of {name} on {shown_name}");
    done(shown(ctl.state, &ctl.state.registered[&folded]))
}

/// A deleted account leaves every access list (its id is never given out again, so
/// the rows would only clutter). Channels it founded stay registered, with a founder
/// nobody is: an operator with the `channels` privilege transfers or drops them.
pub fn forget_account(ctl: &mut Ctl, id: crate::store::AccountId) {
    for rec in ctl.state.registered.values_mut() {
        let before = rec.access.len();
        rec.access.retain(|(a, _)| *a != id);
        if rec.access.len() != before {
            ctl.store.send(Request::SaveChannel(Box::new(rec.clone())));
        }
    }
}
