//! [`Server`]: the mio event loop. It owns the listeners, the connection slab, the
//! state and the timers; routes each token to accept, read or write; and ends every
//! pass by tearing down closed connections and flushing the dirty ones once each.
//! Each job is a room of its own in this folder; this file holds the struct and the
//! loop itself.

mod accept;
mod admin_io;
mod bus;
mod clock;
mod completion;
mod detached;
mod input;
mod lifecycle;
mod memory;
mod output;
mod refresh;
mod start;
mod timers;
mod tokens;

pub use lifecycle::ServerHandle;
pub use start::StartError;

use tokens::{LISTENER_BASE, SIGNAL_BASE, WAKER};

use crate::admin::commands::AdminState;
use crate::admin::{self, Admin};
use crate::cmd::Cx;
use crate::config::Config;
use crate::conn::Conns;
use crate::state::State;
use crate::store::{Completion, Store};
use mio::net::TcpListener;
use mio::{Events, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// The loop thread's whole state; each field belongs to one room of this folder
/// (see `docs/architecture.md`).
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Whether listener `i` speaks TLS.
    listener_tls: Vec<bool>,
    /// Whether listener `i` is a web listener (`[web]`: HTTP and WebSocket).
    listener_web: Vec<bool>,
    /// The TLS settings new connections get (replaced on reload).
    tls_config: Option<Arc<rustls::ServerConfig>>,
    /// Read ends of the signal pipes (SIGTERM/SIGINT, SIGHUP), once installed.
    signals: Vec<mio::net::UnixStream>,
    conns: Conns,
    state: State,
    config: Config,
    motd: Vec<String>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    /// (deadline, slot, serial): when to look at a connection's liveness next.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// (when, slot, serial): when a throttled connection has flood budget again.
    resume: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    scratch: Vec<u8>,
    /// Connections whose read stopped at the budget, to read again next pass.
    read_again: Vec<usize>,
    /// Set while the store is more than `history.log_backlog_max` messages behind:
    /// no client input is read until it is down to three quarters of that.
    store_behind: bool,
    /// The store's failing state as last told to operators.
    store_failing: bool,
    /// Connections with input waiting while `store_behind`, to read once it clears.
    paused: Vec<usize>,
    /// When the store last fell behind (logged at most once a minute).
    behind_since: Option<Instant>,
    /// Connections closed since the allocator was last asked to give memory back,
    /// and when that was (see [`Server::release_memory`]).
    closed_since_release: usize,
    last_release: Instant,
    /// When to look next for registered channels unused past
    /// `channels.registered_expire_days` (`timers.rs`).
    next_expiry_check: Instant,
    /// A cluster node's refresh of what other nodes change (`refresh.rs`).
    refresh: refresh::Refresh,
    /// The loop's time: every `now` comes from it (a test may move it forward).
    clock: clock::Clock,
    /// `None` only after shutdown closed it.
    store: Option<Store>,
    completions: Receiver<Completion>,
    admin: Admin,
    admin_state: AdminState,
    /// The cluster bus, when this node is a cluster member (`bus.rs`).
    bus: Option<bus::BusRoom>,
    /// Database writable and bus up: what `GET /ready` answers (`output.rs`).
    ready: Arc<AtomicBool>,
    /// Why the node stops on its own (another node took its cluster id): `run`
    /// returns it once the graceful shutdown is done.
    fatal: Option<crate::cluster::IdTaken>,
}

impl Server {
    /// Runs the loop until a [`ServerHandle::shutdown`] (or an `Err` with a
    /// [`crate::cluster::IdTaken`] inside when another node took this one's id).
    pub fn run(mut self) -> io::Result<()> {
        for addr in self.local_addrs() {
            log::info!("listening on {addr}");
        }
        for addr in self.tls_addrs() {
            log::info!("listening on {addr} (TLS)");
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout(self.clock.now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = self.clock.now();
            self.check_store_backlog(now);
            for event in events.iter() {
                match event.token() {
                    WAKER => self.take_completions(now),
                    admin::LISTENER => self.admin.accept(self.poll.registry()),
                    Token(t) if (SIGNAL_BASE..SIGNAL_BASE + 2).contains(&t) => {
                        self.signal(t - SIGNAL_BASE, now)
                    }
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE, now),
                    Token(t) if t >= admin::BASE => self.admin_event(t - admin::BASE, now),
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(slot, now);
                        }
                        if event.is_writable() {
                            self.conns.dirty.push(slot);
                        }
                    }
                }
            }
            for slot in std::mem::take(&mut self.read_again) {
                self.read(slot, now);
            }
            self.run_timers(now);
            self.refresh_if_wanted(now);
            self.log_out_gone_accounts(now);
            self.end_of_pass();
            self.release_memory(now);
            if self.stop.load(Ordering::SeqCst) || self.admin_state.shutdown.is_some() {
                self.shutdown();
                return match self.fatal.take() {
                    Some(why) => Err(io::Error::other(why)),
                    None => Ok(()),
                };
            }
        }
    }

    /// A command context for `slot`, borrowing the parts of the server handlers use.
    fn cx(&mut self, slot: usize, now: Instant) -> Cx<'_> {
        Cx {
            me: slot,
            conns: &mut self.conns,
            state: &mut self.state,
            config: &self.config,
            motd: &self.motd,
            store: self
                .store
                .as_ref()
                .expect("the store is open while the loop runs"),
            now,
            replies: Default::default(),
        }
    }
}
