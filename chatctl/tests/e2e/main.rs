//! chatctl end to end: the built `chatctl` binary against the real chatd, run
//! in-process on loopback with its admin socket in a temporary dir. Each command's
//! effect is checked from an IRC client's side.
//!
//! - `harness.rs`  — on top of the workspace test kit (`chatd_tests`): the daemon
//!   with its admin socket, running chatctl
//! - `commands.rs` — every command: users, accounts, channels (and registered
//!   channels: register, access, list, drop), kick, ban/unban/bans,
//!   tail-log (and `-f` with Ctrl-C), wall, stats, reload, shutdown
//! - `errors.rs`   — exit codes, one-line reasons, where the socket path comes from
//! - `peer_uid.rs` — a uid the daemon does not allow (needs root; ignored otherwise)
//! - `shell.rs`    — the interactive shell through a pseudo-terminal
//! - `socket.rs`   — the socket spoken directly: half-close, over-long lines
//! - `wire.rs`     — the socket's exact bytes for raw request lines (socat users)

mod commands;
mod errors;
mod harness;
mod peer_uid;
mod shell;
mod socket;
mod wire;
