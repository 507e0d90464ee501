//! [`Clock`]: the loop's monotonic time. It is `Instant::now()` plus an offset that
//! stays zero in the daemon; a test moves it forward ([`ServerHandle::advance_clock`])
//! so flood budgets refill and timers come due without the test sleeping.
//!
//! [`ServerHandle::advance_clock`]: super::ServerHandle::advance_clock

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared between the loop (which reads it once or twice a pass) and its handles.
#[derive(Clone, Default)]
pub(super) struct Clock {
    /// How far ahead of the real clock, in nanoseconds; only ever grows.
    ahead_ns: Arc<AtomicU64>,
}

impl Clock {
    pub(super) fn now(&self) -> Instant {
        Instant::now() + Duration::from_nanos(self.ahead_ns.load(Ordering::Relaxed))
    }

    /// Unix seconds as the loop sees them: the wall clock plus the test's offset.
    pub(super) fn unix_secs(&self) -> i64 {
        let ahead = self.ahead_ns.load(Ordering::Relaxed) / 1_000_000_000;
        chrono::Utc::now().timestamp() + i64::try_from(ahead).unwrap_or(i64::MAX / 2)
    }

    pub(super) fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.ahead_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_that_much() {
        let clock = Clock::default();
        let before = clock.now();
        clock.clone().advance(Duration::from_secs(90));
        assert!(clock.now() >= before + Duration::from_secs(90));
    }
}
