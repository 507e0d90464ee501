//! Ctrl-C as a flag instead of death: the shell must survive it (it only stops a
//! stream), and a one-shot `tail-log -f` ends cleanly, cancelling its stream.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on SIGINT sets the flag instead of ending the process. Readers of the
/// admin socket wake often enough to notice it (see `client.rs`).
pub fn install() -> std::io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGINT, &INTERRUPTED)?;
    Ok(())
}

/// Whether Ctrl-C was pressed since the last [`clear`].
pub fn is_set() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Forgets an earlier Ctrl-C, before a new command starts.
pub fn clear() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}
