//! chatd, the daemon as a library: `main.rs` parses arguments and calls
//! [`Server::bind`] then [`Server::run`]; tests do the same on port 0.
//! Map: `server/` the loop, `conn/` sockets, transports and queues, `ids.rs`
//! connection ids and parties, `followup.rs` what waits for each store answer,
//! `outgoing.rs` shared
//! serialized messages, `state/` users and channels, `cmd.rs` + `cmd/` the commands,
//! `redact.rs` what the log may show of client lines, `web/` the web listeners'
//! HTTP answers and the web client's files.

pub mod admin;
pub mod admission;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod followup;
pub mod ids;
pub mod ipnet;
pub mod outgoing;
pub mod process;
pub mod proxy;
pub mod redact;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod web;

pub use config::Config;
pub use server::{Server, ServerHandle};

/// The version string shown in 002, 004, 351 and `--version`.
pub const VERSION: &str = concat!("chatd-", env!("CARGO_PKG_VERSION"));
