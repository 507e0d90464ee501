//! [`Config`]: where a bot connects, who it is, how it logs in ([`Login`]), what it
//! joins, and its timing (flood, ping, reconnect). Also the small command-line
//! parser the examples share ([`Config::from_args`]).

use crate::flood::{Clock, Flood, SystemClock};
use crate::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How the bot logs in to an account.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Login {
    /// No account.
    #[default]
    None,
    /// SASL PLAIN during capability negotiation; the server must offer `sasl`.
    Sasl { account: String, password: String },
    /// Creates the account with `REGISTER` (IRCv3 draft/account-registration, as
    /// chatd and Ergo speak it) the first time, and logs in to it with SASL (or
    /// `LOGIN`) once it exists. A new bot needs nothing set up by hand.
    Register { account: String, password: String },
    /// `PASS <password>` before registration: a server password, or for chatd
    /// `account:password`.
    ServerPassword(String),
}

impl std::fmt::Debug for Login {
    // Passwords never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::None => write!(f, "None"),
            Login::Sasl { account, .. } => write!(f, "Sasl {{ account: {account:?} }}"),
            Login::Register { account, .. } => write!(f, "Register {{ account: {account:?} }}"),
            Login::ServerPassword(_) => write!(f, "ServerPassword"),
        }
    }
}

/// When to try again after losing the connection: `initial`, then doubling up to
/// `max`, each delay shortened by a random part of up to half (jitter), so many
/// bots do not come back in step. A connection that completes registration resets
/// the delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub enabled: bool,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            enabled: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
        }
    }
}

/// Everything a bot needs to know before it connects. Build it with
/// [`Config::new`] and the chained setters, or set the fields directly.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port`; the port defaults to 6667, or 6697 with TLS.
    pub server: String,
    pub tls: bool,
    /// Certificates trusted besides the public web roots, for servers with a
    /// private certificate authority or a self-signed certificate.
    pub tls_roots: Vec<CertificateDer<'static>>,
    pub nick: String,
    /// Tried in order when the nick is taken (`433`); after them, the nick with
    /// `_` appended, then with digits.
    pub alt_nicks: Vec<String>,
    pub username: String,
    pub realname: String,
    pub login: Login,
    /// Joined after each connect, as are the channels the bot was in when it lost
    /// the connection.
    pub channels: Vec<String>,
    /// What starts a command in a channel: `!` makes `!roll 2d6`.
    pub prefix: String,
    /// Capabilities requested when the server offers them.
    pub caps: Vec<String>,
    pub flood: Flood,
    /// Send a PING after this long without hearing from the server...
    pub ping_interval: Duration,
    /// ...and give up on the connection if nothing arrives this long after it.
    pub ping_timeout: Duration,
    /// For the TCP connect, and again for the server to finish registration.
    pub connect_timeout: Duration,
    pub reconnect: Reconnect,
    /// A message is flagged as replayed when it sits in a `chathistory` batch, or
    /// when its `@time` is older than the moment this connection was made by more
    /// than this (the offline queue replays outside a batch).
    pub replay_slack: Duration,
    /// Whether the command router answers replayed messages (commands someone gave
    /// while the bot was away). Off by default: old commands stay unanswered.
    pub answer_replayed: bool,
    pub quit_message: String,
    /// Marks the connection as a bot (IRCv3 bot-mode: `MODE <nick> +B`, or whatever
    /// letter the server's ISUPPORT `BOT` names) once registered, so clients can
    /// tell it from a person. On by default; the `chat` client turns it off.
    pub bot_mode: bool,
    /// The clock of the flood control.
    pub clock: Arc<dyn Clock>,
    /// Where the bot keeps its files (`--data-dir`); `None` for the per-user
    /// default, see [`Config::state_dir`].
    pub data_dir: Option<PathBuf>,
}

/// The capabilities a bot asks for by default.
pub const DEFAULT_CAPS: &[&str] = &[
    "server-time",
    "message-tags",
    "echo-message",
    "batch",
    "account-tag",
    "multi-prefix",
];

impl Config {
    pub fn new(server: impl Into<String>, nick: impl Into<String>) -> Config {
        let nick = nick.into();
        Config {
            server: server.into(),
            tls: false,
            tls_roots: Vec::new(),
            username: nick.clone(),
            realname: nick.clone(),
            nick,
            alt_nicks: Vec::new(),
            login: Login::None,
            channels: Vec::new(),
            prefix: "!".into(),
            caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
            flood: Flood::default(),
            ping_interval: Duration::from_secs(90),
            ping_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            reconnect: Reconnect::default(),
            replay_slack: Duration::from_secs(2),
            answer_replayed: false,
            quit_message: "Bye".into(),
            bot_mode: true,
            clock: Arc::new(SystemClock),
            data_dir: None,
        }
    }

    /// Trusts the certificates in a PEM file besides the public web roots: the
    /// server's own self-signed certificate, or the private CA that signed it.
    pub fn trust_pem_file(mut self, path: &Path) -> Result<Config, Error> {
        let bad = |why: String| Error::Usage(format!("--ca {}: {why}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(format!("cannot read it: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        self.tls_roots.extend(certs);
        Ok(self)
    }

    /// The directory for the bot's own files (what it remembers across restarts):
    /// [`Config::data_dir`] if set, else `$XDG_DATA_HOME/chatd-bot`, else
    /// `~/.local/share/chatd-bot`, else the working directory. Not created here.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(xdg) = env("XDG_DATA_HOME") {
            return PathBuf::from(xdg).join("chatd-bot");
        }
        match env("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/chatd-bot"),
            None => PathBuf::from("."),
        }
    }

    pub fn channel(mut self, channel: impl Into<String>) -> Config {
        self.channels.push(channel.into());
        self
    }

    pub fn tls(mut self, on: bool) -> Config {
        self.tls = on;
        self
    }

    pub fn login(mut self, login: Login) -> Config {
        self.login = login;
        self
    }

    /// [`Login::Sasl`].
    pub fn sasl(self, account: impl Into<String>, password: impl Into<String>) -> Config {
        self.login(Login::Sasl {
            account: account.into(),
            password: password.into(),
        })
    }

    /// [`Login::Register`]: register on first run, log in afterwards.
    pub fn register(self, account: impl Into<String>, password: impl Into<String>) -> Config {
        self.login(Login::Register {
            account: account.into(),
            password: password.into(),
        })
    }

    /// Whether to mark the connection as a bot ([`Config::bot_mode`]; on by default).
    pub fn bot_mode(mut self, on: bool) -> Config {
        self.bot_mode = on;
        self
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> Config {
        self.prefix = prefix.into();
        self
    }

    pub fn flood(mut self, flood: Flood) -> Config {
        self.flood = flood;
        self
    }

    pub fn clock(mut self, clock: impl Clock + 'static) -> Config {
        self.clock = Arc::new(clock);
        self
    }

    /// The host and port to connect to, with the default port filled in.
    pub fn host_port(&self) -> Result<(String, u16), Error> {
        let default_port = if self.tls { 6697 } else { 6667 };
        split_host_port(&self.server, default_port)
    }

    /// Parses the process arguments the examples share (see [`Config::try_from_args`]);
    /// prints the usage and exits with status 2 when they are wrong, or 0 on `--help`.
    pub fn from_args(default_nick: &str) -> Config {
        match Config::try_from_args(std::env::args().skip(1), default_nick) {
            Ok(config) => config,
            Err(Error::Usage(text)) if text.is_empty() => {
                println!("{}", usage(default_nick));
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("{e}\n\n{}", usage(default_nick));
                std::process::exit(2)
            }
        }
    }

    /// `HOST[:PORT] [--channel #c]... [--nick N] [--tls [--ca FILE]...] [--account A]
    /// [--password P] [--server-password P] [--prefix X] [--data-dir DIR]`. Without
    /// `--channel`, the
    /// bot joins `#bots`. `--password` registers the account (`--account`, else the
    /// nick) on first run and logs in to it afterwards ([`Login::Register`]).
    pub fn try_from_args<I, S>(args: I, default_nick: &str) -> Result<Config, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut args = args.into_iter().map(Into::into);
        let mut server = None;
        let mut nick = default_nick.to_string();
        let mut channels = Vec::new();
        let mut tls = false;
        let mut account = None;
        let mut password = None;
        let mut server_password = None;
        let mut prefix = None;
        let mut ca = Vec::new();
        let mut data_dir = None;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| Error::Usage(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "-h" | "--help" => return Err(Error::Usage(String::new())),
                "--channel" | "-c" => channels.push(value("--channel")?),
                "--nick" | "-n" => nick = value("--nick")?,
                "--tls" => tls = true,
                "--account" => account = Some(value("--account")?),
                "--password" => password = Some(value("--password")?),
                "--server-password" => server_password = Some(value("--server-password")?),
                "--prefix" => prefix = Some(value("--prefix")?),
                "--ca" => ca.push(PathBuf::from(value("--ca")?)),
                "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
                flag if flag.starts_with('-') => {
                    return Err(Error::Usage(format!("unknown option {flag}")))
                }
                _ if server.is_none() => server = Some(arg),
                _ => return Err(Error::Usage(format!("unexpected argument {arg}"))),
            }
        }
        let server = server.ok_or_else(|| Error::Usage("HOST:PORT is missing".into()))?;
        if !ca.is_empty() && !tls {
            return Err(Error::Usage("--ca needs --tls".into()));
        }
        let mut config = Config::new(server, nick.clone()).tls(tls);
        for file in &ca {
            config = config.trust_pem_file(file)?;
        }
        config.data_dir = data_dir;
        config.channels = if channels.is_empty() {
            vec!["#bots".into()]
        } else {
            channels
        };
        if let Some(p) = prefix {
            config.prefix = p;
        }
        if let Some(p) = server_password {
            config.login = Login::ServerPassword(p);
        }
        if let Some(p) = password {
            config = config.register(account.unwrap_or(nick), p);
        } else if account.is_some() {
            return Err(Error::Usage("--account needs --password".into()));
        }
        config.host_port()?;
        Ok(config)
    }
}

fn usage(nick: &str) -> String {
    format!(
        "usage: {} HOST[:PORT] [--channel #c]... [--nick N] [--tls [--ca FILE]]\n\
         \x20             [--password P [--account A]] [--server-password P] [--prefix X]\n\
         \x20             [--data-dir DIR]\n\
         \n\
         Connects as {nick} (or --nick) and joins #bots (or each --channel).\n\
         --password registers the account (named --account, else the nick) on first\n\
         run and logs in to it afterwards. --ca trusts the certificates of a PEM file\n\
         (a self-signed server certificate, or a private CA) besides the public ones.\n\
         Files the bot keeps go to --data-dir, else $XDG_DATA_HOME/chatd-bot, else\n\
         ~/.local/share/chatd-bot. BOT_LOG=debug (or trace, warn) sets what it prints\n\
         on stderr; info by default.",
        std::env::args()
            .next()
            .unwrap_or_else(|| "bot".into())
            .rsplit('/')
            .next()
            .unwrap_or("bot")
    )
}

/// `host:port`, `host`, `[v6]:port`, `[v6]`, or a bare IPv6 address.
pub(crate) fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), Error> {
    let bad = || Error::Usage(format!("bad server address {s:?}: expected HOST[:PORT]"));
    let port = |p: &str| p.parse::<u16>().map_err(|_| bad());
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), port(p)?)),
            None if after.is_empty() => Ok((host.to_string(), default_port)),
            None => Err(bad()),
        };
    }
    match s.matches(':').count() {
        0 if !s.is_empty() => Ok((s.to_string(), default_port)),
        1 => {
            let (host, p) = s.split_once(':').expect("one colon");
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_string(), port(p)?))
        }
        n if n > 1 => Ok((s.to_string(), default_port)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let cases: &[(&str, Option<(&str, u16)>)] = &[
            ("irc.example.org", Some(("irc.example.org", 6667))),
            ("127.0.0.1:7000", Some(("127.0.0.1", 7000))),
            ("[::1]:7000", Some(("::1", 7000))),
            ("[::1]", Some(("::1", 6667))),
            ("::1", Some(("::1", 6667))),
            ("host:notaport", None),
            (":7000", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = split_host_port(input, 6667).ok();
            let want = want.map(|(h, p)| (h.to_string(), p));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn example_arguments() {
        let c = Config::try_from_args(["127.0.0.1:6667"], "echobot").unwrap();
        assert_eq!(c.channels, ["#bots"]);
        assert_eq!(c.nick, "echobot");
        assert_eq!(c.login, Login::None);

        let c = Config::try_from_args(
            [
                "h:1",
                "--channel",
                "#a",
                "-c",
                "#b",
                "--nick",
                "x",
                "--password",
                "pw",
            ],
            "echobot",
        )
        .unwrap();
        assert_eq!(c.channels, ["#a", "#b"]);
        assert_eq!(c.nick, "x");
        assert_eq!(
            c.login,
            Login::Register {
                account: "x".into(),
                password: "pw".into()
            }
        );

        for bad in [
            &["--nick"][..],
            &[][..],
            &["h", "--bogus"][..],
            &["a", "b"][..],
        ] {
            assert!(
                matches!(
                    Config::try_from_args(bad.iter().copied(), "n"),
                    Err(Error::Usage(_))
                ),
                "{bad:?}"
            );
        }
    }
}
