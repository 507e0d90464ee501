//! The coordinator: starts the worker threads, steps them through the phases (connect
//! and register, join, sync, send, drain), samples the server and the machine from
//! `/proc` around the sending period, and turns what the workers saw into a [`Report`].

use crate::plan::{Kind, Plan, Rate};
use crate::procfs;
use crate::report::{IdleMemory, Latency, Report, ServerInfo, ThreadCpu};
use crate::shared::{Phase, Shared};
use crate::spawn::Spawned;
use crate::worker::{Stats, Worker, WAKE};
use mio::{Poll, Waker};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub struct Settings {
    pub duration: Duration,
    pub drain: Duration,
    pub setup_timeout: Duration,
    pub connect_rate: f64,
    pub max_pending: usize,
    pub threads: usize,
    /// A second cluster node: odd-numbered clients connect there (`--also`).
    pub also: Option<SocketAddr>,
}

/// The server under test: the process to sample, and the child to watch if spawned.
pub struct Server {
    pub pid: Option<u32>,
    pub spawned: Option<Spawned>,
    pub info: ServerInfo,
}

impl Server {
    fn check_alive(&mut self) -> Result<(), String> {
        if let Some(s) = self.spawned.as_mut() {
            return s.check_alive();
        }
        match self.pid {
            Some(pid) if !std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                Err(format!("the server (pid {pid}) is gone"))
            }
            _ => Ok(()),
        }
    }

    fn rss_kb(&self) -> Option<u64> {
        procfs::status_kb(self.pid?, "VmRSS")
    }
}

/// CPU counters at one moment.
struct Sample {
    cpu: procfs::Cpu,
    threads: Vec<(u32, String, u64)>,
    disk_written: Option<u64>,
}

impl Sample {
    fn take(pid: Option<u32>) -> Sample {
        Sample {
            cpu: procfs::Cpu::take(pid),
            threads: pid.map(procfs::thread_ticks).unwrap_or_default(),
            disk_written: pid.and_then(procfs::disk_write_bytes),
        }
    }
}

/// A run in progress: the threads and what they share.
struct Run {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<Stats>>,
}

impl Run {
    fn start(plan: Plan, addr: SocketAddr, settings: &Settings) -> Result<Run, String> {
        let threads = settings.threads.clamp(1, plan.clients);
        let mut polls = Vec::new();
        let mut wakers = Vec::new();
        for _ in 0..threads {
            let poll = Poll::new().map_err(|e| format!("cannot create a poll: {e}"))?;
            let waker = Waker::new(poll.registry(), WAKE)
                .map_err(|e| format!("cannot create a waker: {e}"))?;
            polls.push(poll);
            wakers.push(Arc::new(waker));
        }
        let shared = Arc::new(Shared::new(
            plan,
            addr,
            settings.also,
            settings.connect_rate,
            settings.max_pending,
            wakers,
        ));
        let mut handles = Vec::new();
        for (k, poll) in polls.into_iter().enumerate() {
            let worker = Worker::new(k, poll, shared.clone());
            let handle = thread::Builder::new()
                .name(format!("bench-{k}"))
                .spawn(move || worker.run())
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
            handles.push(handle);
        }
        Ok(Run { shared, handles })
    }

    /// Waits until `count` reaches `want`; fails on any client failure, a dead server
    /// or the setup deadline.
    fn wait_for(
        &self,
        what: &str,
        count: &AtomicUsize,
        want: usize,
        deadline: Instant,
        server: &mut Server,
    ) -> Result<(), String> {
        let mut shown = Instant::now();
        loop {
            let got = count.load(Relaxed);
            if got >= want {
                return Ok(());
            }
            if self.shared.failure_count.load(Relaxed) > 0 {
                return Err(self.failure_text());
            }
            server.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: only {got} of {want} clients within the setup time (--setup-timeout)"
                ));
            }
            if shown.elapsed() > Duration::from_secs(2) {
                eprintln!("chatd-bench: {what} {got}/{want}");
                shown = Instant::now();
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn failure_text(&self) -> String {
        let n = self.shared.failure_count.load(Relaxed);
        let mut text = format!("{n} client failure(s):");
        for f in self.shared.failures() {
            text.push_str("\n  ");
            text.push_str(&f);
        }
        text
    }

    /// Stops the workers and merges what they saw.
    fn finish(self) -> Stats {
        self.shared.set_phase(Phase::Done);
        let mut total = Stats::new();
        for h in self.handles {
            match h.join() {
                Ok(stats) => total.merge(&stats),
                Err(_) => self.shared.fail("a worker thread panicked".into()),
            }
        }
        total
    }
}

/// Runs the scenario in `plan` against `addr`.
pub fn execute(
    plan: Plan,
    addr: SocketAddr,
    settings: &Settings,
    server: &mut Server,
) -> Result<Report, String> {
    let clients = plan.clients;
    let rss_before = server.rss_kb();
    let run = Run::start(plan, addr, settings)?;
    let shared = run.shared.clone();
    let setup_start = Instant::now();
    let setup_deadline = setup_start + settings.setup_timeout;
    let setup = (|| {
        run.wait_for(
            "registered",
            &shared.registered,
            clients,
            setup_deadline,
            server,
        )?;
        let joining = shared.plan.joining();
        if joining > 0 {
            shared.set_phase(Phase::Join);
            run.wait_for("joined", &shared.joined, joining, setup_deadline, server)?;
        }
        shared.set_phase(Phase::Sync);
        run.wait_for("synced", &shared.synced, clients, setup_deadline, server)
    })();
    if let Err(e) = setup {
        run.finish();
        return Err(e);
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let rss_after = server.rss_kb();

    let before = Sample::take(server.pid);
    let t0 = Instant::now();
    let deadline = t0 + settings.duration;
    shared.start_run(t0, settings.duration);
    let mut rss_peak = server.rss_kb();
    let mut server_gone = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(100)));
        rss_peak = rss_peak.max(server.rss_kb());
        if let Err(e) = server.check_alive() {
            server_gone = Some(e);
            break;
        }
    }
    let after = Sample::take(server.pid);
    let loadavg = procfs::loadavg();
    let rss_end = server.rss_kb();

    // Drain: wait for the deliveries of everything sent, up to --drain.
    let drain_end = Instant::now() + settings.drain;
    while server_gone.is_none() && Instant::now() < drain_end {
        let stopped = shared.stopped.load(Relaxed) == shared.threads;
        let (_, expected) = shared.sent_and_expected();
        if stopped && shared.delivered.load(Relaxed) >= expected {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let server_hwm = server.pid.and_then(|p| procfs::status_kb(p, "VmHWM"));
    let stats = run.finish();
    if let Some(e) = server_gone {
        return Err(e);
    }

    let plan = &shared.plan;
    let (sent, expected) = shared.sent_and_expected();
    let duration_s = settings.duration.as_secs_f64();
    let procfs::CpuSeconds {
        server: server_cpu_s,
        bench: bench_cpu_s,
        other: other_cpu_s,
    } = before.cpu.until(&after.cpu);
    let disk_written = after
        .disk_written
        .zip(before.disk_written)
        .map(|(a, b)| a.saturating_sub(b));
    let latency_us = (stats.delivered > 0).then(|| Latency::of(&stats.latency, 1000.0));
    let idle = match (plan.kind, rss_before, rss_after, rss_end) {
        (Kind::Idle, Some(b), Some(a), Some(e)) => Some(IdleMemory {
            rss_before_kb: b,
            rss_after_kb: a,
            rss_end_kb: e,
            bytes_per_conn: (a as f64 - b as f64) * 1024.0 / clients as f64,
        }),
        _ => None,
    };
    Ok(Report {
        scenario: plan.kind.name(),
        target: addr.to_string(),
        server: server.info.clone(),
        clients,
        channels: plan.channels.len(),
        channel_size: plan
            .channels
            .iter()
            .map(|c| c.members.len())
            .max()
            .unwrap_or(0),
        senders: plan.senders(),
        rate: match plan.rate {
            Rate::Max => None,
            Rate::PerSec(r) => Some(r),
        },
        window: plan.window,
        ack: plan.ack,
        threads: shared.threads,
        duration_s,
        setup_s,
        connected: shared.registered.load(Relaxed),
        messages_sent: sent,
        messages_per_s: sent as f64 / duration_s,
        deliveries_expected: expected,
        deliveries_received: stats.delivered,
        deliveries_in_window: stats.in_window,
        deliveries_per_s: stats.in_window as f64 / duration_s,
        lost: expected.saturating_sub(stats.delivered),
        duplicates: stats.delivered.saturating_sub(expected),
        reordered: stats.reordered,
        latency_us,
        server_cpu_s,
        server_threads: thread_cpu(&before.threads, &after.threads, procfs::ticks_per_sec()),
        server_rss_peak_kb: rss_peak,
        server_hwm_kb: server_hwm,
        server_disk_write_bytes: disk_written,
        disk_bytes_per_message: disk_written
            .filter(|_| sent > 0)
            .map(|b| b as f64 / sent as f64),
        idle,
        bench_cpu_s,
        other_cpu_s,
        nproc: procfs::nproc(),
        loadavg,
        pings_answered: stats.pings_answered,
        bytes_per_read: (stats.reads > 0).then(|| stats.bytes_read as f64 / stats.reads as f64),
        connections_closed: stats.closed,
        failures: shared.failure_count.load(Relaxed),
        failure_samples: shared.failures(),
    })
}

/// CPU seconds per thread name between two samples, busiest first.
fn thread_cpu(
    before: &[(u32, String, u64)],
    after: &[(u32, String, u64)],
    tck: f64,
) -> Vec<ThreadCpu> {
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for (tid, name, ticks) in after {
        let start = before
            .iter()
            .find(|(t, _, _)| t == tid)
            .map(|(_, _, b)| *b)
            .unwrap_or(0);
        *by_name.entry(name).or_default() += ticks.saturating_sub(start);
    }
    let mut out: Vec<ThreadCpu> = by_name
        .into_iter()
        .map(|(name, t)| ThreadCpu {
            name: name.to_string(),
            cpu_s: t as f64 / tck,
        })
        .collect();
    out.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s));
    out
}
