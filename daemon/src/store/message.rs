//! What the store keeps, as the loop sees it: accounts, logged messages, conversations,
//! message ids and history ranges.

use super::{PasswordHash, ScramCreds};

pub use crate::ids::AccountId;

/// A channel incarnation: the channel as it exists from its creation until it is
/// empty again. Taken from the message id sequence when the channel is created, so
/// it is unique, grows with time and is smaller than every message id logged in it.
/// A re-created channel is a new incarnation; history is read per incarnation.
pub type Incarnation = i64;

/// A registered account as the loop keeps it in memory (loaded at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The stable identity (0 until the store has inserted the account).
    pub id: AccountId,
    /// As registered (display case).
    pub name: String,
    pub hash: PasswordHash,
    /// SCRAM-SHA-256 credentials: made at registration, and for an account from
    /// before them at its next password login (`None` until then).
    pub scram: Option<ScramCreds>,
    pub email: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub last_seen: i64,
}

/// What a logged line is: a message (PRIVMSG, NOTICE) or a channel event
/// (draft/event-playback: JOIN, PART, QUIT, KICK, MODE, TOPIC, NICK). The number is
/// the `messages.kind` column; events are 2 and up, so "messages only" is `kind < 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Privmsg = 0,
    Notice = 1,
    Join = 2,
    Part = 3,
    Quit = 4,
    Kick = 5,
    Mode = 6,
    Topic = 7,
    Nick = 8,
}

impl Kind {
    /// Every kind, by its column value.
    pub const ALL: [Kind; 9] = [
        Kind::Privmsg,
        Kind::Notice,
        Kind::Join,
        Kind::Part,
        Kind::Quit,
        Kind::Kick,
        Kind::Mode,
        Kind::Topic,
        Kind::Nick,
    ];

    pub fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Join => "JOIN",
            Kind::Part => "PART",
            Kind::Quit => "QUIT",
            Kind::Kick => "KICK",
            Kind::Mode => "MODE",
            Kind::Topic => "TOPIC",
            Kind::Nick => "NICK",
        }
    }

    /// A channel event rather than a message.
    pub fn is_event(self) -> bool {
        !matches!(self, Kind::Privmsg | Kind::Notice)
    }

    /// The kind of a `messages.kind` value (an unknown one reads as PRIVMSG).
    pub fn from_code(code: i64) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| *k as i64 == code)
            .unwrap_or(Kind::Privmsg)
    }
}

/// Who may read a conversation's history.
///
/// A party is an identity string: `a:<account id>` for a logged-in sender or a
/// registered recipient, `n:<folded nick>` otherwise (a nick never starts with a
/// digit, so the two never meet). Data from before account ids (schema 4) may hold
/// `a:<folded name>` for a deleted account: no one has that identity any more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conv {
    /// One incarnation of a channel, by folded name.
    Channel {
        name: String,
        incarnation: Incarnation,
    },
    /// A private conversation between two parties (any order; the store sorts them).
    Direct(String, String),
}

/// One PRIVMSG/NOTICE (or channel event) as logged and replayed.
///
/// For an event, `target` is the channel it happened in (a QUIT or NICK is logged
/// once per channel the user was in) and `text` holds the event's parameters after
/// the channel, separated by `\n` (a byte no IRC parameter can hold): the victim and
/// reason of a KICK, the modes and their arguments of a MODE, the new nick of a NICK,
/// the reason of a PART or QUIT, the topic of a TOPIC; empty for a JOIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The unique id; the `msgid` tag is [`msgid_of`] it. Ids grow with time.
    pub id: i64,
    /// Unix milliseconds, server time.
    pub time_ms: i64,
    pub kind: Kind,
    /// `nick!user@host` of the sender at the time.
    pub source: String,
    /// The sender's account, if logged in.
    pub account: Option<String>,
    /// The target as it was sent to (`#Chan` or the recipient's nick).
    pub target: String,
    pub conv: Conv,
    pub text: String,
}

impl StoredMessage {
    /// An event's parameters after the channel (see the type's note).
    pub fn event_params(&self) -> Vec<String> {
        if self.text.is_empty() && self.kind != Kind::Topic {
            return Vec::new();
        }
        self.text.split('\n').map(str::to_string).collect()
    }
}

/// The `msgid` tag value of a message id: 16 hex digits, so text order is time order.
pub fn msgid_of(id: i64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = id as u64;
    // One allocation of the right size (collecting chars grows a string as it goes).
    let mut out = String::with_capacity(16);
    for i in (0..16).rev() {
        out.push(char::from(HEX[(bits >> (i * 4)) as usize & 15]));
    }
    out
}

/// The message id of a `msgid` tag value, if it is one of ours.
pub fn id_of_msgid(msgid: &str) -> Option<i64> {
    if msgid.len() != 16 {
        return None;
    }
    i64::from_str_radix(msgid, 16).ok().filter(|id| *id > 0)
}

/// Which messages of a conversation a history request wants. Bounds are message ids
/// (a timestamp `t` ms maps to id `t << 16`, see [`id_at_ms`]); all bounds exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// The newest `limit` messages, optionally only those after `after`.
    Latest { after: Option<i64> },
    /// The newest `limit` messages before `before`.
    Before { before: i64 },
    /// The oldest `limit` messages after `after`.
    After { after: i64 },
    /// About `limit / 2` on each side of `around` (the message itself included).
    Around { around: i64 },
    /// Between two bounds (either order), the `limit` messages nearest the first.
    Between { from: i64, to: i64 },
}

impl Range {
    /// The messages of this range, at most `limit`, oldest first, read with
    /// `between(lo, hi, newest, n)`: at most `n` messages with `lo < id < hi`, the
    /// newest ones if `newest` else the oldest, oldest first. Bounds are exclusive
    /// except that `Around` includes the message at `around`; `Around` takes
    /// `limit / 2` before it and up to the rest at or after it (a short side is not
    /// refilled from the other); `Between` takes the `limit` nearest `from`. Every
    /// engine reads history through this one function.
    pub fn read<T, E>(
        &self,
        limit: usize,
        mut between: impl FnMut(i64, i64, bool, usize) -> Result<Vec<T>, E>,
    ) -> Result<Vec<T>, E> {
        let (min, max) = (i64::MIN, i64::MAX);
        match *self {
            Range::Latest { after } => between(after.unwrap_or(min), max, true, limit),
            Range::Before { before } => between(min, before, true, limit),
            Range::After { after } => between(after, max, false, limit),
            Range::Around { around } => {
                let before_n = limit / 2;
                let mut out = between(min, around, true, before_n)?;
                out.extend(between(
                    around.saturating_sub(1),
                    max,
                    false,
                    limit - before_n,
                )?);
                Ok(out)
            }
            Range::Between { from, to } if from <= to => between(from, to, false, limit),
            Range::Between { from, to } => between(to, from, true, limit),
        }
    }
}

/// The latest Unix time (ms) a message id can carry.
pub const MAX_ID_MS: i64 = i64::MAX >> 16;

/// The smallest message id at or after Unix time `ms`. Times before 1970 map to 0 and
/// times past [`MAX_ID_MS`] (the year 6429) to the largest id, so a far-past or
/// far-future bound still means "before everything" or "after everything" instead of
/// overflowing.
pub fn id_at_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_ID_MS) << 16
}

/// The low 16 bits of an id of node `node` (1 to 63) are `node << 10 | sequence`:
/// 1,024 ids per millisecond per node.
const NODE_SHIFT: u32 = 10;
const NODE_SEQUENCE: i64 = (1 << NODE_SHIFT) - 1;

/// The next message id after `last` at Unix time `now_ms`, for node `node` (0: a
/// single node, whose ids are `ms << 16 | sequence`). A node of a cluster puts its
/// number in the low bits (`ms << 16 | node << 10 | sequence`), so two nodes never
/// give out the same id, and ids still grow with time; when a node has given out
/// 1,024 ids in one millisecond it borrows the next one. `last` may be any node's id
/// (the largest in the database at start).
pub fn next_id(last: i64, now_ms: i64, node: u16) -> i64 {
    let after = last.saturating_add(1);
    if node == 0 {
        return after.max(id_at_ms(now_ms));
    }
    let mine = i64::from(node & 63) << NODE_SHIFT;
    let slot = after & 0xffff & !NODE_SEQUENCE;
    let ms = after >> 16;
    let next = if slot < mine {
        ms << 16 | mine
    } else if slot == mine {
        after
    } else {
        (ms + 1) << 16 | mine
    };
    next.max(id_at_ms(now_ms) | mine)
}

/// The node that gave out `id` (0 for a single node's ids, which may carry any
/// sequence in those bits).
pub fn node_of_id(id: i64) -> u16 {
    ((id & 0xffff) >> NODE_SHIFT) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgids_are_sixteen_hex_digits_in_id_order() {
        assert_eq!(msgid_of(0x0123_4567_89ab_cdef), "0123456789abcdef");
        assert_eq!(msgid_of(1), "0000000000000001");
        let (a, b) = (id_at_ms(1_795_000_000_000), id_at_ms(1_795_000_000_001));
        assert!(msgid_of(a) < msgid_of(b));
        assert_eq!(id_of_msgid(&msgid_of(a)), Some(a));
    }

    #[test]
    fn single_node_ids_are_unchanged() {
        let ms = 1_795_000_000_000;
        assert_eq!(next_id(0, ms, 0), ms << 16);
        assert_eq!(next_id(ms << 16, ms, 0), (ms << 16) + 1);
        // A clock behind the last id: the sequence goes on.
        assert_eq!(next_id((ms << 16) + 5, ms - 10, 0), (ms << 16) + 6);
    }

    #[test]
    fn node_ids_carry_the_node_and_never_meet() {
        let ms = 1_795_000_000_000;
        let (mut a, mut b) = (0, 0);
        let mut seen = std::collections::HashSet::new();
        // Both nodes in the same millisecond, past 1,024 ids each: node 1 borrows
        // the next milliseconds; node 2 carries on.
        for _ in 0..3000 {
            a = next_id(a, ms, 1);
            b = next_id(b, ms, 2);
            assert_eq!(node_of_id(a), 1);
            assert_eq!(node_of_id(b), 2);
            assert!(seen.insert(a) && seen.insert(b));
        }
        assert_eq!(a >> 16, ms + 2);
        assert_eq!(next_id(0, ms, 1), ms << 16 | 1 << 10);
        // Ids still grow with time, whatever node gave out the last one.
        let other = next_id(0, ms, 63);
        let mine = next_id(other, ms, 5);
        assert!(mine > other);
        assert_eq!(node_of_id(mine), 5);
        assert_eq!(mine >> 16, ms + 1);
        let later = next_id(mine, ms + 7, 5);
        assert_eq!(later, (ms + 7) << 16 | 5 << 10);
        // Every id is above `last` and carries the node.
        for last in [
            0,
            1,
            0xffff,
            5 << 10,
            (5 << 10) + 1023,
            (6 << 10) - 1,
            6 << 10,
        ] {
            let id = next_id(ms << 16 | last, 0, 5);
            assert!(id > ms << 16 | last, "{last:#x}");
            assert_eq!(node_of_id(id), 5);
        }
    }

    #[test]
    fn id_at_ms_saturates_instead_of_overflowing() {
        // 9999-12-31T23:59:59.999Z and 0000-01-01T00:00:00Z, as CHATHISTORY may send.
        let far_future = 253_402_300_799_999;
        let far_past = -62_167_219_200_000;
        assert_eq!(id_at_ms(far_future), MAX_ID_MS << 16);
        assert!(id_at_ms(far_future) > id_at_ms(1_795_000_000_000));
        assert_eq!(id_at_ms(far_past), 0);
        assert_eq!(id_at_ms(i64::MIN), 0);
        assert_eq!(id_at_ms(i64::MAX), MAX_ID_MS << 16);
        assert_eq!(id_at_ms(1), 1 << 16);
    }
}
