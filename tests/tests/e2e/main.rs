//! chatd end-to-end tests: the real server over loopback TCP, one module per area.
//! Each module names the spec sections it checks.
//!
//! - `registration` — CAP, PASS, NICK, USER, the welcome burst, PING/PONG, QUIT,
//!   liveness timeouts (RFC 2812 §3.1, IRCv3 capability negotiation).
//! - `channel` — JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE (RFC 2812 §3.2).
//! - `mode` — channel and user MODE (RFC 2812 §3.1.5, §3.2.3).
//! - `message` — PRIVMSG, NOTICE, TAGMSG, AWAY, server-time, echo-message, fan-out.
//! - `multiline` — IRCv3 draft/multiline: client batches, limits, fallback, history.
//! - `query` — WHO, WHOIS, ISON, USERHOST, LUSERS, MOTD, VERSION, TIME.
//! - `input` — framing and length limits, malformed input.
//! - `real_client` — irssi and weechat, driven in tmux, chat with a test client;
//!   weechat 3.8 uses MONITOR (`/notify`) and shows a bot's 335 in WHOIS.
//! - `accounts` — REGISTER, SASL PLAIN, PASS account:password, LOGIN/LOGOUT,
//!   NickServ, account-tag, account-notify, nick ownership.
//! - `sasl_scram` — SASL SCRAM-SHA-256 (RFC 5802, RFC 7677, IRCv3 sasl-3.1/3.2).
//! - `sasl` — IRCv3 sasl-3.1 chunking and length rules, abort, 907, and sasl-3.2
//!   re-authentication after registration.
//! - `account_registration` — IRCv3 draft/account-registration corner cases: the
//!   capability's keys, ACCOUNT_EXISTS, COMPLETE_CONNECTION_REQUIRED, NEED_NICK.
//! - `history` — msgid, HISTORY, CHATHISTORY (IRCv3 draft/chathistory).
//! - `labeled_response` — IRCv3 labeled-response: labels, batches, ACK, store answers.
//! - `offline` — the offline queue, remembered channels, a graceful restart.
//! - `limits` — max clients, per-address limits, flood control, hostile input.
//! - `oper` — OPER, KILL, WALLOPS, operator powers, WHOIS 313.
//! - `oper_classes` — operator classes and their privileges, operators by account.
//! - `chanserv` — ChanServ and CHANNEL: register, info, access, transfer, drop,
//!   the history setting, expiry.
//! - `roles` — registered channels and roles: the team walkthrough across a restart.
//! - `security_history` — issue 14: channel incarnations, history by account id,
//!   clamped history bounds.
//! - `security_admission` — issue 14: expired bans, the exempt list, the PROXY
//!   protocol, invisible characters in channel names, trailing text on the wire.
//! - `store_failure` — a full database (nothing delivered is lost), a damaged page
//!   (FAIL, never a short answer): IRCv3 chathistory "Errors".
//! - `security_nicks` — nick protection under attack: no fresh grace period, messages
//!   for a held nick go to its account (issue 14).
//! - `event_playback` — IRCv3 draft/event-playback: channel events in history.
//! - `message_redaction` — IRCv3 draft/message-redaction: REDACT, who may, history.
//! - `read_marker` — IRCv3 draft/read-marker: MARKREAD, synced per account, kept.
//! - `security_limits` — issue 14: replays count against the SendQ, password checks
//!   limited per connection and address from their start, a fair hasher.
//! - `monitor`, `extended_monitor` — IRCv3 monitor and extended-monitor.
//! - `whox` — IRCv3 WHOX and the RPL_WHOREPLY flags (`*` for operators).
//! - `whowas` — WHOWAS; `help` — HELP/HELPOP and INFO (modern.ircdocs.horse).
//! - `userhost_in_names` — IRCv3 userhost-in-names; `names` — NAMES for several
//!   channels and TARGMAX; `elist` — LIST with ELIST conditions.
//! - `secret_channels` — channel modes `+s` and `+p`.
//! - `sasl`, `sasl_scram`, `account_registration` — IRCv3 SASL 3.1/3.2 (PLAIN,
//!   SCRAM-SHA-256, re-authentication) and draft/account-registration.
//!
//! One module per specification, named after it:
//! - `account_tag` — IRCv3 account-tag on every relayed command.
//! - `bot_mode` — IRCv3 bot-mode: `+B`, `BOT=B`, the `bot` tag, 335.
//! - `chghost` — IRCv3 chghost: the account host (`accounts.account_host`) at login and logout.
//! - `extbans` — `+e`, `+I`, `~a:`/`~m:` extbans, `+C` (modern.ircdocs.horse).
//! - `extended_join` — IRCv3 extended-join.
//! - `invite_notify` — IRCv3 invite-notify.
//! - `message_ids` — IRCv3 message-ids on TAGMSG and channel events.
//! - `setname` — IRCv3 setname and `NAMELEN`.
//! - `statusmsg` — STATUSMSG (modern.ircdocs.horse).
//! - `login_tokens` — SESSION CREATE/REVOKE, logging in with a token over SASL.
//! - `web_client` — the web client in headless Chromium (WebDriver): chat, offline
//!   messages, scroll-back, notifications, a phone-sized screen.
//! - `websocket` — IRC over WebSocket on the web listener (IRCv3 `websocket`, RFC
//!   6455), the web pages' HTTP security headers, `Origin`, `X-Forwarded-For`.
//! - `protocol_doc` — docs/protocol.md names every capability, command, ISUPPORT
//!   token and mode the server has, each with its spec link.

mod account_registration;
mod account_tag;
mod accounts;
mod bot_mode;
mod channel;
mod chanserv;
mod chghost;
mod cluster;
mod cluster_outage;
mod cluster_shared;
mod cluster_tls;
mod elist;
mod event_playback;
mod extbans;
mod extended_join;
mod extended_monitor;
mod help;
mod history;
mod input;
mod invite_notify;
mod labeled_response;
mod limits;
mod login_tokens;
mod message;
mod message_ids;
mod message_redaction;
mod mode;
mod monitor;
mod multiline;
mod names;
mod offline;
mod oper;
mod oper_classes;
mod postgres;
mod postgres_nodes;
mod protocol_doc;
mod query;
mod read_marker;
mod real_client;
mod registration;
mod roles;
mod sasl;
mod sasl_scram;
mod secret_channels;
mod security_admission;
mod security_history;
mod security_limits;
mod security_nicks;
mod setname;
mod statusmsg;
mod store_failure;
mod userhost_in_names;
mod web_client;
mod websocket;
mod whowas;
mod whox;
