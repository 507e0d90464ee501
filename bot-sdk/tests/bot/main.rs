//! chatd-bot against the real chatd, run in-process on 127.0.0.1 (see `support`).
//!
//! - `login` — SASL PLAIN; REGISTER on first run then SASL on the next; the server
//!   password `account:password`; refused logins; nick fallbacks on 433.
//! - `commands` — the router in a channel and in private, generated help,
//!   cooldowns, long replies split at the line limit, replayed messages.
//! - `flood` — the token bucket under a burst, counted on a controlled clock.
//! - `reconnect` — a server restart (reconnect, rejoin), a silent server (own
//!   ping timeout), QUIT on a clean shutdown.
//! - `tls` — the TLS transport (rustls) against chatd's TLS listener.
//! - `chat` — the `chat` terminal client driven through a pseudo-terminal.
//! - `examples` — the example bots as processes: stderr, data dir.
//! - `bot_mode` — IRCv3 bot-mode: `+B` by default, and turned off.

mod bot_mode;
mod chat;
mod commands;
mod examples;
mod flood;
mod login;
mod reconnect;
mod support;
mod tls;
