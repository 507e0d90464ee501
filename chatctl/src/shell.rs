//! The interactive shell (`chatctl` with no command): a rustyline prompt running the
//! same commands as the CLI, with history in `~/.chatctl_history`, tab completion of
//! command names, options, and of online nicks, channels, accounts and bans (fetched
//! from the daemon when completing, cached a few seconds), and Ctrl-C stopping a
//! `tail-log -f` stream without leaving the shell.

use crate::cli::{ShellCommand, ShellLine};
use crate::client::AdminClient;
use crate::error::Error;
use crate::{interrupt, run, words};
use chatd_admin_proto::{reply, Request};
use clap::{CommandFactory, Parser};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Context, Editor, Helper, Highlighter, Hinter, Validator};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const PROMPT: &str = "chatctl> ";

/// The history file's name in the user's home.
pub const HISTORY_FILE: &str = ".chatctl_history";

/// How long fetched names serve completion before they are fetched again.
const NAMES_TTL: Duration = Duration::from_secs(5);

/// How long completion waits for the daemon: a stuck daemon must not freeze typing.
const NAMES_TIMEOUT: Duration = Duration::from_secs(2);

/// What the shell should do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Runs the shell until `quit` or Ctrl-D. `json` makes every command print JSON.
pub fn run(socket: &Path, json: bool) -> Result<(), Error> {
    // Without this, Ctrl-C during a stream would end the whole shell.
    interrupt::install().map_err(|e| Error::Terminal(e.to_string()))?;
    let config = rustyline::Config::builder()
        .completion_type(CompletionType::List)
        .history_ignore_dups(true)
        .map_err(|e| Error::Terminal(e.to_string()))?
        .max_history_size(1000)
        .map_err(|e| Error::Terminal(e.to_string()))?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| Error::Terminal(e.to_string()))?;
    editor.set_helper(Some(ShellHelper::new(socket)));
    let history = history_path();
    if let Some(path) = &history {
        // A first run has no history yet; anything else wrong with it only costs history.
        let _ = editor.load_history(path);
    }

    // A script piping commands in gets their output only.
    if std::io::stdin().is_terminal() {
        match AdminClient::connect(socket) {
            Ok(_) => println!(
                "Talking to chatd at {}. Type help for the commands, quit or Ctrl-D to leave.",
                socket.display()
            ),
            Err(e) => eprintln!("{e}"),
        }
    }

    let stdout = std::io::stdout();
    loop {
        interrupt::clear();
        match editor.readline(PROMPT) {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    if let Err(e) = editor.save_history(path) {
                        eprintln!("cannot save history to {}: {e}", path.display());
                    }
                }
                if run_line(socket, &line, json, &mut stdout.lock()) == Flow::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Terminal(e.to_string())),
        }
    }
    Ok(())
}

/// Runs one line typed in the shell: errors are printed, never fatal.
pub fn run_line(socket: &Path, line: &str, json: bool, out: &mut dyn Write) -> Flow {
    let words = match words::split(line) {
        Ok(words) => words,
        Err(e) => {
            eprintln!("{e}");
            return Flow::Continue;
        }
    };
    match ShellLine::try_parse_from(words) {
        Ok(ShellLine {
            command: ShellCommand::Quit,
            ..
        }) => return Flow::Quit,
        Ok(ShellLine {
            command: ShellCommand::Admin(command),
            json: line_json,
        }) => {
            interrupt::clear();
            if let Err(e) = run::execute(socket, &command, json || line_json, out) {
                eprintln!("{e}");
            }
        }
        // `help` and `--help` come here too; clap prints them on stdout.
        Err(e) => {
            let _ = e.print();
        }
    }
    Flow::Continue
}

/// `~/.chatctl_history`, when there is a home.
pub fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(HISTORY_FILE))
}

/// Names the daemon knows, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Names {
    Nicks,
    Channels,
    Accounts,
    Bans,
}

impl Names {
    /// Asks the daemon for these names.
    fn fetch(self, client: &mut AdminClient) -> Result<Vec<String>, Error> {
        Ok(match self {
            Names::Nicks => {
                let users: Vec<reply::User> = client.call(&Request::Users { channel: None })?;
                users.into_iter().map(|u| u.nick).collect()
            }
            Names::Channels => {
                let channels: Vec<reply::Channel> = client.call(&Request::Channels)?;
                channels.into_iter().map(|c| c.name).collect()
            }
            Names::Accounts => {
                let accounts: Vec<reply::Account> = client.call(&Request::Accounts)?;
                accounts.into_iter().map(|a| a.name).collect()
            }
            Names::Bans => {
                let bans: Vec<reply::Ban> = client.call(&Request::Bans)?;
                bans.into_iter().map(|b| b.mask).collect()
            }
        })
    }
}

#[derive(Helper, Hinter, Highlighter, Validator)]
pub struct ShellHelper {
    socket: PathBuf,
    cache: RefCell<HashMap<Names, (Instant, Vec<String>)>>,
}

impl ShellHelper {
    pub fn new(socket: &Path) -> ShellHelper {
        ShellHelper {
            socket: socket.to_path_buf(),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The current names of a kind, from the cache or the daemon; none when the
    /// daemon cannot be asked.
    fn names(&self, kind: Names) -> Vec<String> {
        if let Some((fetched, names)) = self.cache.borrow().get(&kind) {
            if fetched.elapsed() < NAMES_TTL {
                return names.clone();
            }
        }
        let names = self.fetch(kind).unwrap_or_default();
        self.cache
            .borrow_mut()
            .insert(kind, (Instant::now(), names.clone()));
        names
    }

    fn fetch(&self, kind: Names) -> Result<Vec<String>, Error> {
        let mut client = AdminClient::connect(&self.socket)?.reply_timeout(NAMES_TIMEOUT);
        kind.fetch(&mut client)
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = candidates(line, pos, &|kind| self.names(kind));
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

/// What may replace the word ending at `pos` in `line`: the word's start and the
/// candidates. `names` fetches names from the daemon; it is only called when the
/// position takes such a name.
pub fn candidates(
    line: &str,
    pos: usize,
    names: &dyn Fn(Names) -> Vec<String>,
) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before
        .rfind(char::is_whitespace)
        .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(0);
    let word = &before[start..];
    let previous = words::split(&before[..start]).unwrap_or_else(|_| {
        before[..start]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    });
    let offered = match previous.as_slice() {
        [] => command_names(),
        [help] if help == "help" => command_names(),
        [accounts] if accounts == "accounts" => vec!["delete".into()],
        [accounts, delete] if accounts == "accounts" && delete == "delete" => {
            names(Names::Accounts)
        }
        [channels] if channels == "channels" => ["list", "register", "drop", "access"]
            .map(String::from)
            .to_vec(),
        [channels, _] if channels == "channels" => names(Names::Channels),
        [channels, register, _] if channels == "channels" && register == "register" => {
            names(Names::Accounts)
        }
        [channels, access, _] if channels == "channels" && access == "access" => {
            ["add", "del"].map(String::from).to_vec()
        }
        [channels, access, _, _] if channels == "channels" && access == "access" => {
            names(Names::Accounts)
        }
        [channels, access, _, add, _]
            if channels == "channels" && access == "access" && add == "add" =>
        {
            ["op", "moderator", "voice"].map(String::from).to_vec()
        }
        [command, ..] if word.starts_with('-') => option_names(command),
        [command, .., last] if last.starts_with('-') => match last.as_str() {
            "--channel" => names(Names::Channels),
            "--target" => [names(Names::Channels), names(Names::Nicks)].concat(),
            "--level" => ["error", "warn", "info", "debug", "trace"]
                .map(String::from)
                .to_vec(),
            "--duration" => ["30m", "1h", "1d", "1w"].map(String::from).to_vec(),
            "-n" | "--message" => Vec::new(),
            _ => positional(&previous, word, names),
        },
        [_, ..] => positional(&previous, word, names),
    };
    let mut found: Vec<String> = offered
        .into_iter()
        .filter(|c| starts_with_ignoring_case(c, word))
        .collect();
    found.sort_by_key(|c| c.to_lowercase());
    found.dedup();
    (start, found)
}

/// Options followed by a value, which is not a positional argument.
const OPTIONS_WITH_VALUES: &[&str] = &[
    "--channel",
    "--target",
    "--level",
    "--duration",
    "--message",
    "-n",
];

/// Names fitting the positional argument `word` after the `previous` words.
fn positional(
    previous: &[String],
    word: &str,
    names: &dyn Fn(Names) -> Vec<String>,
) -> Vec<String> {
    let mut index = 0;
    let mut rest = previous.iter().skip(1);
    while let Some(w) = rest.next() {
        if OPTIONS_WITH_VALUES.contains(&w.as_str()) {
            rest.next();
        } else if !w.starts_with('-') {
            index += 1;
        }
    }
    match (previous[0].as_str(), index) {
        ("kick" | "ban", 0) => names(Names::Nicks),
        ("unban", 0) => names(Names::Bans),
        ("wall", _) if word.starts_with(['#', '&']) => names(Names::Channels),
        ("wall", _) => names(Names::Nicks),
        _ => Vec::new(),
    }
}

/// The shell's commands, `help` included.
fn command_names() -> Vec<String> {
    let mut line = ShellLine::command();
    line.build();
    line.get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// `--long` options of `command` and the global ones.
fn option_names(command: &str) -> Vec<String> {
    let mut line = ShellLine::command();
    line.build();
    let Some(sub) = line.find_subcommand(command) else {
        return Vec::new();
    };
    sub.get_arguments()
        .filter_map(|a| a.get_long())
        .map(|long| format!("--{long}"))
        .collect()
}

fn starts_with_ignoring_case(candidate: &str, prefix: &str) -> bool {
    candidate
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: Names) -> Vec<String> {
        let list: &[&str] = match kind {
            Names::Nicks => &["alice", "Alfred", "bob"],
            Names::Channels => &["#rust", "#lobby", "#Random"],
            Names::Accounts => &["alice", "carol"],
            Names::Bans => &["*!*@10.0.0.5"],
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        candidates(line, line.len(), &names)
    }

    #[test]
    fn completion_cases() {
        let cases: &[(&str, usize, &[&str])] = &[
            ("u", 0, &["unban", "users"]),
            ("tail", 0, &["tail-log"]),
            ("sh", 0, &["shutdown"]),
            ("q", 0, &["quit"]),
            ("help k", 5, &["kick"]),
            ("kick al", 5, &["alfred", "alice"]),
            ("kick AL", 5, &["alfred", "alice"]),
            ("kick b", 5, &["bob"]),
            ("ban ", 4, &["alfred", "alice", "bob"]),
            ("users --channel #r", 16, &["#Random", "#rust"]),
            ("users --ch", 6, &["--channel"]),
            (
                "tail-log --target ",
                18,
                &["#lobby", "#Random", "#rust", "alfred", "alice", "bob"],
            ),
            ("tail-log --level d", 17, &["debug"]),
            ("tail-log -f --fo", 12, &["--follow"]),
            ("accounts ", 9, &["delete"]),
            ("accounts delete c", 16, &["carol"]),
            ("channels r", 9, &["register"]),
            ("channels register #r", 18, &["#Random", "#rust"]),
            ("channels register #rust c", 24, &["carol"]),
            ("channels access #rust ", 22, &["add", "del"]),
            ("channels access #rust add c", 26, &["carol"]),
            ("channels access #rust add carol m", 32, &["moderator"]),
            ("unban *", 6, &["*!*@10.0.0.5"]),
            ("wall hello #l", 11, &["#lobby"]),
            ("kick bob --channel ", 19, &["#lobby", "#Random", "#rust"]),
            ("kick bob --channel #rust ", 25, &[]),
            ("kick --channel #rust b", 21, &["bob"]),
            ("ban bob ", 8, &[]),
            ("stats ", 6, &[]),
            ("shutdown --message ", 19, &[]),
        ];
        for (line, start, want) in cases {
            let (got_start, got) = complete(line);
            let got: Vec<String> = got.iter().map(|c| c.to_lowercase()).collect();
            let want: Vec<String> = want.iter().map(|c| c.to_lowercase()).collect();
            assert_eq!((got_start, got), (*start, want), "{line:?}");
        }
        let (_, all) = complete("");
        for command in [
            "users", "accounts", "channels", "kick", "ban", "unban", "bans", "tail-log", "wall",
            "stats", "reload", "backup", "shutdown", "help", "quit",
        ] {
            assert!(all.iter().any(|c| c == command), "{command} in {all:?}");
        }
    }

    #[test]
    fn completion_mid_line() {
        let line = "kick al --channel #rust";
        assert_eq!(candidates(line, 7, &names).0, 5);
        assert_eq!(candidates(line, 7, &names).1.len(), 2);
    }

    #[test]
    fn names_not_fetched_for_commands() {
        let never = |kind: Names| -> Vec<String> { panic!("fetched {kind:?}") };
        assert_eq!(candidates("us", 2, &never).1, vec!["users".to_string()]);
        assert!(candidates("stats --js", 10, &never)
            .1
            .contains(&"--json".to_string()));
    }

    #[test]
    fn quit_and_bad_lines_do_not_touch_the_socket() {
        let socket = Path::new("/nonexistent/admin.sock");
        let mut out = Vec::new();
        assert_eq!(run_line(socket, "quit", false, &mut out), Flow::Quit);
        assert_eq!(run_line(socket, "exit", false, &mut out), Flow::Quit);
        assert_eq!(
            run_line(socket, "frobnicate", false, &mut out),
            Flow::Continue
        );
        assert_eq!(
            run_line(socket, "wall 'open", false, &mut out),
            Flow::Continue
        );
        assert_eq!(run_line(socket, "users", false, &mut out), Flow::Continue);
        assert!(out.is_empty());
    }
}
