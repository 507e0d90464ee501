//! The run of the abuse test, phase by phase: start the server, warm it up and take
//! the memory baseline, connect everyone, send and abuse until every abuser is dealt
//! with, drain, probe with a fresh client, let everyone leave and take the memory
//! again; then hand what was seen to report.rs.

use super::client::{Gen, Phase};
use super::layout::Layout;
use super::report::{build_report, Inputs, Memory, Report};
use super::server::{probe, server_config, settle, wait_empty, Server};
use super::AbuseArgs;
use crate::procfs::{self, Cpu};
use crate::spawn::Spawned;
use mio::Events;
use std::time::{Duration, Instant};

pub fn run(a: &AbuseArgs, layout: Layout) -> Result<Report, String> {
    let limit =
        procfs::raise_nofile().map_err(|e| format!("cannot raise the open-file limit: {e}"))?;
    let warmup = a.warmup.unwrap_or(a.clients);
    let needed = (a.clients.max(warmup) + 64) as u64;
    if limit < needed {
        return Err(format!(
            "{} clients need about {needed} open files but the hard limit is {limit}; raise it (ulimit -n) or use fewer clients",
            a.clients
        ));
    }
    let (table, settings) = server_config(a.config.as_deref())?;
    let dir = tempfile::Builder::new()
        .prefix("chatd-bench-abuse-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let config_path = dir.path().join("abuse.toml");
    std::fs::write(
        &config_path,
        toml::to_string(&table).map_err(|e| format!("cannot write the config: {e}"))?,
    )
    .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let spawned = Spawned::start(&a.spawn, Some(&config_path), None)?;
    let addr = spawned.addr;
    let pid = spawned.pid();
    let mut server = Server {
        spawned,
        pid,
        peak_kb: 0,
        last_sample: Instant::now(),
    };
    let rss_start = server.rss_kb().unwrap_or(0);
    let mut events = Events::with_capacity(4096);
    let setup_timeout = Duration::from_secs_f64(a.setup_timeout);
    let settle_for = Duration::from_secs_f64(a.settle);
    let empty_timeout = Duration::from_secs(20);
    let started = Instant::now();

    // Phase 0: warm-up, then the baseline.
    if warmup > 0 {
        let mut w = Gen::new(addr, &layout, a, Some(warmup))
            .map_err(|e| format!("cannot create a poll: {e}"))?;
        setup(&mut w, &mut server, &mut events, setup_timeout)
            .map_err(|e| format!("warm-up: {e}"))?;
        w.leave();
    }
    let probe_nick = format!("{}probe", a.nick_prefix);
    wait_empty(addr, &mut server, &probe_nick, empty_timeout)?;
    let rss_baseline = settle(&mut server, settle_for)?;
    server.peak_kb = 0;

    // Phase 1: connect and join everyone.
    let mut g =
        Gen::new(addr, &layout, a, None).map_err(|e| format!("cannot create a poll: {e}"))?;
    let setup_start = Instant::now();
    setup(&mut g, &mut server, &mut events, setup_timeout)?;
    let setup_s = setup_start.elapsed().as_secs_f64();
    let rss_connected = server.rss_kb().unwrap_or(0);

    // Phase 2: send and abuse, until --duration and every abuser dealt with, or
    // --cutoff-timeout more.
    let cpu_before = Cpu::take(Some(pid));
    let t0 = Instant::now();
    g.set_phase(Phase::Run, t0);
    let min_end = t0 + Duration::from_secs_f64(a.duration);
    let max_end = min_end + Duration::from_secs_f64(a.cutoff_timeout);
    let mut shown = Instant::now();
    loop {
        let now = Instant::now();
        if now >= max_end || (now >= min_end && g.abusers_done()) {
            break;
        }
        server.tick()?;
        if shown.elapsed() > Duration::from_secs(5) {
            let cut = (0..g.clients.len())
                .filter(|&i| !g.role(i).well_behaved() && g.clients[i].quit.is_some())
                .count();
            eprintln!(
                "chatd-bench: {:.0} s: {} messages sent, {} abusers gone; {} failure(s)",
                g.since_t0(now),
                g.senders.iter().map(|&s| g.clients[s].sent).sum::<u64>(),
                cut,
                g.failure_count
            );
            shown = Instant::now();
        }
        g.turn(&mut events)?;
    }
    let run_s = t0.elapsed().as_secs_f64();
    g.stop_at = Some(Instant::now());
    g.set_phase(Phase::Drain, Instant::now());
    let cpu_after = Cpu::take(Some(pid));

    // Drain: the last deliveries.
    let expected = g.expected();
    let drain_deadline = Instant::now() + Duration::from_secs_f64(a.drain);
    while g.seen.progress < expected && Instant::now() < drain_deadline {
        server.tick()?;
        g.turn(&mut events)?;
    }
    // A few more passes so late duplicates would show.
    let extra = Instant::now() + Duration::from_millis(200);
    while Instant::now() < extra {
        g.turn(&mut events)?;
    }
    let rss_loaded = server.rss_kb().unwrap_or(0);

    // A fresh client, with everyone still connected.
    let fresh = probe(
        addr,
        &format!("{}fresh", a.nick_prefix),
        Duration::from_secs(10),
    );

    // Everyone leaves; the memory should come back.
    g.leave();
    let rss_peak = server.peak_kb.max(rss_connected).max(rss_loaded);
    let hwm = procfs::status_kb(pid, "VmHWM").unwrap_or(0);
    let empty = wait_empty(addr, &mut server, &probe_nick, empty_timeout);
    let rss_after = settle(&mut server, settle_for)?;
    let total_s = started.elapsed().as_secs_f64();
    server.spawned.check_alive()?;

    Ok(build_report(
        a,
        &layout,
        &g,
        Inputs {
            addr,
            pid,
            settings,
            setup_s,
            run_s,
            total_s,
            expected,
            fresh,
            empty,
            memory: Memory {
                start_kb: rss_start,
                baseline_kb: rss_baseline,
                connected_kb: rss_connected,
                peak_kb: rss_peak,
                hwm_kb: hwm,
                after_kb: rss_after,
                allowed_kb: 0,
            },
            cpu: (cpu_before, cpu_after),
        },
    ))
}

/// Drives `g` until `done` holds, the deadline passes (an error naming `what`) or
/// the server dies.
fn run_until(
    g: &mut Gen,
    server: &mut Server,
    events: &mut Events,
    what: &str,
    deadline: Instant,
    done: impl Fn(&Gen) -> bool,
) -> Result<(), String> {
    let mut shown = Instant::now();
    loop {
        if done(g) {
            return Ok(());
        }
        server.tick()?;
        if Instant::now() > deadline {
            return Err(format!("{what}: not done in time ({})", progress(g)));
        }
        if shown.elapsed() > Duration::from_secs(2) {
            eprintln!("chatd-bench: {what}: {}", progress(g));
            shown = Instant::now();
        }
        g.turn(events)?;
    }
}

fn progress(g: &Gen) -> String {
    format!(
        "{} registered, {} joined, {} synced of {}; {} failure(s){}",
        g.registered,
        g.joined,
        g.synced,
        g.clients.len(),
        g.failure_count,
        g.failures
            .first()
            .map(|f| format!(", first: {f}"))
            .unwrap_or_default()
    )
}

/// Connects, registers, joins and syncs every client of `g`.
fn setup(
    g: &mut Gen,
    server: &mut Server,
    events: &mut Events,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let n = g.clients.len();
    let setup_ok = |g: &Gen| g.failure_count == 0;
    run_until(g, server, events, "connect", deadline, |g| {
        g.registered == n || !setup_ok(g)
    })?;
    check_setup(g)?;
    g.set_phase(Phase::Join, Instant::now());
    run_until(g, server, events, "join", deadline, |g| {
        g.joined == n || !setup_ok(g)
    })?;
    check_setup(g)?;
    g.set_phase(Phase::Sync, Instant::now());
    run_until(g, server, events, "sync", deadline, |g| {
        g.synced == n || !setup_ok(g)
    })?;
    check_setup(g)
}

fn check_setup(g: &Gen) -> Result<(), String> {
    if g.failure_count == 0 {
        return Ok(());
    }
    let mut text = format!("{} client failure(s) during setup:", g.failure_count);
    for f in &g.failures {
        text.push_str("\n  ");
        text.push_str(f);
    }
    Err(text)
}
