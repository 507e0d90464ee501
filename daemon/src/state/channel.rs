//! [`Channel`]: members with their prefixes, modes, topic, bans and invites, and the
//! incarnation its history is kept under.

use crate::ids::ConnId;
use chatd_proto::mask::glob_match;
use std::collections::{HashMap, HashSet};

/// A member's channel privileges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Member {
    pub op: bool,
    pub voice: bool,
}

impl Member {
    /// The prefixes to show: all of them with multi-prefix, else the highest.
    pub fn prefixes(self, multi: bool) -> &'static str {
        match (self.op, self.voice, multi) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
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

/// Channel modes (`CHANMODES=b,k,l,imnpst`); bans are in [`Channel::bans`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
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
    /// Connections invited past `+i`; an invite is used up by the join. Keyed by
    /// connection, not nick, so it follows a nick change and dies with its client
    /// (another client taking the nick must not inherit it).
    pub invites: HashSet<ConnId>,
    /// Slot → privileges.
    pub members: HashMap<usize, Member>,
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
            invites: HashSet::new(),
            members: HashMap::new(),
        }
    }

    pub fn member(&self, slot: usize) -> Option<Member> {
        self.members.get(&slot).copied()
    }

    pub fn is_op(&self, slot: usize) -> bool {
        self.member(slot).is_some_and(|m| m.op)
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

    /// Whether `source` (`nick!user@host`) matches a ban.
    pub fn is_banned(&self, source: &str) -> bool {
        self.bans.iter().any(|b| glob_match(&b.mask, source))
    }

    /// Whether a client may speak here: `+n` keeps outsiders out, `+m` and bans
    /// silence all but voiced members and operators.
    pub fn can_send(&self, slot: usize, source: &str) -> bool {
        match self.member(slot) {
            Some(m) if m.op || m.voice => true,
            Some(_) => !self.modes.moderated && !self.is_banned(source),
            None => !self.modes.no_external && !self.modes.moderated && !self.is_banned(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_send() {
        let mut c = Channel::new("#c", 0, 1);
        c.members.insert(1, Member::default());
        c.members.insert(
            2,
            Member {
                op: false,
                voice: true,
            },
        );
        c.members.insert(
            3,
            Member {
                op: true,
                voice: false,
            },
        );
        let src = "n!u@h";
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
                c.can_send(slot, src),
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
}
