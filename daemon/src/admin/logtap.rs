//! Daemon log lines for `tail-log -f`: a logger beside the normal ones that, only
//! while someone follows, keeps recent records for the loop to stream. It passes on
//! what the daemon's own log level lets through, never more, so following costs
//! nothing on the hot path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Most lines kept between two loop passes.
const MAX_PENDING: usize = 10_000;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// `log::LevelFilter as usize` of the most verbose stream.
static LEVEL: AtomicUsize = AtomicUsize::new(0);
static PENDING: Mutex<Vec<Line>> = Mutex::new(Vec::new());
static WAKE: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// One log record as streamed.
#[derive(Debug, Clone)]
pub struct Line {
    pub time: String,
    pub level: log::Level,
    pub text: String,
}

/// Turns collection on or off, with the most verbose level wanted.
pub fn follow(level: log::LevelFilter) {
    LEVEL.store(level as usize, Ordering::Relaxed);
    ENABLED.store(level != log::LevelFilter::Off, Ordering::Release);
    if level == log::LevelFilter::Off {
        if let Ok(mut p) = PENDING.lock() {
            p.clear();
        }
    }
}

/// Called with the loop's wake function once it exists.
pub fn set_wake(wake: Box<dyn Fn() + Send + Sync>) {
    let _ = WAKE.set(wake);
}

/// The lines collected since the last call.
pub fn take() -> Vec<Line> {
    PENDING
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

/// The logger to install beside the others (`main.rs`).
pub struct LogTap {
    pub level: log::LevelFilter,
}

impl log::Log for LogTap {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        meta.level() <= self.level && ENABLED.load(Ordering::Acquire)
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata())
            || record.level() as usize > LEVEL.load(Ordering::Relaxed)
        {
            return;
        }
        let line = Line {
            time: crate::outgoing::server_time_now(),
            level: record.level(),
            text: record.args().to_string(),
        };
        let mut was_empty = false;
        if let Ok(mut p) = PENDING.lock() {
            if p.len() < MAX_PENDING {
                was_empty = p.is_empty();
                p.push(line);
            }
        }
        if was_empty {
            if let Some(wake) = WAKE.get() {
                wake();
            }
        }
    }

    fn flush(&self) {}
}

impl simplelog::SharedLogger for LogTap {
    fn level(&self) -> log::LevelFilter {
        self.level
    }

    fn config(&self) -> Option<&simplelog::Config> {
        None
    }

    fn as_log(self: Box<Self>) -> Box<dyn log::Log> {
        self
    }
}
