//! [`Channel`]: members with their prefixes, modes, topic, the ban, exception and
//! invite-exception lists (with the `~a:` account and `~m:` mute extbans), invites,
//! and the incarnation its history is kept under.

use crate::ids::ConnId;
use chatd_proto::mask::glob_match;
use std::collections::HashSet;

/// A member's channel privileges: founder `~` (+q), operator `@` (+o), moderator
/// (halfop) `%` (+h), voice `+` (+v); `ISUPPORT PREFIX=(qohv)~@%+`. The roles and who
/// may change them are in `docs/roles.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Member {
    pub founder: bool,
    pub op: bool,
    pub halfop: bool,
    pub voice: bool,
    /// The last message id when this member joined: a registered channel whose
    /// history is `since-join` shows it nothing older.
    pub joined: i64,
}

/// The prefixes of each combination of (founder, op, halfop, voice) as bits 8, 4, 2,
/// 1, highest first (multi-prefix shows them all).
const PREFIXES: [&str; 16] = [
    "", "+", "%", "%+", "@", "@+", "@%", "@%+", "~", "~+", "~%", "~%+", "~@", "~@+", "~@%", "~@%+",
];

/// The rank of each role, for "only a higher role changes those below it".
pub mod rank {
    pub const MEMBER: u8 = 0;
    pub const VOICE: u8 = 1;
    pub const HALFOP: u8 = 2;
    pub const OP: u8 = 3;
    pub const FOUNDER: u8 = 4;
    /// An IRC operator whose class may change any channel's modes.
    pub const OPER: u8 = 5;
}

impl Member {
    /// The prefixes to show: all of them with multi-prefix, else the highest.
    pub fn prefixes(self, multi: bool) -> &'static str {
        let bits = usize::from(self.founder) << 3
            | usize::from(self.op) << 2
            | usize::from(self.halfop) << 1
            | usize::from(self.voice);
        let all = PREFIXES[bits];
        if multi || all.len() <= 1 {
            all
        } else {
            &all[..1]
        }
    }

    /// The highest role held ([`rank`]).
    pub fn rank(self) -> u8 {
        if self.founder {
            rank::FOUNDER
        } else if self.op {
            rank::OP
        } else if self.halfop {
            rank::HALFOP
        } else if self.voice {
            rank::VOICE
        } else {
            rank::MEMBER
        }
    }

    /// The flag of a member mode letter (`q`, `o`, `h`, `v`).
    pub fn flag_mut(&mut self, letter: char) -> Option<&mut bool> {
        match letter {
            'q' => Some(&mut self.founder),
            'o' => Some(&mut self.op),
            'h' => Some(&mut self.halfop),
            'v' => Some(&mut self.voice),
            _ => None,
        }
    }

    /// The rank needed to give or take a member mode letter.
    pub fn rank_to_set(letter: char) -> u8 {
        match letter {
            'q' => rank::FOUNDER,
            'o' | 'h' => rank::OP,
            _ => rank::HALFOP,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    pub setter: String,
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub mask: String,
    pub setter: String,
    pub time: i64,
}

/// Who a list entry is matched against: a client's source and its account.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// `nick!user@host`.
    pub source: &'a str,
    /// The account logged in to, if any.
    pub account: Option<&'a str>,
}

/// An entry of a `+b`, `+e` or `+I` list, as ISUPPORT `EXTBAN=~,am` declares them
/// (modern.ircdocs.horse, EXTBAN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask<'a> {
    /// `nick!user@host` with globs.
    Host(&'a str),
    /// `~a:<account>`: clients logged in to that account (globs allowed).
    Account(&'a str),
    /// `~m:<mask>` (ban list only): matching clients may join but not speak.
    Mute(&'a str),
    /// `~<letter>:...` of a type chatd does not have.
    Unknown,
}

impl<'a> Mask<'a> {
    pub fn parse(mask: &'a str) -> Mask<'a> {
        let Some(rest) = mask.strip_prefix('~') else {
            return Mask::Host(mask);
        };
        match rest.split_once(':') {
            Some(("a", account)) if !account.is_empty() => Mask::Account(account),
            Some(("m", inner)) if !inner.is_empty() && !inner.starts_with("~m") => {
                Mask::Mute(inner)
            }
            _ => Mask::Unknown,
        }
    }

    /// Whether this entry names `who` (a mute entry matches by its inner mask).
    pub fn matches(self, who: &Who) -> bool {
        match self {
            Mask::Host(m) => glob_match(m, who.source),
            Mask::Account(a) => who.account.is_some_and(|acc| glob_match(a, acc)),
            Mask::Mute(inner) => Mask::parse(inner).matches(who),
            Mask::Unknown => false,
        }
    }
}

/// Channel modes (`CHANMODES=beI,k,l,Cimnpst`); the lists are in [`Channel::bans`],
/// [`Channel::exceptions`] and [`Channel::invex`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
    /// `+C`: no CTCP but ACTION.
    pub no_ctcp: bool,
    pub invite_only: bool,
    pub moderated: bool,
    pub no_external: bool,
    pub topic_lock: bool,
    /// `+s`: hidden from LIST, NAMES, WHO and WHOIS of non-members; `@` in 353.
    pub secret: bool,
    /// `+p`: hidden like `+s`; `*` in 353.
    pub private: bool,
    pub key: Option<String>,
    pub limit: Option<usize>,
}

impl Modes {
    /// `+<flags> [args]` as 324 RPL_CHANNELMODEIS shows it; the key only to members.
    pub fn to_params(&self, show_key: bool) -> Vec<String> {
        let mut flags = String::from("+");
        let mut args = Vec::new();
        for (on, c) in [
            (self.no_ctcp, 'C'),
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.private, 'p'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        if let Some(key) = &self.key {
            flags.push('k');
            args.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            args.push(limit.to_string());
        }
        let mut params = vec![flags];
        params.extend(args);
        params
    }
}

#[derive(Debug, Clone)]
pub struct Channel {
    /// The name as its creator spelled it.
    pub name: String,
    pub created: i64,
    /// Which incarnation of this name it is (`store::Incarnation`): a channel that
    /// emptied and is created again is a new channel, whose members read only what
    /// was said in it, not in the one before (the one they may have been kept out of).
    pub incarnation: crate::store::Incarnation,
    pub topic: Option<Topic>,
    pub modes: Modes,
    pub bans: Vec<Ban>,
    /// `+e`: who bans do not apply to.
    pub exceptions: Vec<Ban>,
    /// `+I`: who may join past `+i` without an invite.
    pub invex: Vec<Ban>,
    /// Connections invited past `+i`; an invite is used up by the join. Keyed by
    /// connection, not nick, so it follows a nick change and dies with its client
    /// (another client taking the nick must not inherit it).
    pub invites: HashSet<ConnId>,
    /// Slot → privileges.
    pub members: super::Map<usize, Member>,
}

impl Channel {
    /// A new channel with the default modes `+nt`.
    pub fn new(name: &str, created: i64, incarnation: crate::store::Incarnation) -> Channel {
        Channel {
            name: name.to_string(),
            created,
            incarnation,
            topic: None,
            modes: Modes {
                no_external: true,
                topic_lock: true,
                ..Modes::default()
            },
            bans: Vec::new(),
            exceptions: Vec::new(),
            invex: Vec::new(),
            invites: HashSet::new(),
            members: super::Map::default(),
        }
    }

    pub fn member(&self, slot: usize) -> Option<Member> {
        self.members.get(&slot).copied()
    }

    /// Operator or founder: may change the channel's settings.
    pub fn is_op(&self, slot: usize) -> bool {
        self.rank(slot) >= rank::OP
    }

    /// The member's highest role ([`rank`]); 0 for a non-member.
    pub fn rank(&self, slot: usize) -> u8 {
        self.member(slot).map_or(rank::MEMBER, Member::rank)
    }

    /// Whether the channel is kept out of sight of `slot` (`+s`/`+p` and not a
    /// member); IRC operators (`oper`) see every channel.
    pub fn is_hidden_from(&self, slot: usize, oper: bool) -> bool {
        (self.modes.secret || self.modes.private) && !oper && self.member(slot).is_none()
    }

    /// The 353 RPL_NAMREPLY channel type: `@` secret, `*` private, `=` public.
    pub fn names_symbol(&self) -> &'static str {
        if self.modes.secret {
            "@"
        } else if self.modes.private {
            "*"
        } else {
            "="
        }
    }

    /// Whether a ban (not a mute) keeps `who` out, exceptions (`+e`) considered.
    pub fn is_banned(&self, who: &Who) -> bool {
        self.listed(&self.bans, who, |m| !matches!(m, Mask::Mute(_))) && !self.excepted(who)
    }

    /// Whether a `~m:` mute silences `who`, exceptions (`+e`) considered.
    pub fn is_muted(&self, who: &Who) -> bool {
        self.listed(&self.bans, who, |m| matches!(m, Mask::Mute(_))) && !self.excepted(who)
    }

    /// Whether an invite exception (`+I`) lets `who` past `+i`.
    pub fn is_invex(&self, who: &Who) -> bool {
        self.listed(&self.invex, who, |_| true)
    }

    fn excepted(&self, who: &Who) -> bool {
        self.listed(&self.exceptions, who, |_| true)
    }

    fn listed(&self, list: &[Ban], who: &Who, kind: impl Fn(Mask) -> bool) -> bool {
        list.iter().any(|b| {
            let m = Mask::parse(&b.mask);
            kind(m) && m.matches(who)
        })
    }

    /// Whether a client may speak here: `+n` keeps outsiders out, `+m`, bans and
    /// mutes silence all but voiced members and operators.
    pub fn can_send(&self, slot: usize, who: &Who) -> bool {
        let silenced = || self.is_banned(who) || self.is_muted(who);
        match self.member(slot) {
            Some(m) if m.rank() >= rank::VOICE => true,
            Some(_) => !self.modes.moderated && !silenced(),
            None => !self.modes.no_external && !self.modes.moderated && !silenced(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ranks() {
        let m = |founder, op, halfop, voice| Member {
            founder,
            op,
            halfop,
            voice,
            joined: 0,
        };
        // (member, multi-prefix, single, rank)
        let cases = [
            (m(false, false, false, false), "", "", rank::MEMBER),
            (m(false, false, false, true), "+", "+", rank::VOICE),
            (m(false, false, true, true), "%+", "%", rank::HALFOP),
            (m(false, true, false, true), "@+", "@", rank::OP),
            (m(true, true, false, false), "~@", "~", rank::FOUNDER),
            (m(true, true, true, true), "~@%+", "~", rank::FOUNDER),
        ];
        for (member, multi, single, want) in cases {
            assert_eq!(member.prefixes(true), multi);
            assert_eq!(member.prefixes(false), single);
            assert_eq!(member.rank(), want);
        }
    }

    #[test]
    fn who_may_send() {
        let mut c = Channel::new("#c", 0, 1);
        c.members.insert(1, Member::default());
        c.members.insert(
            2,
            Member {
                voice: true,
                ..Member::default()
            },
        );
        c.members.insert(
            3,
            Member {
                op: true,
                ..Member::default()
            },
        );
        let src = Who {
            source: "n!u@h",
            account: None,
        };
        // (modes, banned, slot, can send)
        let cases = [
            ((false, false), false, 1, true),
            ((false, false), false, 9, false), // +n: outsider
            ((true, false), false, 1, false),  // +m
            ((true, false), false, 2, true),
            ((true, false), false, 3, true),
            ((false, false), true, 1, false), // banned member
            ((false, false), true, 2, true),  // voice beats ban
        ];
        for ((moderated, external_ok), banned, slot, want) in cases {
            c.modes.moderated = moderated;
            c.modes.no_external = !external_ok;
            c.bans.clear();
            if banned {
                c.bans.push(Ban {
                    mask: "n!*@*".into(),
                    setter: "x".into(),
                    time: 0,
                });
            }
            assert_eq!(
                c.can_send(slot, &src),
                want,
                "m={moderated} banned={banned} slot={slot}"
            );
        }
    }

    #[test]
    fn secret_and_private_hide_from_outsiders_not_opers() {
        let mut c = Channel::new("#c", 0, 1);
        c.members.insert(1, Member::default());
        assert!(!c.is_hidden_from(2, false));
        assert_eq!(c.names_symbol(), "=");
        for (secret, private, symbol) in [(true, false, "@"), (false, true, "*")] {
            c.modes.secret = secret;
            c.modes.private = private;
            assert!(c.is_hidden_from(2, false));
            assert!(!c.is_hidden_from(2, true), "operators see all");
            assert!(!c.is_hidden_from(1, false), "members see it");
            assert_eq!(c.names_symbol(), symbol);
        }
    }

    #[test]
    fn mode_params() {
        let mut c = Channel::new("#c", 0, 1);
        c.modes.key = Some("sekrit".into());
        c.modes.limit = Some(10);
        assert_eq!(c.modes.to_params(true), vec!["+ntkl", "sekrit", "10"]);
        assert_eq!(c.modes.to_params(false), vec!["+ntkl", "*", "10"]);
        c.modes.secret = true;
        c.modes.private = true;
        c.modes.key = None;
        c.modes.limit = None;
        assert_eq!(c.modes.to_params(false), vec!["+npst"]);
    }

    #[test]
    fn extbans_and_exceptions() {
        let entry = |mask: &str| Ban {
            mask: mask.into(),
            setter: "x".into(),
            time: 0,
        };
        let alice = Who {
            source: "alice!~a@10.0.0.1",
            account: Some("Alice"),
        };
        let guest = Who {
            source: "guest!~g@10.0.0.2",
            account: None,
        };
        // (bans, exceptions, who, banned, muted)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a Who<'a>, bool, bool);
        let cases: &[Case] = &[
            (&["~a:alice"], &[], &alice, true, false),
            (&["~a:alice"], &[], &guest, false, false),
            (&["~a:*"], &[], &guest, false, false),
            (&["~m:*!*@10.0.0.*"], &[], &alice, false, true),
            (&["~m:~a:alice"], &[], &alice, false, true),
            (&["*!*@10.0.0.*"], &["~a:alice"], &alice, false, false),
            (&["*!*@10.0.0.*"], &["~a:alice"], &guest, true, false),
            (&["~m:*!*@*"], &["guest!*@*"], &guest, false, false),
            (&["~x:whatever"], &[], &alice, false, false),
        ];
        for (bans, exceptions, who, banned, muted) in cases {
            let mut c = Channel::new("#c", 0, 1);
            c.bans = bans.iter().map(|m| entry(m)).collect();
            c.exceptions = exceptions.iter().map(|m| entry(m)).collect();
            assert_eq!(c.is_banned(who), *banned, "{bans:?} {exceptions:?} {who:?}");
            assert_eq!(c.is_muted(who), *muted, "{bans:?} {exceptions:?} {who:?}");
        }
        let mut c = Channel::new("#c", 0, 1);
        c.invex.push(entry("~a:alice"));
        assert!(c.is_invex(&alice));
        assert!(!c.is_invex(&guest));
    }
}
