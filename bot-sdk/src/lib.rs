//! `chatd-bot`: bots for chatd and any IRC server, in a few lines.
//!
//! ```no_run
//! use chatd_bot::{Bot, Config, Event};
//! use std::time::Duration;
//!
//! fn main() -> Result<(), chatd_bot::Error> {
//!     let config = Config::new("127.0.0.1:6667", "echobot")
//!         .channel("#bots")
//!         .register("echobot", "a long password"); // creates the account on first run
//!     let mut bot = Bot::new(config)?;
//!     bot.quit_on_signals()?; // Ctrl-C sends QUIT
//!     bot.command("echo", "<text>: says the text back", |ctx, cmd| ctx.reply(&cmd.args))
//!         .cooldown(Duration::from_secs(2));
//!     bot.on(|ctx, event| {
//!         if let Event::Join { channel, nick, own: false } = event {
//!             ctx.say(channel, format!("welcome, {nick}!"));
//!         }
//!     });
//!     bot.every(Duration::from_secs(3600), |ctx| ctx.say("#bots", "still here"));
//!     bot.run()
//! }
//! ```
//!
//! `!echo hi` in `#bots` (or `echobot: echo hi`, or `echo hi` in private) answers
//! `hi`; `!help` lists the commands. The bot logs in, joins, answers PING, notices
//! a dead connection, reconnects with backoff and rejoins its channels, and paces
//! what it sends so that it never trips a server's flood limit.
//!
//! The parts:
//! - [`Config`] and [`Login`]: where to connect (plain TCP or TLS), nick and
//!   fallbacks, SASL (SCRAM-SHA-256 or PLAIN) / register-then-login / server password, channels,
//!   command prefix, timing. [`Config::from_args`] reads the examples' command line.
//! - [`Bot`]: handlers ([`Bot::on`]), commands ([`Bot::command`]), timers
//!   ([`Bot::every`], [`Bot::after`], [`Bot::at`]), and [`Bot::run`].
//! - [`Event`] and [`Message`]: what happens, with named fields. Messages the
//!   server replays (offline queue, missed messages, history) come with their
//!   original time and `replayed: true`.
//! - [`Context`]: what a handler can do; [`Handle`]: the same from another thread.
//! - [`State`]: channels, members, ISUPPORT. [`Flood`], [`TokenBucket`]: pacing.
//!
//! The examples in `bot-sdk/examples/` (echo, dice, seen, greeter) run with
//! `cargo run -p chatd-bot --example echo -- 127.0.0.1:6667`; `docs/bots.md` is
//! the tutorial. The `chat` binary of this crate is a terminal client built on it.

mod bot;
mod config;
mod context;
mod error;
pub mod event;
mod flood;
mod login;
mod router;
mod scram;
mod state;
mod stderr_log;
mod timer;
mod transport;

pub use bot::Bot;
pub use chatd_proto as proto;
pub use config::{Config, Login, Reconnect, DEFAULT_CAPS};
pub use context::{Context, Handle, Stats, MAX_LINE};
pub use error::Error;
pub use event::{Event, Message};
pub use flood::{split_text, Clock, Flood, ManualClock, SystemClock, TokenBucket};
pub use router::{Command, CommandSpec};
/// Certificates for [`Config::tls_roots`].
pub use rustls::pki_types::CertificateDer;
pub use state::{Channel, Isupport, Member, State};
pub use stderr_log::log_to_stderr;
pub use timer::TimerId;
