//! Registered channels on the loop side: the records loaded at start
//! ([`store::ChannelRecord`], kept in `State.registered` so JOIN needs no database
//! read), taken from a live channel and given back to a re-created one, and the role
//! an account gets on join. No I/O here.

use super::channel::{rank, Ban, Channel, Member, Topic};
use crate::store::{AccessRole, AccountId, ChannelRecord, ListEntry};

/// The record of `chan` as it is now, keeping what only the record has (founder,
/// registration, access list, history choice).
pub fn snapshot(chan: &Channel, base: &ChannelRecord, now: i64) -> ChannelRecord {
    let params = chan.modes.to_params(true);
    let flags: String = params[0]
        .chars()
        .filter(|c| !matches!(c, '+' | 'k' | 'l'))
        .collect();
    let mut lists = Vec::new();
    for (letter, list) in [
        ('b', &chan.bans),
        ('e', &chan.exceptions),
        ('I', &chan.invex),
    ] {
        lists.extend(list.iter().map(|b| ListEntry {
            list: letter,
            mask: b.mask.clone(),
            setter: b.setter.clone(),
            time: b.time,
        }));
    }
    ChannelRecord {
        name: base.name.clone(),
        founder: base.founder,
        registered: base.registered,
        last_used: now,
        incarnation: chan.incarnation,
        history: base.history,
        topic: chan
            .topic
            .as_ref()
            .map(|t| (t.text.clone(), t.setter.clone(), t.time)),
        modes: flags,
        key: chan.modes.key.clone(),
        limit: chan.modes.limit.and_then(|l| i64::try_from(l).ok()),
        lists,
        access: base.access.clone(),
    }
}

/// Gives a channel being created again what its record kept.
pub fn restore(chan: &mut Channel, record: &ChannelRecord) {
    chan.topic = record.topic.as_ref().map(|(text, setter, time)| Topic {
        text: text.clone(),
        setter: setter.clone(),
        time: *time,
    });
    let m = &mut chan.modes;
    for (c, flag) in [
        ('C', &mut m.no_ctcp),
        ('i', &mut m.invite_only),
        ('m', &mut m.moderated),
        ('n', &mut m.no_external),
        ('t', &mut m.topic_lock),
    ] {
        *flag = record.modes.contains(c);
    }
    m.key = record.key.clone();
    m.limit = record.limit.and_then(|l| usize::try_from(l).ok());
    for e in &record.lists {
        let ban = Ban {
            mask: e.mask.clone(),
            setter: e.setter.clone(),
            time: e.time,
        };
        match e.list {
            'e' => chan.exceptions.push(ban),
            'I' => chan.invex.push(ban),
            _ => chan.bans.push(ban),
        }
    }
}

/// The privileges an account gets on joining a registered channel.
pub fn member_for(record: &ChannelRecord, account: Option<AccountId>, joined: i64) -> Member {
    let mut member = Member {
        joined,
        ..Member::default()
    };
    let Some(account) = account else {
        return member;
    };
    if account == record.founder {
        member.founder = true;
        member.op = true;
        return member;
    }
    match role_of(record, account) {
        Some(AccessRole::Op) => member.op = true,
        Some(AccessRole::HalfOp) => member.halfop = true,
        Some(AccessRole::Voice) => member.voice = true,
        None => {}
    }
    member
}

/// The account's role on the access list.
pub fn role_of(record: &ChannelRecord, account: AccountId) -> Option<AccessRole> {
    record
        .access
        .iter()
        .find(|(id, _)| *id == account)
        .map(|(_, role)| *role)
}

/// The rank of an account on a registered channel (founder above every role).
pub fn rank_of(record: &ChannelRecord, account: Option<AccountId>) -> u8 {
    member_for(record, account, 0).rank()
}

/// The rank an access role gives.
pub fn rank_of_role(role: AccessRole) -> u8 {
    match role {
        AccessRole::Voice => rank::VOICE,
        AccessRole::HalfOp => rank::HALFOP,
        AccessRole::Op => rank::OP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_the_same_channel() {
        let mut chan = Channel::new("#team", 5, 77);
        chan.modes.moderated = true;
        chan.modes.key = Some("k3y".into());
        chan.modes.limit = Some(9);
        chan.topic = Some(Topic {
            text: "hello".into(),
            setter: "a!b@c".into(),
            time: 3,
        });
        let ban = |m: &str| Ban {
            mask: m.into(),
            setter: "a".into(),
            time: 1,
        };
        chan.bans.push(ban("x!*@*"));
        chan.exceptions.push(ban("~a:bob"));
        chan.invex.push(ban("*!*@friend"));
        let base = ChannelRecord {
            name: "#Team".into(),
            founder: 1,
            registered: 2,
            last_used: 2,
            incarnation: 0,
            history: Default::default(),
            topic: None,
            modes: String::new(),
            key: None,
            limit: None,
            lists: Vec::new(),
            access: vec![(2, AccessRole::HalfOp)],
        };
        let record = snapshot(&chan, &base, 10);
        assert_eq!(record.modes, "mnt");
        assert_eq!(record.incarnation, 77);
        assert_eq!(record.last_used, 10);
        let mut again = Channel::new("#team", 11, record.incarnation);
        restore(&mut again, &record);
        assert_eq!(again.modes, chan.modes);
        assert_eq!(again.topic, chan.topic);
        assert_eq!(again.bans, chan.bans);
        assert_eq!(again.exceptions, chan.exceptions);
        assert_eq!(again.invex, chan.invex);
        // Roles come from the record, by account id.
        assert_eq!(member_for(&record, Some(1), 0).prefixes(true), "~@");
        assert_eq!(member_for(&record, Some(2), 0).prefixes(true), "%");
        assert_eq!(member_for(&record, Some(3), 0).prefixes(true), "");
        assert_eq!(member_for(&record, None, 0).prefixes(true), "");
    }
}
