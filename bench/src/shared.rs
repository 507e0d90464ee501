//! [`Shared`]: what the coordinator (run.rs) and the worker threads (worker.rs) share:
//! the [`Phase`] the coordinator sets, the progress counters the workers count up,
//! what each sender has sent and had acknowledged, and the failures.

use crate::plan::Plan;
use mio::Waker;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Failures kept word for word; the rest are only counted.
const FAILURES_KEPT: usize = 20;

#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Connect = 0,
    Join = 1,
    Sync = 2,
    Run = 3,
    Done = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Connect,
            1 => Phase::Join,
            2 => Phase::Sync,
            3 => Phase::Run,
            _ => Phase::Done,
        }
    }
}

/// What the coordinator and the workers share: the phase, progress counters, what
/// each sender has sent (and, under `--ack receiver`, what was acknowledged).
pub struct Shared {
    phase: AtomicU8,
    pub addr: SocketAddr,
    /// A second node of a cluster (`--also`): clients with an odd id connect to it.
    pub also: Option<SocketAddr>,
    pub plan: Plan,
    pub threads: usize,
    /// Connections started per second, over all workers.
    pub connect_rate: f64,
    /// Most connections between `connect` and `001` at once, over all workers, so a
    /// slow server sees a bounded backlog rather than a burst of thousands.
    pub max_pending: usize,
    pub t0: OnceLock<Instant>,
    pub run_for: OnceLock<Duration>,
    pub registered: AtomicUsize,
    pub joined: AtomicUsize,
    pub synced: AtomicUsize,
    /// Workers past the end of the sending period: once all are, `sent` is final.
    pub stopped: AtomicUsize,
    pub delivered: AtomicU64,
    pub sent: Vec<AtomicU64>,
    pub acked: Vec<AtomicU64>,
    pub wakers: Vec<Arc<Waker>>,
    failures: Mutex<Vec<String>>,
    pub failure_count: AtomicUsize,
}

impl Shared {
    pub fn new(
        plan: Plan,
        addr: SocketAddr,
        also: Option<SocketAddr>,
        connect_rate: f64,
        max_pending: usize,
        wakers: Vec<Arc<Waker>>,
    ) -> Shared {
        let n = plan.clients;
        Shared {
            phase: AtomicU8::new(Phase::Connect as u8),
            addr,
            also,
            threads: wakers.len(),
            plan,
            connect_rate,
            max_pending,
            t0: OnceLock::new(),
            run_for: OnceLock::new(),
            registered: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            synced: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..n).map(|_| AtomicU64::new(0)).collect(),
            wakers,
            failures: Mutex::new(Vec::new()),
            failure_count: AtomicUsize::new(0),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Relaxed))
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Relaxed);
        for w in &self.wakers {
            let _ = w.wake();
        }
    }

    /// Starts the measured part: senders send from `t0` for `run_for`.
    pub fn start_run(&self, t0: Instant, run_for: Duration) {
        let _ = self.t0.set(t0);
        let _ = self.run_for.set(run_for);
        self.set_phase(Phase::Run);
    }

    pub fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Relaxed);
        let mut kept = self.failures.lock().expect("no thread panics holding it");
        if kept.len() < FAILURES_KEPT {
            kept.push(what);
        }
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .expect("no thread panics holding it")
            .clone()
    }

    /// Messages sent so far and the deliveries they should produce.
    pub fn sent_and_expected(&self) -> (u64, u64) {
        let mut sent = 0;
        let mut expected = 0;
        for (i, s) in self.sent.iter().enumerate() {
            let n = s.load(Relaxed);
            sent += n;
            expected += n * u64::from(self.plan.fanout[i]);
        }
        (sent, expected)
    }
}
