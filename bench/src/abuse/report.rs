//! The abuse test's [`Report`]: what the clients saw and the server's figures, the
//! checks that pass or fail on them, and the text (or `--json`) printed at the end.

use super::client::Gen;
use super::layout::{Layout, Role};
use super::server::Probe;
use super::AbuseArgs;
use crate::procfs::{self, Cpu};
use crate::report::{mib, write_failures, Latency, ServerInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub target: String,
    pub server: ServerInfo,
    /// The settings under test, as the server ran with them.
    pub settings: BTreeMap<String, String>,
    pub clients: usize,
    pub channels: usize,
    pub channel_size: usize,
    pub roles: BTreeMap<String, usize>,
    pub rate: f64,
    pub message_bytes: usize,
    pub slow_channels: usize,
    pub warmup: usize,
    /// Connecting, registering, joining and syncing all clients.
    pub setup_s: f64,
    /// The sending period (at least --duration, longer while abusers were left).
    pub run_s: f64,
    /// The whole run, server start to the last memory sample.
    pub total_s: f64,
    pub messages_sent: u64,
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub latency_ms: Option<Latency>,
    pub well_behaved_disconnected: usize,
    /// Deliveries of flood lines to well-behaved clients (the flood burst each
    /// flooder was allowed before fakelag).
    pub flood_deliveries: u64,
    /// Deliveries of the unfinished lines abrupt clients left behind (should be 0).
    pub partial_lines_delivered: u64,
    /// Per role: how many the server cut off, and for which reasons.
    pub cut_off: BTreeMap<String, CutOff>,
    pub fresh_client: Option<Probe>,
    pub memory: Memory,
    pub server_cpu_s: Option<f64>,
    pub bench_cpu_s: Option<f64>,
    pub other_cpu_s: Option<f64>,
    pub nproc: usize,
    pub loadavg: [f64; 3],
    pub pings_answered: u64,
    pub checks: Vec<Check>,
    pub failures: usize,
    pub failure_samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CutOff {
    pub clients: usize,
    pub gone: usize,
    pub reasons: BTreeMap<String, usize>,
    /// Seconds from the start of the abuse (flooders: their first flood line;
    /// slow readers: the start of the sending; abrupt: their close) to the QUIT
    /// others saw: median and max.
    pub seconds_p50: Option<f64>,
    pub seconds_max: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// VmRSS right after the server started.
    pub start_kb: u64,
    /// After the warm-up, the server empty again, and --settle seconds.
    pub baseline_kb: u64,
    /// With every client connected and joined.
    pub connected_kb: u64,
    /// The highest sample (every 100 ms) from connecting to everyone leaving.
    pub peak_kb: u64,
    /// VmHWM when everyone left.
    pub hwm_kb: u64,
    /// Once everyone left, the server was empty again and --settle seconds passed.
    pub after_kb: u64,
    /// The most `after_kb` may be.
    pub allowed_kb: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What the run measured, besides what the clients saw.
pub struct Inputs {
    pub addr: SocketAddr,
    pub pid: u32,
    pub settings: BTreeMap<String, String>,
    pub setup_s: f64,
    pub run_s: f64,
    pub total_s: f64,
    pub expected: u64,
    pub fresh: Result<Probe, String>,
    pub empty: Result<Probe, String>,
    pub memory: Memory,
    pub cpu: (Cpu, Cpu),
}

pub fn build_report(a: &AbuseArgs, layout: &Layout, g: &Gen, mut x: Inputs) -> Report {
    let mut lost_tail = 0;
    for (i, c) in g.clients.iter().enumerate() {
        if !layout.roles[i].well_behaved() {
            continue;
        }
        let home = layout.home(i);
        for (slot, &s) in layout.senders[home].iter().enumerate() {
            if s != i {
                lost_tail += g.clients[s].sent.saturating_sub(c.next_seq[slot]);
            }
        }
    }
    let lost = g.seen.gaps + lost_tail;
    let sent: u64 = g.senders.iter().map(|&s| g.clients[s].sent).sum();
    let wb_closed = (0..g.clients.len())
        .filter(|&i| layout.roles[i].well_behaved() && g.clients[i].closed.is_some())
        .count();

    let mut cut_off = BTreeMap::new();
    for (role, name) in [
        (Role::Flooder, "flooder"),
        (Role::SlowReader, "slow-reader"),
        (Role::Abrupt, "abrupt"),
    ] {
        let members: Vec<usize> = (0..g.clients.len())
            .filter(|&i| layout.roles[i] == role)
            .collect();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut times = Vec::new();
        for &i in &members {
            if let Some(r) = g.cut_reason(i) {
                *reasons.entry(r).or_default() += 1;
            }
            if let Some((_, at)) = &g.clients[i].quit {
                let from = g.clients[i].acted_at.unwrap_or(0.0);
                times.push((at - from).max(0.0));
            }
        }
        times.sort_by(f64::total_cmp);
        cut_off.insert(
            name.to_string(),
            CutOff {
                clients: members.len(),
                gone: reasons.values().sum(),
                reasons,
                seconds_p50: times.get(times.len() / 2).copied(),
                seconds_max: times.last().copied(),
            },
        );
    }

    let m = &mut x.memory;
    let tolerance =
        (m.baseline_kb as f64 * a.rss_tolerance_pct / 100.0).max(a.rss_tolerance_mib * 1024.0);
    m.allowed_kb = m.baseline_kb + tolerance as u64;

    let mut checks = Vec::new();
    let mut check =
        |name: &'static str, ok: bool, detail: String| checks.push(Check { name, ok, detail });
    check(
        "well-behaved clients got every message in order",
        lost == 0 && g.seen.out_of_order == 0 && g.seen.delivered == x.expected && sent > 0,
        format!(
            "{} of {} deliveries, {lost} lost, {} duplicated or out of order",
            g.seen.delivered, x.expected, g.seen.out_of_order
        ),
    );
    check(
        "no well-behaved client was disconnected",
        wb_closed == 0,
        format!("{wb_closed} disconnected"),
    );
    for (name, role, reason) in [
        (
            "flooders cut off for Excess Flood",
            "flooder",
            "Excess Flood",
        ),
        (
            "slow readers cut off for SendQ exceeded",
            "slow-reader",
            "SendQ exceeded",
        ),
    ] {
        let c = &cut_off[role];
        let right = c.reasons.get(reason).copied().unwrap_or(0);
        let mut detail = format!("{right} of {}; reasons seen: {:?}", c.clients, c.reasons);
        if role == "slow-reader" && c.gone < c.clients {
            let _ = write!(
                detail,
                "; {} still connected when the sending stopped (too little traffic to fill a SendQ in time? raise --slow-channels, --senders-per-channel or --cutoff-timeout)",
                c.clients - c.gone
            );
        }
        check(name, right == c.clients, detail);
    }
    let ab = &cut_off["abrupt"];
    check(
        "abrupt disconnects noticed",
        ab.gone == ab.clients,
        format!("{} of {}", ab.gone, ab.clients),
    );
    check(
        "no unfinished line was delivered",
        g.seen.partial_delivered == 0,
        format!("{} delivered", g.seen.partial_delivered),
    );
    match &x.fresh {
        Ok(p) => check(
            "a fresh client is served",
            true,
            format!(
                "registered in {:.1} ms, PING answered in {:.1} ms, with {} clients connected",
                p.register_ms, p.ping_ms, p.clients
            ),
        ),
        Err(e) => check("a fresh client is served", false, e.clone()),
    }
    match &x.empty {
        Ok(_) => check(
            "the server is empty once everyone left",
            true,
            "1 client (the probe), 0 channels".into(),
        ),
        Err(e) => check("the server is empty once everyone left", false, e.clone()),
    }
    check(
        "memory back near the baseline",
        m.after_kb <= m.allowed_kb,
        format!(
            "{} after, baseline {}, allowed up to {} (max of {}% and {} MiB over)",
            mib(m.after_kb),
            mib(m.baseline_kb),
            mib(m.allowed_kb),
            a.rss_tolerance_pct,
            a.rss_tolerance_mib
        ),
    );
    check(
        "no client failures",
        g.failure_count == 0,
        format!("{} failure(s)", g.failure_count),
    );

    let (before, after) = &x.cpu;
    let procfs::CpuSeconds {
        server: server_cpu_s,
        bench: bench_cpu_s,
        other: other_cpu_s,
    } = before.until(after);
    let h = &g.seen.latency;
    let latency_ms = (g.seen.delivered > 0).then(|| Latency::of(h, 1e6));
    let mut roles = BTreeMap::new();
    for (role, name) in [
        (Role::Listener, "listener"),
        (Role::Sender, "sender"),
        (Role::Flooder, "flooder"),
        (Role::SlowReader, "slow-reader"),
        (Role::Abrupt, "abrupt"),
    ] {
        roles.insert(name.to_string(), layout.count(role));
    }
    Report {
        scenario: "abuse",
        target: x.addr.to_string(),
        server: ServerInfo {
            pid: Some(x.pid),
            spawned: Some(a.spawn.display().to_string()),
            config: a.config.as_ref().map(|c| c.display().to_string()),
        },
        settings: x.settings,
        clients: a.clients,
        channels: layout.channels,
        channel_size: a.channel_size,
        roles,
        rate: a.rate,
        message_bytes: a.message_bytes,
        slow_channels: layout.slow_channels,
        warmup: a.warmup.unwrap_or(a.clients),
        setup_s: x.setup_s,
        run_s: x.run_s,
        total_s: x.total_s,
        messages_sent: sent,
        deliveries_expected: x.expected,
        deliveries_received: g.seen.delivered,
        lost,
        out_of_order: g.seen.out_of_order,
        latency_ms,
        well_behaved_disconnected: wb_closed,
        flood_deliveries: g.seen.flood_delivered,
        partial_lines_delivered: g.seen.partial_delivered,
        cut_off,
        fresh_client: x.fresh.ok(),
        memory: x.memory,
        server_cpu_s,
        bench_cpu_s,
        other_cpu_s,
        nproc: procfs::nproc(),
        loadavg: procfs::loadavg(),
        pings_answered: g.seen.pings_answered,
        checks,
        failures: g.failure_count,
        failure_samples: g.failures.clone(),
    }
}

impl Report {
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = self.write_text(&mut o);
        o
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        let role = |r: &str| self.roles.get(r).copied().unwrap_or(0);
        writeln!(
            o,
            "chatd-bench abuse: {} connections in {} channels of {}: {} listeners, {} senders at {} msg/s, {} flooders, {} slow readers (in {} channels each), {} abrupt",
            self.clients,
            self.channels,
            self.channel_size,
            role("listener"),
            role("sender"),
            self.rate,
            role("flooder"),
            role("slow-reader"),
            self.slow_channels,
            role("abrupt"),
        )?;
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        writeln!(
            o,
            "server       {}, pid {}, spawned {}; {}",
            self.target,
            self.server.pid.unwrap_or(0),
            self.server.spawned.as_deref().unwrap_or("?"),
            settings.join(", ")
        )?;
        writeln!(
            o,
            "timing       setup {:.1} s, sending {:.1} s, whole run {:.1} s",
            self.setup_s, self.run_s, self.total_s
        )?;
        writeln!(
            o,
            "delivery     {} messages sent; {} of {} deliveries to well-behaved clients, {} lost, {} out of order",
            self.messages_sent,
            self.deliveries_received,
            self.deliveries_expected,
            self.lost,
            self.out_of_order
        )?;
        if let Some(l) = &self.latency_ms {
            writeln!(
                o,
                "latency      p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
                l.p50, l.p99, l.p999, l.max
            )?;
        }
        for (name, c) in self.cut_off.iter().filter(|(_, c)| c.clients > 0) {
            let reasons: Vec<String> = c
                .reasons
                .iter()
                .map(|(r, n)| format!("{n} \"{r}\""))
                .collect();
            write!(
                o,
                "{:<12} {} of {} gone: {}",
                name,
                c.gone,
                c.clients,
                reasons.join(", ")
            )?;
            if let (Some(p50), Some(max)) = (c.seconds_p50, c.seconds_max) {
                write!(o, "; after {p50:.2} s (median), {max:.2} s (max)")?;
            }
            writeln!(o)?;
        }
        writeln!(
            o,
            "abuse        {} deliveries of flood lines (the flood burst); {} of unfinished lines",
            self.flood_deliveries, self.partial_lines_delivered
        )?;
        if let Some(p) = &self.fresh_client {
            writeln!(
                o,
                "fresh client registered in {:.1} ms, PING answered in {:.1} ms",
                p.register_ms, p.ping_ms
            )?;
        }
        let m = &self.memory;
        writeln!(
            o,
            "memory       server RSS {} at start, {} baseline (after {} warm-up clients), {} all connected, peak {} (VmHWM {}), {} after everyone left (allowed {})",
            mib(m.start_kb),
            mib(m.baseline_kb),
            self.warmup,
            mib(m.connected_kb),
            mib(m.peak_kb),
            mib(m.hwm_kb),
            mib(m.after_kb),
            mib(m.allowed_kb)
        )?;
        let d = self.run_s.max(1e-9);
        let cpu = |v: Option<f64>| {
            v.map(|s| format!("{s:.2} s ({:.2} cores)", s / d))
                .unwrap_or_else(|| "?".into())
        };
        writeln!(
            o,
            "cpu          during the sending: server {}, generator {}, other processes {}",
            cpu(self.server_cpu_s),
            cpu(self.bench_cpu_s),
            cpu(self.other_cpu_s)
        )?;
        writeln!(
            o,
            "machine      {} cores, load average {:.2} {:.2} {:.2}",
            self.nproc, self.loadavg[0], self.loadavg[1], self.loadavg[2]
        )?;
        for c in &self.checks {
            writeln!(
                o,
                "{}  {}: {}",
                if c.ok { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        write_failures(o, self.failures, &self.failure_samples)
    }
}
