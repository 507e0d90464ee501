//! echo: the smallest useful bot. It answers `!echo text` with `text`.
//!
//! ```text
//! cargo run -p chatd-bot --example echo -- HOST:PORT [--channel #c] [--nick N]
//! ```
//!
//! It joins `#bots` (or each `--channel`) as `echobot` (or `--nick`). Then, in the
//! channel, `!echo hello` or `echobot: echo hello` gets `hello` back; so does
//! `/msg echobot echo hello` in private. `!help` lists the commands.
//! `--password P` makes it register its account on the first run and log in to
//! it afterwards; `--help` shows every option.

use chatd_bot::{Bot, Config};

fn main() -> Result<(), chatd_bot::Error> {
    chatd_bot::log_to_stderr(); // connecting, retries, errors: on stderr
    let mut bot = Bot::new(Config::from_args("echobot"))?;
    bot.quit_on_signals()?; // Ctrl-C sends QUIT
    bot.command("echo", "<text>: says the text back", |ctx, cmd| {
        if cmd.args.is_empty() {
            ctx.reply("Usage: !echo <text>");
        } else {
            ctx.reply(&cmd.args);
        }
    });
    bot.run()
}
