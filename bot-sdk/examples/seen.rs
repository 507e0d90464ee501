//! seen: `!seen nick` tells when the bot last saw someone, and doing what.
//!
//! ```text
//! cargo run -p chatd-bot --example seen -- HOST:PORT [--channel #c] [--nick N]
//! ```
//!
//! It joins `#bots` (or each `--channel`) as `seenbot` (or `--nick`) and notes
//! what everyone says, and when they join, leave, quit or change nick. It keeps
//! its notes in `<nick>.seen` in its data dir (`--data-dir`, else
//! `~/.local/share/chatd-bot`; one line per sighting, the last one per person
//! wins), so it remembers across restarts.
//! `!seen alice` → `alice was last seen 2h 5m ago in #rust, saying "lunch?"`.

use chatd_bot::{Bot, Config, Event};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn main() -> Result<(), chatd_bot::Error> {
    chatd_bot::log_to_stderr(); // connecting, retries, errors: on stderr
    let config = Config::from_args("seenbot");
    let dir = config.state_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.seen", config.nick));
    log::info!("notes in {}", path.display());
    let notes = Arc::new(Mutex::new(Notes::open(path)?));
    let mut bot = Bot::new(config)?;
    bot.quit_on_signals()?; // Ctrl-C sends QUIT

    let writer = notes.clone();
    bot.on(move |ctx, event| {
        let sighting = match event {
            Event::Message(m) if !m.is_private && !m.own => Some((
                &m.from,
                m.time,
                format!("in {}, saying \"{}\"", m.target, m.text),
            )),
            Event::Join {
                nick,
                channel,
                own: false,
            } => Some((nick, Utc::now(), format!("joining {channel}"))),
            Event::Part {
                nick,
                channel,
                own: false,
                ..
            } => Some((nick, Utc::now(), format!("leaving {channel}"))),
            Event::Quit { nick, reason, .. } => {
                Some((nick, Utc::now(), format!("quitting ({reason})")))
            }
            Event::Nick {
                old,
                new,
                own: false,
            } => Some((old, Utc::now(), format!("changing nick to {new}"))),
            _ => None,
        };
        if let Some((nick, time, what)) = sighting {
            let key = ctx.state().fold(nick);
            writer.lock().unwrap().note(&key, nick, time, &what);
        }
    });

    bot.command("seen", "<nick>: when I last saw them", move |ctx, cmd| {
        let Some(nick) = cmd.words().first().map(|w| w.to_string()) else {
            ctx.reply("Usage: !seen <nick>");
            return;
        };
        let state = ctx.state();
        let here = state
            .channels()
            .find(|c| state.is_member(&c.name, &nick))
            .map(|c| c.name.clone());
        let key = state.fold(&nick);
        if let Some(channel) = here {
            ctx.reply(format!("{nick} is here right now, in {channel}."));
            return;
        }
        let text = match notes.lock().unwrap().get(&key) {
            Some(s) => format!("{} was last seen {} ago {}.", s.nick, ago(s.time), s.what),
            None => format!("I have not seen {nick}."),
        };
        ctx.reply(text);
    });
    bot.run()
}

struct Sighting {
    nick: String,
    time: DateTime<Utc>,
    what: String,
}

/// The notes, in memory and appended to a file.
struct Notes {
    path: PathBuf,
    by_nick: HashMap<String, Sighting>,
}

impl Notes {
    /// Reads the file (if any), then rewrites it with one line per person.
    fn open(path: PathBuf) -> std::io::Result<Notes> {
        let mut by_nick = HashMap::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let line = line?;
                let mut fields = line.splitn(4, '\t');
                let (Some(key), Some(nick), Some(time), Some(what)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                let Ok(time) = DateTime::parse_from_rfc3339(time) else {
                    continue;
                };
                by_nick.insert(
                    key.to_string(),
                    Sighting {
                        nick: nick.to_string(),
                        time: time.with_timezone(&Utc),
                        what: what.to_string(),
                    },
                );
            }
        }
        let notes = Notes { path, by_nick };
        let tmp = notes.path.with_extension("seen.tmp");
        let mut out = File::create(&tmp)?;
        for (key, s) in &notes.by_nick {
            writeln!(
                out,
                "{key}\t{}\t{}\t{}",
                s.nick,
                s.time.to_rfc3339(),
                s.what
            )?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &notes.path)?;
        Ok(notes)
    }

    fn note(&mut self, key: &str, nick: &str, time: DateTime<Utc>, what: &str) {
        // A replayed message may be older than what we already know.
        if self.by_nick.get(key).is_some_and(|s| s.time > time) {
            return;
        }
        let what = what.replace(['\t', '\n', '\r'], " ");
        let line = format!("{key}\t{nick}\t{}\t{what}\n", time.to_rfc3339());
        let appended = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            log::error!("cannot write {}: {e}", self.path.display());
        }
        self.by_nick.insert(
            key.to_string(),
            Sighting {
                nick: nick.to_string(),
                time,
                what,
            },
        );
    }

    fn get(&self, key: &str) -> Option<&Sighting> {
        self.by_nick.get(key)
    }
}

/// `3d 4h`, `2h 5m`, `5m 10s`, `10s`.
fn ago(time: DateTime<Utc>) -> String {
    let secs = (Utc::now() - time).num_seconds().max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}
