//! [`Report`]: the figures of one run, printed as text for people or as one JSON
//! object (`--json`) for scripts. The JSON keys are the field names below.

use crate::plan::Ack;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// The address the clients connected to.
    pub target: String,
    pub server: ServerInfo,
    pub clients: usize,
    pub channels: usize,
    pub channel_size: usize,
    pub senders: usize,
    /// Messages per second per sender; `null` for as fast as the window allows.
    pub rate: Option<f64>,
    pub window: u64,
    pub ack: Ack,
    pub threads: usize,
    /// The sending period (idle: how long the connections were held).
    pub duration_s: f64,
    /// Connecting, registering, joining and syncing, before the sending period.
    pub setup_s: f64,
    /// Clients that registered (got `001`).
    pub connected: usize,
    pub messages_sent: u64,
    pub messages_per_s: f64,
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    /// Deliveries received within the sending period; `deliveries_per_s` is this over
    /// `duration_s`.
    pub deliveries_in_window: u64,
    pub deliveries_per_s: f64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub latency_us: Option<Latency>,
    /// The server's CPU time during the sending period (all threads), and per thread
    /// name.
    pub server_cpu_s: Option<f64>,
    pub server_threads: Vec<ThreadCpu>,
    /// Highest VmRSS sampled (every 100 ms) during the sending period.
    pub server_rss_peak_kb: Option<u64>,
    /// The server's VmHWM at the end: its peak RSS since it started.
    pub server_hwm_kb: Option<u64>,
    /// Bytes the server wrote to storage during the sending period (`/proc/PID/io`
    /// `write_bytes`: history, the WAL and its checkpoints), and that over the
    /// messages sent.
    pub server_disk_write_bytes: Option<u64>,
    pub disk_bytes_per_message: Option<f64>,
    pub idle: Option<IdleMemory>,
    /// This generator's CPU time during the sending period.
    pub bench_cpu_s: Option<f64>,
    /// CPU time used by everything else on the machine during the sending period.
    pub other_cpu_s: Option<f64>,
    pub nproc: usize,
    pub loadavg: [f64; 3],
    pub pings_answered: u64,
    /// Average bytes per `read` during the sending period: how much the server wrote
    /// to a client at once (it batches per loop pass).
    pub bytes_per_read: Option<f64>,
    /// Connections the server closed before the end.
    pub connections_closed: u64,
    /// Errors (numerics, closed connections, refused capabilities); the first ones
    /// word for word in `failure_samples`.
    pub failures: usize,
    pub failure_samples: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerInfo {
    pub pid: Option<u32>,
    /// The binary started with `--spawn`.
    pub spawned: Option<String>,
    /// The `--config` given to the spawned server.
    pub config: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// A histogram of latencies in nanoseconds, from 1 ns to an hour, to 3
    /// significant digits.
    pub fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("constant histogram bounds are valid")
    }

    /// The figures of a [`Latency::histogram`], in units of `unit_ns` nanoseconds.
    pub fn of(h: &Histogram<u64>, unit_ns: f64) -> Latency {
        Latency {
            p50: h.value_at_quantile(0.50) as f64 / unit_ns,
            p99: h.value_at_quantile(0.99) as f64 / unit_ns,
            p999: h.value_at_quantile(0.999) as f64 / unit_ns,
            max: h.max() as f64 / unit_ns,
            mean: h.mean() / unit_ns,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadCpu {
    pub name: String,
    pub cpu_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleMemory {
    /// VmRSS before the first connection, after all registered, and at the end.
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub rss_end_kb: u64,
    /// (after - before) / connections.
    pub bytes_per_conn: f64,
}

impl Report {
    /// Whether the run delivered everything, in order, without errors.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.reordered == 0
            && self.failures == 0
            && self.connected == self.clients
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = self.write_text(&mut o);
        o
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        let rate = match self.rate {
            Some(r) => format!("{r} msg/s per sender"),
            None => "max rate".into(),
        };
        match self.scenario {
            "fanout" => writeln!(
                o,
                "chatd-bench fanout: {} clients in {} channel(s) of {}, {} senders, {rate}, window {}, ack by {}, {} s",
                self.clients,
                self.channels,
                self.channel_size,
                self.senders,
                self.window,
                ack_name(self.ack),
                self.duration_s
            )?,
            "pairs" => writeln!(
                o,
                "chatd-bench pairs: {} pairs, {rate}, window {}, ack by {}, {} s",
                self.clients / 2,
                self.window,
                ack_name(self.ack),
                self.duration_s
            )?,
            _ => writeln!(
                o,
                "chatd-bench idle: {} connections held {} s",
                self.clients, self.duration_s
            )?,
        }
        write!(o, "server       {}", self.target)?;
        match self.server.pid {
            Some(pid) => write!(o, ", pid {pid}")?,
            None => write!(o, ", pid unknown (no CPU or memory figures)")?,
        }
        if let Some(bin) = &self.server.spawned {
            write!(o, ", spawned {bin}")?;
        }
        if let Some(cfg) = &self.server.config {
            write!(o, " with --config {cfg}")?;
        }
        writeln!(o)?;
        writeln!(
            o,
            "connected    {}/{} in {:.2} s ({} generator thread(s))",
            self.connected, self.clients, self.setup_s, self.threads
        )?;
        if self.scenario != "idle" {
            writeln!(
                o,
                "sent         {} messages ({:.0}/s)",
                self.messages_sent, self.messages_per_s
            )?;
            writeln!(
                o,
                "deliveries   {} received of {} expected; {:.0}/s during the sending period",
                self.deliveries_received, self.deliveries_expected, self.deliveries_per_s
            )?;
            writeln!(
                o,
                "checks       lost {}, duplicated {}, reordered {}",
                self.lost, self.duplicates, self.reordered
            )?;
            if let Some(b) = self.bytes_per_read {
                writeln!(o, "reads        {b:.0} bytes per read on average")?;
            }
            if let Some(l) = &self.latency_us {
                writeln!(
                    o,
                    "latency      p50 {}  p99 {}  p99.9 {}  max {}  (mean {})",
                    us(l.p50),
                    us(l.p99),
                    us(l.p999),
                    us(l.max),
                    us(l.mean)
                )?;
            }
        }
        if let Some(m) = &self.idle {
            writeln!(
                o,
                "memory       server RSS {} before, {} with all connected, {} at the end: {:.0} bytes per connection",
                mib(m.rss_before_kb),
                mib(m.rss_after_kb),
                mib(m.rss_end_kb),
                m.bytes_per_conn
            )?;
        }
        let d = self.duration_s.max(1e-9);
        if let Some(cpu) = self.server_cpu_s {
            write!(o, "server cpu   {cpu:.2} s ({:.2} cores)", cpu / d)?;
            let threads: Vec<String> = self
                .server_threads
                .iter()
                .filter(|t| t.cpu_s >= 0.005)
                .map(|t| format!("{} {:.2}", t.name, t.cpu_s))
                .collect();
            if !threads.is_empty() {
                write!(o, ": {}", threads.join(", "))?;
            }
            writeln!(o)?;
        }
        if self.server_rss_peak_kb.is_some() || self.server_hwm_kb.is_some() {
            writeln!(
                o,
                "server rss   peak {} during the run, VmHWM {}",
                self.server_rss_peak_kb
                    .map(mib)
                    .unwrap_or_else(|| "?".into()),
                self.server_hwm_kb.map(mib).unwrap_or_else(|| "?".into())
            )?;
        }
        if let Some(bytes) = self.server_disk_write_bytes {
            write!(o, "server disk  {} written", mib(bytes / 1024))?;
            if let Some(per) = self.disk_bytes_per_message {
                write!(o, ", {per:.0} bytes per message sent")?;
            }
            writeln!(o)?;
        }
        if let Some(cpu) = self.bench_cpu_s {
            writeln!(o, "bench cpu    {cpu:.2} s ({:.2} cores)", cpu / d)?;
        }
        write!(
            o,
            "machine      {} cores, load average {:.2} {:.2} {:.2}",
            self.nproc, self.loadavg[0], self.loadavg[1], self.loadavg[2]
        )?;
        if let Some(other) = self.other_cpu_s {
            write!(o, ", other processes {:.2} cores", other / d)?;
        }
        writeln!(o)?;
        if self.pings_answered > 0 || self.connections_closed > 0 {
            writeln!(
                o,
                "connections  {} server PINGs answered, {} closed by the server",
                self.pings_answered, self.connections_closed
            )?;
        }
        write_failures(o, self.failures, &self.failure_samples)
    }
}

/// The failures line and the samples kept word for word, if there were any.
pub fn write_failures(o: &mut String, count: usize, samples: &[String]) -> std::fmt::Result {
    if count > 0 {
        writeln!(o, "failures     {count}:")?;
        for f in samples {
            writeln!(o, "  {f}")?;
        }
    }
    Ok(())
}

fn ack_name(ack: Ack) -> &'static str {
    match ack {
        Ack::Echo => "echo",
        Ack::Receiver => "receiver",
    }
}

fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

/// Kibibytes as MiB, to one decimal.
pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}
