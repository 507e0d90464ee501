//! Configuration: the TOML file (`conf/chatd.toml` shows every key with its default),
//! its defaults, and validation with errors that name the key.

use crate::ipnet::IpNet;
mod describe;
mod oper;
mod validate;

pub use oper::{OperClassConfig, OperConfig, Privilege, Privileges};

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub accounts: AccountsConfig,
    pub history: HistoryConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub tls: TlsConfig,
    pub web: WebConfig,
    /// IRC operators (`OPER <name> <password>`, or an account's login).
    pub oper: Vec<OperConfig>,
    /// Operator classes (`admin` and `moderator` are built in).
    pub oper_class: Vec<OperClassConfig>,
    /// Registered channels.
    pub channels: ChannelsConfig,
    /// Several nodes sharing PostgreSQL and Redis (`docs/cluster.md`). Off by default:
    /// one node, SQLite in the data dir, no other service.
    pub cluster: ClusterConfig,
}

/// `[cluster]`: what turns a node into a cluster member. All empty (the default) is
/// the single node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's number, 1 to 63, unique in the cluster (it is part of every message
    /// id the node gives out, so two nodes never give the same one). 0: single node.
    pub node_id: u16,
    /// This node's name, as other nodes and operators see it (default `node<N>`).
    pub node_name: String,
    /// PostgreSQL connection string (`postgresql://user:pass@host:5432/chatd`, or
    /// `host=/run/postgresql dbname=chatd`). Empty: SQLite in `server.data_dir`.
    pub database: String,
    /// Redis URL (`redis://host:6379/`, `rediss://` for TLS). Empty: no cluster bus.
    pub redis: String,
    /// With a `rediss://` URL: a PEM file of the certificate authority (or the
    /// self-signed certificate) Redis's certificate is checked against, in place of
    /// the system's roots. Empty: the system's roots.
    pub redis_ca_file: String,
    /// Seconds without a heartbeat after which a node counts as dead: its users are
    /// gone and their nicks free.
    pub node_timeout_secs: u64,
    /// About how many events each Redis stream (`chatd:all`, `chatd:node:<id>`)
    /// keeps for nodes that lost their link for a moment (`XADD MAXLEN ~`).
    pub stream_length: usize,
    /// With `database`: seconds between two reads of the accounts, login tokens,
    /// read markers and registered channels other nodes may have changed.
    pub refresh_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id: 0,
            node_name: String::new(),
            database: String::new(),
            redis: String::new(),
            redis_ca_file: String::new(),
            node_timeout_secs: 10,
            stream_length: 100_000,
            refresh_secs: 5,
        }
    }
}

impl ClusterConfig {
    /// Whether this node is a cluster member (a node id is set).
    pub fn enabled(&self) -> bool {
        self.node_id != 0
    }
    /// The name other nodes see: `node_name`, or `node<N>`.
    pub fn name(&self) -> String {
        if self.node_name.is_empty() {
            format!("node{}", self.node_id)
        } else {
            self.node_name.clone()
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Days a registered channel may go unused (no member, no change) before it is
    /// dropped; 0 never.
    pub registered_expire_days: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The admin socket; default `admin.sock` in the data dir.
    pub socket: Option<PathBuf>,
    /// A group allowed to use the socket (mode 0660); default none (mode 0600).
    pub group: Option<String>,
    /// uids allowed besides chatd's own and root; each gets an ACL entry on the
    /// socket file (`admin/peer.rs`).
    pub allow_uids: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// TLS listeners, used only when `cert` and `key` are set.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Seconds a TLS client has to finish its handshake.
    pub handshake_timeout_secs: u64,
    /// IRCv3 STS: how long clients must keep to TLS once they saw the policy on a
    /// TLS connection (`sts=duration=N`); plaintext connections are told to reconnect
    /// with TLS (`sts=port=P`). Unset: no policy advertised. 0 lifts a policy.
    pub sts_duration_secs: Option<u64>,
    /// The TLS port plaintext clients are sent to; default the first TLS listener's.
    pub sts_port: Option<u16>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: vec!["127.0.0.1:6697".parse().expect("literal address")],
            cert: None,
            key: None,
            handshake_timeout_secs: 10,
            sts_duration_secs: None,
            sts_port: None,
        }
    }
}

impl TlsConfig {
    /// Whether TLS listeners are configured (a certificate and a key).
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// The web listeners (`docs/web.md`): the web client's pages over HTTP(S), and IRC
/// over WebSocket on the same port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Plain HTTP/WebSocket listeners (for loopback, or behind a TLS-terminating
    /// proxy). Default none.
    pub listen: Vec<SocketAddr>,
    /// HTTPS/WSS listeners, with the IRC TLS certificate (`tls.cert`, `tls.key`) and
    /// its reload. Default none.
    pub tls_listen: Vec<SocketAddr>,
    /// Origins (`https://chat.example.com`) whose pages may open a WebSocket. Empty:
    /// only pages served by chatd itself (the `Origin` names the request's `Host`).
    pub allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` or `Forwarded`
    /// header names the real client; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// PBKDF2-HMAC-SHA256 iterations for new password hashes.
    pub pbkdf2_iterations: u32,
    /// Shortest password REGISTER accepts.
    pub min_password_len: usize,
    /// Seconds someone not logged in may hold a registered account's nick before
    /// being renamed.
    pub nick_grace_secs: u64,
    /// Prefix of the nick given on rename (`Guest12345`).
    pub guest_prefix: String,
    /// Failed logins one connection may make; later attempts are refused.
    pub login_failures_per_conn: u32,
    /// Failed logins from one IP address per minute; later attempts are refused
    /// until the minute is over.
    pub login_failures_per_ip: u32,
    /// REGISTER works before connection registration completes (the `before-connect`
    /// key of draft/account-registration). Never while `server.password` is set: an
    /// early REGISTER would get round it.
    pub register_before_connect: bool,
    /// The host a logged-in user is shown with instead of its address, with
    /// `{account}` standing for the account name (lower case); empty: the address.
    /// A change after registration is announced with CHGHOST (IRCv3 chghost).
    pub account_host: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Log every PRIVMSG/NOTICE (HISTORY, CHATHISTORY, missed messages). The offline
    /// queue works either way.
    pub log_messages: bool,
    /// Keep channel events (JOIN, PART, QUIT, KICK, MODE, TOPIC, NICK) in channel
    /// history, replayed to clients with `draft/event-playback` (only while
    /// `log_messages` is on too).
    pub log_events: bool,
    /// Most messages in one HISTORY/CHATHISTORY answer (ISUPPORT CHATHISTORY).
    pub page_size: usize,
    /// Most missed messages replayed per channel when an account logs in.
    pub missed_per_channel: usize,
    /// Most messages waiting in one account's offline queue.
    pub queue_max_messages: usize,
    /// Days a queue may go unread before the account takes no more messages.
    pub queue_max_age_days: u32,
    /// Most messages handed to the store and not yet written. Past it, chatd stops
    /// reading from clients until the store has caught up to three quarters of it, so a burst
    /// the disk cannot take slows the senders down instead of filling memory.
    pub log_backlog_max: usize,
    /// Milliseconds a batch of delivered live messages may wait for more before it
    /// is committed (0: commit each at once). What a `kill -9` can lose of live
    /// history; offline-queued messages, accounts and reads never wait.
    pub commit_window_ms: u64,
    /// Largest the database may grow, in MiB (0: no limit but the disk). Past it the
    /// store behaves as on a full disk: writes fail and are retried, the operator is told.
    pub max_db_mib: u64,
    /// Run `PRAGMA quick_check` on the database at start and refuse a damaged one
    /// (exit 4). Turn off only to start on a huge database whose check takes too long.
    pub startup_check: bool,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            pbkdf2_iterations: 100_000,
            min_password_len: 8,
            nick_grace_secs: 60,
            guest_prefix: "Guest".into(),
            login_failures_per_conn: 3,
            login_failures_per_ip: 10,
            register_before_connect: true,
            account_host: String::new(),
        }
    }
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            log_messages: true,
            log_events: true,
            page_size: 100,
            missed_per_channel: 50,
            queue_max_messages: 1000,
            queue_max_age_days: 30,
            log_backlog_max: 20_000,
            commit_window_ms: 50,
            max_db_mib: 0,
            startup_check: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The server's name, used as the source of numerics.
    pub name: String,
    /// The network name advertised in `NETWORK=` and 001.
    pub network: String,
    /// Plaintext listeners.
    pub listen: Vec<SocketAddr>,
    /// Where chatd keeps its data (created if missing).
    pub data_dir: PathBuf,
    /// A server password (`PASS`) every client must give; empty means none.
    pub password: String,
    /// Message of the day; empty means `422 ERR_NOMOTD`. `motd_file`, if set, wins.
    pub motd: String,
    pub motd_file: Option<PathBuf>,
    /// Channels every client joins when it has registered.
    pub auto_join: Vec<String>,
    /// Proxies (addresses or networks) whose connections start with a PROXY protocol
    /// header (v1 or v2) naming the real client; bans, limits and WHOIS then see the
    /// client. Their connections must send one; no one else may. Default none.
    pub proxy_from: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub nick_len: usize,
    pub user_len: usize,
    pub channel_len: usize,
    pub topic_len: usize,
    pub kick_len: usize,
    pub away_len: usize,
    pub channels_per_user: usize,
    pub targets_per_message: usize,
    pub modes_per_command: usize,
    pub bans_per_channel: usize,
    /// Bytes queued for a client that is not reading before it is disconnected.
    pub sendq_bytes: usize,
    pub registration_timeout_secs: u64,
    /// Connections at once; more are refused ("Server is full").
    pub max_clients: usize,
    /// Connections from one IPv4 address or one IPv6 /64 at once.
    pub conns_per_ip: usize,
    /// Addresses and networks spared the per-address limits (`conns_per_ip`,
    /// `connects_per_ip_per_minute`, `registrations_per_ip_per_hour`); bans still
    /// apply. Default loopback, so a group can try chatd on one machine.
    pub exempt: Vec<IpNet>,
    /// New connections from one address (IPv4, or IPv6 /64) per minute.
    pub connects_per_ip_per_minute: u32,
    /// Members of one channel (471 when full).
    pub members_per_channel: usize,
    /// Flood control: lines a client may send at once ...
    pub flood_burst: u32,
    /// ... and per second after that; lines beyond wait (fakelag).
    pub flood_rate: u32,
    /// Bytes of waiting lines beyond which a flooding client is disconnected
    /// ("Excess Flood").
    pub recvq_bytes: usize,
    /// Operators and these accounts get `trusted_flood_burst`/`trusted_flood_rate`.
    pub trusted_accounts: Vec<String>,
    pub trusted_flood_burst: u32,
    pub trusted_flood_rate: u32,
    /// Accounts one address may REGISTER per hour.
    pub registrations_per_ip_per_hour: u32,
    /// Idle time after which the server sends PING.
    pub ping_interval_secs: u64,
    /// Time allowed to answer that PING.
    pub ping_timeout_secs: u64,
    /// Nicks one client may watch with MONITOR (ISUPPORT `MONITOR`); more get 734.
    pub monitor_max: usize,
    /// Nicks WHOWAS remembers (quits and nick changes), oldest forgotten first.
    pub whowas_entries: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// Also log to this file (appended).
    pub file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "chatd.local".into(),
            network: "chatd".into(),
            listen: vec!["127.0.0.1:6667".parse().expect("literal address")],
            data_dir: PathBuf::from("data"),
            password: String::new(),
            motd: "Welcome to chatd.\nTalk to everyone in #lobby: PRIVMSG #lobby :hello\n\
                   See who is there: NAMES #lobby"
                .into(),
            motd_file: None,
            auto_join: vec!["#lobby".into()],
            proxy_from: Vec::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            nick_len: 30,
            user_len: 18,
            channel_len: 50,
            topic_len: 390,
            kick_len: 390,
            away_len: 390,
            channels_per_user: 100,
            targets_per_message: 4,
            modes_per_command: 4,
            bans_per_channel: 100,
            sendq_bytes: 1 << 20,
            registration_timeout_secs: 60,
            max_clients: 10_000,
            conns_per_ip: 10,
            exempt: vec![
                "127.0.0.0/8".parse().expect("literal network"),
                "::1/128".parse().expect("literal network"),
            ],
            connects_per_ip_per_minute: 60,
            members_per_channel: 10_000,
            flood_burst: 20,
            flood_rate: 5,
            recvq_bytes: 16 * 1024,
            trusted_accounts: Vec::new(),
            trusted_flood_burst: 200,
            trusted_flood_rate: 100,
            registrations_per_ip_per_hour: 5,
            ping_interval_secs: 120,
            ping_timeout_secs: 60,
            monitor_max: 100,
            whowas_entries: 1000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            file: None,
        }
    }
}

/// A configuration problem, with the file and key it concerns.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Config::parse(&text)
            .map_err(|ConfigError(e)| ConfigError(format!("{}: {e}", path.display())))?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Makes the relative paths of a config file (`server.data_dir`, the default
    /// `data` included, `server.motd_file`, `tls.cert`, `tls.key`, `admin.socket`,
    /// `log.file`) relative to the file's directory `dir`, whatever the working
    /// directory; chatctl resolves `data_dir` and `admin.socket` the same way.
    pub fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        fix(&mut self.server.data_dir);
        for p in [
            &mut self.server.motd_file,
            &mut self.tls.cert,
            &mut self.tls.key,
            &mut self.admin.socket,
            &mut self.log.file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError(describe::describe(text, &e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The MOTD lines: from `motd_file` if set, else `motd`; empty means none.
    pub fn motd_lines(&self) -> Vec<String> {
        let text = match &self.server.motd_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("cannot read motd_file {}: {e}", path.display());
                    return Vec::new();
                }
            },
            None => self.server.motd.clone(),
        };
        text.lines().map(str::to_string).collect()
    }

    pub fn registration_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.registration_timeout_secs)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.limits.ping_interval_secs)
    }
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls.handshake_timeout_secs)
    }
    pub fn nick_grace(&self) -> Duration {
        Duration::from_secs(self.accounts.nick_grace_secs)
    }
    /// Whether REGISTER works before connection registration: the setting, unless a
    /// server password is required (an early REGISTER would get round it).
    pub fn register_before_connect(&self) -> bool {
        self.accounts.register_before_connect && self.server.password.is_empty()
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.ping_timeout_secs)
    }
}

/// Parses a log level name (`info`, `DEBUG`...).
pub fn parse_level(s: &str) -> Option<log::LevelFilter> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_key() {
        Config::default().validate().unwrap();
        let cases = [
            ("[server]\nnmae = \"x\"", "nmae"),
            ("[limits]\nnick_len = 0", "limits.nick_len"),
            ("[limits]\nnick_len = \"ten\"", "nick_len"),
            ("[server]\nlisten = [\"not an address\"]", "listen"),
            ("[server]\nauto_join = [\"lobby\"]", "server.auto_join"),
            ("[log]\nlevel = \"loud\"", "log.level"),
            ("[bogus]\n", "bogus"),
            ("[limits]\nexempt = [\"localhost\"]", "exempt"),
            ("[server]\nproxy_from = [\"10.0.0.0/33\"]", "proxy_from"),
            ("[web]\ntls_listen = [\"127.0.0.1:443\"]", "web.tls_listen"),
            (
                "[web]\nallowed_origins = [\"chat.example.com\"]",
                "web.allowed_origins",
            ),
            ("[web]\ntrusted_proxies = [\"proxy\"]", "trusted_proxies"),
            ("[limits]\nnick_len = 5", "limits.nick_len"),
            ("[cluster]\nnode_id = 64", "cluster.node_id"),
            (
                "[cluster]\nredis = \"redis://127.0.0.1/\"",
                "cluster.node_id",
            ),
            (
                "[cluster]\nnode_id = 1\nnode_name = \"a b\"",
                "cluster.node_name",
            ),
            (
                "[cluster]\nnode_id = 1\nrefresh_secs = 0",
                "cluster.refresh_secs",
            ),
            (
                "[cluster]\nnode_id = 1\nstream_length = 10",
                "cluster.stream_length",
            ),
            ("[limits]\nnick_len = 9", "accounts.guest_prefix"),
            (
                "[limits]\nnick_len = 12\n[accounts]\nguest_prefix = \"Visitor_\"",
                "limits.nick_len",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{text:?} gave {err:?}, which does not name {key}"
            );
        }
    }
}
