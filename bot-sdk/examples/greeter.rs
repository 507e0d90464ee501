//! greeter: welcomes each person the first time they join a channel, and never
//! again, even after a restart.
//!
//! ```text
//! cargo run -p chatd-bot --example greeter -- HOST:PORT [--channel #c] [--nick N]
//! ```
//!
//! It joins `#bots` (or each `--channel`) as `greeter` (or `--nick`). The people it
//! has greeted are listed in `<nick>.greeted` in its data dir (`--data-dir`, else
//! `~/.local/share/chatd-bot`), one `channel<TAB>nick` a line, so it remembers
//! them across restarts.

use chatd_bot::{Bot, Config, Event};
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;

fn main() -> Result<(), chatd_bot::Error> {
    chatd_bot::log_to_stderr(); // connecting, retries, errors: on stderr
    let config = Config::from_args("greeter");
    let dir = config.state_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.greeted", config.nick));
    log::info!("greeted people listed in {}", path.display());
    let mut greeted: HashSet<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut bot = Bot::new(config)?;
    bot.quit_on_signals()?; // Ctrl-C sends QUIT
    bot.on(move |ctx, event| {
        let Event::Join {
            channel,
            nick,
            own: false,
        } = event
        else {
            return;
        };
        let key = format!("{}\t{}", ctx.state().fold(channel), ctx.state().fold(nick));
        if greeted.contains(&key) {
            return;
        }
        ctx.say(
            channel,
            format!("Welcome to {channel}, {nick}! Say hello, everyone."),
        );
        let remembered = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{key}"));
        if let Err(e) = remembered {
            log::error!("cannot write {}: {e}", path.display());
        }
        greeted.insert(key);
    });
    bot.run()
}
