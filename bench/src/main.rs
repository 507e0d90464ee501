//! `chatd-bench`: a load generator for chatd and other IRC servers on loopback.
//! Parses arguments, raises the open-file limit, finds or spawns the server, runs one
//! scenario and prints its report. Where things live: plan.rs (who sends what to
//! whom), worker.rs (the client threads), shared.rs (what they share with the
//! coordinator), pool.rs and link.rs (the clients' sockets, for every scenario),
//! wire.rs (framing and the message scanners), run.rs (phases and measurements),
//! procfs.rs (`/proc`), spawn.rs (`--spawn`), report.rs (text and JSON), abuse/ (the
//! abuse test, a scenario of its own).

mod abuse;
mod link;
mod plan;
mod pool;
mod procfs;
mod report;
mod run;
mod shared;
mod spawn;
mod wire;
mod worker;

use clap::{Args, Parser, Subcommand};
use plan::{Ack, Plan, Rate};
use report::ServerInfo;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Load generator for chatd: fan-out in channels, private-message pairs and idle
/// connections against a server on this machine, with loss, order and latency checks
/// and the server's CPU and memory from /proc.
///
/// Every message text is `b <sender> <seq> <nanoseconds since the start>`. A sender
/// keeps at most --window messages unacknowledged; by default a message is
/// acknowledged by its own echo (IRCv3 echo-message). There is no client-side flood
/// control: with `--rate max` senders go as fast as the window allows, so a server's
/// flood protection must be relaxed (--spawn does that for chatd: no auto-join,
/// connection and flood limits at their maximum, unless --config sets them), and so
/// must its per-address connection limits: every client comes from 127.0.0.1.
///
/// Exit status: 0 everything delivered in order; 1 the run could not be done (setup
/// failed, server died); 2 usage error or a non-loopback target; 3 the run finished
/// with loss, reordering, duplicates or client errors.
#[derive(Parser, Debug)]
#[command(name = "chatd-bench", version)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Clients in channels (#bench0, #bench1, ...); senders PRIVMSG their channel.
    Fanout(FanoutArgs),
    /// Pairs of clients exchanging private messages.
    Pairs(PairsArgs),
    /// Registered connections that only answer PING: the server's memory per connection.
    Idle(IdleArgs),
    /// Connections under abuse (flooders, slow readers, abrupt disconnects) next to
    /// well-behaved ones, with chatd's real flood control and SendQ.
    Abuse(abuse::AbuseArgs),
}

#[derive(Args, Debug)]
struct FanoutArgs {
    /// Clients to connect.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Clients that send, spread over the channels round-robin.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Members per channel.
    #[arg(long, default_value_t = 100)]
    channel_size: usize,
    #[command(flatten)]
    traffic: Traffic,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct PairsArgs {
    /// Pairs of clients; both of a pair send.
    #[arg(long, default_value_t = 500)]
    pairs: usize,
    #[command(flatten)]
    traffic: Traffic,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct IdleArgs {
    /// Connections to hold.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct Traffic {
    /// Messages per second per sender, or `max`: as fast as the window allows.
    #[arg(long, default_value = "max", value_parser = Rate::parse)]
    rate: Rate,
    /// Messages a sender may have sent but not yet seen acknowledged.
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// What acknowledges a message: the sender's own echo (echo-message), or receipt by
    /// one designated receiver (for servers without echo-message).
    #[arg(long, value_enum, default_value_t = Ack::Echo)]
    ack: Ack,
}

#[derive(Args, Debug)]
struct Common {
    /// Server address; must be on loopback.
    #[arg(long, default_value = "127.0.0.1:6667", conflicts_with = "spawn")]
    addr: String,
    /// A second node of the same chatd cluster: clients with an odd number connect
    /// to it, the others to --addr, so most deliveries cross nodes. Must be on
    /// loopback too.
    #[arg(long, value_name = "ADDR", conflicts_with = "spawn")]
    also: Option<String>,
    /// Start this chatd binary on a free loopback port with a temporary data directory,
    /// run the scenario against it, and stop it.
    #[arg(long, value_name = "PATH")]
    spawn: Option<PathBuf>,
    /// Config file for the spawned chatd. Keys it does not set get the generator's
    /// values: no auto-join, and connection and flood limits at their maximum.
    #[arg(long, value_name = "FILE", requires = "spawn")]
    config: Option<PathBuf>,
    /// Data directory for the spawned chatd, kept after the run (default: a temporary
    /// one, removed). A second run on the same directory starts with the first one's
    /// history, for measuring on a database that is already large.
    #[arg(long, value_name = "DIR", requires = "spawn")]
    data_dir: Option<PathBuf>,
    /// Server process to measure (CPU, memory). Default: the spawned one, else the
    /// process listening on the port.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Seconds of sending (idle: of holding the connections).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait after the sending period for outstanding deliveries.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    connect_rate: f64,
    /// Most connections between `connect` and `001` at once. Lower it for a server
    /// with a short listen backlog; raise it for one that completes registrations on
    /// a timer.
    #[arg(long, default_value_t = 256)]
    max_pending: usize,
    /// Seconds allowed for connecting, registering, joining and syncing.
    #[arg(long, default_value_t = 120.0)]
    setup_timeout: f64,
    /// Generator threads, each multiplexing its share of the clients.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Nicks are PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "bench", value_name = "PREFIX")]
    nick_prefix: String,
    /// Print the report as one JSON object on one line.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (plan, common) = match cli.scenario {
        Scenario::Fanout(a) => (
            Plan::fanout(
                a.clients,
                a.senders,
                a.channel_size,
                &a.common.nick_prefix,
                a.traffic.rate,
                a.traffic.window,
                a.traffic.ack,
            ),
            a.common,
        ),
        Scenario::Pairs(a) => (
            Plan::pairs(
                a.pairs,
                &a.common.nick_prefix,
                a.traffic.rate,
                a.traffic.window,
                a.traffic.ack,
            ),
            a.common,
        ),
        Scenario::Idle(a) => (Plan::idle(a.clients, &a.common.nick_prefix), a.common),
        Scenario::Abuse(a) => return abuse::main(a),
    };
    let plan = match plan.and_then(|p| check_common(&common).map(|()| p)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("chatd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(plan, &common) {
        Ok(report) => {
            if common.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            if report.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(Failure::Usage(e)) => {
            eprintln!("chatd-bench: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("chatd-bench: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

fn check_common(c: &Common) -> Result<(), String> {
    let positive = [
        ("--duration", c.duration),
        ("--drain", c.drain),
        ("--connect-rate", c.connect_rate),
        ("--setup-timeout", c.setup_timeout),
    ];
    for (name, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{name} must be a positive number"));
        }
    }
    if c.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if c.max_pending < c.threads {
        return Err("--max-pending must be at least --threads".into());
    }
    Ok(())
}

fn run(plan: Plan, common: &Common) -> Result<report::Report, Failure> {
    // Every client is a socket; a spawned server inherits the raised limit too.
    let limit = procfs::raise_nofile()
        .map_err(|e| Failure::Run(format!("cannot raise the open-file limit: {e}")))?;
    let needed = plan.clients as u64 + 64;
    if limit < needed {
        return Err(Failure::Run(format!(
            "{} clients need about {needed} open files but the hard limit is {limit}; raise it (ulimit -n) or use fewer clients",
            plan.clients
        )));
    }
    let mut server = run::Server {
        pid: common.server_pid,
        spawned: None,
        info: ServerInfo::default(),
    };
    let addr = match &common.spawn {
        Some(bin) => {
            let spawned =
                spawn::Spawned::start(bin, common.config.as_deref(), common.data_dir.as_deref())
                    .map_err(Failure::Run)?;
            let addr = spawned.addr;
            server.pid = server.pid.or(Some(spawned.pid()));
            server.info.spawned = Some(bin.display().to_string());
            server.info.config = common.config.as_ref().map(|c| c.display().to_string());
            server.spawned = Some(spawned);
            addr
        }
        None => {
            let addr = loopback(&common.addr).map_err(Failure::Usage)?;
            server.pid = server.pid.or_else(|| procfs::listener_pid(addr.port()));
            addr
        }
    };
    server.info.pid = server.pid;
    let settings = run::Settings {
        duration: Duration::from_secs_f64(common.duration),
        drain: Duration::from_secs_f64(common.drain),
        setup_timeout: Duration::from_secs_f64(common.setup_timeout),
        connect_rate: common.connect_rate,
        max_pending: common.max_pending,
        threads: common.threads,
        also: match &common.also {
            Some(a) => Some(loopback(a).map_err(Failure::Usage)?),
            None => None,
        },
    };
    run::execute(plan, addr, &settings, &mut server).map_err(Failure::Run)
}

/// Resolves `addr`; refuses anything that is not on loopback.
fn loopback(addr: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --addr {addr}: {e}"))?
        .collect();
    match addrs.first() {
        Some(a) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*a),
        Some(_) => Err(format!(
            "refusing to load {addr}: chatd-bench only targets loopback addresses (127.0.0.0/8, ::1)"
        )),
        None => Err(format!("--addr {addr} resolves to nothing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(loopback("127.0.0.1:6667").is_ok());
        assert!(loopback("127.3.2.1:1").is_ok());
        assert!(loopback("[::1]:6667").is_ok());
        assert!(loopback("10.0.0.1:6667").unwrap_err().contains("refusing"));
        assert!(loopback("192.168.1.1:6667")
            .unwrap_err()
            .contains("refusing"));
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["chatd-bench", "fanout", "--rate", "2000", "--senders", "5"])
                .unwrap();
        let Scenario::Fanout(a) = cli.scenario else {
            panic!("fanout expected")
        };
        assert_eq!(a.traffic.rate, Rate::PerSec(2000.0));
        assert!(Cli::try_parse_from([
            "chatd-bench",
            "idle",
            "--spawn",
            "x",
            "--addr",
            "127.0.0.1:1"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["chatd-bench", "pairs", "--config", "x"]).is_err());
    }
}
