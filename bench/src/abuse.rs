//! `abuse`: the bounded abuse test. It holds `--clients` connections on a spawned
//! chatd that runs with its real flood control, RecvQ and SendQ, while some clients
//! flood, some stop reading and some drop their connection in the middle of a line.
//! It checks that:
//! - every well-behaved client got every message of every sender in its channel, in
//!   order and without duplicates;
//! - each flooder was cut off for "Excess Flood" and each slow reader for "SendQ
//!   exceeded" (the reason other members of their channels saw in the QUIT);
//! - a fresh client is still answered;
//! - the server's RSS came back near its baseline once everyone left.
//!
//! One thread drives every client through one mio `Poll`. The run goes through
//! these phases: warm-up (connect and disconnect `--warmup` clients, so the
//! allocator has seen the load once, then take the baseline), connect and join,
//! abuse while the senders send, drain, a fresh probe client, everyone leaves,
//! settle, then the memory check.
//!
//! Where things live: layout.rs (who is who, from the arguments), client.rs (the
//! clients' state machine, driven through the shared `Pool`), server.rs (the
//! server's config, memory samples and the probe client), run.rs (the phases),
//! report.rs (the checks and the report).

mod client;
mod layout;
mod report;
mod run;
mod server;

use clap::Args;
use layout::Layout;
use std::path::PathBuf;
use std::process::ExitCode;

/// Holds many connections on one chatd with its real flood control and SendQ while
/// some clients flood, some stop reading and some drop mid-line; checks that the
/// well-behaved ones got everything in order, that each abuser was cut off for the
/// right reason, and that the server's memory came back near its baseline.
///
/// Client `i` is nick PREFIX<i>, member of `#abuse<i mod channels>`. The first
/// senders-per-channel × channels clients send; then come the flooders, the slow
/// readers, the abrupt clients, and the rest only listen. Connection limits are
/// relaxed as in every scenario (all clients come from 127.0.0.1); flood_burst,
/// flood_rate, recvq_bytes and sendq_bytes stay at chatd's defaults unless --config
/// sets them.
///
/// Exit status: 0 every check passed; 1 the run could not be done; 2 usage error;
/// 3 a check failed (the report says which).
#[derive(Args, Debug)]
pub struct AbuseArgs {
    /// The chatd binary to start on a free loopback port with a temporary data dir.
    #[arg(long, value_name = "PATH")]
    spawn: PathBuf,
    /// Config file for the spawned chatd; see above for the keys the test sets.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Connections to hold, all roles together.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Clients per channel (each has its home channel `#abuse<i mod channels>`).
    #[arg(long, default_value_t = 200)]
    channel_size: usize,
    /// Well-behaved senders in each channel.
    #[arg(long, default_value_t = 4)]
    senders_per_channel: usize,
    /// Messages per second per sender; keep it under chatd's flood_rate (5).
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// Length of each message's text, in bytes (padding included).
    #[arg(long, default_value_t = 400)]
    message_bytes: usize,
    /// Clients that flood their channel as fast as the socket takes it.
    #[arg(long, default_value_t = 300)]
    flooders: usize,
    /// Clients that join several channels and stop reading when the sending starts.
    #[arg(long, default_value_t = 300)]
    slow_readers: usize,
    /// Channels each slow reader joins: its home channel and the next ones. The
    /// more it joins, the sooner its SendQ fills; each one also adds a member to a
    /// channel, so JOIN traffic grows with the square of the channel size.
    #[arg(long, default_value_t = 16)]
    slow_channels: usize,
    /// Clients that drop their connection in the middle of a line during the run.
    #[arg(long, default_value_t = 300)]
    abrupt: usize,
    /// Clients connected, joined and disconnected before the baseline is taken
    /// (default: as many as --clients). The server keeps some memory sized by the
    /// most connections it has held (the connection slab, hash tables); a warm-up
    /// as large as the test puts that in the baseline, so the check is about what
    /// the abuse leaves behind.
    #[arg(long)]
    warmup: Option<usize>,
    /// Seconds of sending, at least; flooders start in the first half, abrupt
    /// clients leave between 10% and 90% of it.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    /// Seconds the sending may go on past --duration while flooders or slow readers
    /// are still connected (slow readers are only cut off while traffic flows).
    #[arg(long, default_value_t = 45.0)]
    cutoff_timeout: f64,
    /// Seconds to wait after the sending for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Seconds to wait once the server is empty before the memory is read (both
    /// for the baseline and at the end).
    #[arg(long, default_value_t = 5.0)]
    settle: f64,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    connect_rate: f64,
    /// Seconds allowed for connecting, registering, joining and syncing (each of
    /// the warm-up and the main connect).
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
    /// The RSS at the end may exceed the baseline by this percentage of it...
    #[arg(long, default_value_t = 20.0)]
    rss_tolerance_pct: f64,
    /// ...or by this many MiB, whichever is larger.
    #[arg(long, default_value_t = 8.0)]
    rss_tolerance_mib: f64,
    /// Nicks are PREFIX0, PREFIX1, ... (warm-up: PREFIXw0, ...).
    #[arg(long, default_value = "ab", value_name = "PREFIX")]
    nick_prefix: String,
    /// Print the report as one JSON object on one line.
    #[arg(long)]
    json: bool,
}

pub fn main(args: AbuseArgs) -> ExitCode {
    let layout = match Layout::new(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chatd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run::run(&args, layout) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("a report always serializes")
                );
            } else {
                print!("{}", report.text());
            }
            if report.checks.iter().all(|c| c.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("chatd-bench: {e}");
            ExitCode::from(1)
        }
    }
}
