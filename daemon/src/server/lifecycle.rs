//! Stopping and reloading: [`ServerHandle`], the signal pipes (SIGTERM/SIGINT stop,
//! SIGHUP reloads) and the graceful shutdown that closes every client.

use super::clock::Clock;
use super::tokens::SIGNAL_BASE;
use super::Server;
use crate::admin::commands as admin_cmd;
use crate::cmd::account;
use mio::{Interest, Token, Waker};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Asks a running server to stop, from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    clock: Clock,
}

impl ServerHandle {
    /// Graceful stop: clients get `ERROR`, then `run` returns.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the loop for shutdown: {e}");
        }
    }

    /// For tests: moves the loop's clock `by` ahead and wakes it, so flood budgets
    /// refill and timers (registration and ping timeouts, nick grace, fakelag) come
    /// due as if that time had passed. The daemon itself never calls it.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the loop after moving its clock: {e}");
        }
    }
}

impl Server {
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
    pub(super) fn signal(&mut self, i: usize, now: Instant) {
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

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            waker: self.waker.clone(),
            stop: self.stop.clone(),
            clock: self.clock.clone(),
        }
    }

    pub(super) fn shutdown(&mut self) {
        let reason = self
            .admin_state
            .shutdown
            .clone()
            .unwrap_or_else(|| "Server shutting down".to_string());
        log::info!("shutting down: {} connections", self.conns.slab.len());
        crate::process::notify("STOPPING=1");
        let slots: Vec<usize> = self.conns.slab.iter().map(|(s, _)| s).collect();
        let now = self.clock.now();
        for slot in slots {
            // Accounts remember where they stopped reading before channels are dropped.
            let local = self.conns.get(slot).filter(|c| !c.is_remote());
            if let Some(name) = local.and_then(|c| c.user.account.clone()) {
                account::end_session(&mut self.cx(slot, now), slot, &name);
            }
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.user.channels.clear();
                conn.user.account = None;
            }
            self.conns.close(slot, &reason);
        }
        self.end_of_pass();
        self.close_bus();
        self.admin.remove_socket();
        if let Some(store) = self.store.take() {
            store.close();
            log::info!("store closed");
        }
    }
}
