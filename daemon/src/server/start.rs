//! Start-up and wiring: [`StartError`], binding the listeners, opening the store and
//! the admin socket, and what the running server tells about its addresses.

use super::clock::Clock;
use super::tokens::{LISTENER_BASE, WAKER};
use super::Server;
use crate::admin::commands::AdminState;
use crate::admin::{logtap, Admin};
use crate::config::Config;
use crate::conn::Conns;
use crate::state::State;
use crate::store::{Store, StoreError, StoreOptions};
use mio::net::TcpListener;
use mio::{Interest, Poll, Token, Waker};
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Why the server could not start. `main` turns each into an exit code.
#[derive(Debug)]
pub enum StartError {
    DataDir(PathBuf, io::Error),
    Bind(SocketAddr, io::Error),
    Poll(io::Error),
    Store(StoreError),
    Admin(String),
    Tls(String),
    /// The cluster bus (Redis) could not be joined.
    Cluster(String),
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
            StartError::Cluster(e) => write!(f, "cluster: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

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

    pub(super) fn open(config: Config, sockets: bool) -> Result<Server, StartError> {
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
        let mut listener_web = Vec::new();
        let (tls_addrs, web_tls_addrs) = if tls_config.is_some() {
            (config.tls.listen.clone(), config.web.tls_listen.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        let web_addrs = if sockets {
            config.web.listen.clone()
        } else {
            Vec::new()
        };
        let all = config
            .server
            .listen
            .iter()
            .map(|a| (*a, false, false))
            .chain(tls_addrs.into_iter().map(|a| (a, true, false)))
            .chain(web_addrs.into_iter().map(|a| (a, false, true)))
            .chain(web_tls_addrs.into_iter().map(|a| (a, true, true)));
        for (i, (addr, tls, web)) in all.enumerate() {
            let mut l = TcpListener::bind(addr).map_err(|e| StartError::Bind(addr, e))?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(StartError::Poll)?;
            listeners.push(l);
            listener_tls.push(tls);
            listener_web.push(web);
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
            commit_window: std::time::Duration::from_millis(h.commit_window_ms),
            // Well below the backlog that pauses the loop, so a window never holds
            // the loop paused while it waits for more.
            commit_window_rows: (h.log_backlog_max / 2).max(1),
            database: config.cluster.database.clone(),
        };
        let (store, completions, loaded) =
            Store::open(&data_dir, options, wake.clone()).map_err(StartError::Store)?;
        let bus_wake = wake.clone();
        logtap::set_wake(Box::new(move || wake()));
        let admin = if sockets {
            let admin =
                Admin::bind(&config, poll.registry()).map_err(|e| StartError::Admin(e.0))?;
            log::info!("admin socket at {}", admin.path().display());
            admin
        } else {
            Admin::detached()
        };
        let clock = Clock::default();
        let mut state = State::new(chrono::Utc::now().timestamp());
        state.tls_port = listeners
            .iter()
            .zip(&listener_tls)
            .zip(&listener_web)
            .find(|((_, tls), web)| **tls && !**web)
            .map(|((l, tls), _)| (l, tls))
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port());
        state.last_msg_id = loaded.last_id;
        state.node_id = config.cluster.node_id;
        state.bans = loaded.bans;
        state.scram_secret = loaded.scram_secret;
        if state.scram_secret.is_empty() {
            // No store (a detached server): a key for this run.
            use rand::RngCore;
            state.scram_secret = vec![0; 32];
            rand::rngs::OsRng.fill_bytes(&mut state.scram_secret);
        }
        let refresh = super::refresh::Refresh::new(
            &config.cluster,
            clock.now(),
            &loaded.tokens,
            &loaded.channels,
        );
        state.login_tokens = crate::state::tokens::LoginTokens::load(loaded.tokens);
        for a in loaded.accounts {
            state.accounts.insert(chatd_proto::fold(&a.name), a);
        }
        for m in loaded.read_markers {
            state.read_markers.load(m.account, &m.target, m.time_ms);
        }
        for c in loaded.channels {
            state.registered.insert(chatd_proto::fold(&c.name), c);
        }
        let bus = if sockets && config.cluster.enabled() && !config.cluster.redis.is_empty() {
            let c = &config.cluster;
            let wake = Arc::new(move || bus_wake());
            let settings = crate::cluster::Settings {
                node: c.node_id,
                name: c.name(),
                url: &c.redis,
                ca_file: &c.redis_ca_file,
                timeout_secs: c.node_timeout_secs,
                stream_length: c.stream_length,
            };
            let bus = crate::cluster::start(settings, wake).map_err(StartError::Cluster)?;
            state.cluster.node = bus.node;
            // Claims go through the command connection, which just worked.
            state.cluster.up = true;
            Some(super::bus::BusRoom::new(bus))
        } else {
            None
        };
        Ok(Server {
            ready: Arc::new(AtomicBool::new(bus.is_none())),
            fatal: None,
            bus,
            poll,
            listeners,
            listener_tls,
            listener_web,
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
            last_release: clock.now(),
            next_expiry_check: clock.now(),
            refresh,
            clock,
        })
    }

    /// The plaintext addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// The TLS addresses actually bound.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    /// The web listeners' addresses (`[web]`), plain (`tls` false) or HTTPS.
    pub fn web_addrs(&self, tls: bool) -> Vec<SocketAddr> {
        self.addrs_of(tls, true)
    }

    pub(super) fn addrs(&self, tls: bool) -> Vec<SocketAddr> {
        self.addrs_of(tls, false)
    }

    fn addrs_of(&self, tls: bool, web: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .zip(&self.listener_tls)
            .zip(&self.listener_web)
            .filter(|((_, t), w)| **t == tls && **w == web)
            .filter_map(|((l, _), _)| l.local_addr().ok())
            .collect()
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
}
