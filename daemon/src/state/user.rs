//! [`User`]: who a connection is (nick, user, host, realname), what it negotiated
//! ([`Caps`]), and its user modes and away state.

use std::time::Instant;

/// One IRCv3 capability the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Cap {
    MultiPrefix = 1 << 0,
    MessageTags = 1 << 1,
    ServerTime = 1 << 2,
    EchoMessage = 1 << 3,
    Batch = 1 << 4,
    CapNotify = 1 << 5,
    AwayNotify = 1 << 6,
    AccountTag = 1 << 7,
    AccountNotify = 1 << 8,
    Sasl = 1 << 9,
    AccountRegistration = 1 << 10,
    Chathistory = 1 << 11,
    LabeledResponse = 1 << 12,
    Multiline = 1 << 13,
    ExtendedMonitor = 1 << 14,
    UserhostInNames = 1 << 15,
    ExtendedJoin = 1 << 16,
    Chghost = 1 << 17,
    InviteNotify = 1 << 18,
    Setname = 1 << 19,
    ReadMarker = 1 << 20,
    MessageRedaction = 1 << 21,
    EventPlayback = 1 << 22,
}

impl Cap {
    /// Every offered capability with its name, in the order `CAP LS` lists them.
    pub const ALL: &'static [(Cap, &'static str)] = &[
        (Cap::AccountNotify, "account-notify"),
        (Cap::AccountTag, "account-tag"),
        (Cap::AwayNotify, "away-notify"),
        (Cap::Batch, "batch"),
        (Cap::CapNotify, "cap-notify"),
        (Cap::Chghost, "chghost"),
        (Cap::AccountRegistration, "draft/account-registration"),
        (Cap::Chathistory, "draft/chathistory"),
        (Cap::EventPlayback, "draft/event-playback"),
        (Cap::MessageRedaction, "draft/message-redaction"),
        (Cap::Multiline, "draft/multiline"),
        (Cap::ReadMarker, "draft/read-marker"),
        (Cap::EchoMessage, "echo-message"),
        (Cap::ExtendedJoin, "extended-join"),
        (Cap::ExtendedMonitor, "extended-monitor"),
        (Cap::InviteNotify, "invite-notify"),
        (Cap::LabeledResponse, "labeled-response"),
        (Cap::MessageTags, "message-tags"),
        (Cap::MultiPrefix, "multi-prefix"),
        (Cap::Sasl, "sasl"),
        (Cap::ServerTime, "server-time"),
        (Cap::Setname, "setname"),
        (Cap::UserhostInNames, "userhost-in-names"),
    ];

    pub fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(c, _)| *c)
    }

    pub fn name(self) -> &'static str {
        Cap::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .expect("every Cap is in Cap::ALL")
    }
}

/// A set of capabilities, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(pub u32);

impl Caps {
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap as u32 != 0
    }
    pub fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= cap as u32;
        } else {
            self.0 &= !(cap as u32);
        }
    }
    /// Names of the enabled capabilities, space-separated.
    pub fn names(self) -> String {
        Cap::ALL
            .iter()
            .filter(|(c, _)| self.has(*c))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The identity and settings of one client.
#[derive(Debug, Clone)]
pub struct User {
    /// `*` until a NICK is accepted.
    pub nick: String,
    /// Username from USER, prefixed with `~` (no ident lookup).
    pub user: Box<str>,
    pub realname: Box<str>,
    /// The host others see: the peer's IP address as text (no DNS lookups on the
    /// loop), or the account host while logged in (`accounts.account_host`).
    pub host: String,
    /// The address, while `host` shows an account host instead.
    pub address: Option<Box<str>>,
    /// Counted as connected: 001 was sent.
    pub registered: bool,
    pub caps: Caps,
    /// `CAP LS`/`REQ` seen before registration and no `CAP END` yet.
    pub cap_negotiating: bool,
    /// 302 when the client sent `CAP LS 302`.
    pub cap_version: u32,
    pub password: Option<Box<str>>,
    /// The account logged in to (display case).
    pub account: Option<String>,
    /// A password check is under way; registration waits for it.
    pub login_pending: bool,
    /// The id of the account that check is for: if the account is deleted and its
    /// name registered again while the check runs, the old password must not log
    /// in to the new account.
    pub login_account_id: Option<crate::store::AccountId>,
    /// Failed logins on this connection.
    pub login_failures: u32,
    /// The SASL exchange in progress (`None` outside one).
    pub sasl: Option<Box<Sasl>>,
    /// This connection is delivering its account's offline queue.
    pub replaying: bool,
    /// The `[[oper]]` name after a successful OPER.
    pub oper: Option<Box<str>>,
    /// Connected over TLS.
    pub tls: bool,
    pub away: Option<Box<str>>,
    pub invisible: bool,
    /// User mode `+B` (IRCv3 bot-mode): its messages carry the `bot` tag.
    pub bot: bool,
    /// Folded names of the channels joined, in join order.
    pub channels: Vec<String>,
    /// Unix time the connection was accepted.
    pub signon: i64,
    /// Last PRIVMSG/NOTICE sent, for WHOIS idle time.
    pub last_message: Instant,
    /// Registered nicks this connection took without logging in (folded), each with
    /// the end of its one grace period (`cmd/account.rs`, nick ownership).
    pub nick_graces: Vec<(Box<str>, Instant)>,
    /// The nicks this client watches with MONITOR, as it spelled them (indexed in
    /// `State::monitors`; at most `limits.monitor_max`).
    pub monitoring: Vec<Box<str>>,
    /// The IRCv3 multiline batch this client is sending, until its end.
    pub multiline: Option<Box<super::multiline::OpenMultiline>>,
}

impl User {
    pub fn new(host: String, signon: i64, now: Instant) -> User {
        User {
            nick: "*".into(),
            user: Box::default(),
            realname: Box::default(),
            host,
            address: None,
            registered: false,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_version: 0,
            password: None,
            account: None,
            login_pending: false,
            login_account_id: None,
            login_failures: 0,
            sasl: None,
            replaying: false,
            oper: None,
            tls: false,
            away: None,
            invisible: false,
            bot: false,
            channels: Vec::new(),
            signon,
            last_message: now,
            nick_graces: Vec::new(),
            monitoring: Vec::new(),
            multiline: None,
        }
    }

    /// `nick!user@host`.
    pub fn source(&self) -> String {
        // Built by hand: every relayed message needs one, and `format!` costs several
        // times as much for three pieces.
        let mut s = String::with_capacity(self.nick.len() + self.user.len() + self.host.len() + 2);
        s.push_str(&self.nick);
        s.push('!');
        s.push_str(&self.user);
        s.push('@');
        s.push_str(&self.host);
        s
    }

    pub fn has_nick(&self) -> bool {
        self.nick != "*"
    }

    pub fn in_channel(&self, folded: &str) -> bool {
        self.channels.iter().any(|c| c == folded)
    }

    /// User modes as `+Bio` (or `+` when none).
    pub fn mode_string(&self) -> String {
        let mut s = String::from("+");
        if self.bot {
            s.push('B');
        }
        if self.invisible {
            s.push('i');
        }
        if self.oper.is_some() {
            s.push('o');
        }
        s
    }
}

/// Where a SASL exchange (`AUTHENTICATE`, IRCv3 sasl-3.1) stands. A response comes
/// in chunks of 400 bytes of base64; `buf` holds what came so far.
#[derive(Debug, Clone)]
pub enum Sasl {
    /// PLAIN: waiting for the response.
    Plain { buf: String },
    /// SCRAM-SHA-256: waiting for the client-first message.
    ScramFirst { buf: String },
    /// SCRAM-SHA-256: server-first sent, waiting for the client-final message.
    ScramFinal {
        buf: String,
        exchange: Box<super::scram::ScramExchange>,
    },
    /// SCRAM-SHA-256: the proof was right and server-final sent; waiting for the
    /// client's empty response, then the login is complete.
    ScramDone {
        account: String,
        id: crate::store::AccountId,
    },
    /// A response went past the total limit and was refused (`904`): its remaining
    /// chunks are dropped, up to and including its last, so none is read as a
    /// mechanism name.
    Skipping,
}
