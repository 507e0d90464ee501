//! [`State`]: what the bot knows about the network right now: its nick and account,
//! the channels it is in with their members and topics (kept from NAMES, JOIN,
//! PART, KICK, QUIT and NICK), and the server's ISUPPORT values. No I/O.

use crate::event::Event;
use crate::proto::{numeric, Message};
use std::collections::{BTreeMap, BTreeSet};

/// A channel the bot is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channel {
    /// As the server spells it.
    pub name: String,
    pub topic: String,
    /// Folded nick → member.
    members: BTreeMap<String, Member>,
}

/// One member of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    /// Prefix symbols, highest first (`@`, `+`).
    pub prefixes: String,
}

impl Member {
    pub fn is_op(&self) -> bool {
        self.prefixes.contains('@')
    }
}

impl Channel {
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// ISUPPORT (`005`) tokens: `KEY=value`, or `KEY` with an empty value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isupport {
    values: BTreeMap<String, String>,
}

impl Isupport {
    /// The value of `key` (`Some("")` for a token without a value).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Channel prefix characters (`CHANTYPES`, default `#&`).
    pub fn chantypes(&self) -> &str {
        self.get("CHANTYPES").unwrap_or("#&")
    }

    /// `(modes, symbols)` from `PREFIX`, default `(ov)@+`.
    pub fn prefix(&self) -> (&str, &str) {
        self.get("PREFIX")
            .and_then(|p| p.strip_prefix('('))
            .and_then(|p| p.split_once(')'))
            .unwrap_or(("ov", "@+"))
    }

    /// `STATUSMSG`, else the `PREFIX` symbols.
    pub fn statusmsg(&self) -> &str {
        self.get("STATUSMSG").unwrap_or_else(|| self.prefix().1)
    }

    /// `CASEMAPPING`, default `rfc1459` as the spec says.
    pub fn casemapping(&self) -> &str {
        self.get("CASEMAPPING").unwrap_or("rfc1459")
    }

    fn apply(&mut self, tokens: &[String]) {
        for token in tokens {
            if let Some(key) = token.strip_prefix('-') {
                self.values.remove(key);
            } else {
                let (k, v) = token.split_once('=').unwrap_or((token, ""));
                self.values.insert(k.to_string(), unescape(v));
            }
        }
    }
}

/// ISUPPORT values escape with `\xHH`.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The bot's view of the network.
#[derive(Debug, Clone, Default)]
pub struct State {
    nick: String,
    account: Option<String>,
    /// `user@host` as the server shows it, once known.
    userhost: Option<String>,
    /// Folded name → channel.
    channels: BTreeMap<String, Channel>,
    isupport: Isupport,
    /// Capabilities the server acknowledged.
    caps: BTreeSet<String>,
}

impl State {
    pub(crate) fn new(nick: &str) -> State {
        State {
            nick: nick.to_string(),
            ..State::default()
        }
    }

    /// The bot's nick.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The account the bot is logged in to.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `user@host` as others see it, once the server has told.
    pub fn userhost(&self) -> Option<&str> {
        self.userhost.as_deref()
    }

    pub fn isupport(&self) -> &Isupport {
        &self.isupport
    }

    /// Whether the server acknowledged capability `name` (`echo-message`...).
    pub fn has_cap(&self, name: &str) -> bool {
        self.caps.contains(name)
    }

    pub(crate) fn set_caps(&mut self, caps: BTreeSet<String>) {
        self.caps = caps;
    }

    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values()
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.get(&self.fold(name))
    }

    /// Whether `nick` is in `channel` (as far as the bot knows).
    pub fn is_member(&self, channel: &str, nick: &str) -> bool {
        self.channel(channel)
            .is_some_and(|c| c.members.contains_key(&self.fold(nick)))
    }

    pub fn is_channel(&self, name: &str) -> bool {
        name.starts_with(|c| self.isupport.chantypes().contains(c))
    }

    /// Folds a name by the server's `CASEMAPPING` (`ascii` or `rfc1459`).
    pub fn fold(&self, name: &str) -> String {
        let rfc1459 = self.isupport.casemapping() != "ascii";
        name.chars()
            .map(|c| match c {
                '[' if rfc1459 => '{',
                ']' if rfc1459 => '}',
                '\\' if rfc1459 => '|',
                '~' if rfc1459 => '^',
                c => c.to_ascii_lowercase(),
            })
            .collect()
    }

    pub fn eq(&self, a: &str, b: &str) -> bool {
        self.fold(a) == self.fold(b)
    }

    pub(crate) fn is_me(&self, nick: &str) -> bool {
        self.eq(nick, &self.nick)
    }

    /// A new connection: the channels, members and ISUPPORT are the next server's.
    pub(crate) fn reset(&mut self, nick: &str) {
        *self = State::new(nick);
    }

    /// Updates the state from one line, and says which event it was (if it is one
    /// of those kept here).
    pub(crate) fn apply(&mut self, msg: &Message) -> Option<Event> {
        let nick = msg.source_nick().unwrap_or("").to_string();
        match msg.command.as_str() {
            numeric::RPL_WELCOME => {
                self.nick = msg.param(0).to_string();
                // chatd and most servers end 001 with nick!user@host.
                if let Some((_, uh)) = msg.params.last().and_then(|t| t.rsplit_once('!')) {
                    if uh.contains('@') && !uh.contains(' ') {
                        self.userhost = Some(uh.to_string());
                    }
                }
                None
            }
            numeric::RPL_ISUPPORT if msg.params.len() > 2 => {
                self.isupport.apply(&msg.params[1..msg.params.len() - 1]);
                None
            }
            numeric::RPL_LOGGEDIN => {
                self.account = Some(msg.param(2).to_string());
                None
            }
            numeric::RPL_LOGGEDOUT => {
                self.account = None;
                None
            }
            numeric::RPL_NAMREPLY => {
                let (_, symbols) = self.isupport.prefix();
                let symbols = symbols.to_string();
                let key = self.fold(msg.param(2));
                let mut members = Vec::new();
                for entry in msg.param(3).split(' ').filter(|e| !e.is_empty()) {
                    let nick_start = entry.find(|c| !symbols.contains(c)).unwrap_or(entry.len());
                    let (prefixes, rest) = entry.split_at(nick_start);
                    // userhost-in-names gives nick!user@host.
                    let nick = rest.split('!').next().unwrap_or(rest);
                    members.push((self.fold(nick), nick.to_string(), prefixes.to_string()));
                }
                if let Some(chan) = self.channels.get_mut(&key) {
                    for (folded, nick, prefixes) in members {
                        chan.members.insert(folded, Member { nick, prefixes });
                    }
                }
                None
            }
            numeric::RPL_TOPIC => {
                let key = self.fold(msg.param(1));
                let chan = self.channels.get_mut(&key)?;
                chan.topic = msg.param(2).to_string();
                Some(Event::Topic {
                    channel: chan.name.clone(),
                    topic: chan.topic.clone(),
                    by: None,
                })
            }
            "JOIN" => {
                let channel = msg.param(0).to_string();
                let key = self.fold(&channel);
                let own = self.is_me(&nick);
                if own {
                    if let Some(uh) = msg.source.as_deref().and_then(|s| s.split_once('!')) {
                        self.userhost = Some(uh.1.to_string());
                    }
                    self.channels.insert(
                        key.clone(),
                        Channel {
                            name: channel.clone(),
                            ..Channel::default()
                        },
                    );
                }
                let folded = self.fold(&nick);
                if let Some(chan) = self.channels.get_mut(&key) {
                    chan.members.insert(
                        folded,
                        Member {
                            nick: nick.clone(),
                            prefixes: String::new(),
                        },
                    );
                }
                Some(Event::Join { channel, nick, own })
            }
            "PART" => {
                let channel = msg.param(0).to_string();
                let own = self.remove_member(&channel, &nick);
                Some(Event::Part {
                    channel,
                    nick,
                    reason: msg.param(1).to_string(),
                    own,
                })
            }
            "KICK" => {
                let channel = msg.param(0).to_string();
                let kicked = msg.param(1).to_string();
                let own = self.remove_member(&channel, &kicked);
                Some(Event::Kick {
                    channel,
                    nick: kicked,
                    by: nick,
                    reason: msg.param(2).to_string(),
                    own,
                })
            }
            "QUIT" => {
                let folded = self.fold(&nick);
                let mut channels = Vec::new();
                for chan in self.channels.values_mut() {
                    if chan.members.remove(&folded).is_some() {
                        channels.push(chan.name.clone());
                    }
                }
                Some(Event::Quit {
                    nick,
                    reason: msg.param(0).to_string(),
                    channels,
                })
            }
            "NICK" => {
                let new = msg.param(0).to_string();
                let own = self.is_me(&nick);
                if own {
                    self.nick = new.clone();
                }
                let (old_key, new_key) = (self.fold(&nick), self.fold(&new));
                for chan in self.channels.values_mut() {
                    if let Some(mut m) = chan.members.remove(&old_key) {
                        m.nick = new.clone();
                        chan.members.insert(new_key.clone(), m);
                    }
                }
                Some(Event::Nick {
                    old: nick,
                    new,
                    own,
                })
            }
            "TOPIC" => {
                let key = self.fold(msg.param(0));
                let topic = msg.param(1).to_string();
                if let Some(chan) = self.channels.get_mut(&key) {
                    chan.topic = topic.clone();
                }
                Some(Event::Topic {
                    channel: msg.param(0).to_string(),
                    topic,
                    by: Some(nick),
                })
            }
            "MODE" => {
                self.apply_mode(msg);
                None
            }
            _ => None,
        }
    }

    /// Removes `nick` from `channel`; when it is the bot, forgets the channel.
    /// Returns whether it was the bot.
    fn remove_member(&mut self, channel: &str, nick: &str) -> bool {
        let key = self.fold(channel);
        if self.is_me(nick) {
            self.channels.remove(&key);
            return true;
        }
        let folded = self.fold(nick);
        if let Some(chan) = self.channels.get_mut(&key) {
            chan.members.remove(&folded);
        }
        false
    }

    /// Tracks `+o`/`+v` (the PREFIX modes) so members' prefixes stay right.
    fn apply_mode(&mut self, msg: &Message) {
        let key = self.fold(msg.param(0));
        if !self.channels.contains_key(&key) {
            return;
        }
        let (modes, symbols) = self.isupport.prefix();
        let (modes, symbols) = (modes.to_string(), symbols.to_string());
        // Modes with a parameter, besides the prefixes: CHANMODES A,B always; C when set.
        let chanmodes = self.isupport.get("CHANMODES").unwrap_or("b,k,l,imnt");
        let mut groups = chanmodes.split(',');
        let (a, b, c) = (
            groups.next().unwrap_or("").to_string(),
            groups.next().unwrap_or("").to_string(),
            groups.next().unwrap_or("").to_string(),
        );
        let mut args = msg.params.iter().skip(2);
        let mut adding = true;
        for m in msg.param(1).chars() {
            match m {
                '+' => adding = true,
                '-' => adding = false,
                m if modes.contains(m) => {
                    let Some(target) = args.next() else { break };
                    let sym = symbols
                        .chars()
                        .nth(modes.find(m).expect("m is in modes"))
                        .unwrap_or('@');
                    let folded = self.fold(target);
                    let chan = self.channels.get_mut(&key).expect("checked above");
                    if let Some(member) = chan.members.get_mut(&folded) {
                        member.prefixes.retain(|c| c != sym);
                        if adding {
                            member.prefixes.push(sym);
                            // Keep the PREFIX order: highest first.
                            let mut chars: Vec<char> = member.prefixes.chars().collect();
                            chars.sort_by_key(|c| symbols.find(*c).unwrap_or(usize::MAX));
                            member.prefixes = chars.into_iter().collect();
                        }
                    }
                }
                m if a.contains(m) || b.contains(m) || (adding && c.contains(m)) => {
                    args.next();
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse;

    fn feed(state: &mut State, lines: &[&str]) -> Vec<Event> {
        lines
            .iter()
            .filter_map(|l| state.apply(&parse(l).unwrap()))
            .collect()
    }

    fn members(state: &State, chan: &str) -> Vec<String> {
        state
            .channel(chan)
            .map(|c| {
                c.members()
                    .map(|m| format!("{}{}", m.prefixes, m.nick))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn membership_follows_the_wire() {
        let mut s = State::new("bot");
        feed(
            &mut s,
            &[
                ":srv 001 bot :Welcome to the chatd IRC Network bot!~bot@127.0.0.1",
                ":srv 005 bot CASEMAPPING=ascii CHANTYPES=# PREFIX=(ov)@+ NETWORK=x\\x20y :are supported",
                ":bot!~bot@127.0.0.1 JOIN #Rust",
                ":srv 353 bot = #rust :@alice +bob bot",
                ":srv 366 bot #rust :End of /NAMES list.",
                ":carol!c@h JOIN #rust",
            ],
        );
        assert_eq!(s.userhost(), Some("~bot@127.0.0.1"));
        assert_eq!(s.isupport().get("NETWORK"), Some("x y"));
        assert_eq!(s.channel("#RUST").unwrap().name, "#Rust");
        assert_eq!(members(&s, "#rust"), ["@alice", "+bob", "bot", "carol"]);

        let events = feed(
            &mut s,
            &[
                ":alice!a@h NICK Alicia",
                ":srv MODE #rust +o-v carol bob",
                ":bob!b@h PART #rust :later",
                ":Alicia!a@h KICK #rust carol :out",
            ],
        );
        assert_eq!(members(&s, "#rust"), ["@Alicia", "bot"]);
        assert_eq!(
            events[0],
            Event::Nick {
                old: "alice".into(),
                new: "Alicia".into(),
                own: false
            }
        );
        assert!(
            matches!(&events[2], Event::Kick { nick, by, .. } if nick == "carol" && by == "Alicia")
        );

        let events = feed(&mut s, &[":Alicia!a@h QUIT :bye"]);
        assert_eq!(
            events[0],
            Event::Quit {
                nick: "Alicia".into(),
                reason: "bye".into(),
                channels: vec!["#Rust".into()]
            }
        );
        feed(&mut s, &[":bot!b@h NICK bot2", ":bot2!b@h PART #rust"]);
        assert_eq!(s.nick(), "bot2");
        assert!(s.channel("#rust").is_none());
    }

    #[test]
    fn casemapping() {
        let mut s = State::new("bot");
        assert!(s.eq("a[b]", "A{B}"), "rfc1459 by default");
        feed(&mut s, &[":srv 005 bot CASEMAPPING=ascii :are supported"]);
        assert!(!s.eq("a[b]", "A{B}"));
        assert!(s.eq("ABC", "abc"));
    }
}
