//! The command grammar, shared by `chatctl <cmd>` ([`Cli`]) and the shell
//! ([`ShellLine`]), and each command's typed request from `chatd-admin-proto`
//! ([`Command::request`]).

use crate::duration::parse_duration;
use chatd_admin_proto::Request;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
With no command, chatctl opens an interactive shell (history in ~/.chatctl_history).

The socket is --socket PATH, else [admin] socket (or <data_dir>/admin.sock) from
--config FILE (relative paths there are relative to that file's directory, as for chatd),
else $CHATD_ADMIN_SOCKET, else ./data/admin.sock.";

/// `chatctl [--socket PATH | --config FILE] [--json] [COMMAND]`.
#[derive(Debug, Parser)]
#[command(
    name = "chatctl",
    version,
    about = "Administer a running chatd over its admin socket",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The admin socket to talk to
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Read the socket path from this chatd config file
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// Print the daemon's raw JSON result instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One line typed in the shell: the same commands, plus `quit`.
#[derive(Debug, Parser)]
#[command(
    name = "chatctl",
    no_binary_name = true,
    disable_version_flag = true,
    override_usage = "<COMMAND> [ARGS]",
    help_template = "{usage-heading} {usage}\n\n{all-args}"
)]
pub struct ShellLine {
    /// Print the daemon's raw JSON result instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ShellCommand,
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ShellCommand {
    #[command(flatten)]
    Admin(Command),
    /// Leave the shell (also: exit, Ctrl-D)
    #[command(alias = "exit")]
    Quit,
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Command {
    /// Online users: nick, account, address, connected since, idle, channels
    Users {
        /// Only the members of this channel (the # may be left out)
        #[arg(long, value_name = "#CHANNEL", value_parser = channel_name)]
        channel: Option<String>,
    },
    /// Registered accounts with last seen and offline-queue depth
    Accounts {
        #[command(subcommand)]
        action: Option<AccountsAction>,
    },
    /// An account's login tokens ("keep me logged in" in the web client)
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// Channels: name, members, modes, topic; with a subcommand, registered channels
    Channels {
        #[command(subcommand)]
        action: Option<ChannelsAction>,
    },
    /// Disconnect a user from the server, or with --channel remove them from one channel
    Kick {
        nick: String,
        /// Shown to the user and their channels
        reason: Vec<String>,
        /// Only kick from this channel (the # may be left out)
        #[arg(long, value_name = "#CHANNEL", value_parser = channel_name)]
        channel: Option<String>,
    },
    /// Ban a nick!user@host mask (with * and ?) or an IP address; matching users are
    /// disconnected
    Ban {
        mask: String,
        /// How long, like 30m, 1h, 2d, 1w (default: forever)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<u64>,
        reason: Vec<String>,
    },
    /// Lift a ban
    Unban { mask: String },
    /// List the bans
    Bans,
    /// The last logged messages; with -f, new messages and daemon log lines until Ctrl-C
    TailLog {
        /// How many logged messages to show first (default 20)
        #[arg(short = 'n', value_name = "N")]
        lines: Option<u64>,
        /// Keep streaming new messages and log lines until Ctrl-C
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only this channel or nick
        #[arg(long, value_name = "#CHANNEL|NICK")]
        target: Option<String>,
        /// The lowest daemon log level streamed with -f (default info)
        #[arg(
            long,
            value_name = "LEVEL",
            ignore_case = true,
            value_parser = PossibleValuesParser::new(["error", "warn", "info", "debug", "trace"])
        )]
        level: Option<String>,
    },
    /// Send a notice to every connected user
    Wall {
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Uptime, connections, users, channels, message rate, queues, store size, memory
    Stats,
    /// Re-read the config file and TLS certificates
    Reload,
    /// Copy the database while chatd runs (SQLite VACUUM INTO) to a new file
    Backup {
        /// Where to write the copy; it must not exist yet. Relative paths are made
        /// absolute from the current directory.
        path: std::path::PathBuf,
    },
    /// Stop chatd gracefully: clients are told, the store is flushed
    Shutdown {
        /// Told to every client as they are disconnected
        #[arg(long)]
        message: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ChannelsAction {
    /// Registered channels: founder, registered, last used, history, access list size
    List,
    /// Register a channel to an account, its founder
    Register {
        #[arg(value_parser = channel_name)]
        channel: String,
        founder: String,
    },
    /// Unregister a channel
    Drop {
        #[arg(value_parser = channel_name)]
        channel: String,
    },
    /// A registered channel's access list; add or del an account's role
    Access {
        #[arg(value_parser = channel_name)]
        channel: String,
        #[command(subcommand)]
        action: Option<AccessAction>,
    },
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AccessAction {
    /// Give an account a role: op, moderator or voice
    Add {
        account: String,
        #[arg(value_parser = PossibleValuesParser::new(["op", "moderator", "voice"]))]
        role: String,
    },
    /// Take an account's role
    Del { account: String },
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AccountsAction {
    /// Delete an account, its offline queue and remembered channels
    Delete { name: String },
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum SessionsAction {
    /// List an account's login tokens: id, label, created
    List { account: String },
    /// Revoke one login token of an account (by id), or all of them
    Revoke { account: String, id: Option<String> },
}

impl Command {
    /// The request this command sends (`docs/admin.md`, "Commands").
    pub fn request(&self) -> Request {
        match self {
            Command::Users { channel } => Request::Users {
                channel: channel.clone(),
            },
            Command::Accounts { action: None } => Request::Accounts,
            Command::Accounts {
                action: Some(AccountsAction::Delete { name }),
            } => Request::AccountsDelete { name: name.clone() },
            Command::Sessions {
                action: SessionsAction::List { account },
            } => Request::Sessions {
                account: account.clone(),
            },
            Command::Sessions {
                action: SessionsAction::Revoke { account, id },
            } => Request::SessionsRevoke {
                account: account.clone(),
                token: id.clone(),
            },
            Command::Channels { action: None } => Request::Channels,
            Command::Channels {
                action: Some(action),
            } => action.request(),
            Command::Kick {
                nick,
                reason,
                channel,
            } => Request::Kick {
                nick: nick.clone(),
                reason: words_opt(reason),
                channel: channel.clone(),
            },
            Command::Ban {
                mask,
                duration,
                reason,
            } => Request::Ban {
                mask: mask.clone(),
                duration_secs: *duration,
                reason: words_opt(reason),
            },
            Command::Unban { mask } => Request::Unban { mask: mask.clone() },
            Command::Bans => Request::Bans,
            Command::TailLog {
                lines,
                follow,
                target,
                level,
            } => Request::TailLog {
                n: *lines,
                follow: *follow,
                target: target.clone(),
                level: level.as_ref().map(|l| l.to_lowercase()),
            },
            Command::Wall { text } => Request::Wall {
                text: text.join(" "),
            },
            Command::Stats => Request::Stats,
            Command::Reload => Request::Reload,
            Command::Backup { path } => {
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                Request::Backup {
                    path: path.display().to_string(),
                }
            }
            Command::Shutdown { message } => Request::Shutdown {
                message: message.clone(),
            },
        }
    }

    /// Whether this command streams events after its reply (`tail-log -f`).
    pub fn streams(&self) -> bool {
        self.request().streams()
    }
}

impl ChannelsAction {
    fn request(&self) -> Request {
        match self {
            ChannelsAction::List => Request::ChannelsRegistered,
            ChannelsAction::Register { channel, founder } => Request::ChannelsRegister {
                channel: channel.clone(),
                founder: founder.clone(),
            },
            ChannelsAction::Drop { channel } => Request::ChannelsDrop {
                channel: channel.clone(),
            },
            ChannelsAction::Access {
                channel,
                action: None,
            } => Request::ChannelsAccess {
                channel: channel.clone(),
            },
            ChannelsAction::Access {
                channel,
                action: Some(AccessAction::Add { account, role }),
            } => Request::ChannelsAccessAdd {
                channel: channel.clone(),
                account: account.clone(),
                role: role.clone(),
            },
            ChannelsAction::Access {
                channel,
                action: Some(AccessAction::Del { account }),
            } => Request::ChannelsAccessDel {
                channel: channel.clone(),
                account: account.clone(),
            },
        }
    }
}

/// The words of a reason joined, or nothing when none were given.
fn words_opt(words: &[String]) -> Option<String> {
    (!words.is_empty()).then(|| words.join(" "))
}

/// A channel name, with `#` added when it has no channel prefix: in bash an
/// unquoted `#rust` starts a comment, so `--channel rust` is accepted too.
fn channel_name(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty channel name".into());
    }
    if text.starts_with(['#', '&']) {
        Ok(text.to_string())
    } else {
        Ok(format!("#{text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use serde_json::json;

    fn shell(line: &str) -> Command {
        let words = crate::words::split(line).unwrap();
        match ShellLine::try_parse_from(words) {
            Ok(ShellLine {
                command: ShellCommand::Admin(c),
                ..
            }) => c,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn request_json(line: &str) -> serde_json::Value {
        serde_json::to_value(shell(line).request()).unwrap()
    }

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
        ShellLine::command().debug_assert();
    }

    #[test]
    fn requests() {
        let cases = [
            ("users", json!({"cmd": "users"})),
            (
                "users --channel #rust",
                json!({"cmd": "users", "channel": "#rust"}),
            ),
            (
                "users --channel rust",
                json!({"cmd": "users", "channel": "#rust"}),
            ),
            ("accounts", json!({"cmd": "accounts"})),
            (
                "accounts delete alice",
                json!({"cmd": "accounts-delete", "name": "alice"}),
            ),
            ("channels", json!({"cmd": "channels"})),
            ("channels list", json!({"cmd": "channels-registered"})),
            (
                "channels register team alice",
                json!({"cmd": "channels-register", "channel": "#team", "founder": "alice"}),
            ),
            (
                "channels drop #team",
                json!({"cmd": "channels-drop", "channel": "#team"}),
            ),
            (
                "channels access #team",
                json!({"cmd": "channels-access", "channel": "#team"}),
            ),
            (
                "channels access #team add bob moderator",
                json!({"cmd": "channels-access-add", "channel": "#team", "account": "bob", "role": "moderator"}),
            ),
            (
                "channels access #team del bob",
                json!({"cmd": "channels-access-del", "channel": "#team", "account": "bob"}),
            ),
            ("kick bob", json!({"cmd": "kick", "nick": "bob"})),
            (
                "kick bob being rude",
                json!({"cmd": "kick", "nick": "bob", "reason": "being rude"}),
            ),
            (
                "kick bob 'being rude' --channel #rust",
                json!({"cmd": "kick", "nick": "bob", "reason": "being rude", "channel": "#rust"}),
            ),
            (
                "ban *!*@10.0.0.5",
                json!({"cmd": "ban", "mask": "*!*@10.0.0.5"}),
            ),
            (
                "ban 10.0.0.5 --duration 1h spam bot",
                json!({"cmd": "ban", "mask": "10.0.0.5", "duration_secs": 3600, "reason": "spam bot"}),
            ),
            (
                "ban --duration 2d x!*@*",
                json!({"cmd": "ban", "mask": "x!*@*", "duration_secs": 172800}),
            ),
            (
                "unban 10.0.0.5",
                json!({"cmd": "unban", "mask": "10.0.0.5"}),
            ),
            ("bans", json!({"cmd": "bans"})),
            (
                "sessions list alice",
                json!({"cmd": "sessions", "account": "alice"}),
            ),
            (
                "sessions revoke alice 0a1b2c3d4e5f",
                json!({"cmd": "sessions-revoke", "account": "alice", "token": "0a1b2c3d4e5f"}),
            ),
            (
                "sessions revoke alice",
                json!({"cmd": "sessions-revoke", "account": "alice"}),
            ),
            ("tail-log", json!({"cmd": "tail-log"})),
            (
                "tail-log -n 5 -f --target #rust --level DEBUG",
                json!({"cmd": "tail-log", "n": 5, "follow": true, "target": "#rust", "level": "debug"}),
            ),
            (
                "tail-log --follow --target bob",
                json!({"cmd": "tail-log", "follow": true, "target": "bob"}),
            ),
            (
                "wall the server restarts at 10:00",
                json!({"cmd": "wall", "text": "the server restarts at 10:00"}),
            ),
            ("stats", json!({"cmd": "stats"})),
            ("reload", json!({"cmd": "reload"})),
            ("shutdown", json!({"cmd": "shutdown"})),
            (
                "shutdown --message 'back soon'",
                json!({"cmd": "shutdown", "message": "back soon"}),
            ),
            ("users --json", json!({"cmd": "users"})),
        ];
        for (line, want) in cases {
            assert_eq!(request_json(line), want, "{line}");
        }
    }

    #[test]
    fn streams_only_with_follow() {
        assert!(shell("tail-log -f").streams());
        assert!(!shell("tail-log").streams());
        assert!(!shell("users").streams());
    }

    #[test]
    fn bad_lines_are_refused() {
        for line in [
            "",
            "frobnicate",
            "kick",
            "wall",
            "ban x --duration soon",
            "tail-log --level loud",
            "tail-log -n many",
            "accounts delete",
            "users --channel ''",
        ] {
            let words = crate::words::split(line).unwrap();
            assert!(ShellLine::try_parse_from(words).is_err(), "{line:?}");
        }
    }

    #[test]
    fn shell_quit_and_json() {
        for line in ["quit", "exit"] {
            let parsed = ShellLine::try_parse_from([line]).unwrap();
            assert_eq!(parsed.command, ShellCommand::Quit);
        }
        let parsed = ShellLine::try_parse_from(["stats", "--json"]).unwrap();
        assert!(parsed.json);
    }

    #[test]
    fn cli_flags() {
        let cli = Cli::try_parse_from(["chatctl", "--socket", "/s", "--json", "users"]).unwrap();
        assert_eq!(cli.socket, Some(PathBuf::from("/s")));
        assert!(cli.json);
        assert_eq!(cli.command, Some(Command::Users { channel: None }));
        let cli = Cli::try_parse_from(["chatctl", "stats", "--config", "/c.toml"]).unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/c.toml")));
        let cli = Cli::try_parse_from(["chatctl"]).unwrap();
        assert_eq!(cli.command, None);
        assert!(
            Cli::try_parse_from(["chatctl", "--socket", "/s", "--config", "/c", "stats"]).is_err()
        );
    }
}
