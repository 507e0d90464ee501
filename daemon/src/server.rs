//! [`Server`]: the mio event loop. It owns the listeners, the connection slab, the
//! state and the timers; routes each token to accept, read or write; and ends every
//! pass by tearing down closed connections and flushing the dirty ones once each.

use crate::admin::commands::{self as admin_cmd, AdminState, Ctl};
use crate::admin::{self, logtap, Admin};
use crate::admission;
use crate::cmd::{self, account, channel, history, message, Cx};
use crate::config::Config;
use crate::conn::{Conn, Conns, Sock};
use crate::ipnet::IpNet;
use crate::outgoing::Outgoing;
use crate::state::{State, User};
use crate::store::{Completion, Request, Store, StoreError, StoreOptions};
use chatd_proto::numeric::ERR_INPUTTOOLONG;
use chatd_proto::{parse, LineError, Message, ParseError};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wakes the loop from other threads (store completions, shutdown requests).
const WAKER: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE + i`; connection tokens are slab slots below it.
const LISTENER_BASE: usize = usize::MAX - 1024;
/// Signal pipe `i` has token `SIGNAL_BASE + i`.
const SIGNAL_BASE: usize = usize::MAX - 8;
/// Bytes read from one connection per pass before others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// Least time between two requests to the allocator to return freed memory.
const RELEASE_EVERY: Duration = Duration::from_secs(1);
/// How often the loop looks at the store's backlog while reading is paused for it.
const STORE_BEHIND_POLL: Duration = Duration::from_millis(5);

/// Why the server could not start. `main` turns each into an exit code.
#[derive(Debug)]
pub enum StartError {
    DataDir(PathBuf, io::Error),
    Bind(SocketAddr, io::Error),
    Poll(io::Error),
    Store(StoreError),
    Admin(String),
    Tls(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::DataDir(p, e) => {
                write!(f, "data directory {} is not usable: {e}", p.display())
            }
            StartError::Bind(a, e) if e.kind() == io::ErrorKind::AddrInUse => {
                write!(
                    f,
                    "cannot listen on {a}: the address is already in use (another chatd?)"
                )
            }
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            StartError::Poll(e) => write!(f, "cannot create the event loop: {e}"),
            StartError::Store(e) => write!(f, "cannot open the database: {e}"),
            StartError::Admin(e) => write!(f, "cannot set up the admin socket: {e}"),
            StartError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Asks a running server to stop, from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl ServerHandle {
    /// Graceful stop: clients get `ERROR`, then `run` returns.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the loop for shutdown: {e}");
        }
    }
}

pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Whether listener `i` speaks TLS.
    listener_tls: Vec<bool>,
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
    /// `None` only after shutdown closed it.
    store: Option<Store>,
    completions: Receiver<Completion>,
    admin: Admin,
    admin_state: AdminState,
}

impl Server {
    /// Creates the data dir and binds every listener in `config.server.listen`.
    pub fn bind(config: Config) -> Result<Server, StartError> {
        Server::open(config, true)
    }

    /// A server with no listeners and no admin socket, for driving the command layer
    /// in process ([`Server::attach`], [`Server::feed`]): fuzzing. It still opens the
    /// store in `config.server.data_dir`.
    pub fn detached(mut config: Config) -> Result<Server, StartError> {
        config.server.listen.clear();
        config.tls.cert = None;
        config.tls.key = None;
        Server::open(config, false)
    }

    fn open(config: Config, sockets: bool) -> Result<Server, StartError> {
        let data_dir = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| StartError::DataDir(data_dir.clone(), e))?;
        let probe = data_dir.join(".chatd-write-test");
        std::fs::write(&probe, b"")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| StartError::DataDir(data_dir.clone(), e))?;
        let tls_config = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Some(crate::tls::load(cert, key).map_err(StartError::Tls)?),
            _ => None,
        };
        let poll = Poll::new().map_err(StartError::Poll)?;
        let mut listeners = Vec::new();
        let mut listener_tls = Vec::new();
        let tls_addrs = if tls_config.is_some() {
            config.tls.listen.clone()
        } else {
            Vec::new()
        };
        let all = config
            .server
            .listen
            .iter()
            .map(|a| (*a, false))
            .chain(tls_addrs.into_iter().map(|a| (a, true)));
        for (i, (addr, tls)) in all.enumerate() {
            let mut l = TcpListener::bind(addr).map_err(|e| StartError::Bind(addr, e))?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(StartError::Poll)?;
            listeners.push(l);
            listener_tls.push(tls);
        }
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartError::Poll)?);
        let motd = config.motd_lines();
        let wake = {
            let waker = waker.clone();
            Arc::new(move || {
                if let Err(e) = waker.wake() {
                    log::error!("cannot wake the loop: {e}");
                }
            })
        };
        let h = &config.history;
        let options = StoreOptions {
            pbkdf2_iterations: config.accounts.pbkdf2_iterations,
            queue_max_messages: h.queue_max_messages,
            queue_max_age_secs: i64::from(h.queue_max_age_days) * 86_400,
            missed_per_channel: h.missed_per_channel,
            max_db_bytes: h.max_db_mib * 1024 * 1024,
            startup_check: h.startup_check,
        };
        let (store, completions, loaded) =
            Store::open(&data_dir, options, wake.clone()).map_err(StartError::Store)?;
        logtap::set_wake(Box::new(move || wake()));
        let admin = if sockets {
            let admin =
                Admin::bind(&config, poll.registry()).map_err(|e| StartError::Admin(e.0))?;
            log::info!("admin socket at {}", admin.path().display());
            admin
        } else {
            Admin::detached()
        };
        let mut state = State::new(chrono::Utc::now().timestamp());
        state.tls_port = listeners
            .iter()
            .zip(&listener_tls)
            .find(|(_, tls)| **tls)
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port());
        state.last_msg_id = loaded.last_id;
        state.bans = loaded.bans;
        for a in loaded.accounts {
            state.accounts.insert(chatd_proto::fold(&a.name), a);
        }
        Ok(Server {
            poll,
            listeners,
            listener_tls,
            tls_config,
            signals: Vec::new(),
            conns: Conns::new(config.limits.sendq_bytes, config.limits.max_clients),
            state,
            store: Some(store),
            completions,
            admin,
            admin_state: AdminState::default(),
            motd,
            config,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            timers: BinaryHeap::new(),
            resume: BinaryHeap::new(),
            scratch: vec![0; 16 * 1024],
            read_again: Vec::new(),
            store_behind: false,
            paused: Vec::new(),
            behind_since: None,
            store_failing: false,
            closed_since_release: 0,
            last_release: Instant::now(),
        })
    }

    /// Adds a client with no socket (see [`Server::detached`]); returns its slot.
    pub fn attach(&mut self) -> usize {
        let now = Instant::now();
        let id = self.conns.next_id();
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("literal address");
        let user = User::new("127.0.0.1".into(), chrono::Utc::now().timestamp(), now);
        let mut conn = Conn::new(id, Sock::Detached(Box::default()), peer, user, now);
        conn.ip_key = "127.0.0.1".into();
        self.state.counts.unregistered += 1;
        self.conns.slab.insert(conn)
    }

    /// Hands `bytes` to an attached client as if read from its socket, runs what
    /// they ask and one loop pass (store answers that already arrived included);
    /// returns what the client was sent. Empty once the client is gone.
    pub fn feed(&mut self, slot: usize, bytes: &[u8]) -> Vec<u8> {
        let now = Instant::now();
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.lines.push(bytes);
            conn.throttled = false;
        }
        self.process_lines(slot, now);
        self.take_completions(now);
        self.run_timers(now);
        self.end_of_pass();
        self.conns
            .get_mut(slot)
            .map(|c| c.sock.take_sent())
            .unwrap_or_default()
    }

    /// Whether an attached client is still connected.
    pub fn attached(&self, slot: usize) -> bool {
        self.conns.get(slot).is_some()
    }

    /// Waits for the store to answer everything sent so far, and for every answer a
    /// client waits for (the hasher's included, and requests those answers make),
    /// and runs them.
    pub fn settle(&mut self) {
        if let Some(store) = &self.store {
            store.send(Request::Sync {
                ticket: crate::store::Ticket {
                    conn: crate::conn::ConnId {
                        slot: usize::MAX,
                        serial: 0,
                    },
                    what: "settle".into(),
                },
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut synced = false;
        while Instant::now() < deadline {
            if synced && !self.conns.slab.iter().any(|(_, c)| c.awaiting > 0) {
                break;
            }
            match self.completions.recv_timeout(Duration::from_millis(100)) {
                Ok(Completion::Synced { ticket }) if ticket.what == "settle" => synced = true,
                Ok(other) => self.complete(other, Instant::now()),
                Err(_) => {}
            }
        }
        self.end_of_pass();
    }

    /// Graceful stop of a detached server: the store is flushed and closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// The plaintext addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// The TLS addresses actually bound.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, tls: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .zip(&self.listener_tls)
            .filter(|(_, t)| **t == tls)
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// SIGTERM and SIGINT stop the server gracefully; SIGHUP reloads the config and
    /// TLS certificates. For the daemon binary; tests leave signals alone.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for (i, signals) in [&[SIGTERM, SIGINT][..], &[SIGHUP][..]].iter().enumerate() {
            let (mut read, write) = mio::net::UnixStream::pair()?;
            let write = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(write));
            for &sig in *signals {
                signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            }
            self.poll
                .registry()
                .register(&mut read, Token(SIGNAL_BASE + i), Interest::READABLE)?;
            self.signals.push(read);
        }
        Ok(())
    }

    /// A signal arrived on pipe `i`: 0 stop, 1 reload.
    fn signal(&mut self, i: usize, now: Instant) {
        let mut buf = [0u8; 64];
        if let Some(pipe) = self.signals.get_mut(i) {
            while matches!(pipe.read(&mut buf), Ok(n) if n > 0) {}
        }
        if i == 0 {
            log::info!("SIGTERM/SIGINT: shutting down");
            self.stop.store(true, Ordering::SeqCst);
        } else {
            log::info!("SIGHUP: reloading");
            crate::process::notify("RELOADING=1");
            if let Err(e) = admin_cmd::reload(&mut self.ctl(now)) {
                log::error!("reload failed, keeping the running config: {e}");
            }
            crate::process::notify("READY=1");
        }
    }

    /// The config file, so `reload` can read it again, with what it held at start
    /// (before command-line overrides).
    pub fn set_config_file(&mut self, path: PathBuf, as_loaded: Config) {
        self.admin_state.config_path = Some(path);
        self.admin_state.file_config = Some(as_loaded);
    }

    /// Where the admin socket listens.
    pub fn admin_socket(&self) -> &std::path::Path {
        self.admin.path()
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            waker: self.waker.clone(),
            stop: self.stop.clone(),
        }
    }

    /// Runs the loop until a [`ServerHandle::shutdown`].
    pub fn run(mut self) -> io::Result<()> {
        for addr in self.local_addrs() {
            log::info!("listening on {addr}");
        }
        for addr in self.tls_addrs() {
            log::info!("listening on {addr} (TLS)");
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let timeout = if !self.read_again.is_empty() && !self.store_behind {
                Some(Duration::ZERO)
            } else if self.store_behind {
                // The store wakes the loop when it has caught up; this is the fallback
                // for a wake that raced with the pause.
                Some(STORE_BEHIND_POLL)
            } else {
                let next = [
                    self.timers.peek(),
                    self.state.nick_checks.peek(),
                    self.resume.peek(),
                ]
                .into_iter()
                .flatten()
                .map(|Reverse((at, _, _))| *at)
                .chain((self.closed_since_release > 0).then_some(self.last_release + RELEASE_EVERY))
                .min();
                next.map(|at| at.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
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
            self.end_of_pass();
            self.release_memory(now);
            if self.stop.load(Ordering::SeqCst) || self.admin_state.shutdown.is_some() {
                self.shutdown();
                return Ok(());
            }
        }
    }

    fn accept(&mut self, index: usize, now: Instant) {
        loop {
            let (mut sock, peer) = match self.listeners[index].accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log, and let the next readiness event retry.
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            if let Err(e) = sock.set_nodelay(true) {
                log::debug!("peer={peer} set_nodelay: {e}");
            }
            let id = self.conns.next_id();
            if id.slot >= admin::BASE {
                return;
            }
            // An IPv4 client on a `[::]` listener arrives as ::ffff:a.b.c.d; it is
            // the IPv4 address for bans, limits and its host.
            let peer_ip = peer.ip().to_canonical();
            let host = admission::host_of(peer_ip);
            let limits = &self.config.limits;
            let others = self.conns.slab.len();
            let proxied = IpNet::any_contains(&self.config.server.proxy_from, peer_ip);
            let admitted = if proxied {
                // Admitted as the client its header names, once it has come.
                admission::admit_proxy(limits, others).map(|()| String::new())
            } else {
                admission::admit(&mut self.state, limits, others, peer_ip, now)
            };
            let key = match admitted {
                Ok(key) => key,
                Err(refusal) => {
                    let line = format!("ERROR :Closing Link: {host} ({refusal})\r\n");
                    let _ = std::io::Write::write(&mut sock, line.as_bytes());
                    log::info!("peer={peer} refused: {refusal}");
                    continue;
                }
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut sock, Token(id.slot), Interest::READABLE)
            {
                log::warn!("peer={peer} register failed: {e}");
                continue;
            }
            let mut user = User::new(host, chrono::Utc::now().timestamp(), now);
            let tls = match (self.listener_tls[index], &self.tls_config) {
                (true, Some(config)) => match rustls::ServerConnection::new(config.clone()) {
                    Ok(t) => Some(Box::new(t)),
                    Err(e) => {
                        log::warn!("peer={peer} TLS setup failed: {e}");
                        continue;
                    }
                },
                _ => None,
            };
            user.tls = tls.is_some();
            let mut conn = Conn::new(id, Sock::Tcp(sock), peer, user, now);
            conn.tls = tls;
            conn.awaiting_proxy = proxied;
            if !proxied {
                *self.state.per_ip.entry(key.clone()).or_insert(0) += 1;
            }
            conn.ip_key = key.into();
            let slot = self.conns.slab.insert(conn);
            self.state.counts.unregistered += 1;
            debug_assert_eq!(slot, id.slot);
            // The first look comes at whichever is sooner: the registration deadline
            // or the first idle check, so a quick registration starts pinging on time.
            let mut first = self
                .config
                .registration_timeout()
                .min(self.config.ping_interval());
            if self.listener_tls[index] {
                first = first.min(self.config.handshake_timeout());
            }
            self.timers.push(Reverse((now + first, id.slot, id.serial)));
            log::info!("conn={slot} peer={peer} accepted");
        }
    }

    /// After connections have closed, at most once per [`RELEASE_EVERY`]: asks the
    /// allocator (mimalloc) to return the memory they freed to the system. Otherwise it
    /// keeps it for reuse, and a spike of connections would leave RSS at its peak.
    fn release_memory(&mut self, now: Instant) {
        if self.closed_since_release == 0
            || now.saturating_duration_since(self.last_release) < RELEASE_EVERY
        {
            return;
        }
        self.closed_since_release = 0;
        self.last_release = now;
        // SAFETY: mi_collect takes no pointers; it frees and purges this thread's
        // unused mimalloc pages (none when mimalloc is not the allocator, as in
        // tests that run the server in-process).
        unsafe { libmimalloc_sys::mi_collect(true) };
    }

    /// Pauses or resumes reading from clients as the store falls behind or catches up.
    fn check_store_backlog(&mut self, now: Instant) {
        let Some(store) = &self.store else {
            return;
        };
        let backlog = store.backlog();
        let max = self.config.history.log_backlog_max;
        // Reading resumes at three quarters of the limit, so the store always has the
        // next batch waiting while the loop goes on.
        let resume = max / 4 * 3;
        if !self.store_behind && backlog > max {
            self.store_behind = true;
            store.wake_when_backlog_at_most(Some(resume));
            self.state.store_pauses += 1;
            if self
                .behind_since
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60))
            {
                log::warn!(
                    "the database is {backlog} messages behind (history.log_backlog_max is \
                     {max}); reading from clients is paused until it catches up"
                );
                self.behind_since = Some(now);
            }
        } else if self.store_behind && backlog <= resume {
            self.store_behind = false;
            store.wake_when_backlog_at_most(None);
            let mut paused = std::mem::take(&mut self.paused);
            paused.sort_unstable();
            paused.dedup();
            for slot in paused {
                self.read(slot, now);
            }
        }
    }

    fn read(&mut self, slot: usize, now: Instant) {
        if self.store_behind {
            self.paused.push(slot);
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.closing.is_some() || conn.awaiting > 0 {
            // Waiting for the store: the socket is read when the answer came.
            return;
        }
        if conn.awaiting_proxy
            && !admission::read_proxy_header(
                &mut self.conns,
                &mut self.state,
                &self.config,
                slot,
                now,
            )
        {
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let result = conn.read_some(&mut self.scratch, READ_BUDGET);
        if conn.read_pending && !conn.throttled {
            self.read_again.push(slot);
        }
        if conn.tls_wants_write() {
            self.conns.mark_dirty(slot);
        }
        self.process_lines(slot, now);
        let recvq = self.config.limits.recvq_bytes;
        if let Some(conn) = self.conns.get_mut(slot) {
            if conn.throttled && conn.lines.pending() > recvq {
                self.conns.close(slot, "Excess Flood");
                return;
            }
        }
        match result {
            Ok((_, true)) => self.conns.close(slot, "Remote host closed the connection"),
            Ok(_) => {}
            Err(e) => self.conns.close(slot, &format!("Read error: {e}")),
        }
    }

    fn process_lines(&mut self, slot: usize, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if conn.closing.is_some() || conn.throttled || conn.awaiting > 0 {
                return;
            }
            // Only complete lines cost flood budget; a partial one may still have to
            // be reported as an overflow.
            let complete = conn.lines.has_line();
            let limits = &self.config.limits;
            let trusted = conn.user.oper.is_some()
                || conn.user.account.as_deref().is_some_and(|a| {
                    limits
                        .trusted_accounts
                        .iter()
                        .any(|t| chatd_proto::fold(t) == chatd_proto::fold(a))
                });
            let (burst, rate) = if trusted {
                (limits.trusted_flood_burst, limits.trusted_flood_rate)
            } else {
                (limits.flood_burst, limits.flood_rate)
            };
            if !complete {
                match conn.lines.next_line() {
                    Some(Err(LineError::Overflow)) => {
                        self.conns.close(slot, "RecvQ exceeded (no line end)")
                    }
                    Some(Err(LineError::TooLong)) => {
                        self.cx(slot, now)
                            .reply(ERR_INPUTTOOLONG, &["Input line was too long"]);
                        continue;
                    }
                    _ => {}
                }
                return;
            }
            if let Err(wait) = conn.take_flood_token(now, burst, rate) {
                conn.throttled = true;
                let id = conn.id;
                self.resume.push(Reverse((now + wait, id.slot, id.serial)));
                return;
            }
            let Some(line) = conn.lines.next_line() else {
                return;
            };
            conn.last_seen = now;
            conn.ping_sent = None;
            let mut cx = self.cx(slot, now);
            match line {
                Ok(bytes) => handle_line(&mut cx, bytes),
                Err(LineError::TooLong) => cx.reply(ERR_INPUTTOOLONG, &["Input line was too long"]),
                Err(LineError::Overflow) => cx.conns.close(slot, "RecvQ exceeded (no line end)"),
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

    /// The parts admin commands work with.
    fn ctl(&mut self, now: Instant) -> Ctl<'_> {
        let started = self.state.started;
        Ctl {
            admin: &mut self.admin,
            st: &mut self.admin_state,
            conns: &mut self.conns,
            state: &mut self.state,
            config: &mut self.config,
            motd: &mut self.motd,
            store: self
                .store
                .as_ref()
                .expect("the store is open while the loop runs"),
            tls: &mut self.tls_config,
            now,
            started,
        }
    }

    /// Requests from an admin connection.
    fn admin_event(&mut self, slot: usize, now: Instant) {
        let requests = self.admin.read(slot);
        for line in &requests.lines {
            admin_cmd::run(&mut self.ctl(now), slot, line);
        }
        if requests.too_long {
            self.admin.refuse_long_line(slot);
        }
        self.admin.flush(slot, self.poll.registry());
        self.update_tap();
    }

    /// Turns message and log tapping on while someone follows.
    fn update_tap(&mut self) {
        let following = self.admin.following();
        self.state.tap = following;
        logtap::follow(self.admin.follow_level());
    }

    /// Streams tapped messages and log lines to the admin connections following them.
    fn feed_admin(&mut self) {
        if !self.state.tap {
            return;
        }
        let messages = std::mem::take(&mut self.state.tapped);
        let lines = logtap::take();
        if messages.is_empty() && lines.is_empty() {
            return;
        }
        let mut sends = Vec::new();
        for (slot, conn) in self.admin.conns.iter() {
            for stream in &conn.streams {
                for m in messages
                    .iter()
                    .filter(|m| admin_cmd::stream_shows(&stream.filter, m))
                {
                    sends.push((
                        slot,
                        serde_json::json!({"id": stream.id, "event": "message", "data": admin_cmd::message_json(m)}),
                    ));
                }
                for l in lines.iter().filter(|l| l.level <= stream.level) {
                    sends.push((
                        slot,
                        serde_json::json!({"id": stream.id, "event": "log", "data": {"time": l.time, "level": l.level.as_str(), "text": l.text}}),
                    ));
                }
            }
        }
        for (slot, value) in sends {
            self.admin.send(slot, &value);
        }
    }

    /// Finishes the commands whose store or password work is done.
    fn take_completions(&mut self, now: Instant) {
        while let Ok(done) = self.completions.try_recv() {
            self.complete(done, now);
        }
        self.check_store_health();
        self.update_tap();
    }

    /// Tells every operator (WALLOPS from the server) when the database stops being
    /// writable and when it is again; the store thread wakes the loop at both.
    fn check_store_health(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let health = store.health();
        let failing = health.is_failing();
        if failing == self.store_failing {
            return;
        }
        self.store_failing = failing;
        let text = if failing {
            let why = health.last_error().map(|(_, why)| why).unwrap_or_default();
            format!(
                "The database cannot be written ({why}). Delivered messages are kept in \
                 memory and saved when it works again; offline messages and registrations \
                 are refused meanwhile. See `chatctl stats`."
            )
        } else {
            "The database can be written again: every kept message is saved.".to_string()
        };
        let msg = Message::new("WALLOPS", [text]).with_source(self.config.server.name.as_str());
        let opers: Vec<usize> = self
            .conns
            .slab
            .iter()
            .filter(|(_, c)| c.user.oper.is_some())
            .map(|(s, _)| s)
            .collect();
        for slot in opers {
            self.conns.send_msg(slot, &msg);
        }
    }

    /// Runs one store or hasher answer. If it was one its connection waited for
    /// (sent with [`Cx::ask`](cmd::Cx::ask)) and the last, the lines that waited are
    /// handled now.
    fn complete(&mut self, done: Completion, now: Instant) {
        let awaited = done.answers_a_wait();
        if let Completion::Verified { ticket, .. } | Completion::Registered { ticket, .. } = &done {
            // The address's next password check, if one waits, may go to the hasher.
            if let (Some(next), Some(store)) =
                (self.state.hashing.finished(ticket.conn), &self.store)
            {
                store.send(next);
            }
        }
        self.run_completion(done, now);
        let Some(id) = awaited else {
            return;
        };
        let Some(conn) = self.conns.get_mut(id.slot).filter(|c| c.id == id) else {
            return;
        };
        conn.awaiting = conn.awaiting.saturating_sub(1);
        if conn.awaiting == 0 {
            // The lines read meanwhile, then whatever the socket has (edge-triggered).
            self.read(id.slot, now);
        }
    }

    fn run_completion(&mut self, done: Completion, now: Instant) {
        {
            if done.ticket().what.starts_with("admin ") {
                let ticket = done.ticket().clone();
                admin_cmd::complete(&mut self.ctl(now), &ticket, done);
                return;
            }
            if done.ticket().what.starts_with("oper ") {
                if let Completion::Verified { ticket, ok, .. } = &done {
                    cmd::oper::on_verified(&mut self.cx(ticket.conn.slot, now), ticket, *ok);
                }
                return;
            }
            match done {
                Completion::Queued { ticket, result } => {
                    message::on_queued(&mut self.cx(ticket.conn.slot, now), &ticket, result)
                }
                Completion::Registered { ticket, result } => {
                    account::on_registered(&mut self.cx(ticket.conn.slot, now), &ticket, result)
                }
                Completion::Verified {
                    ticket,
                    account: name,
                    ok,
                } => account::on_verified(&mut self.cx(ticket.conn.slot, now), &ticket, &name, ok),
                Completion::Queue { ticket, rows } => {
                    account::on_queue(&mut self.cx(ticket.conn.slot, now), &ticket, rows)
                }
                Completion::Memberships { ticket, channels } => {
                    account::on_memberships(&mut self.cx(ticket.conn.slot, now), &ticket, channels)
                }
                Completion::History { ticket, messages } => {
                    history::on_history(&mut self.cx(ticket.conn.slot, now), &ticket, messages)
                }
                Completion::ReadFailed { ticket, why } => {
                    history::on_read_failed(&mut self.cx(ticket.conn.slot, now), &ticket, &why)
                }
                Completion::Targets { ticket, targets } => {
                    history::on_targets(&mut self.cx(ticket.conn.slot, now), &ticket, targets)
                }
                Completion::Synced { .. }
                | Completion::Accounts { .. }
                | Completion::Stats { .. }
                | Completion::Backup { .. } => {}
            }
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, serial))) = self.resume.peek() {
            if at > now {
                break;
            }
            self.resume.pop();
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id.serial != serial || !conn.throttled {
                continue;
            }
            conn.throttled = false;
            // Lines already read first; then whatever the socket has (edge-triggered).
            self.read(slot, now);
        }
        while let Some(&Reverse((at, slot, serial))) = self.state.nick_checks.peek() {
            if at > now {
                break;
            }
            self.state.nick_checks.pop();
            if self
                .conns
                .get(slot)
                .is_some_and(|c| c.id.serial == serial && c.closing.is_none())
            {
                account::enforce_nick(&mut self.cx(slot, now));
            }
        }
        while let Some(&Reverse((at, slot, serial))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id.serial != serial || conn.closing.is_some() {
                continue;
            }
            let next = if !conn.user.registered {
                let deadline = conn.connected_at + self.config.registration_timeout();
                let handshake = conn.connected_at + self.config.handshake_timeout();
                if conn.tls_handshaking() {
                    if now >= handshake {
                        self.conns.close(slot, "TLS handshake timed out");
                        continue;
                    }
                    deadline.min(handshake)
                } else if now >= deadline {
                    self.conns.close(slot, "Registration timed out");
                    continue;
                } else {
                    deadline
                }
            } else if let Some(sent) = conn.ping_sent {
                let deadline = sent + self.config.ping_timeout();
                if now >= deadline {
                    let secs = now.saturating_duration_since(conn.last_seen).as_secs();
                    self.conns
                        .close(slot, &format!("Ping timeout: {secs} seconds"));
                    continue;
                }
                deadline
            } else {
                let idle_until = conn.last_seen + self.config.ping_interval();
                if now >= idle_until {
                    conn.ping_sent = Some(now);
                    let name = self.config.server.name.clone();
                    self.conns.send_msg(slot, &Message::new("PING", [name]));
                    now + self.config.ping_timeout()
                } else {
                    idle_until
                }
            };
            self.timers.push(Reverse((next, slot, serial)));
        }
    }

    /// Tears down closed connections and flushes dirty ones, until neither is left.
    fn end_of_pass(&mut self) {
        self.feed_admin();
        self.admin.flush_all(self.poll.registry());
        if !self.state.log_batch.is_empty() {
            let batch = std::mem::take(&mut self.state.log_batch);
            if let Some(store) = &self.store {
                store.send(Request::Log(batch));
            }
            self.check_store_backlog(Instant::now());
        }
        loop {
            while let Some(slot) = self.conns.closing.pop() {
                self.teardown(slot);
            }
            for slot in self.conns.take_dirty() {
                self.flush(slot);
            }
            if self.conns.closing.is_empty() {
                break;
            }
        }
    }

    fn flush(&mut self, slot: usize) {
        let result = loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let result = conn.flush();
            let rows = conn.take_written_rows();
            let refill = matches!(result, Ok(true)) && conn.backlog_len() > 0;
            if !rows.is_empty() {
                if let Some(store) = &self.store {
                    store.send(Request::Dequeue { ids: rows });
                }
            }
            if !refill {
                break result;
            }
            self.conns.pump(slot);
        };
        account::finish_replay_if_done(&mut self.cx(slot, Instant::now()), slot);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match result {
            Ok(drained) => {
                if drained == conn.write_interest {
                    let interest = if drained {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    match self
                        .poll
                        .registry()
                        .reregister(&mut conn.sock, Token(slot), interest)
                    {
                        Ok(()) => conn.write_interest = !drained,
                        Err(e) => self.conns.close(slot, &format!("Write error: {e}")),
                    }
                }
            }
            Err(e) => {
                if conn.closing.is_none() {
                    self.conns.close(slot, &format!("Write error: {e}"));
                }
            }
        }
    }

    /// Tells everyone who shared a channel, drops the nick and memberships, sends
    /// `ERROR` to the leaver and closes the socket.
    fn teardown(&mut self, slot: usize) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        self.closed_since_release += 1;
        let reason = conn.closing.clone().unwrap_or_default();
        let registered = conn.user.registered;
        let invisible = conn.user.invisible;
        let host = conn.user.host.clone();
        let nick = conn.user.nick.clone();
        let peer = conn.peer;
        let counts = &mut self.state.counts;
        match (registered, invisible) {
            (false, _) => counts.unregistered -= 1,
            (true, inv) => {
                counts.registered -= 1;
                counts.invisible -= usize::from(inv);
            }
        }
        let mut cx = self.cx(slot, Instant::now());
        if registered {
            let quit = cx.relay_from(slot, "QUIT", vec![reason.to_string()]);
            let mut out = Outgoing::new(quit.with_trailing());
            cx.send_to_peers(slot, &mut out, false, None);
        }
        if let Some(name) = cx.user().account.clone() {
            account::end_session(&mut cx, slot, &name);
        }
        for folded in cx.user().channels.clone() {
            channel::remove_member(&mut cx, &folded, slot);
        }
        let folded = chatd_proto::fold(&nick);
        if cx.state.nicks.get(&folded) == Some(&slot) {
            cx.state.nicks.remove(&folded);
        }
        let error =
            Message::new("ERROR", [format!("Closing Link: {host} ({reason})")]).with_trailing();
        cx.conns.send_msg(slot, &error);
        drop(cx);
        let mut conn = self.conns.slab.remove(slot);
        if let Some(n) = self.state.per_ip.get_mut(&*conn.ip_key) {
            *n -= 1;
            if *n == 0 {
                self.state.per_ip.remove(&*conn.ip_key);
            }
        }
        let _ = conn.flush();
        conn.close_tls();
        let _ = self.poll.registry().deregister(&mut conn.sock);
        conn.sock.shutdown();
        log::info!("conn={slot} nick={nick} peer={peer} closed: {reason}");
    }

    fn shutdown(&mut self) {
        let reason = self
            .admin_state
            .shutdown
            .clone()
            .unwrap_or_else(|| "Server shutting down".to_string());
        log::info!("shutting down: {} connections", self.conns.slab.len());
        crate::process::notify("STOPPING=1");
        let slots: Vec<usize> = self.conns.slab.iter().map(|(s, _)| s).collect();
        let now = Instant::now();
        for slot in slots {
            // Accounts remember where they stopped reading before channels are dropped.
            if let Some(name) = self.conns.get(slot).and_then(|c| c.user.account.clone()) {
                account::end_session(&mut self.cx(slot, now), slot, &name);
            }
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.user.channels.clear();
                conn.user.account = None;
            }
            self.conns.close(slot, &reason);
        }
        self.end_of_pass();
        self.admin.remove_socket();
        if let Some(store) = self.store.take() {
            store.close();
            log::info!("store closed");
        }
    }
}

/// Decodes, parses and dispatches one line from `cx.me`.
fn handle_line(cx: &mut Cx, bytes: Vec<u8>) {
    let (text, valid_utf8) = match String::from_utf8(bytes) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    };
    log::trace!("conn={} <- {}", cx.me, crate::redact::wire_line(&text));
    let msg = match parse(&text) {
        Ok(m) => m,
        Err(ParseError::Empty) => return,
        Err(e) => {
            log::debug!("conn={} unparsable line: {e}", cx.me);
            return;
        }
    };
    if !cx.user().registered && looks_like_http(&msg) {
        let me = cx.me;
        cx.conns
            .close(me, "This is an IRC server; HTTP is not spoken here");
        return;
    }
    if !cx.user().registered && msg.command.eq_ignore_ascii_case("PROXY") {
        // A PROXY header from someone who is not a configured proxy, that was not
        // in the connection's first bytes (`Conn::read_some` refuses those).
        let me = cx.me;
        cx.conns.close(me, crate::conn::PROXY_NOT_LISTED);
        return;
    }
    if !valid_utf8 {
        // The command is echoed only when it is a plain word: never control bytes
        // or the replacement characters of the invalid bytes themselves.
        let command = cmd::echoable_command(&msg.command);
        let fail = Message::new(
            "FAIL",
            [
                command.as_str(),
                "INVALID_UTF8",
                "Message rejected: your client sent invalid UTF-8",
            ],
        )
        .with_source(cx.server_name());
        cx.send_me(&fail);
        return;
    }
    cmd::dispatch(cx, &msg);
}

/// `GET / HTTP/1.1` and friends: a web client (or scanner) on the IRC port.
fn looks_like_http(msg: &Message) -> bool {
    const METHODS: [&str; 8] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH",
    ];
    METHODS.contains(&msg.command.as_str())
        && msg.params.last().is_some_and(|p| p.starts_with("HTTP/"))
}
