//! chatd end-to-end tests: the real server over loopback TCP, one module per area.
//! Each module names the spec sections it checks.
//!
//! - `registration` — CAP, PASS, NICK, USER, the welcome burst, PING/PONG, QUIT,
//!   liveness timeouts (RFC 2812 §3.1, IRCv3 capability negotiation).
//! - `channel` — JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE (RFC 2812 §3.2).
//! - `mode` — channel and user MODE (RFC 2812 §3.1.5, §3.2.3).
//! - `message` — PRIVMSG, NOTICE, TAGMSG, AWAY, server-time, echo-message, fan-out.
//! - `query` — WHO, WHOIS, ISON, USERHOST, LUSERS, MOTD, VERSION, TIME.
//! - `input` — framing and length limits, malformed input.
//! - `real_client` — irssi, driven in tmux, chats with a test client.

mod channel;
mod input;
mod message;
mod mode;
mod query;
mod real_client;
mod registration;
