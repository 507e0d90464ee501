//! Returning the memory freed by closed connections to the operating system.

use super::Server;
use std::time::{Duration, Instant};

/// Least time between two requests to the allocator to return freed memory.
pub(super) const RELEASE_EVERY: Duration = Duration::from_secs(1);

impl Server {
    /// After connections have closed, at most once per [`RELEASE_EVERY`]: asks the
    /// allocator (mimalloc) to return the memory they freed to the system. Otherwise it
    /// keeps it for reuse, and a spike of connections would leave RSS at its peak.
    pub(super) fn release_memory(&mut self, now: Instant) {
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
}
