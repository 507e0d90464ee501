//! The fixed `mio` tokens at the top of the range. A connection's token is its slab
//! slot; the admin socket's tokens are in `admin` (`admin::LISTENER`, `admin::BASE`).

use mio::Token;

/// Wakes the loop from other threads (store completions, shutdown requests).
pub(super) const WAKER: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE + i`; connection tokens are slab slots below it.
pub(super) const LISTENER_BASE: usize = usize::MAX - 1024;
/// Signal pipe `i` has token `SIGNAL_BASE + i`.
pub(super) const SIGNAL_BASE: usize = usize::MAX - 8;
