//! A cluster node's refresh ([`Refresh`]): with `cluster.database` set, other nodes
//! write the same accounts, login tokens, read markers and registered channels the
//! loop loaded at start. Every `cluster.refresh_secs` the loop asks the store for
//! them again (`Request::Reload`, one read-only transaction) and takes the answer in:
//! a record the database has replaces this node's copy; an account it lacks was
//! deleted (this node's sessions of it are logged out); a token or channel the
//! previous read had and this one has not was deleted elsewhere and is forgotten,
//! one this node made since the previous read (its write perhaps still to be
//! retried) is kept. Read markers only move forward. An
//! answer read before this node sent a change of its own (`Store::shared_writes`)
//! is dropped and asked for again (at once, up to three times in a row; then at
//! the next period), so it never undoes that change.

use super::Server;
use crate::config::ClusterConfig;
use crate::followup::FollowUp;
use crate::ids::AccountId;
use crate::store::{ChannelRecord, Loaded, LoginToken, Request};
use chatd_proto::fold;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Answers dropped in a row (see [`Server::on_reloaded`]) after which the next ask
/// waits for the period.
const MAX_AT_ONCE: u32 = 3;

/// When the next refresh is due, whether one is under way, and what the last read
/// held of tokens and channels (to tell a deletion elsewhere from a record made
/// here since).
#[derive(Debug, Default)]
pub(super) struct Refresh {
    /// `None`: not a cluster node on a shared database; never refreshes.
    every: Option<Duration>,
    next: Option<Instant>,
    asked: bool,
    /// Answers dropped in a row because this node changed a record meanwhile.
    dropped: u32,
    /// When the refresh under way was asked (real time, for the log).
    asked_at: Option<std::time::Instant>,
    tokens: HashSet<[u8; 32]>,
    channels: HashSet<String>,
}

impl Refresh {
    pub(super) fn new(
        cluster: &ClusterConfig,
        now: Instant,
        tokens: &[LoginToken],
        channels: &[ChannelRecord],
    ) -> Refresh {
        if cluster.database.is_empty() {
            return Refresh::default();
        }
        let every = Duration::from_secs(cluster.refresh_secs);
        Refresh {
            every: Some(every),
            next: Some(now + every),
            asked: false,
            dropped: 0,
            asked_at: None,
            tokens: tokens.iter().map(|t| t.hash).collect(),
            channels: channels.iter().map(|c| fold(&c.name)).collect(),
        }
    }

    /// When the loop must wake for the next refresh (none while one is under way).
    pub(super) fn due(&self) -> Option<Instant> {
        self.next.filter(|_| !self.asked)
    }
}

impl Server {
    /// Asks the store for the shared records if a refresh is due.
    pub(super) fn refresh_if_due(&mut self, now: Instant) {
        if self.refresh.due().is_some_and(|at| at <= now) {
            self.ask_refresh(now);
        }
    }

    /// Logs out this node's sessions of accounts another node deleted (or deleted
    /// and registered again: the name is another account now).
    pub(super) fn log_out_gone_accounts(&mut self, now: Instant) {
        for name in std::mem::take(&mut self.state.accounts_gone) {
            for slot in self.state.sessions.get(&name).cloned().unwrap_or_default() {
                crate::cmd::account::force_logout(
                    &mut self.cx(slot, now),
                    "Your account was deleted",
                );
            }
        }
    }

    /// Refreshes now if a command asked for it (`State::refresh_wanted`) and none
    /// is under way.
    pub(super) fn refresh_if_wanted(&mut self, now: Instant) {
        // Kept while a refresh is under way: that one may have read too early.
        if self.state.refresh_wanted && self.refresh.due().is_some() {
            self.state.refresh_wanted = false;
            self.ask_refresh(now);
        }
    }

    fn ask_refresh(&mut self, now: Instant) {
        let Some(store) = &self.store else {
            return;
        };
        let writes = store.shared_writes();
        let ticket = self.state.followups.open(FollowUp::Refresh { writes });
        if store.send(Request::Reload { ticket }) {
            self.state.fetched_since_refresh.clear();
            self.refresh.asked = true;
            self.refresh.asked_at = Some(Instant::now());
        } else {
            self.state.followups.take(ticket);
            self.refresh.next = self.refresh.every.map(|every| now + every);
        }
    }

    /// Takes a refresh's answer in (see the module's documentation).
    pub(super) fn on_reloaded(&mut self, writes: u64, loaded: Option<Box<Loaded>>, now: Instant) {
        self.refresh.asked = false;
        self.refresh.next = self.refresh.every.map(|every| now + every);
        let Some(loaded) = loaded else {
            // The store has logged why; the next refresh tries again.
            return;
        };
        if self.store.as_ref().map(|s| s.shared_writes()) != Some(writes) {
            // Read before a change this node sent since: it would undo it. Asked
            // again at once, a few times; then at the next period, so a node that
            // keeps writing does not keep the store reading.
            self.refresh.dropped += 1;
            if self.refresh.dropped <= MAX_AT_ONCE {
                self.ask_refresh(now);
            }
            return;
        }
        self.refresh.dropped = 0;
        let read = self.refresh.asked_at.take().map(|at| at.elapsed());
        let counts = (
            loaded.accounts.len(),
            loaded.tokens.len(),
            loaded.read_markers.len(),
            loaded.channels.len(),
        );
        let applying = Instant::now();
        let Loaded {
            accounts,
            read_markers,
            tokens,
            channels,
            ..
        } = *loaded;
        let state = &mut self.state;
        let r = &mut self.refresh;

        let ids: HashMap<String, AccountId> =
            accounts.iter().map(|a| (fold(&a.name), a.id)).collect();
        // An account read on its own since this refresh was asked (a login's
        // lookup, another node's user's) may be newer than what the refresh read.
        let newer = std::mem::take(&mut state.fetched_since_refresh);
        for (name, held) in &state.accounts {
            if ids.get(name) != Some(&held.id)
                && state.sessions.contains_key(name)
                && !newer.contains(name)
            {
                state.accounts_gone.push(name.clone());
            }
        }
        // An account is only ever in memory once the database has it (a
        // registration is answered after its commit), so the answer is the whole
        // truth: what it lacks was deleted.
        state
            .accounts
            .retain(|name, _| ids.contains_key(name) || newer.contains(name));
        for a in accounts {
            let name = fold(&a.name);
            if !newer.contains(&name) {
                state.accounts.insert(name, a);
            }
        }

        let hashes: HashSet<[u8; 32]> = tokens.iter().map(|t| t.hash).collect();
        state.login_tokens.refresh(tokens, &r.tokens);
        r.tokens = hashes;

        let names: HashSet<String> = channels.iter().map(|c| fold(&c.name)).collect();
        state
            .registered
            .retain(|name, _| names.contains(name) || !r.channels.contains(name));
        for c in channels {
            state.registered.insert(fold(&c.name), c);
        }
        r.channels = names;

        for m in read_markers {
            state.read_markers.advance(m.account, &m.target, m.time_ms);
        }
        log::debug!(
            "refresh: {} accounts, {} tokens, {} read markers, {} registered channels; \
             read in {} ms, applied in {} ms",
            counts.0,
            counts.1,
            counts.2,
            counts.3,
            read.map_or(0, |d| d.as_millis()),
            applying.elapsed().as_millis()
        );
    }
}
