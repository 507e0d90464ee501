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
//! - `accounts` — REGISTER, SASL PLAIN, PASS account:password, LOGIN/LOGOUT,
//!   NickServ, account-tag, account-notify, nick ownership.
//! - `history` — msgid, HISTORY, CHATHISTORY (IRCv3 draft/chathistory).
//! - `offline` — the offline queue, remembered channels, a graceful restart.
//! - `limits` — max clients, per-address limits, flood control, hostile input.
//! - `oper` — OPER, KILL, WALLOPS, operator powers, WHOIS 313.
//! - `security_history` — issue 14: channel incarnations, history by account id,
//!   clamped history bounds.
//! - `security_admission` — issue 14: expired bans, the exempt list, the PROXY
//!   protocol, invisible characters in channel names, trailing text on the wire.
//! - `store_failure` — a full database (nothing delivered is lost), a damaged page
//!   (FAIL, never a short answer): IRCv3 chathistory "Errors".
//! - `security_nicks` — nick protection under attack: no fresh grace period, messages
//!   for a held nick go to its account (issue 14).
//! - `security_limits` — issue 14: replays count against the SendQ, password checks
//!   limited per connection and address from their start, a fair hasher.
//! - `login_tokens` — SESSION CREATE/REVOKE, logging in with a token over SASL.
//! - `web_client` — the web client in headless Chromium (WebDriver): chat, offline
//!   messages, scroll-back, notifications, a phone-sized screen.
//! - `websocket` — IRC over WebSocket on the web listener (IRCv3 `websocket`, RFC
//!   6455), the web pages' HTTP security headers, `Origin`, `X-Forwarded-For`.

mod accounts;
mod channel;
mod history;
mod input;
mod limits;
mod login_tokens;
mod message;
mod mode;
mod offline;
mod oper;
mod query;
mod real_client;
mod registration;
mod security_admission;
mod security_history;
mod security_limits;
mod security_nicks;
mod store_failure;
mod web_client;
mod websocket;
