//! What the loop still has to do when the store or the hasher answers. A request
//! carries only an opaque [`Ticket`]; the loop keeps, per ticket, a typed
//! [`FollowUp`]: who waits (a client, and whether its later lines wait too, or an
//! admin request), and what to do with the answer ([`Then`]). `server/completion.rs`
//! routes each answer by it, so the compiler checks every route.

use crate::ids::ConnId;
use crate::store::Ticket;
use std::collections::HashMap;

/// How a login or registration arrived: decides the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Sasl,
    Pass,
    Login,
    NickServ,
    Register,
    NickServRegister,
}

impl Door {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Sasl => "sasl",
            Door::Pass => "pass",
            Door::Login => "login",
            Door::NickServ => "nickserv",
            Door::Register => "register",
            Door::NickServRegister => "nickserv-register",
        }
    }
}

/// Which command asked for history: decides the replies, and the `FAIL` when the
/// read fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryFrom {
    /// `HISTORY`, our own command.
    History,
    /// `CHATHISTORY <sub>` (IRCv3).
    Chathistory { sub: String },
    /// The replay of a channel's missed messages at login (no command).
    Missed,
}

/// A password kept while a cluster node looks its account up
/// ([`Then::Lookup`]): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What to do with an answer a client's command asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// A password check (`Verified`) for a login through `door`.
    Login { door: Door },
    /// A cluster node's login through `door` read `account`'s row first (`Account`):
    /// another node may have registered it or changed its password. The password
    /// check follows.
    Lookup {
        door: Door,
        account: String,
        password: Secret,
    },
    /// A cluster node reads a SCRAM login's account (`Account`) before it answers
    /// the client-first message (`first`, decoded), as for `Lookup`.
    ScramLookup { first: Secret },
    /// A cluster node reads an account (`account`: the sender's, or one a ChanServ
    /// command names) before it runs the command (`words`; through `CHANNEL` when
    /// `as_command`).
    ChanServ {
        as_command: bool,
        account: String,
        words: String,
    },
    /// An account created (`Registered`) through `door`, for the name asked.
    Register { door: Door, name: String },
    /// An OPER password check (`Verified`) for the oper block `name`.
    Oper { name: String },
    /// An offline message queued (`Queued`): `command` PRIVMSG or NOTICE to `target`.
    Queued {
        command: &'static str,
        target: String,
    },
    /// A history read (`History`, or `ReadFailed`) of `target`; messages at or below
    /// `floor` are not the reader's.
    History {
        from: HistoryFrom,
        target: String,
        floor: i64,
    },
    /// A CHATHISTORY TARGETS read (`Targets`, or `ReadFailed`).
    Targets,
    /// A REDACT of `msgid` in `target` (`Redacted`, or `ReadFailed`).
    Redact {
        target: String,
        msgid: String,
        reason: String,
    },
    /// A page of `account`'s (folded) offline queue (`Queue`), after `before` rows
    /// earlier pages delivered.
    QueuePage { account: String, before: usize },
    /// The account's remembered channels (`Memberships`).
    Memberships,
    /// A nick claimed across the cluster (`FromBus::Claimed`, routed by
    /// `server/bus.rs`, not by the store).
    NickClaim { nick: String },
}

impl Then {
    /// Whether the answer is part of the response to the command that asked, so a
    /// labeled command's label goes with the request (IRCv3 labeled-response). The
    /// offline queue, the remembered channels and what was missed, fetched after a
    /// login, and the note that a message was queued come later, unlabeled.
    pub fn answers_command(&self) -> bool {
        match self {
            Then::QueuePage { .. } | Then::Memberships | Then::Queued { .. } => false,
            Then::History { from, .. } => *from != HistoryFrom::Missed,
            Then::Login { .. }
            | Then::Lookup { .. }
            | Then::ScramLookup { .. }
            | Then::ChanServ { .. }
            | Then::Register { .. }
            | Then::Oper { .. }
            | Then::Targets
            | Then::Redact { .. }
            | Then::NickClaim { .. } => true,
        }
    }
}

/// A labeled command's response in the making: its label, and the
/// `labeled-response` batch once one is open. It travels with a store or hasher
/// request in the ticket's follow-up ([`FollowUp::Client`](crate::followup::FollowUp)),
/// so the answer's replies carry it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labeled {
    /// The label as the client sent it (unescaped).
    pub label: Box<str>,
    /// The reference of the open `labeled-response` batch, once the response was
    /// found to be more than one line (or to go through the replay backlog).
    pub batch: Option<Box<str>>,
}

/// Who waits for a ticket's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// A client's command. While `holds_lines`, the client's next lines wait in its
    /// buffer (`Conn::awaiting` counts these), so replies keep command order.
    Client {
        id: ConnId,
        holds_lines: bool,
        then: Then,
        /// The label of the command that asked, and its open batch: the answer's
        /// replies carry it (`cmd/reply.rs`).
        label: Option<Labeled>,
    },
    /// Admin request number `request` (`admin::commands::complete`).
    Admin { request: u64 },
    /// The detached server's `settle`: everything sent before is committed.
    Settle,
    /// A cluster node reads the account a user of another node logged in to
    /// (`Account`), so roles by account and ChanServ know it here too.
    Prefetch { account: String },
    /// A cluster node's refresh (`Reloaded`), asked when the store had been sent
    /// `writes` changes of shared records (`Store::shared_writes`).
    Refresh { writes: u64 },
}

/// The follow-ups of the requests not yet answered, by ticket.
#[derive(Debug, Default)]
pub struct FollowUps {
    last: u64,
    waiting: HashMap<Ticket, FollowUp>,
}

impl FollowUps {
    /// A new ticket whose answer will be followed up by `follow`.
    pub fn open(&mut self, follow: FollowUp) -> Ticket {
        self.last += 1;
        let ticket = Ticket(self.last);
        self.waiting.insert(ticket, follow);
        ticket
    }

    /// The follow-up of an answered (or never sent) ticket, forgotten.
    pub fn take(&mut self, ticket: Ticket) -> Option<FollowUp> {
        self.waiting.remove(&ticket)
    }

    /// Requests sent and not yet answered.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}
