//! chatctl as a library: the client of chatd's admin socket (`docs/admin.md`), the
//! command-line grammar shared by the one-shot CLI and the shell, and the output.
//!
//! The requests and replies themselves are `chatd-admin-proto`'s types, shared
//! with the daemon.
//!
//! Map: `client.rs` the socket and its JSON lines, `error.rs` what can go wrong,
//! `socket_path.rs` which socket to use, `cli.rs` the commands and their requests,
//! `duration.rs` "1h"-style durations, `table.rs` and `human.rs` the building blocks
//! of the output, `render.rs` each command's output, `run.rs` running one command,
//! `shell.rs` the interactive shell, `words.rs` splitting a shell line,
//! `interrupt.rs` Ctrl-C.

pub mod cli;
pub mod client;
pub mod duration;
pub mod error;
pub mod human;
pub mod interrupt;
pub mod render;
pub mod run;
pub mod shell;
pub mod socket_path;
pub mod table;
pub mod words;

pub use client::AdminClient;
pub use error::Error;
