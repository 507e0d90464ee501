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

/// The latest Unix time (ms) a message id can carry.
pub const MAX_ID_MS: i64 = i64::MAX >> 16;

/// The smallest message id at or after Unix time `ms`. Times before 1970 map to 0 and
/// times past [`MAX_ID_MS`] (the year 6429) to the largest id, so a far-past or
/// far-future bound still means "before everything" or "after everything" instead of
/// overflowing.
pub fn id_at_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_ID_MS) << 16
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
