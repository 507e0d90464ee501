//! `chat`: a small terminal client for chatd (and any IRC server), on the
//! chatd-bot library. This file: arguments, the prompt loop (rustyline) and the
//! wiring; `input.rs` the slash commands, `view.rs` how events look, `screen.rs`
//! where lines for the user go, `unread.rs` unread counts and read markers,
//! `paging.rs` older pages of a buffer (`/more`).
//!
//! ```text
//! chat [--tls [--ca FILE]] [--nick N] [--password P] HOST[:PORT]
//! ```

mod input;
mod paging;
mod screen;
mod unread;
mod view;

use chatd_bot::{Bot, Config, Event};
use clap::Parser;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use screen::Screen;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "chat",
    about = "A terminal chat client for chatd and any IRC server",
    after_help = "Type /help once connected for the commands."
)]
struct Args {
    /// Connect with TLS (the port defaults to 6697)
    #[arg(long)]
    tls: bool,
    /// With --tls: also trust the certificates in this PEM file (the server's
    /// self-signed certificate, or the private CA that signed it); repeatable
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Vec<std::path::PathBuf>,
    /// Your nick (default: $USER)
    #[arg(long, short)]
    nick: Option<String>,
    /// Log in to the account named like your nick (SASL PLAIN)
    #[arg(long, short)]
    password: Option<String>,
    /// The server: HOST, or HOST:PORT (the port defaults to 6667)
    #[arg(value_name = "HOST[:PORT]")]
    server: String,
}

/// What the prompt and the event handler share.
#[derive(Debug, Default)]
pub struct Ui {
    /// Where typed lines go: a channel or a nick.
    pub current: Option<String>,
    /// The buddy list (`/buddy`), watched with MONITOR and given to the server
    /// again after a reconnect.
    pub buddies: Vec<String>,
    /// The buffer the user just switched away from (its reading is told to the
    /// server with the next action).
    pub left: Option<(String, Option<chrono::DateTime<chrono::Utc>>)>,
    /// Unread messages per buffer, and the read markers.
    pub unread: unread::Unread,
    /// The oldest message shown per buffer, and `/more` answers under way.
    pub paging: paging::Paging,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let nick = args
        .nick
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "guest".into());
    let mut config = Config::new(args.server.clone(), nick.clone()).tls(args.tls);
    for file in &args.ca {
        config = match config.trust_pem_file(file) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("chat: {e}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(p) = &args.password {
        config = config.sasl(nick.clone(), p.clone());
    }
    config.quit_message = "Leaving".into();
    // A person, not a bot.
    config.bot_mode = false;
    // Read markers: unread counts shared with the user's other clients.
    config.caps.push("draft/read-marker".into());
    // Paging back through a buffer (`/more`): CHATHISTORY, answers in a batch.
    config.caps.push("draft/chathistory".into());
    if let Err(e) = config.host_port() {
        eprintln!("chat: {e}");
        return ExitCode::from(2);
    }

    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let style = view::Style {
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        time: terminal,
    };
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("chat: cannot set up the terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    let screen = Screen::new(&mut editor, terminal);

    let ui = Arc::new(Mutex::new(Ui::default()));
    let mut bot = match Bot::new(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (first_tx, first_rx) = mpsc::channel();
    {
        let ui = ui.clone();
        let screen = screen.clone();
        let first_tx = first_tx.clone();
        bot.on(move |ctx, event| {
            if matches!(event, Event::Connected { .. } | Event::Disconnected { .. }) {
                let _ = first_tx.send(());
            }
            let (line, paged) = {
                let mut ui = ui.lock().expect("the ui lock is never poisoned");
                if matches!(event, Event::Connected { .. }) && !ui.buddies.is_empty() {
                    // A new connection has an empty MONITOR list.
                    ctx.send(chatd_bot::proto::Message::new(
                        "MONITOR",
                        ["+".to_string(), ui.buddies.join(",")],
                    ));
                }
                view::follow(&mut ui, ctx.state(), event);
                // What arrives in the current buffer is on screen: read here.
                let ui = &mut *ui;
                if let Some(buffer) = ui.unread.on_event(event) {
                    if ui
                        .current
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&buffer))
                    {
                        ui.unread.shown(&buffer);
                    }
                }
                let paged = ui
                    .paging
                    .on_event(event)
                    .map(|text| view::marker_line(&text, style));
                (view::render(event, ctx.state(), style), paged)
            };
            for line in [line, paged].into_iter().flatten() {
                screen.say(line);
            }
        });
    }
    let handle = bot.handle();
    let stopped = Arc::new(AtomicBool::new(false));
    let thread = {
        let stopped = stopped.clone();
        let screen = screen.clone();
        std::thread::spawn(move || {
            let result = bot.run();
            stopped.store(true, Ordering::SeqCst);
            let _ = first_tx.send(());
            if let Err(e) = &result {
                screen.say(view::error_line(
                    &format!("{e} (press Enter to exit)"),
                    style,
                ));
            }
            result
        })
    };
    // Show the welcome before the first prompt.
    let _ = first_rx.recv_timeout(Duration::from_secs(30));

    let mut failed = false;
    loop {
        if stopped.load(Ordering::SeqCst) {
            failed = true;
            break;
        }
        let prompt = {
            let ui = ui.lock().expect("the ui lock is never poisoned");
            let counts = ui.unread.counts(ui.current.as_deref());
            let unread = counts
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            match &ui.current {
                Some(target) if terminal && !unread.is_empty() => {
                    format!("[{target} | unread: {unread}] ")
                }
                Some(target) if terminal => format!("[{target}] "),
                _ if terminal => "> ".to_string(),
                _ => String::new(),
            }
        };
        match editor.readline(&prompt) {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                match input::parse(&line) {
                    input::Action::Quit(reason) => {
                        handle.quit(&reason);
                        break;
                    }
                    action => {
                        input::steer(
                            &action,
                            &mut ui.lock().expect("the ui lock is never poisoned"),
                        );
                        let (ui, screen) = (ui.clone(), screen.clone());
                        handle.run(move |ctx| {
                            let mut ui = ui.lock().expect("the ui lock is never poisoned");
                            for line in input::apply(action, ctx, &mut ui, style) {
                                screen.say(line);
                            }
                        });
                    }
                }
            }
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => {
                handle.quit("");
                break;
            }
            Err(e) => {
                eprintln!("chat: {e}");
                handle.quit("");
                break;
            }
        }
    }
    // The prompt is gone for good: what the client still has to say (while it
    // quits) goes straight to the terminal.
    screen.close();
    let result = thread.join();
    match result {
        Ok(Ok(())) if !failed => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
